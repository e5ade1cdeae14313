"""Checkpoints of the official pix2pix implementation ↔ fastpix models.

``load_generator`` / ``load_discriminator`` read ``latest_net_G.pth`` / ``latest_net_D.pth``
files saved by pytorch-CycleGAN-and-pix2pix into ``fastpix.models.pix2pix`` networks whose
outputs equal the reference network's on the same weights and input. ``export_generator`` /
``export_discriminator`` go the other way, so a fastpix-trained network runs in the official
code. Loading is strict: every key is used and every shape checked, with errors that name the
missing/unexpected keys and, when the checkpoint is recognizable, the options that match it.
Tolerated, as the reference's own loader does: instance-norm running statistics of old
checkpoints (dropped), ``module.`` / ``_orig_mod.`` key prefixes, and batch norms without
``num_batches_tracked`` (pre-0.4.1; set to 0).

The mapping between the reference's nested ``model.model.1.model.3…`` layout and fastpix's
``encoder.i`` / ``decoder.i`` modules lives only here.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from fastpix.models.pix2pix import (
    NLayerDiscriminator,
    PixelDiscriminator,
    ResnetGenerator,
    UnetGenerator,
)
from fastpix.models.state_dict import (
    StateDictSource,
    key_listing,
    read_state_dict,
    strip_wrapper_prefixes,
)

GENERATORS = {"unet_128": 7, "unet_256": 8, "resnet_6blocks": 6, "resnet_9blocks": 9}
DISCRIMINATORS = ("basic", "n_layers", "pixel")
_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass
class _Layout:
    """Module correspondence, in the reference's state-dict order."""

    pairs: list[tuple[str, str]] = field(default_factory=list)  # (fastpix, reference) paths
    norms: list[str] = field(default_factory=list)  # reference paths of the norm layers

    def add(self, fastpix: str, reference: str, is_norm: bool = False) -> None:
        self.pairs.append((fastpix, reference))
        if is_norm:
            self.norms.append(reference)


# --------------------------------------------------------------------------------------------
# Layouts of the reference networks
# --------------------------------------------------------------------------------------------


def _unet_layout(num_downs: int) -> _Layout:
    # Level 0 is UnetGenerator.model; level i >= 1 is nested in ".model.1", then ".model.3"
    # per level. Sequential indices: outermost [down 0, sub 1, relu 2, up 3, tanh 4];
    # middle [lrelu 0, down 1, norm 2, sub 3, relu 4, up 5, norm 6, (dropout 7)];
    # innermost [lrelu 0, down 1, relu 2, up 3, norm 4].
    def seq(level: int) -> str:
        return (
            "model.model" if level == 0 else "model.model.1" + ".model.3" * (level - 1) + ".model"
        )

    innermost = num_downs - 1
    layout = _Layout()
    layout.add("encoder.0.conv", seq(0) + ".0")
    for level in range(1, innermost):
        layout.add(f"encoder.{level}.conv", seq(level) + ".1")
        layout.add(f"encoder.{level}.norm_act", seq(level) + ".2", is_norm=True)
    layout.add(f"encoder.{innermost}.conv", seq(innermost) + ".1")
    layout.add(f"decoder.{innermost}.conv", seq(innermost) + ".3")
    layout.add(f"decoder.{innermost}.norm_act", seq(innermost) + ".4", is_norm=True)
    for level in range(innermost - 1, 0, -1):
        layout.add(f"decoder.{level}.conv", seq(level) + ".5")
        layout.add(f"decoder.{level}.norm_act", seq(level) + ".6", is_norm=True)
    layout.add("decoder.0.conv", seq(0) + ".3")
    return layout


def _resnet_layout(n_blocks: int, use_dropout: bool) -> _Layout:
    # model.*: [pad 0, conv 1, norm 2, relu 3, (conv, norm, relu) × 2 at 4..9, blocks at
    # 10.., (convT, norm, relu) × 2, pad, conv, tanh]. Block conv_block.*: [pad, conv 1,
    # norm 2, relu 3, (dropout 4), pad, conv, norm].
    layout = _Layout()
    layout.add("stem.conv", "model.1")
    layout.add("stem.norm_act", "model.2", is_norm=True)
    for i in range(2):
        layout.add(f"downsample.{i}.conv", f"model.{4 + 3 * i}")
        layout.add(f"downsample.{i}.norm_act", f"model.{5 + 3 * i}", is_norm=True)
    second_conv = 6 if use_dropout else 5
    for b in range(n_blocks):
        block = f"model.{10 + b}.conv_block"
        layout.add(f"blocks.{b}.conv1", f"{block}.1")
        layout.add(f"blocks.{b}.norm_act1", f"{block}.2", is_norm=True)
        layout.add(f"blocks.{b}.conv2", f"{block}.{second_conv}")
        layout.add(f"blocks.{b}.norm2", f"{block}.{second_conv + 1}", is_norm=True)
    after = 10 + n_blocks
    for i in range(2):
        layout.add(f"upsample.{i}.conv", f"model.{after + 3 * i}")
        layout.add(f"upsample.{i}.norm_act", f"model.{after + 1 + 3 * i}", is_norm=True)
    layout.add("head.conv", f"model.{after + 7}")
    return layout


