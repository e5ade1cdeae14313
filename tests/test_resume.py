"""Exact resume and crash-safe checkpoints.

A run of 2k steps stopped after step k and resumed must log the uninterrupted run's losses
bit for bit and end with the same weights (pix2pix with dropout, so the random states matter;
the stop falls inside an epoch, so the loader position matters). A checkpoint write killed
half-way leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

import fastpix.train as ft
from fastpix.checkpoint import CheckpointError, load_checkpoint
from fastpix.data import PairLoader, write_synthetic
from fastpix.train.config import Pix2PixConfig, SegmentationConfig
from fastpix.train.pix2pix import Pix2PixTrainer
from fastpix.train.segmentation import SegmentationTrainer

SIZE = 64


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume") / "synth"
    write_synthetic(root, n=7, size=SIZE, png=True, val_fraction=2 / 7, workers=1)
    return root


def gan(data, out, **overrides) -> Pix2PixConfig:
    settings = dict(
        data=str(data), out=str(out), size=48, load_size=SIZE, flip=True,
        generator="resnet_6blocks", generator_options={"ngf": 4, "use_dropout": True},
        discriminator="patchgan", discriminator_options={"ndf": 4, "n_layers": 2},
        batch_size=2, epochs=3, log_every=1, sample_every=2, checkpoint_every=0,
        progress=False, threads=1, workers=1,
    )  # fmt: skip
    settings.update(overrides)
    return Pix2PixConfig(**settings)


def losses(out) -> list[tuple]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [
        (r["step"], r["loss_G"], r["loss_D"])
        for r in map(json.loads, lines)
        if r["kind"] == "train"
    ]


def weights(out) -> dict[str, torch.Tensor]:
    models = load_checkpoint(out / "checkpoints" / "last.pt")["models"]
    return {f"{k}.{n}": t for k, m in models.items() for n, t in m["state_dict"].items()}


def test_resumed_run_reproduces_the_uninterrupted_run(data, tmp_path):
    # 5 training pairs in batches of 2: 2 steps per epoch, 6 steps in all; stop after step 3.
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    ft.train(gan(data, whole))
    first = ft.train(gan(data, parts), until=3)
    assert not first["finished"] and first["step"] == 3
    stopped = load_checkpoint(parts / "checkpoints" / "last.pt")
    assert (stopped["epoch"], stopped["position"]) == (1, 1)  # inside the second epoch
    assert ft.resume(parts)["finished"]
    reference = losses(whole)
    assert [s for s, *_ in reference] == list(range(1, 7))
    assert losses(parts) == reference
    a, b = weights(whole), weights(parts)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    val = [json.loads(x) for x in (parts / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in val if r["kind"] == "val"] == [2, 4, 6]  # none twice
    assert sorted(p.name for p in (parts / "samples").iterdir()) == [
        f"step_{s:08d}.png" for s in (2, 4, 6)
    ]


def test_random_states_are_what_make_it_exact(data, tmp_path):
    """The control: a resume that does not restore the random states differs (dropout)."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    ft.train(gan(data, whole, epochs=2, sample_every=0))
    ft.train(gan(data, parts, epochs=2, sample_every=0), until=1)
    trainer = Pix2PixTrainer.resume(parts)
    torch.manual_seed(12345)  # what a resume without the saved torch state would see
    trainer.fit()
    assert losses(parts)[0] == losses(whole)[0]
    assert losses(parts)[1:] != losses(whole)[1:]


def test_resume_from_a_step_checkpoint_with_the_pil_loader(data, tmp_path):
    # Segmentation through the PIL datasets + DataLoader, resumed from a mid-epoch last.pt.
    def config(out, **extra):
        return SegmentationConfig(
            data=str(data), out=str(out), size=32, load_size=40, model="unet",
            model_options={"base_channels": 4}, batch_size=2, epochs=2, loader="pil",
            workers=0, log_every=1, sample_every=0, checkpoint_every=1, progress=False,
            threads=1, **extra,
        )  # fmt: skip

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    ft.train(config(whole))
    ft.train(config(parts), until=3)
    assert load_checkpoint(parts / "checkpoints" / "last.pt")["position"] == 1
    ft.resume(parts)

    def seg_losses(out):
        lines = (out / "metrics.jsonl").read_text().splitlines()
        return [(r["step"], r["loss"]) for r in map(json.loads, lines) if r["kind"] == "train"]

    assert seg_losses(parts) == seg_losses(whole) and len(seg_losses(whole)) == 4


def test_pair_loader_starts_inside_an_epoch(data):
    loader = PairLoader(data, "train", batch_size=2, load_size=40, crop_size=32, flip=True,
                        prefetch=1, num_threads=1)  # fmt: skip
    loader.set_epoch(3)
    full = list(loader)
    loader.set_epoch(3, start=1)
    tail = list(loader)
    assert len(full) == 3 and len(tail) == 2
    for (a, b), (c, d) in zip(full[1:], tail):
        assert torch.equal(a, c) and torch.equal(b, d)
    assert loader.epoch == 4
    with pytest.raises(ValueError, match=r"start must lie in 0\.\.3"):
        loader.set_epoch(0, start=4)


def test_resume_refuses_changes_and_foreign_files(data, tmp_path):
    out = tmp_path / "run"
    ft.train(gan(data, out, epochs=1, sample_every=0))
    with pytest.raises(ValueError, match="cannot change lr when resuming"):
        ft.resume(out, lr=0.1)
    with pytest.raises(CheckpointError, match="a 'pix2pix' checkpoint, expected 'segmentation'"):
        SegmentationTrainer.resume(out)
    with pytest.raises(FileNotFoundError, match="without checkpoints/last.pt"):
        ft.resume(tmp_path)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes((out / "checkpoints" / "last.pt").read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="damaged.pt: not a readable torch checkpoint"):
        ft.resume(damaged)
    foreign = tmp_path / "notes.pt"
    foreign.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"notes.pt: not a torch checkpoint: .*b'not '"):
        ft.resume(foreign)
    # Longer training is allowed: the run continues from step 2 to step 4.
    assert ft.resume(out, epochs=2)["step"] == 4


CRASHING_SAVE = textwrap.dedent(
    """
    import sys, time, torch
    from fastpix.checkpoint import load_checkpoint, save_checkpoint

    def slow_save(obj, f, **kwargs):  # half a checkpoint, then hang until killed
        f.write(b"PK" + b"\\0" * 4096)
        f.flush()
        print("writing", flush=True)
        time.sleep(60)

    payload = load_checkpoint(sys.argv[1])  # the trainer's next checkpoint, as it writes it
    payload["step"] += 1
    torch.save = slow_save
    save_checkpoint(sys.argv[1], payload)
    """
)


def test_checkpoint_killed_mid_write_leaves_the_old_one(data, tmp_path):
    out = tmp_path / "run"
    ft.train(gan(data, out, epochs=1, sample_every=0))
    last = out / "checkpoints" / "last.pt"
    before = last.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SAVE, str(last)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "writing"
        temporary = [p for p in last.parent.iterdir() if p.name.endswith(".tmp")]
        assert len(temporary) == 1 and temporary[0].stat().st_size > 4096
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert last.read_bytes() == before
    assert load_checkpoint(last)["step"] == 2  # and the next run clears the temporary file
    assert ft.resume(out, epochs=2)["step"] == 4
    assert not [p for p in last.parent.iterdir() if p.name.endswith(".tmp")]
