"""Scoring trained networks: the validation of both trainers and ``fastpix evaluate``.

- Segmenters: mIoU, pixel and class accuracy from one confusion matrix over the split, and
  the mean loss per pixel.
- pix2pix photo → colour mask: the generated mask is turned into classes by the nearest
  colour of the label set (``LabelSet.classes_from_mask``, as seed 000 does) and scored
  against the classes of the real mask.
- pix2pix colour mask → photo: the FCN-score (``fastpix.metrics.fcn_score``): a trained
  segmenter labels the generated photos, scored against the classes of the input mask; the
  same segmenter on the real photos gives the "ground truth" row of the pix2pix paper.
- SPADE class map → photo: the same FCN-score, against the input class map.

In a distributed run each process scores its share of the split and the confusion matrices
and sums are all-reduced, so every rank returns the scores of the whole split.

    fastpix evaluate --checkpoint runs/seg/checkpoints/best.pt --data data/synth
    fastpix evaluate --checkpoint runs/p2p/checkpoints/best.pt --data data/synth \\
        --segmenter runs/seg/checkpoints/best.pt --json scores.json
    fastpix evaluate --checkpoint runs/spade/checkpoints/last.pt --data data/synth \\
        --segmenter runs/seg/checkpoints/best.pt
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastpix.labels import LabelSet
from fastpix.metrics import ConfusionMatrix, fcn_score
from fastpix.train.engine import Runtime, unwrap
from fastpix.train.losses import predict_classes, segmentation_loss

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def score_segmenter(
    model: nn.Module,
    batches: Batches,
    label_set: LabelSet,
    binary: bool = False,
    runtime: Runtime | None = None,
) -> tuple[dict[str, Any], ConfusionMatrix]:
    """Scores of ``model`` (N×3×H×W photos in [-1, 1] → N×K×H×W logits) over ``batches`` of
    (photo, int64 N×H×W class ids): the ``ConfusionMatrix.compute()`` dict plus ``loss``
    (cross-entropy, or BCE when binary, per counted pixel), and the confusion matrix."""
    model.eval()
    device = next(model.parameters()).device
    cm = ConfusionMatrix(label_set.num_classes, label_set.ignore_index, device)
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, counted pixels
    for photos, classes in batches:
        with _autocast(runtime):
            logits = model(photos)
        totals[0] += segmentation_loss(logits, classes, label_set.ignore_index, binary, "sum")
        totals[1] += (classes != label_set.ignore_index).sum()
        cm.update(predict_classes(logits, binary), classes)
    _all_reduce(cm, totals, runtime)
    scores = cm.compute()
    scores["loss"] = float(totals[0] / totals[1]) if totals[1] > 0 else float("nan")
    return scores, cm


@torch.no_grad()
def score_translator(
    generator: nn.Module,
    batches: Batches,
    label_set: LabelSet,
    output: str,
    segmenter: nn.Module | None = None,
    segmenter_binary: bool = False,
    runtime: Runtime | None = None,
    real_photos: bool = False,
    input_classes: bool = False,
) -> tuple[dict[str, Any], ConfusionMatrix | None]:
    """Scores of a pix2pix generator over ``batches`` of (input, target) images in [-1, 1],
    or with ``input_classes`` of a class map → photo generator (a SPADE
    ``fastpix.pipeline.Synthesizer``) over ``batches`` of (int64 N×H×W class map, photo).

    ``l1``: mean |G(input) - target|. With ``output="color_mask"``: the confusion-matrix
    scores of the generated mask's nearest-colour classes against the target mask's. With
    ``output="photo"`` and a ``segmenter``: the FCN-score of the generated photos against the
    input mask's classes (and, with ``real_photos``, ``real_*`` scores of the target photos:
    the paper's ground-truth row). Returns the scores and the confusion matrix of the
    generated outputs (None when there are no class scores). The generator is used as given
    (see ``inference_generator``).
    """
    if output not in ("color_mask", "photo"):
        raise ValueError(f"output must be 'color_mask' or 'photo', got {output!r}")
    if input_classes and output != "photo":
        raise ValueError("a class map → photo generator draws photos (output='photo')")
    network = getattr(generator, "network", generator)  # a Synthesizer holds its network
    device = next(network.parameters()).device
    classes_of = (lambda inputs: inputs) if input_classes else label_set.classes_from_mask
    k, ignore = label_set.num_classes, label_set.ignore_index
    cm = ConfusionMatrix(k, ignore, device)
    real_cm = ConfusionMatrix(k, ignore, device)
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # |error| sum, values

    def generated() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for inputs, targets in batches:
            with _autocast(runtime):
                fake = generator(inputs).float()
            totals[0] += (fake - targets).abs().sum()
            totals[1] += fake.numel()
            if output == "color_mask":
                cm.update(label_set.classes_from_mask(fake), label_set.classes_from_mask(targets))
            else:
                yield fake, classes_of(inputs)

    if output == "photo" and segmenter is not None:
        segmenter.eval()

        def segment(photos: torch.Tensor) -> torch.Tensor:
            with _autocast(runtime):
                return predict_classes(segmenter(photos), segmenter_binary)

        fcn_score(segment, generated(), k, ignore, device, matrix=cm)
        if real_photos:  # a second pass over the split: the real photos
            reals = ((targets, classes_of(inputs)) for inputs, targets in batches)
            fcn_score(segment, reals, k, ignore, device, matrix=real_cm)
    else:
        for _ in generated():
            pass
    _all_reduce(cm, totals, runtime)
    scores: dict[str, Any] = {"l1": float(totals[0] / totals[1]) if totals[1] > 0 else None}
    if output == "photo" and segmenter is None:
        return scores, None
    scores.update(cm.compute())
    if real_photos and segmenter is not None:
        _all_reduce(real_cm, None, runtime)
        scores.update({f"real_{key}": value for key, value in real_cm.compute().items()})
    return scores, cm


def inference_generator(generator: nn.Module, mode: str = "paper") -> nn.Module:
    """A copy of ``generator`` for scoring and samples, in eval mode. ``paper``: batch norm
    with each image's own statistics and no dropout (``fastpix.models.to_instance_norm``, what
    pix2pix's test.py computes at batch 1); ``eval``: running statistics."""
    from fastpix.models import to_instance_norm

    if mode == "paper":
        return to_instance_norm(unwrap(generator))
    if mode == "eval":
        return copy.deepcopy(unwrap(generator)).eval()
    raise ValueError(f"inference mode must be 'paper' or 'eval', got {mode!r}")


