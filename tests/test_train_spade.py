"""SPADE trainer (``fastpix train spade``): one step against a hand-written NVlabs iteration,
learning on synthetic scenes, exact resume, the checkpoint in ``fastpix pipeline`` and
``fastpix evaluate`` (FCN-score against a numpy oracle), and the command line. Tiny networks
on 32×32 synthetic scenes."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastpix.train as ft
from fastpix.checkpoint import load_checkpoint, model_entry, save_checkpoint
from fastpix.cli import main
from fastpix.data import write_synthetic
from fastpix.data.synthetic import make_scene
from fastpix.labels import get_label_set, label_set_to_dict
from fastpix.models import create
from fastpix.pipeline.stages import load_segmenter, load_synthesizer
from fastpix.train.config import SpadeConfig, get_preset
from fastpix.train.evaluate import evaluate_checkpoint
from fastpix.train.spade import SpadeTrainer

SIZE = 32
SCENES = 10  # scenes 0-7 train, 8-9 val
VAL_SCENES = (8, 9)
LABELS = get_label_set("trainid")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("spade") / "synth"
    write_synthetic(root, n=SCENES, size=SIZE, png=True, val_fraction=0.2, workers=1)
    return root


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory) -> str:
    """A segmentation checkpoint (random weights: the FCN-score only has to be computed
    right)."""
    torch.manual_seed(3)
    options = {"num_classes": 19, "base_channels": 4}
    path = tmp_path_factory.mktemp("seg") / "seg.pt"
    save_checkpoint(path, {
        "task": "segmentation", "label_set": label_set_to_dict(LABELS),
        "models": {"model": model_entry("unet", options, create("unet", **options).eval())},
        "data": {"size": [SIZE, SIZE], "mean": [0.5] * 3, "std": [0.5] * 3},
        "config": {"binary": False},
    })  # fmt: skip
    return str(path)


def tiny(data, out, **overrides) -> SpadeConfig:
    settings = dict(
        data=str(data), out=str(out), size=SIZE, lr=5e-4,
        generator_options={"ngf": 4, "spade_hidden": 8},
        discriminator_options={"ndf": 8, "n_layers": 3, "num_D": 1},
        batch_size=4, epochs=3, log_every=1, sample_every=0, checkpoint_every=0,
        progress=False, threads=1, workers=1,
    )  # fmt: skip
    settings.update(overrides)
    return SpadeConfig(**settings)


@pytest.fixture(scope="module")
def trained(data, segmenter, tmp_path_factory):
    """A 48-step run (12 epochs of 2 steps), validated with the FCN-score at the end."""
    out = tmp_path_factory.mktemp("run") / "spade"
    trainer = SpadeTrainer(tiny(data, out, epochs=24, val_every=1000, segmenter=segmenter,
                                sample_every=24))  # fmt: skip
    initial = copy.deepcopy(trainer.nets["G"][2])
    summary = trainer.fit()
    return {"out": out, "summary": summary, "trainer": trainer, "initial": initial}


# --------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------


def nvlabs_iteration(G, D, classes, photos, lr):
    """One NVlabs SPADE iteration written out with torch ops: TTUR Adam, G on
    -D(fake) + 10 · feature matching, then D on the hinge loss of a regenerated fake."""
    one_hot = F.one_hot(classes.clamp(max=18), 19).permute(0, 3, 1, 2).float()
    semantics = one_hot * (classes != 255).unsqueeze(1)  # ignore pixels: all zero
    opt_g = torch.optim.Adam(G.parameters(), lr=lr / 2, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr * 2, betas=(0.0, 0.9))
    n = photos.shape[0]

    def scores(fake):
        (layers,) = D(
            torch.cat([torch.cat([semantics, fake], 1), torch.cat([semantics, photos], 1)])
        )
        return [t[:n] for t in layers], [t[n:] for t in layers]

    D.requires_grad_(False)
    fake_out, real_out = scores(G(semantics))
    loss_g = -fake_out[-1].mean() + 10 * sum(
        (f - r.detach()).abs().mean() for f, r in zip(fake_out[:-1], real_out[:-1])
    )
    loss_g.backward()
    opt_g.step()
    D.requires_grad_(True)
    with torch.no_grad():
        fake = G(semantics)
    fake_out, real_out = scores(fake)
    loss_d = F.relu(1 + fake_out[-1]).mean() + F.relu(1 - real_out[-1]).mean()
    loss_d.backward()
    opt_d.step()
    return loss_g.detach(), loss_d.detach(), opt_g, opt_d


def test_one_step_matches_a_hand_written_nvlabs_iteration(data, tmp_path):
    trainer = SpadeTrainer(tiny(data, tmp_path / "ref", val_split=None))
    G, D = copy.deepcopy(trainer.nets["G"][2]), copy.deepcopy(trainer.nets["D"][2])
    photos, classes = next(iter(trainer.train_batches.epoch(0)))
    assert classes.dtype == torch.int64 and photos.shape == (4, 3, SIZE, SIZE)
    losses, finite = trainer.train_step(photos, classes)
    assert finite
    loss_g, loss_d, opt_g, opt_d = nvlabs_iteration(G, D, classes, photos, 5e-4)
    torch.testing.assert_close(losses["loss_G"], loss_g)
    torch.testing.assert_close(losses["loss_D"], loss_d)
    assert losses["loss_G"] == losses["loss_G_GAN"] + losses["loss_G_Feat"]
    # With β1 = 0, Adam's first moment after one step is the gradient. The weights are not
    # compared: biases before a batch norm get gradients of rounding noise, which Adam's
    # first step turns into ±lr either way. The tolerance allows for the batch norm over 4
    # values per channel at the 1×1 latent grid, which amplifies rounding differences.
    for key, reference in (("G", opt_g), ("D", opt_d)):
        mine = trainer.optimizers[key]
        assert mine.param_groups[0]["lr"] == reference.param_groups[0]["lr"]
        assert mine.param_groups[0]["betas"] == reference.param_groups[0]["betas"]
        states = zip(mine.state_dict()["state"].values(), reference.state_dict()["state"].values())
        for index, (a, b) in enumerate(states):
            label = f"{key} parameter {index}"
            torch.testing.assert_close(
                a["exp_avg"],
                b["exp_avg"],
                rtol=1e-3,
                atol=1e-4,
                msg=lambda m, label=label: f"{label}: {m}",
            )
    assert all(p.requires_grad for p in trainer.nets["D"][2].parameters())


def test_non_finite_loss_skips_the_update(data, tmp_path):
    trainer = SpadeTrainer(tiny(data, tmp_path / "nan", val_split=None))
    before = {k: v.clone() for k, v in trainer.nets["G"][2].state_dict().items()}
    photos, classes = next(iter(trainer.train_batches.epoch(0)))
    losses, finite = trainer.train_step(photos * float("nan"), classes)
    assert not finite and not torch.isfinite(losses["loss_G"])
    for name, value in trainer.nets["G"][2].state_dict().items():
        assert torch.equal(value, before[name]), name  # weights and spectral-norm vectors


def test_vgg_weights_add_the_perceptual_term(data, tmp_path, capsys, records):
    from fastpix.models.vgg import VGG19Features

    torch.manual_seed(0)
    weights = {k: torch.randn_like(v) * 0.05 for k, v in VGG19Features().state_dict().items()}
    torch.save(weights, tmp_path / "vgg19.pth")
    out = tmp_path / "vgg"
    config = tiny(data, out, steps=1, batch_size=2, val_split=None)
    ft.train(dataclasses.replace(config, vgg_weights=str(tmp_path / "vgg19.pth")))
    assert "VGG perceptual loss off" not in capsys.readouterr().out
    (record,) = records(out)
    assert record["loss_G_VGG"] > 0
    assert record["loss_G"] == pytest.approx(
        record["loss_G_GAN"] + record["loss_G_Feat"] + record["loss_G_VGG"]
    )
    SpadeTrainer(dataclasses.replace(config, out=str(tmp_path / "off")))
    assert "VGG perceptual loss off" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Learning, resume
# --------------------------------------------------------------------------------------------


def test_short_run_lowers_the_discriminator_and_generator_losses(trained, records):
    train = records(trained["out"])
    assert [r["step"] for r in train] == list(range(1, 49))
    for r in train:
        assert r["loss_D"] == pytest.approx(r["loss_D_fake"] + r["loss_D_real"])
        assert r["loss_G"] == pytest.approx(r["loss_G_GAN"] + r["loss_G_Feat"])
        assert (r["lr_G"], r["lr_D"]) == (2.5e-4, 1e-3)  # TTUR
    d_loss = [r["loss_D"] for r in train]
    assert d_loss[0] == pytest.approx(2.0, abs=0.05)  # an untrained D outputs about 0
    assert np.mean(d_loss[-12:]) < np.mean(d_loss[:12]) - 0.15  # D learns

    # G's logged loss is measured against a D that grows from a 0.02-scaled first layer (the
    # feature-matching scale grows with it), so G is judged against one D: the final one.
    trainer = trained["trainer"]
    photos, classes = trainer.val_batches.first(2)
    semantics = trainer.semantics(classes)
    D = trainer.nets["D"][2].eval()  # spectral norm keeps its vectors: calls are comparable

    def g_loss(G) -> float:
        objective = copy.copy(trainer.objective)
        objective.generator = G.eval()
        with torch.no_grad():
            return float(sum(objective.generator_losses(semantics, photos)[0].values()))

    assert g_loss(trainer.nets["G"][2]) < 0.8 * g_loss(trained["initial"])
    D.train()


def test_resumed_run_reproduces_the_uninterrupted_run(data, tmp_path, records):
    # 8 training pairs in batches of 4: 2 steps per epoch, 4 in all; stop inside epoch 1.
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    ft.train(tiny(data, whole, epochs=2))
    first = ft.train(tiny(data, parts, epochs=2), until=3)
    assert not first["finished"] and first["step"] == 3
    stopped = load_checkpoint(parts / "checkpoints" / "last.pt", task="spade")
    assert (stopped["epoch"], stopped["position"]) == (1, 1)
    assert ft.resume(parts)["finished"]
    keys = ("step", "loss_G", "loss_G_GAN", "loss_G_Feat", "loss_D")
    reference = [tuple(r[k] for k in keys) for r in records(whole)]
    assert [r[0] for r in reference] == list(range(1, 5))
    assert [tuple(r[k] for k in keys) for r in records(parts)] == reference
    a, b = (load_checkpoint(p / "checkpoints" / "last.pt")["models"] for p in (whole, parts))
    for net in ("G", "D"):
        for name, value in a[net]["state_dict"].items():
            assert torch.equal(value, b[net]["state_dict"][name]), f"{net}.{name}"
    assert [r["l1"] for r in records(parts, "val")] == [r["l1"] for r in records(whole, "val")]


# --------------------------------------------------------------------------------------------
# The checkpoint in the pipeline and in fastpix evaluate
# --------------------------------------------------------------------------------------------


def test_checkpoint_loads_as_the_pipeline_synthesizer(trained):
    path = trained["out"] / "checkpoints" / "last.pt"
    checkpoint = load_checkpoint(path, task="spade")
    assert set(checkpoint["models"]) == {"G", "D"}
    assert checkpoint["models"]["G"]["name"] == "spade"
    assert checkpoint["models"]["G"]["options"]["label_nc"] == 19
    assert checkpoint["data"]["output"] == "photo"
    synthesizer = load_synthesizer(path)
    assert synthesizer.kind == "spade" and synthesizer.label_set == LABELS
    assert not synthesizer.network.use_spectral_norm  # folded for inference
    _, labels = make_scene(VAL_SCENES[0], SIZE, SIZE)
    classes = torch.from_numpy(labels).long()[None]
    trainer = trained["trainer"]
    with torch.no_grad():
        expected = trainer.nets["G"][2].eval()(trainer.semantics(classes))
        torch.testing.assert_close(synthesizer(classes), expected, atol=1e-5, rtol=1e-5)
    samples = sorted(p.name for p in (trained["out"] / "samples").iterdir())
    assert samples == ["step_00000024.png", "step_00000048.png"]
    assert (trained["out"] / "loss_curves.png").is_file()


def numpy_scores(reference: np.ndarray, predicted: np.ndarray, k: int = 19) -> dict[str, float]:
    valid = reference != 255
    ref, pred = reference[valid], predicted[valid]
    ious = []
    for c in range(k):
        union = np.sum((ref == c) | (pred == c))
        if union:
            ious.append(np.sum((ref == c) & (pred == c)) / union)
    return {"pixel_acc": float(np.mean(ref == pred)), "miou": float(np.mean(ious))}


def test_evaluate_gives_the_fcn_score_of_the_checkpoint(trained, data, segmenter, capsys):
    path = trained["out"] / "checkpoints" / "last.pt"
    segment, synthesize = load_segmenter(segmenter), load_synthesizer(path)
    segment.network.eval()
    labels = np.stack([make_scene(k, SIZE, SIZE)[1] for k in VAL_SCENES])
    with torch.no_grad():
        predicted = segment(synthesize(torch.from_numpy(labels).long())).numpy()
    expected = numpy_scores(labels, predicted)

    result = evaluate_checkpoint(path, data, segmenter=segmenter, device="cpu")
    assert result["task"] == "spade"
    for key in ("pixel_acc", "miou"):
        assert result["scores"][key] == pytest.approx(expected[key], abs=1e-6)
        assert trained["summary"]["scores"][key] == pytest.approx(expected[key], abs=1e-6)
    assert trained["summary"]["best"]["metric"] == "miou"
    assert "real_miou" in result["scores"]  # the segmenter on the real photos

    argv = ["evaluate", "--checkpoint", str(path), "--data", str(data), "--device", "cpu"]
    assert main(argv) == 2
    assert "give --segmenter" in capsys.readouterr().err
    assert main([*argv, "--segmenter", segmenter]) == 0
    assert f"miou {expected['miou']:.4f}" in capsys.readouterr().out


def test_fastpix_pipeline_runs_the_checkpoint(trained, data, segmenter, tmp_path):
    out = tmp_path / "pipeline"
    argv = ["pipeline", "--segmenter", segmenter, "--generator",
            str(trained["out"] / "checkpoints" / "last.pt"), "--data", str(data),
            "--layout", "kaggle", "--split", "val", "--out", str(out), "--strips", "1"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 2 and metrics["generator"] == "spade"


# --------------------------------------------------------------------------------------------
# Presets and the command line
# --------------------------------------------------------------------------------------------


def test_presets_follow_the_paper_and_the_demo_budget():
    paper = get_preset("spade-cityscapes")
    assert (paper.lr, paper.ttur, paper.betas) == (2e-4, True, (0.0, 0.9))  # G 1e-4, D 4e-4
    assert (paper.lambda_feat, paper.lambda_vgg, paper.vgg_weights) == (10.0, 10.0, None)
    demo = get_preset("demo-spade", data="d")
    assert 64 <= demo.size <= 128 and demo.steps is not None
    assert ft.trainer_class(demo) is SpadeTrainer


def test_cli_help_and_bad_flags(data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "spade", "--help"])
    assert exit_info.value.code == 0
    assert "--vgg-weights" in capsys.readouterr().out
    base = ["train", "spade", "--data", str(data), "--out", str(tmp_path / "cli")]
    with pytest.raises(SystemExit) as exit_info:
        main([*base, "--preset", "demo"])  # a segmentation preset
    assert exit_info.value.code == 2
    assert "invalid choice: 'demo'" in capsys.readouterr().err
    cases = [
        (["--lambda-feat", "-1"], "lambda_feat and lambda_vgg must be >= 0"),
        (["--g-option", "label_nc=5"], "label_nc is set from the label set"),
        (["--g-option", "ngf"], "--g-option 'ngf': expected KEY=VALUE"),
        (["--size", "48"], "size 48 is not a multiple of 32"),
        (["--vgg-weights", str(tmp_path / "none.pth")], "none.pth"),
    ]
    for extra, message in cases:
        assert main([*base, "--steps", "1", "--no-progress", *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
