"""Training: the segmentation, pix2pix and SPADE trainers, their presets, checkpoints and
resume.

    >>> import fastpix.train as ft
    >>> summary = ft.run_preset("demo", data="data/synth", out="runs/demo")   # doctest: +SKIP
    >>> summary["best"]["value"]                     # best validation mIoU   # doctest: +SKIP
    >>> ft.resume("runs/demo", epochs=20)            # continue, longer       # doctest: +SKIP

``train(config)`` runs the trainer of a ``SegmentationConfig``, ``Pix2PixConfig`` or
``SpadeConfig``;
``get_preset(name, **overrides)`` gives the seeds' and the reference's recipes (``PRESETS``).
Under ``torchrun`` every process calls the same function; rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import os
from typing import Any

from fastpix._lazy import lazy_getattr
from fastpix.train.config import (
    PRESETS,
    Pix2PixConfig,
    SegmentationConfig,
    SpadeConfig,
    TrainConfig,
    get_preset,
)

# public name -> submodule that defines it, imported on first access
_LAZY = {
    "SegmentationTrainer": "fastpix.train.segmentation",
    "Pix2PixTrainer": "fastpix.train.pix2pix",
    "SpadeTrainer": "fastpix.train.spade",
    "evaluate_checkpoint": "fastpix.train.evaluate",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


def trainer_class(task_or_config: str | TrainConfig):
    """The trainer class of a task name (``segmentation``, ``pix2pix``, ``spade``) or a
    config."""
    task = task_or_config
    if isinstance(task_or_config, TrainConfig):
        task = task_or_config.to_dict()["task"]
    if task == "segmentation":
        from fastpix.train.segmentation import SegmentationTrainer

        return SegmentationTrainer
    if task == "pix2pix":
        from fastpix.train.pix2pix import Pix2PixTrainer

        return Pix2PixTrainer
    if task == "spade":
        from fastpix.train.spade import SpadeTrainer

        return SpadeTrainer
    raise ValueError(f"unknown training task {task!r}; expected segmentation, pix2pix or spade")


def train(
    config: SegmentationConfig | Pix2PixConfig | SpadeConfig, until: int | None = None
) -> dict[str, Any]:
    """Train with ``config`` (stopping after step ``until`` when given) and return the run
    summary: ``step``, ``epoch``, ``best`` ({metric, value, step, epoch}), ``scores`` (the last
    validation), ``steps_per_s``, ``last_checkpoint``, ``best_checkpoint``."""
    trainer = trainer_class(config)(config)
    try:
        return trainer.fit(until)
    finally:
        trainer.close()


def resume(
    path: str | os.PathLike, until: int | None = None, task: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """Continue the run of a run folder or checkpoint file (which must be of ``task`` when
    given); ``overrides`` as ``Trainer.from_checkpoint`` allows. Returns the run summary."""
    from fastpix.checkpoint import load_checkpoint
    from fastpix.train.trainer import resolve_checkpoint

    checkpoint = load_checkpoint(resolve_checkpoint(path), task=task)
    trainer = trainer_class(checkpoint.get("task")).from_checkpoint(checkpoint, **overrides)
    try:
        return trainer.fit(until)
    finally:
        trainer.close()


def run_preset(name: str, **overrides: Any) -> dict[str, Any]:
    """Train preset ``name`` with fields replaced, e.g.
    ``run_preset("demo", data="data/synth", out="runs/demo")``; returns the run summary."""
    return train(get_preset(name, **overrides))


__all__ = [
    "PRESETS",
    "Pix2PixConfig",
    "SegmentationConfig",
    "SpadeConfig",
    "TrainConfig",
    "get_preset",
    "resume",
    "run_preset",
    "train",
    "trainer_class",
    *_LAZY,
]