def _nlayer_layout(n_layers: int) -> _Layout:
    # model.*: [conv 0, lrelu 1, then (conv, norm, lrelu) per normalized stage, conv].
    layout = _Layout()
    layout.add("features.0.conv", "model.0")
    stages = max(n_layers - 1, 0) + 1
    for s in range(1, stages + 1):
        layout.add(f"features.{s}.conv", f"model.{3 * s - 1}")
        layout.add(f"features.{s}.norm_act", f"model.{3 * s}", is_norm=True)
    layout.add("head", f"model.{3 * stages + 2}")
    return layout


def _pixel_layout() -> _Layout:
    layout = _Layout()
    layout.add("features.0.conv", "net.0")
    layout.add("features.1.conv", "net.2")
    layout.add("features.1.norm_act", "net.3", is_norm=True)
    layout.add("head", "net.5")
    return layout


def _layout_of(model: nn.Module) -> _Layout:
    if isinstance(model, UnetGenerator):
        return _unet_layout(model.num_downs)
    if isinstance(model, ResnetGenerator):
        return _resnet_layout(model.n_blocks, model.use_dropout)
    if isinstance(model, NLayerDiscriminator):
        return _nlayer_layout(model.n_layers)
    if isinstance(model, PixelDiscriminator):
        return _pixel_layout()
    raise TypeError(
        f"{type(model).__name__} has no pix2pix reference layout; expected UnetGenerator, "
        "ResnetGenerator, NLayerDiscriminator or PixelDiscriminator"
    )


def _key_map(model: nn.Module, layout: _Layout) -> OrderedDict[str, str]:
    """reference key → fastpix key, in the reference's order."""
    mapping: OrderedDict[str, str] = OrderedDict()
    for fastpix_path, reference_path in layout.pairs:
        for local in model.get_submodule(fastpix_path).state_dict():
            mapping[f"{reference_path}.{local}"] = f"{fastpix_path}.{local}"
    unmapped = set(model.state_dict()) - set(mapping.values())
    if unmapped:  # a fastpix module the layout forgot: a bug here, not in the checkpoint
        raise RuntimeError(f"pix2pix layout misses fastpix keys {sorted(unmapped)}")
    return mapping


# --------------------------------------------------------------------------------------------
# Reading checkpoints and recognizing what they hold
# --------------------------------------------------------------------------------------------


def _read(source: StateDictSource, what: str) -> tuple[dict[str, torch.Tensor], str]:
    state, name = read_state_dict(source, what)
    return {strip_wrapper_prefixes(k): v for k, v in state.items()}, name


def _nesting(key: str) -> int:
    """How many ``model.3`` submodule steps a U-Net key goes through."""
    parts = key.split(".")
    return sum(a == "model" and b == "3" for a, b in zip(parts, parts[1:]))


def _resnet_uses_dropout(state: Mapping[str, torch.Tensor]) -> bool:
    # Dropout sits between the block's ReLU and its second pad, moving the second conv from
    # conv_block.5 to conv_block.6.
    return any(k.endswith(".conv_block.6.weight") and v.dim() == 4 for k, v in state.items())


def _norm_of(state: Mapping[str, torch.Tensor], affine_key: str, bias_key: str) -> str:
    if affine_key in state and state[affine_key].dim() == 1:
        return "batch"
    return "instance" if bias_key in state else "none"


def describe_checkpoint(source: StateDictSource) -> dict[str, object]:
    """What a pix2pix reference checkpoint holds: ``{"kind": "generator", "netG": ...,
    "norm": ..., "ngf": ..., ...}`` or ``{"kind": "discriminator", "netD": ..., ...}``.

    ``use_dropout`` of a U-Net is not recorded in its weights and is reported as None.
    Raises ValueError for a state dict that is no reference pix2pix network.
    """
    state, name = _read(source, "pix2pix")
    return _describe(state, name)