class ClassMapFirst:
    """``EvalBatches`` of (photo, class map) as (class map, photo): the input of a class map
    → photo generator first (re-iterable, as ``score_translator`` needs)."""

    def __init__(self, batches: Batches) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return ((classes, photos) for photos, classes in self.batches)


def load_fcn_segmenter(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> tuple[nn.Module, bool]:
    """The segmenter of a segmentation checkpoint for the FCN-score, frozen in eval mode on
    ``device``, and whether it is binary (one logit)."""
    from fastpix.checkpoint import build_model, load_checkpoint

    checkpoint = load_checkpoint(path, task="segmentation")
    model = build_model(checkpoint).to(device).eval().requires_grad_(False)
    return model, bool(checkpoint.get("config", {}).get("binary", False))


def _fcn_score_segmenter(
    segmenter: str | os.PathLike | None, scored: str, runtime: Runtime
) -> tuple[nn.Module, bool]:
    """``load_fcn_segmenter`` of ``segmenter``; a clear error naming what is ``scored`` when
    none was given."""
    if segmenter is None:
        raise ValueError(
            f"{scored} is scored with the FCN-score: give --segmenter, a segmentation "
            "checkpoint trained on real photos"
        )
    return load_fcn_segmenter(segmenter, runtime.device)


def _autocast(runtime: Runtime | None):
    import contextlib

    return runtime.autocast() if runtime is not None else contextlib.nullcontext()


def _all_reduce(cm: ConfusionMatrix, totals: torch.Tensor | None, runtime: Runtime | None):
    if runtime is None or not runtime.distributed:
        return
    cm.all_reduce()
    if totals is not None:
        runtime.all_reduce_sum(totals)


# -- a checkpoint on a split -----------------------------------------------------------------


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "val",
    layout: str | None = None,
    segmenter: str | os.PathLike | None = None,
    batch_size: int = 8,
    device: str = "auto",
    mode: str | None = None,
    loader: str = "auto",
) -> dict[str, Any]:
    """Score a fastpix checkpoint on ``split`` of ``data``.

    Segmentation checkpoints: mIoU etc. of the segmenter. pix2pix checkpoints: palette → class
    scores (photo → mask) or the FCN-score with the ``segmenter`` checkpoint (mask → photo).
    SPADE checkpoints: the FCN-score with the ``segmenter`` checkpoint (generator in eval
    mode, as ``fastpix pipeline`` runs it).
    ``layout`` defaults to the checkpoint's; ``mode`` (pix2pix: ``paper`` or ``eval``) to the
    one it was trained with. Returns ``{"checkpoint", "task", "split", "scores", "names",
    "table"}`` where ``table`` is a markdown table of per-class accuracy and IoU.
    """
    from fastpix.checkpoint import CheckpointError, build_model, load_checkpoint
    from fastpix.labels import label_set_from_dict, label_set_names, register_label_set
    from fastpix.train.config import config_from_dict, replace
    from fastpix.train.data import EvalBatches

    path = Path(checkpoint)
    ckpt = load_checkpoint(path)
    task = ckpt.get("task")
    if task not in ("segmentation", "pix2pix", "spade"):
        raise CheckpointError(f"{path}: a {task!r} checkpoint; evaluate reads segmentation, "
                              "pix2pix and spade checkpoints")  # fmt: skip
    if "config" not in ckpt:
        raise CheckpointError(f"{path}: no training config in the checkpoint (not written by "
                              "fastpix train)")  # fmt: skip
    label_set = label_set_from_dict(ckpt["label_set"])
    if label_set.name not in label_set_names():
        register_label_set(label_set)
    config = replace(
        config_from_dict(ckpt["config"]), data=str(data), val_split=split,
        layout=layout or ckpt["data"].get("layout", "kaggle"), batch_size=batch_size,
        device=device, loader=loader, progress=False, compile=False, amp="off",
    )  # fmt: skip
    runtime = Runtime.from_config(config)
    key = "model" if task == "segmentation" else "G"
    net = build_model(ckpt, key).to(runtime.device)
    if task == "segmentation":
        batches = EvalBatches(config, runtime, split, "classes")
        scores, matrix = score_segmenter(net, batches, label_set, config.binary, runtime)
    elif task == "spade":
        from fastpix.pipeline.stages import Synthesizer

        seg_model, seg_binary = _fcn_score_segmenter(segmenter, "a SPADE generator", runtime)
        synthesizer = Synthesizer(inference_generator(net, "eval"), label_set, "spade")
        batches = ClassMapFirst(EvalBatches(config, runtime, split, "classes"))
        scores, matrix = score_translator(
            synthesizer, batches, label_set, "photo", seg_model, seg_binary, runtime,
            real_photos=True, input_classes=True,
        )  # fmt: skip
    else:
        output = ckpt["data"].get("output") or config.resolved_output()
        seg_model, seg_binary = None, False
        if output == "photo":
            seg_model, seg_binary = _fcn_score_segmenter(
                segmenter, "a mask → photo generator", runtime
            )
        generator = inference_generator(net, mode or ckpt.get("inference_mode", "paper"))
        batches = EvalBatches(config, runtime, split, "image", config.direction)
        scores, matrix = score_translator(
            generator, batches, label_set, output, seg_model, seg_binary, runtime,
            real_photos=seg_model is not None,
        )  # fmt: skip
    table = matrix.table(label_set.names) if matrix is not None else ""
    return {"checkpoint": str(path), "task": task, "split": split, "scores": scores,
            "names": list(label_set.names), "table": table}  # fmt: skip


def write_scores(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write an ``evaluate_checkpoint`` result as JSON (nan → null), atomically."""
    from fastpix.data.imageio import write_text
    from fastpix.metrics import _nan_to_none

    return write_text(path, json.dumps(_nan_to_none(result), indent=1) + "\n")
