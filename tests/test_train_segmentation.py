"""Segmentation trainer: learning, best checkpoint, losses, LR policies, NaN guard, run files,
CLI. Tiny U-Nets on a handful of 32×32 synthetic scenes."""

from __future__ import annotations

import argparse
import copy
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import fastpix.train as ft
from fastpix.checkpoint import load_checkpoint
from fastpix.cli import main as cli_main
from fastpix.data import write_synthetic
from fastpix.train.cli import add_parser, build_config
from fastpix.train.config import Pix2PixConfig, SegmentationConfig, get_preset
from fastpix.train.engine import NonFiniteLossError, adam, lr_factor
from fastpix.train.evaluate import evaluate_checkpoint
from fastpix.train.losses import gan_loss, segmentation_loss
from fastpix.train.segmentation import SegmentationTrainer

SIZE = 32


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg") / "synth"
    write_synthetic(root, n=10, size=SIZE, png=True, val_fraction=0.2, workers=1)
    return root


def tiny(data, out, **overrides) -> SegmentationConfig:
    settings = dict(
        data=str(data), out=str(out), size=SIZE, model="unet",
        model_options={"base_channels": 4}, batch_size=4, lr=1e-2, epochs=4, log_every=1,
        sample_every=0, checkpoint_every=0, progress=False, threads=1, workers=1,
    )  # fmt: skip
    settings.update(overrides)
    return SegmentationConfig(**settings)


def test_steps_beyond_the_epochs_stop_at_the_epochs_and_say_so(data, tmp_path, capsys):
    # 8 training scenes in batches of 4: 2 steps per epoch, so 1 epoch caps steps=5 at 2.
    summary = ft.train(tiny(data, tmp_path / "run", epochs=1, steps=5, val_split=None))
    assert summary["step"] == 2
    assert "steps 5 is more than epochs × steps per epoch = 1 × 2 = 2" in capsys.readouterr().out


def test_time_budget_chooses_the_step_count_from_the_measured_speed(
    data, tmp_path, monkeypatch, records, capsys
):
    # A stand-in clock: every step takes 0.5 s. Steps 6-25 are timed (2 steps/s); 12.5 s of
    # the 20 s budget are gone by then, so the remaining 7.5 s buy 15 steps: 40 in all.
    import fastpix.train.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "BUDGET_TIMED_FRACTION", 1.0)  # all 20 steps timed
    out = tmp_path / "run"
    config = tiny(data, out, epochs=100, val_split=None, lr_policy="cosine", time_budget=20.0,
                  checkpoint_every=10)  # fmt: skip
    trainer = SegmentationTrainer(config)
    monkeypatch.setattr(trainer_module, "clock", lambda: 0.5 * trainer.step)
    summary = trainer.fit()
    assert summary["step"] == 40 and summary["finished"]
    assert summary["budget"] == {"seconds": 20.0, "steps": 40, "steps_per_s": 2.0,
                                 "timed": [5, 25]}  # fmt: skip
    assert "time budget 20 s: 2 steps/s over steps 6–25, so 40 steps" in capsys.readouterr().out
    train = records(out, "train")
    assert [r["step"] for r in train] == list(range(1, 41))
    # From step 26 on, the cosine schedule runs to 0 at step 40 (the lr logged after step n
    # is that of step n + 1).
    for r in train[25:]:
        assert r["lr"] == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * r["step"] / 40)))
    assert [r["steps"] for r in records(out, "budget")] == [40]

    # A run resumed after the decision keeps it (no new measurement, same end).
    resumed_out = tmp_path / "resumed"
    first = SegmentationTrainer(tiny(data, resumed_out, epochs=100, val_split=None,
                                     lr_policy="cosine", time_budget=20.0))  # fmt: skip
    monkeypatch.setattr(trainer_module, "clock", lambda: 0.5 * first.step)
    assert first.fit(until=30)["step"] == 30
    again = SegmentationTrainer.resume(resumed_out)
    monkeypatch.setattr(trainer_module, "clock", lambda: 100.0 * again.step)  # far slower now
    assert again.total_steps == 40
    assert again.fit()["step"] == 40
    assert [r["lr"] for r in records(resumed_out, "train")] == [r["lr"] for r in train]

    # The steps / epochs still cap it.
    capped = SegmentationTrainer(tiny(data, tmp_path / "capped", epochs=100, steps=30,
                                      val_split=None, time_budget=20.0))  # fmt: skip
    monkeypatch.setattr(trainer_module, "clock", lambda: 0.5 * capped.step)
    assert capped.fit()["step"] == 30
    assert "(capped by steps / epochs at 30)" in capsys.readouterr().out

    # Steps slow against the budget are timed only until they fill 5 % of it: with 18 s,
    # 0.9 s, so steps 6-7 (1 s). 3.5 s are gone; 14.5 s at 2 steps/s buy 29 more: 36.
    monkeypatch.setattr(trainer_module, "BUDGET_TIMED_FRACTION", 0.05)
    slow = SegmentationTrainer(tiny(data, tmp_path / "slow", epochs=100, val_split=None,
                                    time_budget=18.0))  # fmt: skip
    monkeypatch.setattr(trainer_module, "clock", lambda: 0.5 * slow.step)
    summary = slow.fit()
    assert summary["budget"]["timed"] == [5, 7] and summary["step"] == 36
    assert "over steps 6–7, so 36 steps;" in capsys.readouterr().out
    # One step can fill the share: 39 s budget, 2 s steps (10 s untimed, then 2 s > 1.95 s).
    one = SegmentationTrainer(tiny(data, tmp_path / "one", epochs=100, val_split=None,
                                   time_budget=39.0))  # fmt: skip
    monkeypatch.setattr(trainer_module, "clock", lambda: 2.0 * one.step)
    assert one.fit()["step"] == 19  # 12 s gone, 27 s at 0.5 steps/s: 13 more
    assert "0.5 steps/s over step 6, so 19 steps;" in capsys.readouterr().out


