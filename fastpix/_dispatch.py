"""Which implementation runs an op: a small registry, data rather than if-chains.

Every op has a ``torch`` implementation (the reference, runs anywhere) and may have a
``triton`` one (CUDA tensors). ``FASTPIX_IMPL=torch`` or ``FASTPIX_IMPL=triton`` forces one;
forcing ``triton`` on CPU tensors needs ``TRITON_INTERPRET=1``. Without a forced choice,
Triton runs on CUDA tensors when it imports, and the reference runs otherwise.
"""

from __future__ import annotations

import importlib
import os
from typing import Callable

import torch

# op name -> {implementation name: "module:function"}
_REGISTRY: dict[str, dict[str, str]] = {
    "palette_to_class": {
        "torch": "fastpix.palette:palette_to_class_reference",
    },
    "class_to_color": {
        "torch": "fastpix.palette:class_to_color_reference",
    },
}

IMPL_ENV = "FASTPIX_IMPL"
_resolved: dict[tuple[str, str], Callable] = {}


def register(op: str, impl: str, target: str) -> None:
    """Register ``target`` ("module:function") as implementation ``impl`` of ``op``."""
    _REGISTRY.setdefault(op, {})[impl] = target


def _load(op: str, impl: str) -> Callable:
    key = (op, impl)
    if key not in _resolved:
        module, name = _REGISTRY[op][impl].split(":")
        _resolved[key] = getattr(importlib.import_module(module), name)
    return _resolved[key]


def forced_impl() -> str | None:
    forced = os.environ.get(IMPL_ENV, "").strip().lower() or None
    if forced not in (None, "torch", "triton"):
        raise ValueError(f"{IMPL_ENV}={forced!r}: expected 'torch' or 'triton'")
    return forced


def implementation(op: str, tensor: torch.Tensor) -> Callable:
    """The function that runs ``op`` on ``tensor``."""
    impls = _REGISTRY[op]
    if torch.onnx.is_in_onnx_export():
        # Exported graphs must be standard ONNX: always trace the reference.
        return _load(op, "torch")
    forced = forced_impl()
    if forced is not None:
        if forced not in impls:
            raise RuntimeError(f"{IMPL_ENV}={forced} but {op} has no {forced} implementation")
        return _load(op, forced)
    if tensor.is_cuda and "triton" in impls and not torch.jit.is_scripting():
        try:
            return _load(op, "triton")
        except ImportError:
            pass
    return _load(op, "torch")
