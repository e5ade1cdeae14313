"""Shared test set-up.

Without a GPU, the Triton kernels are tested in Triton's interpreter on CPU tensors. Triton reads
``TRITON_INTERPRET`` when a kernel module is imported, so it is set here, before any test module
loads. Nothing else changes: without ``FASTPIX_IMPL=triton`` CPU tensors still run the torch
reference, so the rest of the suite tests the default dispatch.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

_INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
# The kernels run compiled on CUDA, or interpreted on CPU; never both in one process.
KERNEL_DEVICES = (
    [pytest.param("cuda", marks=pytest.mark.cuda)]
    if torch.cuda.is_available() and not _INTERPRET
    else ["cpu"]
)


@pytest.fixture(params=KERNEL_DEVICES)
def kernel_device(request, monkeypatch) -> torch.device:
    """A device the Triton kernels run on, with ``FASTPIX_IMPL=triton`` forcing them."""
    pytest.importorskip("triton")
    monkeypatch.setenv("FASTPIX_IMPL", "triton")
    return torch.device(request.param)


@pytest.fixture
def force_plan(monkeypatch, kernel_device):
    """``force_plan(split)``: make the kernels' planner choose the split plan (partial
    statistics + merge) or the fused one (whole groups per program) wherever it can."""

    def force(split: bool) -> None:
        from fastpix.kernels import norm_act

        if kernel_device.type == "cpu":
            monkeypatch.setattr(norm_act, "_CPU_TARGET_PROGRAMS", 1 << 20 if split else 1)
        else:
            monkeypatch.setattr(norm_act, "_PROGRAMS_PER_SM", 1 << 20 if split else 0)

    return force


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of small networks (``pytestmark =
    pytest.mark.usefixtures("one_torch_thread")``): one thread is as fast, and it stays fast on
    a CPU shared with other jobs (two spinning threads on an oversubscribed CPU are 10-30×
    slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def records():
    """``records(out, kind="train")``: the records of that kind in a run folder's
    ``metrics.jsonl``, read here with json, independently of fastpix's own reader."""

    def read(out, kind: str = "train") -> list[dict]:
        lines = (out / "metrics.jsonl").read_text().splitlines()
        return [r for r in map(json.loads, lines) if r["kind"] == kind]

    return read
