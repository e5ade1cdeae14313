"""pix2pix trainer: one step against a hand-written reference step, learning, the seed-001
CGAN configuration, and the palette / FCN-score scoring against brute-force oracles. Tiny
networks on 64×64 synthetic scenes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import fastpix.train as ft
from fastpix.checkpoint import load_checkpoint, model_entry, save_checkpoint
from fastpix.data import write_synthetic
from fastpix.data.imageio import write_image
from fastpix.data.synthetic import make_scene
from fastpix.labels import get_label_set
from fastpix.models import create
from fastpix.train.config import Pix2PixConfig
from fastpix.train.data import EvalBatches
from fastpix.train.engine import Runtime
from fastpix.train.evaluate import evaluate_checkpoint, score_translator
from fastpix.train.pix2pix import Pix2PixTrainer

SIZE = 64
LABELS = get_label_set("trainid")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("p2p") / "synth"
    write_synthetic(root, n=6, size=SIZE, png=True, val_fraction=1 / 3, workers=1)
    return root


@pytest.fixture(scope="module")
def mask_pairs(tmp_path_factory):
    """Kaggle-layout val pairs whose both halves are the exact colour mask of a scene."""
    root = tmp_path_factory.mktemp("masks")
    for i in range(3):
        _, labels = make_scene(500 + i, SIZE, SIZE)
        mask = LABELS.colorize(torch.from_numpy(labels)).numpy()
        write_image(root / "val" / f"{i + 1}.png", np.concatenate([mask, mask], axis=1))
    return root


def tiny(data, out, **overrides) -> Pix2PixConfig:
    settings = dict(
        data=str(data), out=str(out), size=SIZE, load_size=None,
        generator="resnet_6blocks", generator_options={"ngf": 4, "use_dropout": True},
        discriminator="patchgan", discriminator_options={"ndf": 4, "n_layers": 2},
        batch_size=2, epochs=2, log_every=1, sample_every=0, checkpoint_every=0,
        progress=False, threads=1, workers=1,
    )  # fmt: skip
    settings.update(overrides)
    return Pix2PixConfig(**settings)


def test_one_step_matches_the_reference_step(data, tmp_path):
    config = tiny(data, tmp_path / "ref", generator_options={"ngf": 4}, lr=1e-3)
    trainer = Pix2PixTrainer(config)
    G, D = copy.deepcopy(trainer.nets["G"][2]), copy.deepcopy(trainer.nets["D"][2])
    real_a, real_b = next(iter(trainer.train_batches.epoch(0)))
    losses, finite = trainer.train_step(real_a, real_b)
    assert finite

    # pix2pix_model.py, written out: D step on (fake, real) halved, then G step with D frozen.
    bce, l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()
    # The same Adam implementation as the trainer's (fused where available): this test is
    # about the order of the step; test_engine checks fused against the default Adam.
    fused = trainer.optimizers["G"].defaults.get("fused")
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=fused)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=fused)
    fake_b = G(real_a)
    pred_fake = D(torch.cat([real_a, fake_b.detach()], 1))
    pred_real = D(torch.cat([real_a, real_b], 1))
    loss_d = 0.5 * (
        bce(pred_fake, torch.zeros_like(pred_fake)) + bce(pred_real, torch.ones_like(pred_real))
    )
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    for p in D.parameters():
        p.requires_grad_(False)
    pred_fake = D(torch.cat([real_a, fake_b], 1))
    loss_g = bce(pred_fake, torch.ones_like(pred_fake)) + 100 * l1(fake_b, real_b)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()

    torch.testing.assert_close(losses["loss_D"], loss_d.detach())
    torch.testing.assert_close(losses["loss_G"], loss_g.detach())
    for mine, reference in ((trainer.nets["G"][2], G), (trainer.nets["D"][2], D)):
        for (name, a), b in zip(mine.state_dict().items(), reference.state_dict().values()):
            torch.testing.assert_close(a, b, msg=name)
    assert all(p.requires_grad for p in trainer.nets["D"][2].parameters())


def test_generator_learns_and_logs_both_networks(data, tmp_path, records):
    out = tmp_path / "learn"
    summary = ft.train(tiny(data, out, epochs=7, lr=2e-3))
    train = records(out)
    l1 = [r["loss_G_L1"] for r in train]
    assert len(l1) == 14 and np.mean(l1[-3:]) < 0.8 * np.mean(l1[:3])
    for r in train:
        assert r["loss_D"] == pytest.approx(0.5 * (r["loss_D_fake"] + r["loss_D_real"]))
        assert r["loss_G"] == pytest.approx(r["loss_G_GAN"] + r["loss_G_L1"])
    val = records(out, "val")
    assert len(val) == 7 and all(0 <= r["miou"] <= 1 for r in val)  # photo → colour mask
    assert summary["best"]["metric"] == "miou"
    ckpt = load_checkpoint(out / "checkpoints" / "best.pt", task="pix2pix")
    assert set(ckpt["models"]) == {"G", "D"}
    assert ckpt["data"]["direction"] == "AtoB" and ckpt["data"]["output"] == "color_mask"
    assert ckpt["inference_mode"] == "paper"


def test_cgan_seed001_configuration(data, tmp_path, records):
    out = tmp_path / "cgan"
    config = tiny(
        data, out, generator="cgan_g", generator_options={"ngf": 4}, discriminator="cgan_d",
        discriminator_options={"ndf": 4}, lambda_l1=0.0, d_loss_scale=1.0, epochs=1,
    )  # fmt: skip
    ft.train(config)
    for r in records(out):
        assert r["loss_G_L1"] == 0.0 and r["loss_G"] == r["loss_G_GAN"]
        assert r["loss_D"] == pytest.approx(r["loss_D_fake"] + r["loss_D_real"])
    models = load_checkpoint(out / "checkpoints" / "last.pt")["models"]
    assert (models["G"]["name"], models["D"]["name"]) == ("cgan_g", "cgan_d")


def test_label_to_photo_without_segmenter_keeps_the_best_l1(data, tmp_path, records):
    out = tmp_path / "btoa"
    summary = ft.train(tiny(data, out, direction="BtoA", epochs=2))
    val = records(out, "val")
    assert summary["best"]["metric"] == "l1" and "miou" not in val[0]
    assert summary["best"]["value"] == min(r["l1"] for r in val)


def _nearest_classes(images: np.ndarray) -> np.ndarray:
    """Brute force: N×H×W×3 uint8 → nearest mask colour's class (first on ties)."""
    colors = LABELS.mask_palette.numpy().astype(np.int64)
    distance = ((images[..., None, :].astype(np.int64) - colors) ** 2).sum(-1)
    return LABELS.mask_lut.numpy()[distance.argmin(-1)]


