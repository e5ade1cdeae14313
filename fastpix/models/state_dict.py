"""Reading a state dict from a ``.pth`` file or a mapping, with errors that say what is wrong.

The one place fastpix calls ``torch.load`` on weight files, always with ``weights_only=True``
(no code from a checkpoint runs) and onto the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Union

import torch

StateDictSource = Union[str, "os.PathLike[str]", Mapping[str, torch.Tensor]]


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
