"""Checkpoints of the NVlabs SPADE generator (``latest_net_G.pth``) → ``SPADEGenerator``.

``fastpix.models.SPADEGenerator`` names its modules as NVlabs' ``SPADEGenerator`` does, so the
keys need no renaming; what ``load_generator`` adds is a strict check (every key used, every
shape matched, errors that name the keys and guess the options that would fit) and the
folding of spectral norm into plain weights for inference.

Spectral norm (``torch.nn.utils.spectral_norm``, on every residual-block conv of NVlabs'
``norm_G=spectralspadesyncbatch3x3``) stores ``weight_orig``, ``weight_u`` and ``weight_v``;
the weight it uses in eval mode is ``W = W_orig / σ`` with ``σ = uᵀ · W_orig · v``, W_orig
flattened to (out_channels, -1) and u, v the stored vectors (no power iteration). That is
what ``fold_spectral_norm=True`` computes, so the loaded generator has plain ``weight`` keys
and no per-forward normalization.

NVlabs' Cityscapes generator (``checkpoints/cityscapes_pretrained``) is the default:
``label_nc=35`` (Cityscapes label ids 0..33 plus an unused 34), an instance-edge channel
(36 input channels), ``ngf=64``, ``num_upsampling_layers="more"`` (256×512 photos from a 4×8
grid), spectral norm and batch-norm statistics. Its inputs are one-hot label ids: use the
``labelid`` label set (``CITYSCAPES_LABEL_SET``) and ``SPADEGenerator.label_input``.

What is verified here: key names, shapes and order against the published architecture
(re-implemented independently in ``tests/reference_spade.py``), outputs equal to that
re-implementation's in eval mode, and the parameter count NVlabs prints for its COCO-Stuff
generator (97.5 M). The real checkpoint file cannot be downloaded in this project's CI.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping

import torch

from fastpix.data.imageio import atomic_write
from fastpix.models.spade import UPSAMPLING_LAYERS, SPADEGenerator
from fastpix.models.state_dict import (
    StateDictSource,
    key_listing,
    read_state_dict,
    strip_wrapper_prefixes,
)

CITYSCAPES: dict[str, object] = {
    "label_nc": 35,
    "ngf": 64,
    "num_upsampling_layers": "more",
    "contain_dontcare_label": False,
    "use_instance": True,
    "norm": "batch",
}
CITYSCAPES_LABEL_SET = "labelid"
SPECTRAL_SUFFIXES = ("weight_orig", "weight_u", "weight_v")


def spectral_weight(
    weight_orig: torch.Tensor, weight_u: torch.Tensor, weight_v: torch.Tensor
) -> torch.Tensor:
    """The weight a spectral-norm conv uses in eval mode: ``W_orig / (uᵀ W_orig v)``."""
    matrix = weight_orig.reshape(weight_orig.shape[0], -1)
    expected = (matrix.shape[0],), (matrix.shape[1],)
    if (tuple(weight_u.shape), tuple(weight_v.shape)) != expected:
        raise ValueError(
            f"spectral norm vectors u {tuple(weight_u.shape)} and v {tuple(weight_v.shape)} do "
            f"not fit a weight of shape {tuple(weight_orig.shape)}; expected {expected}"
        )
    # In the weight's dtype, as torch computes it, so that outputs match NVlabs' exactly.
    sigma = torch.dot(weight_u.to(matrix.dtype), torch.mv(matrix, weight_v.to(matrix.dtype)))
    return weight_orig / sigma


def _read(source: StateDictSource) -> tuple[dict[str, torch.Tensor], str]:
    state, name = read_state_dict(source, "SPADE generator")
    return {strip_wrapper_prefixes(k): v for k, v in state.items()}, name


def describe_generator(source: StateDictSource) -> dict[str, object]:
    """What an NVlabs SPADE generator checkpoint holds: ``ngf``, ``semantic_nc`` (input
    channels: label_nc + dontcare + instance edges), ``num_upsampling_layers`` (``"most"``,
    or ``"normal or more"``: those two have the same weights), ``spectral_norm`` and ``norm``
    (``batch`` when the SPADE norms keep running statistics, else ``instance``)."""
    state, name = _read(source)
    return _describe(state, name)


def _describe(state: Mapping[str, torch.Tensor], name: str) -> dict[str, object]:
    fc = state.get("fc.weight")
    if fc is None or fc.dim() != 4 or not any(k.startswith("head_0.") for k in state):
        raise ValueError(
            f"{name} is not a SPADE generator state dict (no 4-d fc.weight and head_0.* keys"
            + (
                "; it has fc.weight of a VAE generator (use_vae), not supported)"
                if fc is not None
                else ")"
            )
        )
    return {
        "ngf": fc.shape[0] // 16,
        "semantic_nc": fc.shape[1],
        "num_upsampling_layers": "most" if any(k.startswith("up_4.") for k in state) else "normal or more",
        "spectral_norm": any(k.endswith(".weight_orig") for k in state),
        "norm": "batch" if any(k.endswith("param_free_norm.running_mean") for k in state) else "instance",
    }  # fmt: skip


def _hint(state: Mapping[str, torch.Tensor], name: str, requested: dict[str, object]) -> str:
    try:
        found = _describe(state, name)
    except ValueError as exc:
        return f" {exc}."
    semantic_nc = (
        int(requested["label_nc"])
        + int(bool(requested["contain_dontcare_label"]))
        + int(bool(requested["use_instance"]))
    )
    notes = []
    if found["ngf"] != requested["ngf"]:
        notes.append(f"ngf={found['ngf']}")
    if found["semantic_nc"] != semantic_nc:
        notes.append(
            f"label_nc + contain_dontcare_label + use_instance = {found['semantic_nc']} "
            f"(asked for {semantic_nc})"
        )
    if found["norm"] != requested["norm"]:
        notes.append(f"norm={found['norm']!r}")
    if (found["num_upsampling_layers"] == "most") != (requested["num_upsampling_layers"] == "most"):
        notes.append(f"num_upsampling_layers={found['num_upsampling_layers']!r}")
    return f" The checkpoint looks like: {', '.join(notes)}." if notes else ""


def load_generator(
    path_or_state_dict: StateDictSource,
    label_nc: int = 35,
    ngf: int = 64,
    num_upsampling_layers: str = "more",
    contain_dontcare_label: bool = False,
    use_instance: bool = True,
    norm: str = "batch",
    fold_spectral_norm: bool = True,
) -> SPADEGenerator:
    """Load an NVlabs SPADE generator checkpoint into a ``SPADEGenerator`` (eval mode).

    The options are NVlabs' ``--label_nc --ngf --num_upsampling_layers
    --contain_dontcare_label --no_instance`` and the norm of ``--norm_G`` (``batch`` for
    ``spectralspadesyncbatch3x3`` / ``spadebatch``, ``instance`` for ``spadeinstance``);
    the defaults are its Cityscapes model. Spectral norm is read from the keys; with
    ``fold_spectral_norm`` (default) it is folded into plain weights, otherwise the generator
    keeps it (to fine-tune). Batch norms saved without ``num_batches_tracked`` get 0.

    Raises FileNotFoundError for a missing file and ValueError for anything that is not a
    matching generator checkpoint (naming the missing/unexpected keys or the first shape that
    differs, and the options the checkpoint looks like it needs).
    """
    if num_upsampling_layers not in UPSAMPLING_LAYERS:
        raise ValueError(
            f"unknown num_upsampling_layers {num_upsampling_layers!r}; expected one of: "
            + ", ".join(UPSAMPLING_LAYERS)
        )
    state, name = _read(path_or_state_dict)
    spectral = any(k.endswith(".weight_orig") for k in state)
    options: dict[str, object] = {
        "label_nc": label_nc,
        "ngf": ngf,
        "num_upsampling_layers": num_upsampling_layers,
        "contain_dontcare_label": contain_dontcare_label,
        "use_instance": use_instance,
        "norm": norm,
    }
    with torch.device("meta"):  # the expected layout, without allocating 93 M parameters
        layout = SPADEGenerator(**options, use_spectral_norm=spectral).state_dict()
    for key in layout:  # batch norms saved before PyTorch 0.4.1 have no counter
        prefix = key[: -len("num_batches_tracked")]
        if key.endswith(".num_batches_tracked") and key not in state and prefix + "running_mean" in state:  # fmt: skip
            state[key] = torch.tensor(0, dtype=torch.long)
    described = ", ".join(f"{k}={v!r}" for k, v in options.items())
    missing = [k for k in layout if k not in state]
    unexpected = sorted(k for k in state if k not in layout)
    if missing or unexpected:
        raise ValueError(
            f"{name} does not match a SPADE generator with {described}: "
            f"{key_listing('missing', missing)}; {key_listing('unexpected', unexpected)}."
            + _hint(state, name, options)
        )
    for key, expected in layout.items():
        if state[key].shape != expected.shape:
            raise ValueError(
                f"{name}: {key} has shape {tuple(state[key].shape)}, a SPADE generator with "
                f"{described} expects {tuple(expected.shape)}." + _hint(state, name, options)
            )
    keep_spectral = spectral and not fold_spectral_norm
    if spectral and fold_spectral_norm:
        state = _folded(state)
    model = SPADEGenerator(**options, use_spectral_norm=keep_spectral)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _folded(state: Mapping[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """``state`` with every spectral-norm triple replaced by the plain weight it stands for."""
    folded: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf == "weight_orig":
            folded[f"{prefix}.weight"] = spectral_weight(
                value, state[f"{prefix}.weight_u"], state[f"{prefix}.weight_v"]
            )
        elif leaf not in SPECTRAL_SUFFIXES:
            folded[key] = value
    return folded


def export_generator(
    model: SPADEGenerator, path: str | os.PathLike | None = None
) -> OrderedDict[str, torch.Tensor]:
    """The NVlabs state dict of a spectral-norm ``SPADEGenerator`` (same keys, same order),
    written to ``path`` atomically when given. A generator without spectral norm (or folded)
    has no ``weight_orig``/``u``/``v`` to give NVlabs' spectral-norm layers and is refused."""
    if not isinstance(model, SPADEGenerator):
        raise TypeError(f"expected a SPADEGenerator, got {type(model).__name__}")
    if not model.use_spectral_norm:
        raise ValueError(
            "this SPADEGenerator has no spectral norm (use_spectral_norm=False or folded); "
            "NVlabs' spectral-norm generator cannot load its plain weights"
        )
    state = OrderedDict((k, v.detach().cpu()) for k, v in model.state_dict().items())
    if path is not None:
        with atomic_write(path) as f:
            torch.save(state, f)
    return state


__all__ = [
    "CITYSCAPES",
    "CITYSCAPES_LABEL_SET",
    "describe_generator",
    "export_generator",
    "load_generator",
    "spectral_weight",
]
