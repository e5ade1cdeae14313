"""The kernels benchmark runs end to end (tiny shapes, CPU) and records comparable rows."""

from __future__ import annotations

import argparse
import csv

import pytest

from fastpix.bench import cli as bench_cli
from fastpix.bench import kernels as bench


@pytest.fixture
def tiny_cases(monkeypatch):
    monkeypatch.setattr(bench, "QUICK_NORM_SHAPES", [(4, 3, 5, "leaky_relu", 0.5)])
    monkeypatch.setattr(bench, "QUICK_SPADE_SHAPES", [(4, 3, 5)])
    monkeypatch.setattr(bench, "MASK_SIZE", (4, 8))
    monkeypatch.delenv("FASTPIX_IMPL", raising=False)


def test_quick_run_writes_every_case_and_provider(tiny_cases, tmp_path):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    bench_cli.add_parser(sub)
    args = parser.parse_args(
        ["bench", "kernels", "--quick", "--device", "cpu", "--out", str(tmp_path)]
    )
    assert args.target == "kernels"
    rows = bench.run(args)
    with open(tmp_path / "kernels.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert len(written) == len(rows)
    seen = {(r["case"], r["pass"], r["provider"]) for r in written}
    for case in ("unet_256", "spade_256x512"):
        for pass_ in ("forward", "forward+backward"):
            assert {(case, pass_, "fastpix"), (case, pass_, "torch")} <= seen
    for case in ("palette_to_class", "class_to_color"):
        assert {(case, "forward", p) for p in ("fastpix", "torch", "reference")} <= seen
    assert ("memory_copy", "forward", "torch.copy_") in seen
    for row in rows:
        assert row["median_ms"] > 0 and row["gbps"] > 0 and row["pct_of_copy"] > 0
        if row["provider"] == "fastpix":
            assert row["impl"] == "torch"  # CPU: the reference runs
            assert row["vs_torch"] > 0