def test_last_checkpoint_is_written_at_validations_and_every_n_steps(data, tmp_path, monkeypatch):
    # 2 steps per epoch; validation every 3rd epoch (steps 6, 12) and after the last (14);
    # last.pt every 4 steps (4, 8, 12) and at the validations; then once more as fit ends.
    saved = []
    original = SegmentationTrainer.save

    def save(self, name):
        saved.append((self.step, name))
        return original(self, name)

    monkeypatch.setattr(SegmentationTrainer, "save", save)
    ft.train(tiny(data, tmp_path / "run", epochs=7, val_every=3, checkpoint_every=4))
    last = [step for step, name in saved if name == "last.pt"]
    assert last == [4, 6, 8, 12, 14, 14]


def test_loss_decreases_and_best_checkpoint_follows_miou(data, tmp_path, records):
    out = tmp_path / "run"
    summary = ft.train(tiny(data, out, epochs=8))
    losses = [r["loss"] for r in records(out, "train")]
    assert len(losses) == 8 * 2  # 8 training scenes in batches of 4
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])

    val = records(out, "val")
    assert [r["step"] for r in val] == list(range(2, 17, 2))  # every epoch
    best = max(val, key=lambda r: r["miou"])  # first of equal maxima, as ">" keeps it
    assert summary["best"]["value"] == best["miou"] and summary["best"]["step"] == best["step"]
    ckpt = load_checkpoint(out / "checkpoints" / "best.pt", task="segmentation")
    assert ckpt["step"] == best["step"] and ckpt["best"]["value"] == best["miou"]
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 16
    # An independent pass over the validation split with the saved weights gives that score.
    result = evaluate_checkpoint(out / "checkpoints" / "best.pt", data, device="cpu")
    assert result["scores"]["miou"] == pytest.approx(best["miou"], abs=1e-12)
    assert result["scores"]["pixels"] == 2 * SIZE * SIZE - _void_pixels(data)


def _void_pixels(data) -> int:
    from fastpix.data import SegmentationDataset

    return sum(int((mask == 255).sum()) for _, mask in SegmentationDataset(data, "val"))


def test_checkpoint_format_for_export(data, tmp_path):
    out = tmp_path / "run"
    ft.train(tiny(data, out, epochs=1))
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt", task="segmentation")
    assert ckpt["models"]["model"]["name"] == "unet"
    assert ckpt["models"]["model"]["options"] == {"base_channels": 4, "num_classes": 19}
    assert ckpt["data"] == {"size": [SIZE, SIZE], "mean": [0.5] * 3, "std": [0.5] * 3,
                            "layout": "kaggle"}  # fmt: skip
    assert ckpt["label_set"]["name"] == "trainid"
    assert ckpt["fastpix_version"] and ckpt["config"]["task"] == "segmentation"


