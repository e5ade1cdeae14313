"""The train benchmark: its plain-PyTorch baseline is the reference recipe (the same networks
as fastpix's, the reference losses), and a tiny CPU run records comparable rows."""

from __future__ import annotations

import argparse
import copy
import csv
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fastpix.bench import train as bench
from fastpix.bench.reference_pix2pix import ReferencePatchGAN, ReferencePix2Pix, ReferenceUnet
from fastpix.compat.pix2pix import load_discriminator, load_generator

DATA = Path(__file__).parent / "data"


def _keys(name: str) -> list[str]:
    return [line.split()[0] for line in (DATA / name).read_text().splitlines() if line.strip()]


def test_reference_networks_carry_the_official_keys():
    with torch.device("meta"):
        generator, discriminator = ReferenceUnet(), ReferencePatchGAN()
    assert list(generator.state_dict()) == _keys("unet256_state_dict_keys.txt")
    assert list(discriminator.state_dict()) == _keys("D_basic_state_dict_keys.txt")
    assert sum(p.numel() for p in generator.parameters()) == 54_413_955  # pix2pix.md


def test_reference_and_fastpix_networks_compute_the_same_function():
    torch.manual_seed(0)
    generator, discriminator = ReferenceUnet(ngf=4).eval(), ReferencePatchGAN(ndf=4).eval()
    for module in [*generator.modules(), *discriminator.modules()]:
        if isinstance(module, torch.nn.BatchNorm2d):  # non-trivial statistics
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    ours_g = load_generator(generator.state_dict(), ngf=4).eval()
    ours_d = load_discriminator(discriminator.state_dict(), ndf=4).eval()
    x = torch.rand(2, 3, 256, 256) * 2 - 1
    pair = torch.cat([x, torch.rand_like(x)], 1)
    with torch.no_grad():
        torch.testing.assert_close(ours_g(x), generator(x), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(ours_d(pair), discriminator(pair), atol=1e-5, rtol=1e-4)


def test_reference_step_is_the_pix2pix_objective():
    torch.manual_seed(0)
    model = ReferencePix2Pix(ngf=2, ndf=2, num_downs=5)  # a 32×32 U-Net: the same objective
    generator, discriminator = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    torch.manual_seed(1)
    losses = model.step(a, b)
    torch.manual_seed(1)  # the same dropout masks
    with torch.no_grad():
        fake = generator(a)
        d_fake, d_real = discriminator(torch.cat([a, fake], 1)), discriminator(torch.cat([a, b], 1))
    bce = F.binary_cross_entropy_with_logits
    expected_d = 0.5 * (bce(d_fake, torch.zeros_like(d_fake)) + bce(d_real, torch.ones_like(d_real)))  # fmt: skip
    torch.testing.assert_close(losses["loss_D"], expected_d)
    changed = [not torch.equal(p, q) for p, q in zip(generator.parameters(), model.generator.parameters())]  # fmt: skip
    assert all(changed)  # the G step moved every generator weight


def test_tiny_cpu_run_records_both_providers(monkeypatch, tmp_path):
    tiny = bench.Setting(width=2, batches=(1,), rounds=1, warmup=0, workers=1, scenes=2,
                         segmentation_batch=1)  # fmt: skip
    monkeypatch.setattr(bench, "QUICK_CPU_SETTING", tiny)
    monkeypatch.setattr(bench, "SEGMENTATION_SCENES", 2)
    args = argparse.Namespace(device="cpu", out=str(tmp_path), quick=True)
    rows = bench.run(args)
    pix2pix = [(r["provider"], r["batch"]) for r in rows if r["task"] == "pix2pix"]
    assert pix2pix == [("fastpix", 1), ("reference", 1)]
    segmentation = [r for r in rows if r["task"] == "segmentation"]
    assert [r["provider"] for r in segmentation] == ["fastpix", "fastpix (PIL loader)"]
    assert segmentation[0]["batch"] == 1 and segmentation[0]["size"] == "128x128"
    for ours, theirs in zip(rows[::2], rows[1::2]):
        assert ours["speedup"] == pytest.approx(theirs["median_s"] / ours["median_s"])
        assert ours["speedup_best"] == pytest.approx(theirs["min_s"] / ours["min_s"])
    for row in rows:
        assert row["images_per_s"] == pytest.approx(row["batch"] * row["steps_per_s"])
        assert row["steps_per_s"] == pytest.approx(1 / row["median_s"])
        assert row["peak_cuda_mib"] is None and row["rss_mib"] > 0
    assert rows[0]["precision"] == "fp32" and rows[0]["impl"] == "torch"
    written = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert len(written) == len(rows)
    for key in ("date", "git", "device", "torch", "triton", "tensorrt", "cuda", "load_average_1m"):
        assert key in written[0]
    with open(tmp_path / "train.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
