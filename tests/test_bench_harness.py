"""The benchmark harness: the revision a result row names."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fastpix.bench.harness import _git_revision

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(repo, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


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


def test_revision_outside_a_checkout_is_unknown(tmp_path):
    assert _git_revision(tmp_path) == "unknown"
