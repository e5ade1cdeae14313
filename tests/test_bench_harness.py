"""The benchmark harness: the revision a result row names, and when a benchmark takes it."""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess

import pytest

from fastpix.bench.harness import _git_revision

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(repo, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


@needs_git
def test_revision_is_marked_dirty_by_code_changes_only(tmp_path):
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "benchmarks" / "results" / "train.csv").write_text("a\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "first")
    head = _git(tmp_path, "rev-parse", "--short", "HEAD")
    assert _git_revision(tmp_path) == head
    # Appending result rows (what every benchmark run does) keeps the revision clean ...
    (tmp_path / "benchmarks" / "results" / "train.csv").write_text("a\n1\n")
    assert _git_revision(tmp_path) == head
    # ... from any folder of the checkout; a changed source file does not.
    assert _git_revision(tmp_path / "benchmarks") == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert _git_revision(tmp_path / "benchmarks") == f"{head}-dirty"


@needs_git
def test_revision_outside_a_checkout_is_unknown(tmp_path):
    assert _git_revision(tmp_path) == "unknown"


class _Stopped(Exception):
    """Raised by the stand-in timer: these tests need the order of calls, not a measurement."""


@pytest.mark.parametrize(
    "benchmark, timer",
    [("kernels", "measure"), ("loader", "interleaved"), ("infer", "measure"),
     ("models", "measure"), ("pipeline", "measure"), ("train", "interleaved"),
     ("demo", "measure_demo")],
)  # fmt: skip
def test_a_benchmark_takes_its_environment_before_it_measures(
    benchmark, timer, monkeypatch, tmp_path
):
    # A row names the revision its run started from: a commit made during a long run must not
    # be credited with the run's figures.
    module = importlib.import_module(f"fastpix.bench.{benchmark}")
    calls = []

    def environment(device="cpu"):
        calls.append("environment")
        return {}

    def timer_stand_in(*args, **kwargs):
        calls.append("measure")
        raise _Stopped

    monkeypatch.setattr(module, "environment", environment)
    monkeypatch.setattr(module, timer, timer_stand_in)
    args = argparse.Namespace(
        device="cpu", quick=True, out=str(tmp_path), set=[], scenes=None, keep=None
    )
    with pytest.raises(_Stopped):
        module.run(args)
    assert calls == ["environment", "measure"]
