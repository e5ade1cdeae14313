"""``run_pipeline``: photo → labels → synthesized photo → labels again, with its scores.

For every batch, on one device and without leaving it:

    labels₁ = segmenter(photo)
    synthesized = generator(labels₁)      (labels₁ mapped to the generator's classes first)
    labels₂ = segmenter(synthesized)

Scores, each a ``fastpix.metrics.ConfusionMatrix`` accumulated over the whole set (rows: the
reference, columns: the prediction):

- ``feedback``: labels₂ against labels₁, the "feedback consistency" of seed 003 (how much of
  the scene survives the round trip; mIoU, pixel and class accuracy);
- with ground truth, ``segmentation``: labels₁ against it (the segmenter on real photos), and
  ``fcn_score``: labels₂ against it (the FCN-score of the synthesized photos, as pix2pix
  scores generated photos with a segmenter).

Strips (photo | labels₁ | synthesized | labels₂, labels in the label set's colours) are kept
for the first ``max_strips`` images for a person to look at.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from fastpix.labels import LabelSet, get_label_set
from fastpix.metrics import ConfusionMatrix
from fastpix.pipeline.stages import (
    Segmenter,
    Synthesizer,
    class_mapping,
    load_segmenter,
    load_synthesizer,
)

PipelineData = Union[torch.Tensor, Iterable]
SCORES = ("feedback", "segmentation", "fcn_score")


@dataclass
class PipelineResult:
    """What ``run_pipeline`` measured.

    ``metrics``: ``images``, ``size`` [H, W], ``generator`` kind, ``device``, ``amp``,
    ``seconds`` and ``images_per_second`` (wall time of the whole loop, data included), and
    per score in ``SCORES`` the ``ConfusionMatrix.compute()`` dict (nan → None; None when
    there is no ground truth). ``strips``: H×4W×3 uint8 tensors, named by ``names``.
    """

    metrics: dict[str, Any]
    strips: list[torch.Tensor]
    names: list[str]
    label_set: LabelSet
    matrices: dict[str, ConfusionMatrix | None] = field(repr=False, default_factory=dict)

    def summary(self) -> str:
        """A markdown table of the mIoU, pixel and class accuracy of each score."""
        m = self.metrics
        lines = [
            f"{m['images']} images of {m['size'][0]}×{m['size'][1]}, {m['generator']} generator, "
            f"{m['device']}: {m['images_per_second']:.2f} images/s",
            "",
            "| score | compares | mIoU | pixel acc | class acc |",
            "|---|---|---:|---:|---:|",
        ]
        described = {
            "feedback": "re-segmented vs segmented",
            "segmentation": "segmented vs ground truth",
            "fcn_score": "re-segmented vs ground truth",
        }
        for name in SCORES:
            scores = m[name]
            if scores is None:
                continue
            cells = [_fmt(scores[k]) for k in ("miou", "pixel_acc", "class_acc")]
            lines.append(f"| {name} | {described[name]} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write ``metrics.json``, ``summary.md`` and ``strips/<name>.png`` to ``out_dir``
        (each file atomically); returns the folder."""
        from fastpix.data.imageio import write_image, write_text

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        payload = {**self.metrics, "classes": list(self.label_set.names)}
        write_text(out / "metrics.json", json.dumps(payload, indent=1) + "\n")
        write_text(out / "summary.md", self.summary() + "\n")
        for name, strip in zip(self.names, self.strips):
            write_image(out / "strips" / f"{name}.png", strip.numpy())
        return out


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _scores(matrix: ConfusionMatrix | None) -> dict[str, Any] | None:
    if matrix is None:
        return None
    return json.loads(matrix.to_json())  # the compute() dict with nan as None


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _as_segmenter(segmenter, label_set: str | LabelSet) -> Segmenter:
    if isinstance(segmenter, Segmenter):
        return segmenter
    if isinstance(segmenter, nn.Module):
        return Segmenter(segmenter, get_label_set(label_set))
    return load_segmenter(segmenter)


def _as_synthesizer(generator, label_set: LabelSet) -> Synthesizer:
    if isinstance(generator, Synthesizer):
        return generator
    if isinstance(generator, nn.Module):
        return Synthesizer(generator, label_set)
    return load_synthesizer(generator)