def test_binary_road_training(data, tmp_path, records):
    out = tmp_path / "road"
    summary = ft.train(tiny(data, out, label_set="road", binary=True, epochs=3))
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["models"]["model"]["options"]["num_classes"] == 1
    val = records(out, "val")[-1]
    assert len(val["iou"]) == 2 and 0.0 <= val["miou"] <= 1.0
    assert summary["scores"]["pixel_acc"] == val["pixel_acc"]


def test_segmentation_loss_against_hand_computation():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5)
    target = torch.randint(0, 3, (2, 4, 5))
    target[0, 0, :3] = 255
    log_p = logits.log_softmax(1)
    valid = target != 255
    picked = log_p.gather(1, target.clamp(max=2)[:, None])[:, 0]
    expected = -(picked[valid]).mean()
    torch.testing.assert_close(segmentation_loss(logits, target), expected)
    # binary: BCE with logits over the non-ignored pixels, class 1 positive
    one = logits[:, :1]
    p = torch.sigmoid(one[:, 0])
    y = (target == 1).float()
    manual = -(y * p.log() + (1 - y) * (1 - p).log())[valid].mean()
    torch.testing.assert_close(segmentation_loss(one, target, binary=True), manual)
    total = segmentation_loss(one, target, binary=True, reduction="sum")
    torch.testing.assert_close(total, manual * valid.sum())


def test_class_weights_count_the_train_split(data, tmp_path, records):
    from fastpix.data import SegmentationDataset

    masks = [np.asarray(mask) for _, mask in SegmentationDataset(data, "train")]
    pixels, image_pixels = np.zeros(19), np.zeros(19)
    for mask in masks:
        valid = mask[mask != 255]
        histogram = np.bincount(valid, minlength=19)
        pixels += histogram
        image_pixels += (histogram > 0) * valid.size
    seen = pixels > 0
    freq = pixels[seen] / image_pixels[seen]
    expected = np.ones(19)
    expected[seen] = np.median(freq) / freq
    trainer = SegmentationTrainer(
        tiny(data, tmp_path / "run", class_weights="median_freq", loss="ce+lovasz", steps=2)
    )
    np.testing.assert_allclose(trainer.class_weights.numpy(), expected, rtol=1e-5)
    summary = trainer.fit()
    assert summary["step"] == 2 and all(
        math.isfinite(r["loss"]) for r in records(tmp_path / "run", "train")
    )


def test_gan_losses_against_formulas():
    pred = torch.tensor([[-2.0, 0.5], [1.0, 3.0]])
    sig = torch.sigmoid(pred)
    torch.testing.assert_close(gan_loss(pred, True), -sig.log().mean())
    torch.testing.assert_close(gan_loss(pred, False), -(1 - sig).log().mean())
    torch.testing.assert_close(gan_loss(pred, True, "lsgan"), ((pred - 1) ** 2).mean())
    torch.testing.assert_close(gan_loss(pred, False, "lsgan"), (pred**2).mean())
    with pytest.raises(ValueError, match="wgangp"):
        gan_loss(pred, True, "wgangp")


def test_lr_policies_match_the_references():
    # pix2pix reference, measured (shared/reference/pix2pix.md §1.5): epochs 1-100 use 2e-4,
    # epoch 101 1.98e-4, epoch 150 1.01e-4, epoch 200 1.98e-6 (1-based epochs).
    config = Pix2PixConfig(epochs=200, n_epochs_decay=100, lr_policy="linear")
    factor = lr_factor(config, steps_per_epoch=7, total_steps=1400)
    lr = {epoch: 2e-4 * factor(7 * (epoch - 1) + 3) for epoch in (1, 100, 101, 150, 200)}
    assert lr[1] == lr[100] == 2e-4
    assert lr[101] == pytest.approx(1.98e-4, abs=5e-7)
    assert lr[150] == pytest.approx(1.01e-4, abs=5e-7)
    assert lr[200] == pytest.approx(1.98e-6, abs=5e-9)
    step = lr_factor(get_preset("pix2pix-seed000"), 2975, 50_000)
    assert [step(s) for s in (0, 9_999, 10_000, 25_000, 49_999)] == [1, 1, 0.75, 0.5625, 0.75**4]
    cosine = lr_factor(SegmentationConfig(lr_policy="cosine", warmup_steps=4), 10, 104)
    assert [cosine(s) for s in (0, 3)] == [0.25, 1.0]
    assert cosine(54) == pytest.approx(0.5) and cosine(104) == pytest.approx(0.0)


