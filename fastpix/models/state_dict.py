"""Reading a state dict from a ``.pth`` file or a mapping, with errors that say what is wrong.

The one place fastpix calls ``torch.load`` on weight files, always with ``weights_only=True``
(no code from a checkpoint runs) and onto the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Union

import torch
from torch import nn

from fastpix.checkpoint import check_torch_save_header

StateDictSource = Union[str, "os.PathLike[str]", Mapping[str, torch.Tensor]]
# What DataParallel / DistributedDataParallel and torch.compile put before saved keys.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def read_state_dict(source: StateDictSource, what: str) -> tuple[dict[str, torch.Tensor], str]:
    """``(state dict, display name)`` from a file path or a mapping of name → tensor.

    ``what`` names the expected content in messages ("generator", "torchvision resnet34").
    Raises FileNotFoundError for a missing file and ValueError for a file torch cannot read
    with ``weights_only=True`` or one that holds something other than name → tensor (a nested
    training checkpoint is reported with the keys to pick from).
    """
    if isinstance(source, Mapping):
        state, name = source, f"the {what} state dict"
    else:
        name = os.fspath(source)
        if not os.path.isfile(name):
            raise FileNotFoundError(f"{what} checkpoint not found: {name}")
        check_torch_save_header(name)
        try:
            state = torch.load(name, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(
                f"{name} is not a PyTorch checkpoint readable with weights_only=True "
                f"({type(exc).__name__}: {exc})"
            ) from exc
    if not isinstance(state, Mapping):
        raise ValueError(f"{name} holds a {type(state).__name__}, not a state dict")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        nested = [k for k in bad if isinstance(state[k], Mapping)]
        hint = f"; it nests dicts under {nested}: pass one of them" if nested else ""
        raise ValueError(f"{name} is not a state dict (name → tensor){hint}")
    return dict(state), name


def strip_wrapper_prefixes(key: str) -> str:
    """``key`` without the ``module.`` / ``_orig_mod.`` prefixes of wrapped models."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix) :], True
    return key


def key_listing(label: str, keys: list[str], shown: int = 6) -> str:
    """``"3 missing keys (a, b, c)"`` for error messages; ``"no missing keys"`` when empty."""
    if not keys:
        return f"no {label} keys"
    names = ", ".join(keys[:shown]) + (", …" if len(keys) > shown else "")
    return f"{len(keys)} {label} key{'s' if len(keys) > 1 else ''} ({names})"


def load_torchvision_state(
    module: nn.Module, source: StateDictSource, arch: str, ignored_prefix: str
) -> nn.Module:
    """Load a torchvision ``arch`` state dict (a ``.pth`` path or a dict) into ``module``, whose
    keys are torchvision's. Keys under ``ignored_prefix`` (the classifier head fastpix does not
    build) are dropped; every other key must be present with its shape."""
    state, name = read_state_dict(source, f"torchvision {arch}")
    state = {k: v for k, v in state.items() if not k.startswith(ignored_prefix)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))

    def first(keys: list[str]) -> str:
        return f"{keys[:8]}{' …' if len(keys) > 8 else ''} ({len(keys)})"

    if missing or unexpected:
        raise ValueError(
            f"{name} is not a torchvision {arch} state dict: "
            f"missing keys {first(missing)}, unexpected keys {first(unexpected)}"
        )
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise ValueError(
                f"{name}: {key} has shape {tuple(tensor.shape)}, {arch} expects "
                f"{tuple(expected[key].shape)}"
            )
    module.load_state_dict(state)
    return module