def _batches(
    data: PipelineData, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(photos, ground truth or None) batches from a tensor, a Dataset or an iterable."""
    if isinstance(data, torch.Tensor):
        photos = data.unsqueeze(0) if data.dim() == 3 else data
        for start in range(0, photos.shape[0], batch_size):
            yield photos[start : start + batch_size], None
        return
    if isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__getitem__"):
        data = torch.utils.data.DataLoader(data, batch_size=batch_size)
    for item in data:
        if isinstance(item, torch.Tensor):
            yield item, None
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            yield item[0], item[1]
        else:
            raise TypeError(
                "pipeline data must yield photo batches or (photos, labels) pairs, got "
                f"{type(item).__name__}"
            )


def _check_batch(photos: torch.Tensor, labels: torch.Tensor | None) -> None:
    if photos.dim() != 4 or photos.shape[1] != 3 or not photos.is_floating_point():
        raise ValueError(
            f"photos must be float N×3×H×W in [-1, 1], got {photos.dtype} of shape "
            f"{tuple(photos.shape)}"
        )
    if labels is not None and labels.shape != (photos.shape[0], *photos.shape[2:]):
        raise ValueError(
            f"labels of shape {tuple(labels.shape)} do not fit photos of shape "
            f"{tuple(photos.shape)}; expected N×H×W class ids"
        )


# --------------------------------------------------------------------------------------------
# Strips
# --------------------------------------------------------------------------------------------


def photo_to_uint8(photos: torch.Tensor) -> torch.Tensor:
    """N×3×H×W in [-1, 1] → N×H×W×3 uint8."""
    return ((photos.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def make_strips(
    photos: torch.Tensor,
    first: torch.Tensor,
    synthesized: torch.Tensor,
    second: torch.Tensor,
    label_set: LabelSet,
) -> torch.Tensor:
    """N×H×4W×3 uint8: photo | labels₁ | synthesized | labels₂, side by side."""
    panels = [
        photo_to_uint8(photos),
        label_set.colorize(first),
        photo_to_uint8(synthesized),
        label_set.colorize(second),
    ]
    return torch.cat([p.cpu() for p in panels], dim=2)


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


def run_pipeline(
    data: PipelineData,
    segmenter: Segmenter | nn.Module | str | os.PathLike,
    generator: Synthesizer | nn.Module | str | os.PathLike,
    *,
    label_set: str | LabelSet = "trainid",
    generator_label_set: str | LabelSet | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    amp: bool = False,
    max_strips: int = 8,
    names: Sequence[str] | None = None,
    limit: int | None = None,
) -> PipelineResult:
    """Segment, synthesize from the segmentation, segment the synthesized photos; score it.

    Args:
        data: photos as a float N×3×H×W tensor in [-1, 1]; or a Dataset / iterable of photo
            batches or of ``(photos, labels)`` batches (labels: N×H×W ground-truth class ids
            of the segmenter's label set, e.g. ``fastpix.data.PairLoader`` or
            ``SegmentationDataset``).
        segmenter: a ``Segmenter``, a module (logits over ``label_set``, fed [-1, 1] photos)
            or a fastpix segmentation checkpoint path.
        generator: a ``Synthesizer``, a module (``SPADEGenerator``, or a pix2pix generator from
            colour masks; its classes are ``generator_label_set``, default the segmenter's) or
            a checkpoint path (fastpix ``spade`` / labels → photo ``pix2pix``, or NVlabs'
            Cityscapes ``latest_net_G.pth``).
        batch_size: images per batch when ``data`` is a tensor or a Dataset.
        device: where the networks run (default: CUDA when available); batches are moved
            there, scores accumulate there.
        amp: run the networks under autocast (float16 on CUDA, bfloat16 on CPU).
        max_strips: how many image strips to keep.
        names: one name per image for the strips (default 000000, 000001, …).
        limit: stop after this many images.

    Returns:
        A ``PipelineResult``; see its docstring for the metrics.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    seg = _as_segmenter(segmenter, label_set)
    syn = _as_synthesizer(generator, get_label_set(generator_label_set or seg.label_set))
    seg.network.to(device).eval()
    syn.network.to(device).eval()
    lut = class_mapping(seg.label_set, syn.label_set).to(device)
    k, ignore = seg.label_set.num_classes, seg.label_set.ignore_index
    matrices: dict[str, ConfusionMatrix | None] = {
        "feedback": ConfusionMatrix(k, ignore, device),
        "segmentation": None,
        "fcn_score": None,
    }
    cast = (
        torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)
        if amp
        else contextlib.nullcontext()
    )  # fmt: skip

    strips: list[torch.Tensor] = []
    count, size = 0, None
    start = time.perf_counter()
    for photos, labels in _batches(data, batch_size):
        if limit is not None and count >= limit:
            break
        if limit is not None and count + photos.shape[0] > limit:
            photos = photos[: limit - count]
            labels = None if labels is None else labels[: limit - count]
        _check_batch(photos, labels)
        size = size or tuple(photos.shape[-2:])
        photos = photos.to(device, non_blocking=True).float()
        with torch.inference_mode(), cast:
            first = seg(photos)
            synthesized = syn(lut[first]).float()
            second = seg(synthesized)
        matrices["feedback"].update(second, first)
        if labels is not None:
            labels = labels.to(device, non_blocking=True)
            for name, predicted in (("segmentation", first), ("fcn_score", second)):
                if matrices[name] is None:
                    matrices[name] = ConfusionMatrix(k, ignore, device)
                matrices[name].update(predicted, labels)
        keep = min(max_strips - len(strips), photos.shape[0])
        if keep > 0:
            rows = slice(0, keep)
            strip = make_strips(
                photos[rows], first[rows], synthesized[rows], second[rows], seg.label_set
            )
            strips.extend(strip.unbind(0))
        count += photos.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if count == 0:
        raise ValueError("the pipeline got no images")

    names = list(names) if names is not None else [f"{i:06d}" for i in range(count)]
    if len(names) < len(strips):
        raise ValueError(f"{len(names)} names for {len(strips)} strips")
    metrics: dict[str, Any] = {
        "images": count,
        "size": list(size),
        "generator": syn.kind,
        "device": str(device),
        "amp": bool(amp),
        "seconds": seconds,
        "images_per_second": count / seconds if seconds > 0 else math.inf,
    }
    metrics.update({name: _scores(matrices[name]) for name in SCORES})
    return PipelineResult(metrics, strips, names[: len(strips)], seg.label_set, matrices)


__all__ = ["SCORES", "PipelineResult", "make_strips", "photo_to_uint8", "run_pipeline"]
