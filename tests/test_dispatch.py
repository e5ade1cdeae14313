"""fastpix._dispatch: which implementation runs, and the errors a wrong choice gets."""

from __future__ import annotations

import warnings

import pytest
import torch

from fastpix import _dispatch, palette
from fastpix.nn import norm_act


@pytest.fixture
def no_forcing(monkeypatch):
    monkeypatch.delenv("FASTPIX_IMPL", raising=False)


def test_cpu_tensors_run_the_reference(no_forcing):
    x = torch.zeros(1, 3, 2, 2)
    assert _dispatch.implementation("norm_act", x) is norm_act.norm_act_reference
    assert _dispatch.implementation("palette_to_class", x) is palette.palette_to_class_reference


def test_forcing_torch(monkeypatch):
    monkeypatch.setenv("FASTPIX_IMPL", "Torch ")  # case and spaces do not matter
    assert _dispatch.choose("norm_act", "cuda") == "torch"


def test_unknown_forced_value(monkeypatch):
    monkeypatch.setenv("FASTPIX_IMPL", "cuda")
    with pytest.raises(ValueError, match="FASTPIX_IMPL='cuda': expected 'torch' or 'triton'"):
        _dispatch.choose("norm_act", "cpu")


def test_forced_triton_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.setenv("FASTPIX_IMPL", "triton")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.setattr(_dispatch, "_triton_status", [None])
    with pytest.raises(RuntimeError, match="needs TRITON_INTERPRET=1"):
        _dispatch.choose("norm_act", "cpu")


def test_forced_triton_without_triton(monkeypatch):
    monkeypatch.setenv("FASTPIX_IMPL", "triton")
    monkeypatch.setattr(_dispatch, "_triton_status", ["ImportError: No module named 'triton'"])
    with pytest.raises(RuntimeError, match="Triton is not usable: ImportError"):
        _dispatch.choose("palette_to_class", "cuda")


def test_forced_implementation_must_exist(monkeypatch):
    monkeypatch.setenv("FASTPIX_IMPL", "triton")
    monkeypatch.setitem(
        _dispatch._REGISTRY, "only_torch", {"torch": "fastpix.palette:check_palette"}
    )
    with pytest.raises(RuntimeError, match="only_torch has no triton implementation"):
        _dispatch.choose("only_torch", "cuda")


def test_cuda_without_triton_warns_once_and_falls_back(no_forcing, monkeypatch):
    monkeypatch.setattr(_dispatch, "_triton_status", ["ImportError: No module named 'triton'"])
    monkeypatch.setattr(_dispatch, "_warned_no_triton", [])
    with pytest.warns(RuntimeWarning, match="Triton is not usable"):
        assert _dispatch.choose("norm_act", "cuda") == "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _dispatch.choose("spade_norm_act", "cuda") == "torch"


def test_cuda_with_triton_runs_the_kernels(no_forcing, monkeypatch):
    pytest.importorskip("triton")
    assert _dispatch.choose("norm_act", "cuda") == "triton"
    assert _dispatch.choose("class_to_color", "cuda") == "triton"


def test_onnx_export_always_takes_the_reference(monkeypatch):
    monkeypatch.setenv("FASTPIX_IMPL", "triton")
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
    assert _dispatch.choose("norm_act", "cuda") == "torch"