def _describe(state: Mapping[str, torch.Tensor], name: str) -> dict[str, object]:
    conv = {k: v for k, v in state.items() if k.endswith(".weight") and v.dim() == 4}
    if "model.model.0.weight" in conv and "model.model.3.weight" in conv:
        num_downs = 1 + max(_nesting(k) for k in state)
        first = conv["model.model.0.weight"]
        net = {128: "unet_128", 256: "unet_256"}.get(2**num_downs, f"unet_{2**num_downs}")
        return {
            "kind": "generator",
            "netG": net,
            "num_downs": num_downs,
            "norm": _norm_of(state, "model.model.1.model.2.weight", "model.model.1.model.1.bias"),
            "ngf": first.shape[0],
            "input_nc": first.shape[1],
            "output_nc": conv["model.model.3.weight"].shape[1],
            "use_dropout": None,
        }
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
    if "model.1.weight" in conv and blocks:
        last = max(int(k.split(".")[1]) for k in conv if re.fullmatch(r"model\.\d+\.weight", k))
        n_blocks = len(blocks)
        return {
            "kind": "generator",
            "netG": f"resnet_{n_blocks}blocks",
            "n_blocks": n_blocks,
            "norm": _norm_of(state, "model.2.weight", "model.1.bias"),
            "ngf": conv["model.1.weight"].shape[0],
            "input_nc": conv["model.1.weight"].shape[1],
            "output_nc": conv[f"model.{last}.weight"].shape[0],
            "use_dropout": _resnet_uses_dropout(state),
        }
    if "model.0.weight" in conv:
        convs = sorted(int(k.split(".")[1]) for k in conv if re.fullmatch(r"model\.\d+\.weight", k))
        ndf = conv["model.0.weight"].shape[0]
        if len(convs) >= 4:
            n_layers = len(convs) - 2
        else:  # n_layers 0 and 1 differ only in the width of the stride-1 conv
            n_layers = (
                0 if len(convs) > 1 and conv[f"model.{convs[1]}.weight"].shape[0] == ndf else 1
            )
        return {
            "kind": "discriminator",
            "netD": "basic" if n_layers == 3 else "n_layers",
            "n_layers": n_layers,
            "norm": _norm_of(state, "model.3.weight", "model.2.bias"),
            "ndf": ndf,
            "input_nc": conv["model.0.weight"].shape[1],
        }
    if "net.0.weight" in conv:
        return {
            "kind": "discriminator",
            "netD": "pixel",
            "norm": _norm_of(state, "net.3.weight", "net.2.bias"),
            "ndf": conv["net.0.weight"].shape[0],
            "input_nc": conv["net.0.weight"].shape[1],
        }
    raise ValueError(f"{name} is not a pix2pix generator or discriminator state dict")


def _hint(state: Mapping[str, torch.Tensor], name: str, requested: dict[str, object]) -> str:
    try:
        found = _describe(state, name)
    except ValueError:
        return " It does not look like a pix2pix checkpoint at all."
    kind = found["kind"]
    if kind != requested["kind"]:
        return f" This looks like a {kind} checkpoint ({found}), not a {requested['kind']}."
    label = found.get("netG", found.get("netD"))
    if found.get("netD") == "n_layers":
        label = f"n_layers={found['n_layers']}"
    differing = {
        k: v
        for k, v in found.items()
        if k in requested and v is not None and requested[k] != v and k != "kind"
    }
    if not differing:
        return ""
    args = ", ".join(f"{k}={v!r}" for k, v in differing.items())
    return f" This looks like a {label} checkpoint; pass {args}."


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _load_into(
    model: nn.Module, source: StateDictSource, requested: dict[str, object], what: str
) -> nn.Module:
    state, name = _read(source, what)
    layout = _layout_of(model)
    key_map = _key_map(model, layout)
    if requested["norm"] == "instance":
        # Old instance norms tracked running statistics; the reference drops them on load.
        stale = {f"{path}.{stat}" for path in layout.norms for stat in _NORM_STATS}
        state = {k: v for k, v in state.items() if k not in stale}
    for key in key_map:
        if key.endswith(".num_batches_tracked") and key not in state:
            state[key] = torch.tensor(0, dtype=torch.long)  # saved before PyTorch 0.4.1

    described = ", ".join(f"{k}={v!r}" for k, v in requested.items() if k != "kind")
    missing = [k for k in key_map if k not in state]
    unexpected = sorted(k for k in state if k not in key_map)
    if missing or unexpected:
        raise ValueError(
            f"{name} does not match a pix2pix {what} with {described}: "
            f"{key_listing('missing', missing)}; {key_listing('unexpected', unexpected)}."
            + _hint(state, name, requested)
        )
    fastpix_state = model.state_dict()
    for ref_key, fastpix_key in key_map.items():
        expected = fastpix_state[fastpix_key].shape
        if state[ref_key].shape != expected:
            raise ValueError(
                f"{name}: {ref_key} has shape {tuple(state[ref_key].shape)}, a pix2pix {what} "
                f"with {described} expects {tuple(expected)}." + _hint(state, name, requested)
            )
    model.load_state_dict({key_map[k]: v for k, v in state.items()}, strict=True)
    return model.eval()


