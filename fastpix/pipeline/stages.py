"""The two networks of the pipeline and how each is fed: ``Segmenter`` (photo → class map) and
``Synthesizer`` (class map → photo), built from modules or loaded from checkpoints.

A ``Synthesizer`` is a SPADE generator (one-hot labels in, ``SPADEGenerator.label_input``) or a
pix2pix labels → photo generator (the class map drawn in its label set's colours, as the
Cityscapes pairs draw them, scaled to [-1, 1]). When the generator was trained on other
classes than the segmenter predicts (NVlabs' Cityscapes SPADE takes the 34 label ids, fastpix
segmenters predict the 19 trainIds), ``class_mapping`` maps one onto the other by class name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import nn

from fastpix.labels import LabelSet, get_label_set, label_set_from_dict

SYNTHESIZER_KINDS = ("spade", "pix2pix")
PIX2PIX_NORMALIZATION = (0.5, 0.5, 0.5)  # mean = std = 0.5 maps [0, 1] images to [-1, 1]


@dataclass
class Segmenter:
    """A segmentation network with the preprocessing it was trained with.

    ``network`` maps normalized N×3×H×W photos to N×K×H×W logits (K = the label set's
    classes; one logit for a two-class set such as ``road``). ``mean``/``std`` are the
    per-channel normalization of photos scaled to [0, 1] (a fastpix checkpoint's ``data``);
    ``size`` the (H, W) it was trained at, when known.
    """

    network: nn.Module
    label_set: LabelSet
    mean: tuple[float, ...] = PIX2PIX_NORMALIZATION
    std: tuple[float, ...] = PIX2PIX_NORMALIZATION
    size: tuple[int, int] | None = None

    def __call__(self, photos: torch.Tensor) -> torch.Tensor:
        """N×3×H×W photos in [-1, 1] → N×H×W int64 class map."""
        x = photos
        if tuple(self.mean) != PIX2PIX_NORMALIZATION or tuple(self.std) != PIX2PIX_NORMALIZATION:
            mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            x = ((x + 1) * 0.5 - mean) / std
        logits = self.network(x)
        k = self.label_set.num_classes
        if logits.dim() != 4 or logits.shape[1] not in (k, 1 if k == 2 else k):
            raise ValueError(
                f"the segmenter returned shape {tuple(logits.shape)}; label set "
                f"{self.label_set.name!r} needs N×{k}×H×W logits"
            )
        if logits.shape[1] == 1:  # binary: one logit for class 1
            return (logits[:, 0] > 0).long()
        return logits.argmax(1)


@dataclass
class Synthesizer:
    """A label → photo generator: ``kind`` ``spade`` (a ``SPADEGenerator``) or ``pix2pix``
    (a generator from colour masks in [-1, 1] to photos), with the label set of its inputs."""

    network: nn.Module
    label_set: LabelSet
    kind: str = field(default="")

    def __post_init__(self) -> None:
        from fastpix.models.spade import SPADEGenerator

        if not self.kind:
            self.kind = "spade" if isinstance(self.network, SPADEGenerator) else "pix2pix"
        if self.kind not in SYNTHESIZER_KINDS:
            raise ValueError(
                f"unknown generator kind {self.kind!r}; expected one of: spade, pix2pix"
            )
        if self.kind == "spade" and not isinstance(self.network, SPADEGenerator):
            raise TypeError(f"kind='spade' needs a SPADEGenerator, got {type(self.network).__name__}")  # fmt: skip
        label_nc = getattr(self.network, "label_nc", None)
        if self.kind == "spade" and label_nc < self.label_set.num_classes:
            raise ValueError(
                f"the SPADE generator takes {label_nc} classes, fewer than label set "
                f"{self.label_set.name!r} has ({self.label_set.num_classes})"
            )

    def __call__(self, classes: torch.Tensor) -> torch.Tensor:
        """N×H×W class map (this synthesizer's label set) → N×3×H×W photo in [-1, 1]."""
        if self.kind == "spade":
            semantics = self.network.label_input(classes, ignore_index=self.label_set.ignore_index)
            return self.network(semantics)
        colors = self.label_set.colorize(classes)  # N×H×W×3 uint8, ignore in black
        mask = colors.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        return self.network(mask)


def class_mapping(source: LabelSet, target: LabelSet) -> torch.Tensor:
    """256-entry int64 table: a class of ``source`` → the class of ``target`` with the same
    name (the identity when the sets are equal); every other value → target's ignore index.
    Raises ValueError naming the source classes that ``target`` lacks."""
    table = torch.full((256,), target.ignore_index, dtype=torch.int64)
    if source == target:
        table[: source.num_classes] = torch.arange(source.num_classes)
        return table
    index = {name: k for k, name in enumerate(target.names)}
    missing = [name for name in source.names if name not in index]
    if missing:
        raise ValueError(
            f"the generator's label set {target.name!r} has no class for {', '.join(missing)} "
            f"of the segmenter's label set {source.name!r}"
        )
    for k, name in enumerate(source.names):
        table[k] = index[name]
    return table


# --------------------------------------------------------------------------------------------
# From checkpoints
# --------------------------------------------------------------------------------------------


def _label_set(checkpoint: dict) -> LabelSet:
    data = checkpoint.get("label_set")
    return label_set_from_dict(data) if data else get_label_set("trainid")


def load_segmenter(path: str | os.PathLike) -> Segmenter:
    """The segmenter of a fastpix segmentation checkpoint, with its label set and the
    normalization and size its ``data`` records."""
    from fastpix.checkpoint import CheckpointError, build_model, load_checkpoint

    checkpoint = load_checkpoint(path)
    if checkpoint.get("task") != "segmentation":
        raise CheckpointError(
            f"{path}: a {checkpoint.get('task')!r} checkpoint; the segmenter comes from a "
            "'segmentation' checkpoint (photo → labels)"
        )
    data = checkpoint.get("data") or {}
    size = data.get("size")
    return Segmenter(
        network=build_model(checkpoint, "model"),
        label_set=_label_set(checkpoint),
        mean=tuple(data.get("mean", PIX2PIX_NORMALIZATION)),
        std=tuple(data.get("std", PIX2PIX_NORMALIZATION)),
        size=tuple(size) if size else None,  # type: ignore[arg-type]
    )


def load_synthesizer(path: str | os.PathLike) -> Synthesizer:
    """The label → photo generator of a fastpix ``spade`` checkpoint (spectral norm folded)
    or of a ``pix2pix`` one whose generator draws photos (``data.output == "photo"``), or
    NVlabs' Cityscapes SPADE generator (``latest_net_G.pth``, label ids;
    ``fastpix.compat.spade``)."""
    from fastpix.checkpoint import CheckpointError, build_model, load_checkpoint

    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as not_fastpix:
        return _load_nvlabs(path, not_fastpix)
    task = checkpoint.get("task")
    if task == "spade":
        from fastpix.models.spade import fold_spectral_norm

        # Inference only: spectral norm becomes plain weights (no W/σ at every forward).
        network = fold_spectral_norm(build_model(checkpoint, "G").eval())
        return Synthesizer(network, _label_set(checkpoint), "spade")
    if task == "pix2pix":
        output = (checkpoint.get("data") or {}).get("output")
        if output != "photo":
            raise CheckpointError(
                f"{path}: this pix2pix generator draws {output or 'colour masks'!r} (photo → "
                "labels); the pipeline needs one trained labels → photo (data.output 'photo')"
            )
        return Synthesizer(build_model(checkpoint, "G"), _label_set(checkpoint), "pix2pix")
    raise CheckpointError(
        f"{path}: a {task!r} checkpoint; the generator comes from a 'spade' or a labels → photo "
        "'pix2pix' checkpoint"
    )


def _load_nvlabs(path: str | os.PathLike, not_fastpix: Exception) -> Synthesizer:
    from fastpix.compat import spade as compat

    try:
        compat.describe_generator(path)
    except ValueError:
        raise not_fastpix from None
    network = compat.load_generator(path, **compat.CITYSCAPES)  # type: ignore[arg-type]
    return Synthesizer(network, get_label_set(compat.CITYSCAPES_LABEL_SET), "spade")


__all__ = [
    "SYNTHESIZER_KINDS",
    "Segmenter",
    "Synthesizer",
    "class_mapping",
    "load_segmenter",
    "load_synthesizer",
]
