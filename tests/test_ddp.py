"""DistributedDataParallel on the CPU: two processes, gloo, started as torchrun starts them
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT in the environment).

Checked against what is well defined: both ranks end with identical parameters; the
all-reduced validation scores equal a single-process evaluation of the saved weights; only
rank 0 writes the run folder (one record per step); the pix2pix loop (two D passes per step,
D without DDP in the G step) and the SPADE loop (the same, with spectral norm) run under DDP
too; with a time budget, every rank stops at the step rank 0 chose.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

from fastpix.data import write_synthetic
from fastpix.train.evaluate import evaluate_checkpoint

WORKER = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    import fastpix.train as ft
    from fastpix.train.config import Pix2PixConfig, SegmentationConfig, SpadeConfig
    from fastpix.train.engine import unwrap

    data, out, rank = sys.argv[1], sys.argv[2], sys.argv[3]
    common = dict(data=data, batch_size=2, log_every=1, sample_every=0, checkpoint_every=0,
                  progress=False, workers=1)
    trainer = ft.trainer_class("segmentation")(SegmentationConfig(
        out=out + "/seg", size=32, model="unet", model_options={"base_channels": 4},
        epochs=2, lr=1e-2, **common))
    summary = trainer.fit()
    params = {k: v for k, v in unwrap(trainer.model).named_parameters()}
    torch.save({"params": params, "scores": summary["scores"]}, f"{out}/seg_rank{rank}.pt")
    trainer = ft.trainer_class("pix2pix")(Pix2PixConfig(
        out=out + "/p2p", size=64, load_size=None, generator="resnet_6blocks",
        generator_options={"ngf": 4, "use_dropout": True},
        discriminator_options={"ndf": 4, "n_layers": 2}, epochs=1, **common))
    trainer.fit()
    params = {f"{key}.{name}": value for key, (_, _, net) in trainer.nets.items()
              for name, value in unwrap(net).named_parameters()}
    torch.save({"params": params}, f"{out}/p2p_rank{rank}.pt")
    trainer = ft.trainer_class("spade")(SpadeConfig(
        out=out + "/spade", size=32, generator_options={"ngf": 4, "spade_hidden": 8},
        discriminator_options={"ndf": 4, "n_layers": 2, "num_D": 2}, epochs=1, **common))
    trainer.fit()
    params = {f"{key}.{name}": value for key, (_, _, net) in trainer.nets.items()
              for name, value in unwrap(net).named_parameters()}
    torch.save({"params": params}, f"{out}/spade_rank{rank}.pt")
    import fastpix.train.trainer as trainer_module  # a time budget, rank 1 timed twice as fast
    trainer = ft.trainer_class("segmentation")(SegmentationConfig(
        out=out + "/budget", size=32, model="unet", model_options={"base_channels": 4},
        epochs=100, val_split=None, time_budget=20.0, **common))
    trainer_module.clock = lambda: (0.5 if rank == "0" else 0.25) * trainer.step
    summary = trainer.fit()
    torch.save({"step": summary["step"], "budget": summary["budget"]},
               f"{out}/budget_rank{rank}.pt")
    trainer.close()
    """
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp") / "synth"
    # 8 training pairs: 2 steps per epoch on each of 2 ranks at batch 2; 3 validation pairs,
    # so the ranks' validation shares differ in size (2 and 1).
    write_synthetic(root, n=11, size=64, png=True, val_fraction=3 / 11, workers=1)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_run")
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}  # fmt: skip
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(data), str(out), str(rank)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))  # fmt: skip
    logs = [p.communicate(timeout=240)[0] for p in procs]
    for rank, (proc, log) in enumerate(zip(procs, logs)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{log}"
    return out, logs


def test_ranks_end_with_identical_parameters(ddp_run):
    out, _ = ddp_run
    for task in ("seg", "p2p", "spade"):
        zero = torch.load(out / f"{task}_rank0.pt", weights_only=True)["params"]
        one = torch.load(out / f"{task}_rank1.pt", weights_only=True)["params"]
        assert zero.keys() == one.keys()
        for name in zero:
            assert torch.equal(zero[name], one[name]), f"{task}: {name} differs between ranks"


def test_all_reduced_scores_equal_a_single_process_evaluation(ddp_run, data):
    out, _ = ddp_run
    ranks = [torch.load(out / f"seg_rank{r}.pt", weights_only=True)["scores"] for r in (0, 1)]
    for key, value in ranks[0].items():  # every rank reports the whole split's scores
        assert ranks[1][key] == pytest.approx(value, abs=0, nan_ok=True), key
    single = evaluate_checkpoint(out / "seg" / "checkpoints" / "last.pt", data, device="cpu")
    scores = single["scores"]
    assert ranks[0]["pixels"] == scores["pixels"] == 3 * 32 * 32 - _void(data)
    assert ranks[0]["miou"] == pytest.approx(scores["miou"], abs=1e-12)
    assert ranks[0]["iou"] == pytest.approx(scores["iou"], abs=1e-12, nan_ok=True)
    # float32 per-batch sums: batches of 2 + 1 pairs here, one batch of 3 in one process
    assert ranks[0]["val_loss"] == pytest.approx(scores["loss"], rel=1e-6)


def _void(data) -> int:
    from fastpix.data import SegmentationDataset
    from fastpix.data.transforms import JitterConfig

    ds = SegmentationDataset(data, "val", jitter=JitterConfig(load_size=(32, 32)))
    return sum(int((mask == 255).sum()) for _, mask in ds)


def test_only_rank_zero_writes_the_run(ddp_run):
    out, logs = ddp_run
    records = [json.loads(x) for x in (out / "seg" / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4]  # 2 epochs × 8 pairs / (2 ranks × batch 2)
    assert records[0]["images_per_s"] == pytest.approx(4 * records[0]["steps_per_s"])
    assert "epoch 1 step 2" in logs[0] and "epoch 1 step 2" not in logs[1]
    checkpoint = torch.load(out / "seg" / "checkpoints" / "last.pt", weights_only=True)
    assert checkpoint["world_size"] == 2 and len(checkpoint["rng"]) == 2
    assert not torch.equal(checkpoint["rng"][0]["torch"], checkpoint["rng"][1]["torch"])


def test_a_time_budget_ends_every_rank_at_rank_zeros_step(ddp_run):
    # Rank 0's clock: 0.5 s a step, so its timing ends after steps 6-7 (1 s, 5 % of the 20 s
    # budget) at 2 steps/s, and 16.5 s left buy 33 steps: 40. Rank 1's clock runs at half
    # that rate: alone it would time steps 6-9 and choose 80 steps. Both must take rank 0's
    # decision, when and what, or the all-reduces of their last steps would never pair up.
    out, _ = ddp_run
    ranks = [torch.load(out / f"budget_rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["step"] for r in ranks] == [40, 40]
    assert ranks[0]["budget"] == ranks[1]["budget"]
    assert ranks[0]["budget"]["steps_per_s"] == 2.0 and ranks[0]["budget"]["timed"] == [5, 7]