def load_generator(
    path_or_state_dict: StateDictSource,
    netG: str = "unet_256",
    norm: str = "batch",
    ngf: int = 64,
    use_dropout: bool | None = None,
    input_nc: int = 3,
    output_nc: int = 3,
) -> nn.Module:
    """Load a reference generator checkpoint (``latest_net_G.pth``) into a fastpix network.

    Options are the reference's ``--netG --norm --ngf --no_dropout --input_nc --output_nc``
    (pix2pix defaults). ``use_dropout=None`` means: True for U-Nets (dropout has no weights;
    pix2pix trains with it), read from the checkpoint for ResNet generators (it shifts their
    keys). Returns a ``UnetGenerator`` or ``ResnetGenerator`` in eval mode; use
    ``fastpix.models.set_inference_mode(model, "paper")`` for the reference's default test-time
    behaviour. Raises FileNotFoundError for a missing file and ValueError for anything that
    is not a matching generator checkpoint.
    """
    if netG not in GENERATORS:
        raise ValueError(f"unknown netG {netG!r}; expected one of: {', '.join(GENERATORS)}")
    is_unet = netG.startswith("unet")
    if use_dropout is None and is_unet:
        use_dropout = True  # it has no weights; pix2pix trains with it
    elif use_dropout is None:  # it moves ResNet keys: read it from the checkpoint
        path_or_state_dict, _ = _read(path_or_state_dict, "generator")
        use_dropout = _resnet_uses_dropout(path_or_state_dict)
    if is_unet:
        model: nn.Module = UnetGenerator(
            input_nc, output_nc, GENERATORS[netG], ngf, norm, use_dropout
        )
    else:
        model = ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, GENERATORS[netG])
    requested = {
        "kind": "generator",
        "netG": netG,
        "norm": norm,
        "ngf": ngf,
        "use_dropout": use_dropout,
        "input_nc": input_nc,
        "output_nc": output_nc,
    }
    return _load_into(model, path_or_state_dict, requested, "generator")


def load_discriminator(
    path_or_state_dict: StateDictSource,
    netD: str = "basic",
    n_layers: int = 3,
    norm: str = "batch",
    ndf: int = 64,
    input_nc: int = 6,
) -> nn.Module:
    """Load a reference discriminator checkpoint (``latest_net_D.pth``) into a fastpix network.

    Options are the reference's ``--netD --n_layers_D --norm --ndf`` and the input channels
    (6 for pix2pix: condition + image). ``netD="basic"`` is ``n_layers=3`` whatever
    ``n_layers`` says, as in the reference. Returns an ``NLayerDiscriminator`` or
    ``PixelDiscriminator`` (logits) in eval mode.
    """
    if netD not in DISCRIMINATORS:
        raise ValueError(f"unknown netD {netD!r}; expected one of: {', '.join(DISCRIMINATORS)}")
    requested: dict[str, object] = {"kind": "discriminator", "netD": netD}
    if netD == "pixel":
        model: nn.Module = PixelDiscriminator(input_nc, ndf, norm)
    else:
        n_layers = 3 if netD == "basic" else n_layers
        model = NLayerDiscriminator(input_nc, ndf, n_layers, norm)
        requested["n_layers"] = n_layers
    requested.update(norm=norm, ndf=ndf, input_nc=input_nc)
    return _load_into(model, path_or_state_dict, requested, "discriminator")


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def _export(model: nn.Module, path: str | os.PathLike | None) -> OrderedDict[str, torch.Tensor]:
    key_map = _key_map(model, _layout_of(model))
    fastpix_state = model.state_dict()
    state = OrderedDict((ref, fastpix_state[fp].detach().cpu()) for ref, fp in key_map.items())
    if path is not None:
        _save_atomically(state, os.fspath(path))
    return state


def _save_atomically(state: Mapping[str, torch.Tensor], path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"output folder does not exist: {directory}")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pth", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def export_generator(
    model: nn.Module, path: str | os.PathLike | None = None
) -> OrderedDict[str, torch.Tensor]:
    """The reference state dict (keys and order of ``latest_net_G.pth``) of a fastpix
    ``UnetGenerator`` / ``ResnetGenerator``; also written to ``path`` if given (atomically)."""
    if not isinstance(model, (UnetGenerator, ResnetGenerator)):
        raise TypeError(f"expected a UnetGenerator or ResnetGenerator, got {type(model).__name__}")
    return _export(model, path)


def export_discriminator(
    model: nn.Module, path: str | os.PathLike | None = None
) -> OrderedDict[str, torch.Tensor]:
    """The reference state dict (``latest_net_D.pth`` layout) of a fastpix
    ``NLayerDiscriminator`` / ``PixelDiscriminator``; also written to ``path`` if given."""
    if not isinstance(model, (NLayerDiscriminator, PixelDiscriminator)):
        raise TypeError(
            f"expected an NLayerDiscriminator or PixelDiscriminator, got {type(model).__name__}"
        )
    return _export(model, path)
