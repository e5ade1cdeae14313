"""The SPADE trainer: class map → photo with spatially-adaptive normalization (seed 003).

    >>> from fastpix.train import SpadeTrainer, get_preset
    >>> trainer = SpadeTrainer(get_preset("demo-spade", data="data/synth", out="runs/spade"))
    >>> trainer.fit()

The batches are (photo, class map) pairs, as a segmenter's (``target="classes"``: colour masks
decoded to classes by the label set, ignore pixels 255); the generator sees the one-hot class
map (``SPADEGenerator.label_input``, ignore pixels all-zero), ``label_nc`` being the label
set's class count. Each step is ``fastpix.train.spade_losses.training_step``: a generator
update on the hinge loss + ``lambda_feat`` · feature matching (+ ``lambda_vgg`` · VGG loss
with ``vgg_weights``), then a discriminator update on the hinge loss of a regenerated fake;
Adam with TTUR (G at lr/2, D at 2·lr).

Validation runs the generator as ``fastpix pipeline`` does (eval mode: running batch-norm
statistics, spectral norm with its stored vectors): the FCN-score of the generated photos when
``config.segmenter`` names a segmentation checkpoint, else the L1 distance to the real photos.
Checkpoints have task ``spade`` with networks ``G`` (``spade``) and ``D``
(``multiscale_patchgan``); ``fastpix.pipeline.load_synthesizer`` loads them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fastpix.models import create
from fastpix.train.data import EvalBatches, TrainBatches
from fastpix.train.engine import unwrap
from fastpix.train.evaluate import (
    ClassMapFirst,
    inference_generator,
    load_fcn_segmenter,
    score_translator,
)
from fastpix.train.logs import to_uint8_images
from fastpix.train.spade_losses import SpadeObjective, VGGLoss, make_optimizers, training_step
from fastpix.train.trainer import Trainer

GENERATOR = "spade"
DISCRIMINATOR = "multiscale_patchgan"
# training_step's loss names → the names of the train records
LOSS_NAMES = {"GAN": "loss_G_GAN", "GAN_Feat": "loss_G_Feat", "VGG": "loss_G_VGG",
              "D_Fake": "loss_D_fake", "D_real": "loss_D_real"}  # fmt: skip
VGG_OFF_NOTE = (
    "VGG perceptual loss off: no vgg_weights given (--vgg-weights FILE, a torchvision vgg19 "
    ".pth, adds lambda_vgg · VGG loss as the SPADE paper trains)"
)


class SpadeTrainer(Trainer):
    """Trains a ``SPADEGenerator`` against a ``MultiscaleDiscriminator``; see the module
    docstring.

    Args:
        config: a ``SpadeConfig``.
        checkpoint: a loaded checkpoint to continue from (``SpadeTrainer.resume``).
    """

    task = "spade"
    target = "classes"

    def build(self) -> None:
        config, runtime = self.config, self.runtime
        g_options = {**config.generator_options, "label_nc": self.label_set.num_classes}
        generator = create(GENERATOR, **g_options)
        if config.size % generator.scale:
            raise ValueError(
                f"size {config.size} is not a multiple of {generator.scale}, which a SPADE "
                f"generator with {generator.num_upsampling_layers!r} upsampling layers needs"
            )
        d_options = {**config.discriminator_options, "input_nc": generator.semantic_nc + 3}
        discriminator = create(DISCRIMINATOR, **d_options)
        generator, discriminator = runtime.prepare(generator), runtime.prepare(discriminator)
        self.nets["G"] = (GENERATOR, g_options, generator)
        self.nets["D"] = (DISCRIMINATOR, d_options, discriminator)
        self.optimizers["G"], self.optimizers["D"] = make_optimizers(
            generator, discriminator, config.lr, config.ttur, config.betas
        )
        vgg = None
        if config.vgg_weights is not None:
            vgg = VGGLoss(config.vgg_weights).to(runtime.device)
        elif config.lambda_vgg:
            self.log.message(VGG_OFF_NOTE)
        self.objective = SpadeObjective(
            generator, discriminator, vgg, config.lambda_feat, config.lambda_vgg
        )
        self.segmenter, self.segmenter_binary = None, False
        if config.segmenter is not None:
            self.segmenter, self.segmenter_binary = load_fcn_segmenter(
                config.segmenter, runtime.device
            )
        self.best_metric, self.best_mode = ("miou", "max") if self.segmenter else ("l1", "min")
        self.train_batches = TrainBatches(config, runtime, self.target)
        self.val_batches = None
        if config.val_split:
            self.val_batches = EvalBatches(config, runtime, config.val_split, self.target)

    def semantics(self, classes: torch.Tensor) -> torch.Tensor:
        """N×H×W int64 class map → the generator's N×S×H×W one-hot input on the device."""
        generator = unwrap(self.nets["G"][2])
        return self.runtime.to_device(
            generator.label_input(classes, ignore_index=self.label_set.ignore_index)
        )

    def train_step(self, photos: torch.Tensor, classes: torch.Tensor) -> tuple[dict, bool]:
        generator, discriminator = self.nets["G"][2], self.nets["D"][2]
        generator.train()
        discriminator.train()
        losses, finite = training_step(
            self.objective, self.optimizers["G"], self.optimizers["D"], self.semantics(classes),
            photos, reuse_fake=self.config.reuse_fake, autocast_dtype=self.runtime.amp_dtype,
            scaler=self.scalers["G"], scaler_d=self.scalers["D"], guard=self.guard,
        )  # fmt: skip
        named = {LOSS_NAMES[k]: v.float() for k, v in losses.items()}
        g_terms = [named[k] for k in ("loss_G_GAN", "loss_G_Feat", "loss_G_VGG") if k in named]
        named["loss_G"] = sum(g_terms)
        if "loss_D_fake" in named:
            named["loss_D"] = named["loss_D_fake"] + named["loss_D_real"]
        return named, finite

    def synthesizer(self):
        """The generator as ``fastpix pipeline`` runs it: a copy in eval mode behind a
        ``Synthesizer`` (class map → photo)."""
        from fastpix.pipeline.stages import Synthesizer

        return Synthesizer(inference_generator(self.nets["G"][2], "eval"), self.label_set, "spade")

    def evaluate(self) -> dict[str, Any]:
        scores, _ = score_translator(
            self.synthesizer(), ClassMapFirst(self.val_batches), self.label_set, "photo",
            self.segmenter, self.segmenter_binary, self.runtime, input_classes=True,
        )  # fmt: skip
        return scores

    @torch.no_grad()
    def sample_columns(self, photos: torch.Tensor, classes: torch.Tensor) -> list[np.ndarray]:
        with self.runtime.autocast():
            fake = self.synthesizer()(classes)
        masks = self.label_set.colorize(classes).cpu().numpy()
        return [masks, to_uint8_images(fake), to_uint8_images(photos)]

    def data_entry(self) -> dict[str, Any]:
        return {**super().data_entry(), "input": "classes", "output": "photo"}

    def checkpoint_payload(self) -> dict[str, Any]:
        return {**super().checkpoint_payload(), "inference_mode": "eval"}

    def curve_panels(self) -> dict[str, list[str]]:
        return {"generator": ["loss_G", "loss_G_GAN", "loss_G_Feat", "loss_G_VGG"],
                "discriminator": ["loss_D", "loss_D_real", "loss_D_fake"]}  # fmt: skip
