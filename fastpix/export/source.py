"""Where an exported network comes from, and the facts that travel with it.

``load_checkpoint_source`` reads a fastpix checkpoint: the ``model`` of a segmentation
checkpoint or the generator ``G`` of a pix2pix one, with the label set, input size and
normalization the checkpoint's ``data`` records. ``load_pix2pix_source`` reads a
``latest_net_G.pth`` of the official pix2pix code with its options. ``source_from_model``
describes a network built in Python. Each gives a ``ModelSource``; ``inference_network``
puts its network in the chosen inference mode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from torch import nn

from fastpix.export.heads import KINDS
from fastpix.labels import LabelSet, get_label_set, label_set_from_dict

DEFAULT_SIZE = (256, 256)
PIX2PIX_NORMALIZATION = (0.5, 0.5, 0.5)
GENERATOR_OUTPUTS = {"color_mask": "mask_generator", "photo": "photo_generator"}


@dataclass
class ModelSource:
    """A network to deploy and how it is fed.

    ``network`` takes float32 N×3×H×W images normalized with ``mean``/``std`` at
    ``input_size`` (H, W); ``kind`` says what its output is (``fastpix.export.heads.KINDS``).
    """

    network: nn.Module
    kind: str
    label_set: LabelSet
    input_size: tuple[int, int] = DEFAULT_SIZE
    mean: tuple[float, ...] = PIX2PIX_NORMALIZATION
    std: tuple[float, ...] = PIX2PIX_NORMALIZATION
    model: dict[str, Any] | None = None
    origin: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of: {KINDS}")
        _check_outputs(self.network, self.kind, self.label_set, self.origin or "model")


def _output_channels(network: nn.Module) -> int | None:
    for attribute in ("num_classes", "output_nc"):
        value = getattr(network, attribute, None)
        if isinstance(value, int):
            return value
    return None


def _check_outputs(network: nn.Module, kind: str, label_set: LabelSet, where: str) -> None:
    channels = _output_channels(network)
    if channels is None:
        return
    if kind == "segmenter":
        k = label_set.num_classes
        if channels != k and not (channels == 1 and k == 2):
            raise ValueError(
                f"{where}: the network predicts {channels} classes but label set "
                f"{label_set.name!r} has {k} (a binary network with 1 output needs a 2-class "
                "set such as 'road')"
            )
    elif channels != 3:
        raise ValueError(f"{where}: a pix2pix generator must output 3 channels, not {channels}")


def infer_kind(network: nn.Module) -> str:
    """``segmenter`` for networks with ``num_classes``, ``mask_generator`` for the pix2pix
    generators (photo → colour mask, the Cityscapes AtoB direction)."""
    from fastpix.models import ResnetGenerator, UnetGenerator

    if isinstance(network, (UnetGenerator, ResnetGenerator)):
        return "mask_generator"
    if hasattr(network, "num_classes"):
        return "segmenter"
    raise ValueError(
        f"cannot tell what a {type(network).__name__} outputs; pass kind= one of {KINDS}"
    )


def source_from_model(
    network: nn.Module,
    kind: str | None = None,
    label_set: str | LabelSet = "trainid",
    input_size: tuple[int, int] = DEFAULT_SIZE,
    mean: tuple[float, ...] = PIX2PIX_NORMALIZATION,
    std: tuple[float, ...] = PIX2PIX_NORMALIZATION,
) -> ModelSource:
    """Describe a network built in Python (``kind`` inferred from its class when omitted)."""
    return ModelSource(
        network=network,
        kind=kind or infer_kind(network),
        label_set=get_label_set(label_set),
        input_size=tuple(input_size),  # type: ignore[arg-type]
        mean=tuple(mean),
        std=tuple(std),
    )


def load_checkpoint_source(path: str | os.PathLike) -> ModelSource:
    """The deployable network of a fastpix checkpoint (segmentation or pix2pix)."""
    from fastpix.checkpoint import CheckpointError, build_model, load_checkpoint

    checkpoint = load_checkpoint(path)
    task = checkpoint.get("task")
    data = checkpoint.get("data") or {}
    if task == "segmentation":
        key, kind = "model", "segmenter"
    elif task == "pix2pix":
        output = data.get("output")
        if output not in GENERATOR_OUTPUTS:
            raise CheckpointError(
                f"{path}: pix2pix checkpoint's data.output is {output!r}; expected one of "
                f"{', '.join(GENERATOR_OUTPUTS)} to know what the generator draws"
            )
        key, kind = "G", GENERATOR_OUTPUTS[output]
    else:
        raise CheckpointError(
            f"{path}: a {task!r} checkpoint; fastpix exports segmentation and pix2pix checkpoints"
        )
    entry = checkpoint["models"].get(key, {})
    label_set = (
        label_set_from_dict(checkpoint["label_set"])
        if checkpoint.get("label_set")
        else get_label_set("trainid")
    )
    size = tuple(int(v) for v in data.get("size", DEFAULT_SIZE))
    return ModelSource(
        network=build_model(checkpoint, key),
        kind=kind,
        label_set=label_set,
        input_size=size,  # type: ignore[arg-type]
        mean=tuple(float(v) for v in data.get("mean", PIX2PIX_NORMALIZATION)),
        std=tuple(float(v) for v in data.get("std", PIX2PIX_NORMALIZATION)),
        model={"name": entry.get("name"), "options": dict(entry.get("options", {}))},
        origin=os.path.basename(os.fspath(path)),
    )


def load_pix2pix_source(
    path: str | os.PathLike,
    output: str = "color_mask",
    label_set: str | LabelSet = "trainid",
    input_size: tuple[int, int] = DEFAULT_SIZE,
    **generator_options: Any,
) -> ModelSource:
    """A ``latest_net_G.pth`` of the official pix2pix code (``fastpix.compat.pix2pix``).

    ``generator_options`` are ``load_generator``'s (``netG``, ``norm``, ``ngf``,
    ``use_dropout``, ``input_nc``, ``output_nc``); ``output`` says what it draws:
    ``color_mask`` (photo → labels, Cityscapes AtoB) or ``photo`` (labels → photo, BtoA).
    pix2pix normalizes inputs to [-1, 1] (mean = std = 0.5).
    """
    from fastpix.compat.pix2pix import load_generator

    if output not in GENERATOR_OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(GENERATOR_OUTPUTS)}, got {output!r}")
    network = load_generator(path, **generator_options)
    return ModelSource(
        network=network,
        kind=GENERATOR_OUTPUTS[output],
        label_set=get_label_set(label_set),
        input_size=tuple(input_size),  # type: ignore[arg-type]
        model={"name": generator_options.get("netG", "unet_256"), "options": generator_options},
        origin=os.path.basename(os.fspath(path)),
    )


def has_batch_norm(network: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in network.modules())


def resolve_mode(source: ModelSource, mode: str) -> str:
    """``auto`` → ``paper`` for pix2pix generators with batch norm (the reference's test-time
    behaviour), ``eval`` otherwise."""
    if mode == "auto":
        generator = source.kind != "segmenter"
        return "paper" if generator and has_batch_norm(source.network) else "eval"
    if mode not in ("eval", "paper"):
        raise ValueError(f"unknown mode {mode!r}; expected auto, eval or paper")
    return mode


def inference_network(source: ModelSource, mode: str) -> nn.Module:
    """The network in inference mode ``mode`` (``eval`` or ``paper``), ready to export.

    ``paper`` is pix2pix's test-time behaviour without dropout: batch norms normalize with
    the statistics of each image (``fastpix.models.to_instance_norm``: instance norms carrying
    the batch-norm affine, exported as InstanceNormalization). The source's network is not
    modified in either mode.
    """
    import copy

    from fastpix.models import to_instance_norm

    if mode == "paper":
        return to_instance_norm(source.network)
    return copy.deepcopy(source.network).eval()


__all__ = [
    "GENERATOR_OUTPUTS",
    "ModelSource",
    "has_batch_norm",
    "infer_kind",
    "inference_network",
    "load_checkpoint_source",
    "load_pix2pix_source",
    "resolve_mode",
    "source_from_model",
]
