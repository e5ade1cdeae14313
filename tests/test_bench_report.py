"""The results renderer: latest run per benchmark and device, exact numbers, valid PNG plots."""

from __future__ import annotations

import argparse
import json
import sys
import types

import pytest
from PIL import Image

from fastpix.bench import cli as bench_cli
from fastpix.bench.report import latest_runs, read_results, render

CPU = "cpu (x86_64, 2 cores)"
GPU = "NVIDIA H100 80GB HBM3"


def _loader_row(date, provider, threads, pairs_per_s, device=CPU):
    return {"date": date, "git": "abc1234", "device": device, "torch": "2.13.0", "target": "loader",
            "config": "plain", "provider": provider, "threads": threads,
            "pairs_per_s": pairs_per_s, "load_average_1m": 1.5}  # fmt: skip


def _train_row(date, provider, batch, images_per_s, speedup=None):
    return {"date": date, "git": "def5678", "device": GPU, "cuda": "13.0", "driver": "580.1",
            "task": "pix2pix", "provider": provider, "batch": batch, "width": 64,
            "images_per_s": images_per_s, "steps_per_s": images_per_s / batch,
            "peak_cuda_mib": 2048.0, "speedup": speedup}  # fmt: skip


@pytest.fixture
def results(tmp_path):
    old, new = "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00"
    loader = [
        _loader_row(old, "native", 1, 11.11),  # an older run: must not be shown
        _loader_row(new, "native", 1, 123.5),
        _loader_row(new, "native", 2, 234.5),
        _loader_row(new, "pil_numpy", 1, 12.25),
        _loader_row(new, "pil_numpy", 2, 20.75),
    ]
    train = [
        _train_row(new, "fastpix", 1, 31.25, speedup=2.5),
        _train_row(new, "reference", 1, 12.5),
        _train_row(new, "fastpix", 32, 400.0, speedup=2.0),
        _train_row(new, "reference", 32, 200.0),
    ]
    for name, rows in (("loader", loader), ("train", train)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_latest_run_per_device_is_kept():
    rows = [_loader_row("2026-01-01", "native", 1, 1.0), _loader_row("2026-01-02", "native", 1, 2.0),
            _loader_row("2026-01-01", "native", 1, 3.0, device=GPU)]  # fmt: skip
    runs = latest_runs(rows)
    assert {d: [r["pairs_per_s"] for r in rs] for d, rs in runs.items()} == {CPU: [2.0], GPU: [3.0]}


def test_report_has_the_latest_numbers_and_valid_plots(results):
    readme = render(results).read_text()
    assert f"## loader — {CPU}" in readme and f"## train — {GPU}" in readme
    for number in ("123.5", "234.5", "12.25", "20.75", "31.25", "12.5", "400", "200", "2.5"):
        assert f"| {number} |" in readme, number
    assert "11.11" not in readme  # the older run
    assert "No GPU run is recorded for: loader." in readme
    assert "git abc1234" in readme and "driver 580.1" in readme
    # Table rows in recorded order, with the chosen columns.
    header = next(line for line in readme.splitlines() if line.startswith("| config"))
    assert header.split(" | ")[:4] == ["| config", "provider", "threads", "pairs_per_s"]
    pngs = sorted((results / "plots").glob("*.png"))
    assert [p.name for p in pngs] == ["loader_cpu_x86_64_2_cores.png", "train_nvidia_h100_80gb_hbm3.png"]  # fmt: skip
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as image:
            image.verify()
        assert f"](plots/{png.name})" in readme
    assert not list(results.glob(".*")) and not list((results / "plots").glob(".*"))


def test_bad_results_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no benchmark results"):
        render(tmp_path)
    (tmp_path / "loader.jsonl").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"loader.jsonl:2: not a JSON row"):
        read_results(tmp_path)


def test_bench_all_runs_every_target_and_renders(monkeypatch, tmp_path, capsys):
    ran = []

    def make_target(name):
        def run(args):
            ran.append(name)
            if name == "kernels":
                raise RuntimeError("no device")
            row = _loader_row("2026-03-01", name, 1, 5.0)
            (tmp_path / "loader.jsonl").write_text(json.dumps(row) + "\n")

        return run

    targets = types.ModuleType("fake_bench_targets")
    for name in bench_cli.TARGETS:
        setattr(targets, name, make_target(name))
    monkeypatch.setitem(sys.modules, "fake_bench_targets", targets)
    monkeypatch.setattr(
        bench_cli, "TARGETS", {name: f"fake_bench_targets:{name}" for name in bench_cli.TARGETS}
    )
    args = argparse.Namespace(target="all", out=str(tmp_path), quick=False, device="cpu")
    assert bench_cli.run(args) == 1  # one target failed; the others still ran
    assert args.quick  # "all" on the CPU: the quick sizes unless --full
    assert ran == list(bench_cli.TARGETS)
    assert "fastpix bench kernels: failed: RuntimeError: no device" in capsys.readouterr().out
    last = list(bench_cli.TARGETS)[-1]  # each fake target rewrites the file; the last one stays
    assert f"| {last} |" in (tmp_path / "README.md").read_text()