def test_adam_is_fused_where_torch_has_it_and_follows_the_default_adam():
    torch.manual_seed(0)
    nets = [
        torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1))
    ]
    nets.append(copy.deepcopy(nets[0]))
    fused = adam(nets[0].parameters(), 1e-2, (0.5, 0.999), weight_decay=1e-3)
    default = torch.optim.Adam(nets[1].parameters(), 1e-2, (0.5, 0.999), weight_decay=1e-3,
                               foreach=False)  # fmt: skip
    version = tuple(int(v) for v in torch.__version__.split(".")[:2])
    assert fused.defaults["fused"] is (True if version >= (2, 4) else None)
    for _ in range(5):
        x = torch.randn(4, 3, 9, 9)
        for net, optimizer in zip(nets, (fused, default)):
            optimizer.zero_grad()
            net(x).square().mean().backward()
            optimizer.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b)
    default.load_state_dict(fused.state_dict())  # checkpoints move between the two


class _PoisonedBatches:
    """The trainer's batches with NaN photos at the given 1-based steps."""

    def __init__(self, batches, steps):
        self.batches, self.steps, self.count = batches, set(steps), 0

    def __len__(self):
        return len(self.batches)

    def epoch(self, epoch, start=0):
        for photos, classes in self.batches.epoch(epoch, start):
            self.count += 1
            if self.count in self.steps:
                photos = torch.full_like(photos, float("nan"))
            yield photos, classes


def _state(trainer):
    model = trainer.model
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_nan_guard_skips_the_update_and_reports_the_step(data, tmp_path, records):
    trainer = SegmentationTrainer(tiny(data, tmp_path / "nan", epochs=2))
    trainer.train_batches = _PoisonedBatches(trainer.train_batches, [3])
    seen = {}
    step = trainer.train_step

    def watched(photos, classes):
        before = _state(trainer)
        losses, finite = step(photos, classes)
        seen[trainer.step + 1] = (before, _state(trainer), finite)
        return losses, finite

    trainer.train_step = watched
    summary = trainer.fit()
    before, after, finite = seen[3]
    assert not finite and all(torch.equal(before[k], after[k]) for k in before)  # incl. BN stats
    assert all(f for s, (_, _, f) in seen.items() if s != 3)
    moved = seen[4]  # the next step trains again
    assert any(not torch.equal(moved[0][k], moved[1][k]) for k in moved[0])
    bad = records(tmp_path / "nan", "nonfinite")
    assert [r["step"] for r in bad] == [3] and bad[0]["loss"] == "nan"
    assert summary["nonfinite_steps"] == 1 and summary["finished"]


def test_nan_guard_stops_after_consecutive_failures(data, tmp_path):
    trainer = SegmentationTrainer(tiny(data, tmp_path / "nan", epochs=3, max_nonfinite=2))
    trainer.train_batches = _PoisonedBatches(trainer.train_batches, [2, 3, 4])
    with pytest.raises(NonFiniteLossError, match="step 3: non-finite loss"):
        trainer.fit()


