"""The segmentation trainer: photo → class map with a U-Net or the ResNet-34 FCN.

    >>> from fastpix.train import SegmentationTrainer, get_preset
    >>> trainer = SegmentationTrainer(get_preset("demo", data="data/synth", out="runs/seg"))
    >>> summary = trainer.fit()          # summary["best"]["value"]: the best validation mIoU

Cross-entropy with ignore index 255 over the label set's classes, or, with ``binary=True``,
one logit per pixel and BCE with logits (seed 004's road mask: class 1 of a 2-class label set
is the positive class). The config can weight the cross-entropy by class (weights from the
train split's label frequencies, counted once before training), keep only its hardest pixels
(``ce_top_k``) and add a region loss (``ce+dice``, ``ce+lovasz``). Adam, the config's LR
policy, validation each epoch with ``fastpix.metrics.ConfusionMatrix`` (mIoU, pixel and class
accuracy, plain cross-entropy as the validation loss) and ``checkpoints/best.pt`` by mIoU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fastpix.models import create, model_options
from fastpix.train.data import EvalBatches, TrainBatches
from fastpix.train.engine import make_optimizer
from fastpix.train.evaluate import score_segmenter
from fastpix.train.logs import to_uint8_images
from fastpix.train.losses import (
    class_weights_from_counts,
    lovasz_softmax_loss,
    predict_classes,
    segmentation_loss,
    soft_dice_loss,
)
from fastpix.train.trainer import Trainer


class SegmentationTrainer(Trainer):
    """Trains ``config.model`` on (photo, class map) pairs; see the module docstring.

    Args:
        config: a ``SegmentationConfig``.
        checkpoint: a loaded checkpoint to continue from (``SegmentationTrainer.resume``).
    """

    task = "segmentation"
    target = "classes"
    best_metric = "miou"
    best_mode = "max"

    def build(self) -> None:
        config, runtime = self.config, self.runtime
        if config.binary and self.label_set.num_classes != 2:
            raise ValueError(
                f"binary training needs a 2-class label set (e.g. road), got "
                f"{self.label_set.name!r} with {self.label_set.num_classes} classes"
            )
        options = dict(config.model_options)
        if "num_classes" in model_options(config.model):
            options["num_classes"] = 1 if config.binary else self.label_set.num_classes
        model = runtime.prepare(create(config.model, **options))
        self.nets["model"] = (config.model, options, model)
        self.optimizers["model"] = make_optimizer(model.parameters(), config)
        self.train_batches = TrainBatches(config, runtime, self.target)
        self.val_batches = None
        if config.val_split:
            self.val_batches = EvalBatches(config, runtime, config.val_split, self.target)
        self.class_weights = None
        if config.class_weights != "none":
            pixels, image_pixels = self._count_train_classes()
            self.class_weights = class_weights_from_counts(
                pixels, image_pixels, config.class_weights
            ).to(runtime.device)

    def _count_train_classes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per class: pixels in the train split, and pixels of the train images containing
        it (one pass without jitter, summed over the ranks)."""
        num_classes = self.label_set.num_classes
        counts = torch.zeros(2, num_classes, dtype=torch.float64)
        batches = EvalBatches(self.config, self.runtime, self.config.train_split, self.target)
        for _, classes in batches:
            for image in classes.cpu():
                valid = image[image != self.label_set.ignore_index]
                histogram = torch.bincount(valid, minlength=num_classes).double()
                counts[0] += histogram
                counts[1] += (histogram > 0).double() * valid.numel()
        counts = self.runtime.all_reduce_sum(counts.to(self.runtime.device)).cpu()
        return counts[0], counts[1]

    def loss(self, logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """The configured objective: (weighted, top-k) cross-entropy + region_weight · the
        region loss."""
        config, ignore = self.config, self.label_set.ignore_index
        loss = segmentation_loss(logits, classes, ignore, config.binary,
                                 class_weights=self.class_weights, top_k=config.ce_top_k)  # fmt: skip
        if config.loss == "ce+dice":
            loss = loss + config.region_weight * soft_dice_loss(logits, classes, ignore)
        elif config.loss == "ce+lovasz":
            loss = loss + config.region_weight * lovasz_softmax_loss(logits, classes, ignore)
        return loss

    @property
    def model(self) -> torch.nn.Module:
        return self.nets["model"][2]

    def train_step(self, photos: torch.Tensor, classes: torch.Tensor) -> tuple[dict, bool]:
        model, optimizer = self.model, self.optimizers["model"]
        scaler = self.scalers["model"]
        model.train()
        self.guard.snapshot(model)
        with self.runtime.autocast():
            logits = model(photos)
        loss = self.loss(logits, classes)
        optimizer.zero_grad(set_to_none=True)
        finite = self.guard.ok(loss)
        if finite:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        return {"loss": loss.detach()}, finite

    def evaluate(self) -> dict[str, Any]:
        scores, _ = score_segmenter(
            self.model, self.val_batches, self.label_set, self.config.binary, self.runtime
        )
        return {"val_loss": scores.pop("loss"), **scores}

    @torch.no_grad()
    def sample_columns(self, photos: torch.Tensor, classes: torch.Tensor) -> list[np.ndarray]:
        model = self.model
        model.eval()
        with self.runtime.autocast():
            predicted = predict_classes(model(photos), self.config.binary)
        colorize = self.label_set.colorize
        return [
            to_uint8_images(photos),
            colorize(predicted.cpu()).numpy(),
            colorize(classes.cpu()).numpy(),
        ]