def _miou(pred: np.ndarray, truth: np.ndarray) -> float:
    valid = truth != LABELS.ignore_index  # void pixels count for no class
    pred, truth = pred[valid], truth[valid]
    ious = []  # every class that is predicted or present (cityscapesScripts' rule)
    for k in range(LABELS.num_classes):
        p, t = pred == k, truth == k
        if (p | t).any():
            ious.append((p & t).sum() / (p | t).sum())
    return float(np.mean(ious))


def _channel_conv(order) -> nn.Conv2d:
    """A 1×1 conv that reorders RGB channels: a generator with a known output."""
    conv = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        for out_channel, in_channel in enumerate(order):
            conv.weight[out_channel, in_channel] = 1.0
    return conv


def _val(root, config_overrides=None):
    config = Pix2PixConfig(data=str(root), size=SIZE, batch_size=2, **(config_overrides or {}))
    return EvalBatches(config, Runtime(torch.device("cpu")), "val", "image", config.direction)


def _uint8(images: torch.Tensor) -> np.ndarray:
    return (images.permute(0, 2, 3, 1).add(1).mul(127.5).round()).to(torch.uint8).numpy()


def test_palette_scores_against_brute_force(mask_pairs):
    identity, _ = score_translator(_channel_conv([0, 1, 2]), _val(mask_pairs), LABELS, "color_mask")
    assert identity["miou"] == 1.0 and identity["l1"] == 0.0
    swapped, _ = score_translator(_channel_conv([2, 1, 0]), _val(mask_pairs), LABELS, "color_mask")
    truth = np.concatenate([_uint8(b) for _, b in _val(mask_pairs)])
    pred = _nearest_classes(truth[..., ::-1])
    assert swapped["miou"] == pytest.approx(_miou(pred, _nearest_classes(truth)), abs=1e-9)
    truth = _nearest_classes(truth)
    valid = truth != LABELS.ignore_index
    assert swapped["pixel_acc"] == pytest.approx(np.mean(pred[valid] == truth[valid]))


def test_fcn_score_against_brute_force(data, tmp_path):
    torch.manual_seed(0)
    segmenter = create("unet", num_classes=19, base_channels=2).eval()
    path = save_checkpoint(tmp_path / "seg.pt", {
        "task": "segmentation", "models": {"model": model_entry("unet",
        {"num_classes": 19, "base_channels": 2}, segmenter)}, "label_set": {"name": "trainid"},
    })  # fmt: skip
    generator = create("resnet_6blocks", ngf=2).eval()
    scores, _ = score_translator(
        generator, _val(data, {"direction": "BtoA"}), LABELS, "photo",
        load_segmenter(path), real_photos=True,
    )  # fmt: skip
    preds, real_preds, truths = [], [], []
    with torch.no_grad():
        for mask, photo in _val(data, {"direction": "BtoA"}):
            preds.append(segmenter(generator(mask)).argmax(1).numpy())
            real_preds.append(segmenter(photo).argmax(1).numpy())
            truths.append(_nearest_classes(_uint8(mask)))
    truth = np.concatenate(truths)
    assert scores["miou"] == pytest.approx(_miou(np.concatenate(preds), truth), abs=1e-9)
    assert scores["real_miou"] == pytest.approx(_miou(np.concatenate(real_preds), truth), abs=1e-9)
    assert scores["l1"] > 0


def load_segmenter(path):
    from fastpix.checkpoint import build_model

    return build_model(load_checkpoint(path, task="segmentation")).eval()


def test_evaluate_checkpoint_needs_a_segmenter_for_photos(data, tmp_path):
    out = tmp_path / "btoa"
    ft.train(tiny(data, out, direction="BtoA", epochs=1, val_split=None))
    with pytest.raises(ValueError, match="FCN-score: give --segmenter"):
        evaluate_checkpoint(out / "checkpoints" / "last.pt", data, device="cpu")
