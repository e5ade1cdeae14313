"""Which implementation runs an op: a small registry, data rather than if-chains.

Every op has a ``torch`` implementation (the reference, runs anywhere) and may have a
``triton`` one (the kernels of ``fastpix.kernels``, for CUDA tensors). ``FASTPIX_IMPL=torch`` or
``FASTPIX_IMPL=triton`` forces one; forcing ``triton`` on CPU tensors needs
``TRITON_INTERPRET=1`` (Triton's interpreter, set before the kernels are first imported).
Without a forced choice, Triton runs on CUDA tensors when it imports (a warning says so, once,
when it does not) and the reference runs otherwise. ONNX export always traces the reference, so
exported graphs are standard ONNX. ``torch.compile`` makes the choice when it traces.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Callable

import torch

# op name -> {implementation name: "module:function"}
_REGISTRY: dict[str, dict[str, str]] = {
    "palette_to_class": {
        "torch": "fastpix.palette:palette_to_class_reference",
        "triton": "fastpix.kernels.palette:palette_to_class",
    },
    "class_to_color": {
        "torch": "fastpix.palette:class_to_color_reference",
        "triton": "fastpix.kernels.palette:class_to_color",
    },
    "norm_act": {
        "torch": "fastpix.nn.norm_act:norm_act_reference",
        "triton": "fastpix.nn.norm_act:norm_act_fused",
    },
    "spade_norm_act": {
        "torch": "fastpix.nn.spade_norm:spade_norm_act_reference",
        "triton": "fastpix.nn.spade_norm:spade_norm_act_fused",
    },
}

IMPL_ENV = "FASTPIX_IMPL"
_triton_status: list[str | None] = []  # [error message or None] once checked
_warned_no_triton: list[bool] = []

# torch.compile runs these at trace time and keeps their results as constants: they import
# modules and read the environment, which dynamo cannot trace, and they answer the same
# within a process (FASTPIX_IMPL is read when a model is traced).
_constant_result = getattr(torch.compiler, "assume_constant_result", lambda fn: fn)


def register(op: str, impl: str, target: str) -> None:
    """Register ``target`` ("module:function") as implementation ``impl`` of ``op``."""
    _REGISTRY.setdefault(op, {})[impl] = target


@_constant_result
def triton_error() -> str | None:
    """Why the Triton kernels cannot run here (None when ``fastpix.kernels`` imports)."""
    if not _triton_status:
        try:
            importlib.import_module("fastpix.kernels")
            _triton_status.append(None)
        except Exception as exc:  # a broken install can raise more than ImportError
            _triton_status.append(f"{type(exc).__name__}: {exc}")
    return _triton_status[0]


def forced_impl() -> str | None:
    forced = os.environ.get(IMPL_ENV, "").strip().lower() or None
    if forced not in (None, "torch", "triton"):
        raise ValueError(f"{IMPL_ENV}={forced!r}: expected 'torch' or 'triton'")
    return forced


def _check_forced(op: str, impl: str, device_type: str) -> None:
    if impl not in _REGISTRY[op]:
        raise RuntimeError(f"{IMPL_ENV}={impl} but {op} has no {impl} implementation")
    if impl == "triton":
        error = triton_error()
        if error is not None:
            raise RuntimeError(f"{IMPL_ENV}=triton but Triton is not usable: {error}")
        if device_type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            raise RuntimeError(
                f"{IMPL_ENV}=triton on a {device_type} tensor needs TRITON_INTERPRET=1 "
                "(Triton's CPU interpreter)"
            )


@_constant_result
def choose(op: str, device_type: str) -> str:
    """The name of the implementation that runs ``op`` on tensors of ``device_type``; its
    module is imported."""
    impls = _REGISTRY[op]
    if torch.onnx.is_in_onnx_export():
        impl = "torch"  # exported graphs must be standard ONNX: always trace the reference
    elif forced_impl() is not None:
        impl = forced_impl()
        _check_forced(op, impl, device_type)
    elif device_type == "cuda" and "triton" in impls and triton_error() is None:
        impl = "triton"
    else:
        impl = "torch"
        if device_type == "cuda" and "triton" in impls and not _warned_no_triton:
            _warned_no_triton.append(True)
            warnings.warn(
                f"fastpix: Triton is not usable ({triton_error()}); CUDA tensors run the "
                "slower torch reference implementations",
                RuntimeWarning,
                stacklevel=4,
            )
    importlib.import_module(impls[impl].split(":")[0])
    return impl


def implementation(op: str, tensor: torch.Tensor) -> Callable:
    """The function that runs ``op`` on ``tensor``."""
    if torch.jit.is_scripting():
        impl = "torch"
    else:
        impl = choose(op, tensor.device.type)
    module, name = _REGISTRY[op][impl].split(":")
    return getattr(sys.modules[module], name)  # imported by choose; traceable by dynamo