def test_run_folder_files(data, tmp_path):
    out = tmp_path / "files"
    ft.train(tiny(data, out, epochs=2, sample_every=1, num_samples=2))
    assert json.loads((out / "config.json").read_text())["model_options"]["base_channels"] == 4
    with Image.open(out / "loss_curves.png") as curves:
        assert curves.format == "PNG" and curves.size[0] > 400
    grids = sorted((out / "samples").glob("step_*.png"))
    assert [g.name for g in grids] == [f"step_{s:08d}.png" for s in range(1, 5)]
    with Image.open(grids[0]) as grid:  # 2 rows × (input | output | target), 2-pixel gaps
        assert grid.size == (3 * SIZE + 4, 2 * SIZE + 2)
        target = np.asarray(grid)[:SIZE, 2 * SIZE + 4 :]
    from fastpix.data import SegmentationDataset
    from fastpix.labels import get_label_set

    _, mask = SegmentationDataset(data, "val")[0]
    expected = get_label_set("trainid").colorize(mask).numpy()
    assert np.array_equal(target, expected)
    arrays = [np.asarray(Image.open(g)) for g in grids]
    # GIF writers merge a frame that repeats the previous one into it.
    distinct = 1 + sum(not np.array_equal(a, b) for a, b in zip(arrays, arrays[1:]))
    with Image.open(out / "progress.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == distinct
        assert gif.size == grid.size


def test_cli_help_and_errors(data, tmp_path, capsys):
    for argv in (["train", "--help"], ["train", "segmentation", "--help"],
                 ["train", "pix2pix", "--help"], ["evaluate", "--help"]):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            cli_main(argv)
        assert exit_info.value.code == 0
    assert "--preset" in capsys.readouterr().out
    base = ["train", "segmentation", "--data", str(data), "--out", str(tmp_path / "x")]
    assert cli_main([*base, "--amp", "fp16", "--device", "cpu"]) == 2
    assert "amp fp16 needs a CUDA device" in capsys.readouterr().err
    assert cli_main([*base, "--set", "colour=blue"]) == 2
    assert "unknown segmentation config fields: colour" in capsys.readouterr().err
    assert cli_main([*base, "--option", "width"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert cli_main([*base, "--ce-top-k", "1.5"]) == 2
    assert "ce_top_k must be in (0, 1], got 1.5" in capsys.readouterr().err
    assert cli_main([*base, "--time-budget", "-5"]) == 2
    assert "time_budget must be >= 0 seconds (0: off), got -5.0" in capsys.readouterr().err
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args([*base, "--preset", "demo", "--loss", "ce+dice", "--region-weight",
                              "0.5", "--class-weights", "median_freq", "--ce-top-k", "0.3",
                              "--time-budget", "0"])  # fmt: skip
    config = build_config(args)
    assert (config.loss, config.region_weight, config.class_weights, config.ce_top_k) == (
        "ce+dice", 0.5, "median_freq", 0.3)  # fmt: skip
    assert config.time_budget == 0  # turns the preset's budget off
    args = parser.parse_args([*base, "--time-budget", "90"])
    assert build_config(args).time_budget == 90.0
    assert cli_main(["train", "segmentation", "--data", str(tmp_path / "none")]) == 2
    assert "data folder not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["train", "segmentation", "--preset", "pix2pix-cityscapes"])
    assert exit_info.value.code == 2


def test_cli_trains_evaluates_and_refuses_foreign_files(data, tmp_path, capsys, records):
    out = tmp_path / "cli"
    argv = ["train", "segmentation", "--data", str(data), "--out", str(out), "--size", "32",
            "--option", "base_channels=4", "--batch-size", "4", "--epochs", "1", "--threads",
            "1", "--no-progress", "--sample-every", "0"]  # fmt: skip
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out  # a validation line, then the summary as JSON
    assert json.loads(printed[printed.index("{\n") :])["step"] == 2
    scores = tmp_path / "scores.json"
    best = str(out / "checkpoints" / "best.pt")
    assert cli_main(["evaluate", "--checkpoint", best, "--data", str(data),
                     "--json", str(scores)]) == 0  # fmt: skip
    assert "| road |" in capsys.readouterr().out
    saved = json.loads(scores.read_text())["scores"]
    assert saved["miou"] == pytest.approx(records(out, "val")[-1]["miou"])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    assert cli_main(["evaluate", "--checkpoint", str(foreign), "--data", str(data)]) == 2
    assert "foreign.pt: not a fastpix checkpoint" in capsys.readouterr().err
    assert cli_main(["train", "pix2pix", "--resume", str(out)]) == 2
    assert "a 'segmentation' checkpoint, expected 'pix2pix'" in capsys.readouterr().err


def test_presets_are_valid():
    for name in ft.PRESETS:
        config = get_preset(name, data="d")
        config.check()
    assert get_preset("road-unet-seed004").binary
    assert get_preset("fcn-resnet34-seed003").batch_size == 32
    assert get_preset("cgan-seed001").generator == "cgan_g"
    assert math.isclose(get_preset("pix2pix-cityscapes").lr, 2e-4)
    with pytest.raises(ValueError, match="unknown preset 'nope'; valid presets: unet-seed001"):
        get_preset("nope")
