"""Segmentation metrics: a streaming confusion matrix and the scores derived from it.

The scores follow the pix2pix Cityscapes evaluation (``scripts/eval_cityscapes``) and
cityscapesScripts: one confusion matrix accumulated over the whole set, then

- pixel accuracy = trace / total,
- class accuracy = nanmean over classes of diag / row sum (classes absent from the ground
  truth are nan and skipped),
- IoU per class = diag / (row + column - diag), mIoU = nanmean of it.

Pixels whose target is ``ignore_index`` (or outside 0..K-1) are not counted. A prediction
outside 0..K-1 (e.g. an ignore-coloured pixel in a generated mask) counts as a miss for its
ground-truth class and as no class's false positive.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Callable

import torch


class ConfusionMatrix:
    """Streaming K×K confusion matrix (rows: ground truth, columns: prediction).

    >>> cm = ConfusionMatrix(2)
    >>> cm.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
    >>> round(cm.compute()["miou"], 4)
    0.5
    """

    def __init__(
        self, num_classes: int, ignore_index: int = 255, device: torch.device | str | None = None
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        # Column K collects predictions outside 0..K-1.
        self.matrix = torch.zeros(num_classes, num_classes + 1, dtype=torch.int64, device=device)

    def reset(self) -> None:
        self.matrix.zero_()

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: ``pred`` and ``target`` are integer tensors of the same shape."""
        if pred.shape != target.shape:
            raise ValueError(
                f"pred shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}"
            )
        if pred.is_floating_point() or target.is_floating_point():
            raise TypeError("pred and target must be integer class maps (argmax logits first)")
        k = self.num_classes
        device = self.matrix.device
        target = target.to(device).reshape(-1).long()
        pred = pred.to(device).reshape(-1).long()
        valid = (target >= 0) & (target < k) & (target != self.ignore_index)
        target = target[valid]
        pred = pred[valid]
        pred = torch.where((pred >= 0) & (pred < k), pred, torch.full_like(pred, k))
        counts = torch.bincount(target * (k + 1) + pred, minlength=k * (k + 1))
        self.matrix += counts.reshape(k, k + 1)

    def all_reduce(self) -> None:
        """Sum the matrix over the processes of an initialized ``torch.distributed`` group."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.matrix)

    def compute(self) -> dict[str, object]:
        """Scores as a dict: ``pixel_acc``, ``class_acc``, ``miou`` (floats, nan when
        undefined), ``acc`` and ``iou`` (per-class lists, nan for classes never seen)."""
        m = self.matrix.double().cpu()
        k = self.num_classes
        diag = m[:, :k].diagonal()
        rows = m.sum(1)
        cols = m[:, :k].sum(0)
        total = m.sum()
        acc = diag / rows  # nan where the class never occurs in the ground truth
        union = rows + cols - diag
        iou = diag / union
        return {
            "pixel_acc": float(diag.sum() / total) if total > 0 else math.nan,
            "class_acc": _nanmean(acc),
            "miou": _nanmean(iou),
            "acc": acc.tolist(),
            "iou": iou.tolist(),
            "pixels": int(total),
        }

    def table(self, names: Sequence[str] | None = None) -> str:
        """A markdown table of per-class accuracy and IoU, then the summary scores."""
        scores = self.compute()
        names = list(names) if names is not None else [str(i) for i in range(self.num_classes)]
        lines = ["| class | acc | IoU |", "|---|---:|---:|"]
        for name, a, i in zip(names, scores["acc"], scores["iou"]):
            lines.append(f"| {name} | {_fmt(a)} | {_fmt(i)} |")
        lines.append(
            f"| **all** (pixel acc {_fmt(scores['pixel_acc'])}) | {_fmt(scores['class_acc'])} "
            f"| {_fmt(scores['miou'])} |"
        )
        return "\n".join(lines)

    def to_json(self, names: Sequence[str] | None = None) -> str:
        scores = self.compute()
        if names is not None:
            scores["names"] = list(names)
        # nan is not JSON: write null for undefined scores.
        return json.dumps(_nan_to_none(scores), indent=2)


def _nanmean(values: torch.Tensor) -> float:
    finite = values[~torch.isnan(values)]
    return float(finite.mean()) if finite.numel() else math.nan


def _fmt(value: float) -> str:
    return (
        "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
    )


def _nan_to_none(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    return obj


@torch.no_grad()
def fcn_score(
    segmenter: Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable,
    num_classes: int,
    ignore_index: int = 255,
    device: torch.device | str | None = None,
    matrix: ConfusionMatrix | None = None,
) -> dict[str, object]:
    """FCN-score of generated photos (pix2pix paper, labels→photo): segment each generated
    photo with a trained segmenter and score the prediction against the input labels.

    Args:
        segmenter: a module or function mapping N×3×H×W photos in [-1, 1] to N×K×H×W logits
            (or N×H×W class maps).
        batches: iterable of ``(photos, labels)`` with labels N×H×W class ids.
        num_classes: K.
        matrix: accumulate into this confusion matrix instead of a new one (e.g. to
            ``all_reduce`` it over processes before computing the scores).
    Returns:
        The ``ConfusionMatrix.compute()`` dict.
    """
    if isinstance(segmenter, torch.nn.Module):
        segmenter.eval()
        if device is None:
            device = next(segmenter.parameters()).device
    cm = matrix if matrix is not None else ConfusionMatrix(num_classes, ignore_index, device)
    for photos, labels in batches:
        photos = photos.to(device) if device is not None else photos
        out = segmenter(photos)
        pred = out.argmax(1) if out.is_floating_point() and out.dim() == 4 else out
        if pred.shape[-2:] != labels.shape[-2:]:
            raise ValueError(
                f"segmenter output {tuple(pred.shape)} does not match labels {tuple(labels.shape)}"
            )
        cm.update(pred, labels)
    return cm.compute()
