"""The pix2pix trainer: a conditional GAN mapping the input half of each pair to the other.

    >>> from fastpix.train import Pix2PixTrainer, get_preset
    >>> trainer = Pix2PixTrainer(get_preset("pix2pix-cityscapes", data="cs", out="runs/p2p"))
    >>> trainer.fit()

Each step does what the reference ``pix2pix_model.py`` does: ``fake = G(A)``; one D step on
``D(cat(A, fake.detach()))`` against "fake" and ``D(cat(A, B))`` against "real", the D loss
scaled by ``d_loss_scale`` (0.5: halved); one G step, with D frozen, on the GAN loss of
``D(cat(A, fake))`` against "real" plus ``lambda_l1 · |fake - B|``. ``gan_mode`` is
``vanilla`` (BCE with logits) or ``lsgan``; both networks use Adam. The seed-001 CGAN is the
same loop with ``cgan_g``/``cgan_d``, no L1 term and an unscaled D loss (preset
``cgan-seed001``).

Validation scores the generator in its inference mode (``paper`` by default: per-image batch
statistics, no dropout): photo → colour mask by the palette → class mIoU; colour mask → photo
by the FCN-score when ``config.segmenter`` names a segmentation checkpoint, else by L1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fastpix.models import create
from fastpix.train.data import EvalBatches, TrainBatches
from fastpix.train.engine import make_optimizer, without_ddp
from fastpix.train.evaluate import inference_generator, load_fcn_segmenter, score_translator
from fastpix.train.logs import to_uint8_images
from fastpix.train.losses import gan_loss
from fastpix.train.trainer import Trainer


def set_requires_grad(model: nn.Module, flag: bool) -> None:
    for parameter in model.parameters():
        parameter.requires_grad_(flag)


class Pix2PixTrainer(Trainer):
    """Trains ``config.generator`` against ``config.discriminator``; see the module docstring.

    Args:
        config: a ``Pix2PixConfig``.
        checkpoint: a loaded checkpoint to continue from (``Pix2PixTrainer.resume``).
    """

    task = "pix2pix"
    target = "image"

    def build(self) -> None:
        config, runtime = self.config, self.runtime
        self.output = config.resolved_output()
        g_options = dict(config.generator_options)
        d_options = dict(config.discriminator_options)
        generator = create(config.generator, **g_options)
        discriminator = create(config.discriminator, **d_options)
        expected = generator.input_nc + generator.output_nc
        if discriminator.input_nc != expected:
            raise ValueError(
                f"the discriminator sees cat(input, output): {expected} channels for this "
                f"generator, but {config.discriminator} has input_nc={discriminator.input_nc}"
            )
        generator, discriminator = runtime.prepare(generator), runtime.prepare(discriminator)
        self.nets["G"] = (config.generator, g_options, generator)
        self.nets["D"] = (config.discriminator, d_options, discriminator)
        self.optimizers["G"] = make_optimizer(generator.parameters(), config)
        self.optimizers["D"] = make_optimizer(discriminator.parameters(), config)
        self.segmenter, self.segmenter_binary = self._segmenter()
        scored = self.output == "color_mask" or self.segmenter is not None
        self.best_metric, self.best_mode = ("miou", "max") if scored else ("l1", "min")
        self.train_batches = TrainBatches(config, runtime, self.target, config.direction)
        self.val_batches = None
        if config.val_split:
            self.val_batches = EvalBatches(
                config, runtime, config.val_split, self.target, config.direction
            )

    def _segmenter(self) -> tuple[nn.Module | None, bool]:
        """The FCN-score segmenter of a mask → photo run (``config.segmenter``), frozen."""
        if self.config.segmenter is None:
            return None, False
        if self.output != "photo":
            raise ValueError("config.segmenter scores generated photos; this run draws masks")
        return load_fcn_segmenter(self.config.segmenter, self.runtime.device)

    def train_step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> tuple[dict, bool]:
        config = self.config
        generator, discriminator = self.nets["G"][2], self.nets["D"][2]
        opt_g, opt_d = self.optimizers["G"], self.optimizers["D"]
        scaler_g, scaler_d = self.scalers["G"], self.scalers["D"]
        generator.train()
        discriminator.train()
        self.guard.snapshot(generator, discriminator)
        with self.runtime.autocast():
            fake_b = generator(real_a)

        set_requires_grad(discriminator, True)
        with self.runtime.autocast():
            pred_fake = discriminator(torch.cat([real_a, fake_b.detach()], 1))
            pred_real = discriminator(torch.cat([real_a, real_b], 1))
        loss_d_fake = gan_loss(pred_fake, False, config.gan_mode)
        loss_d_real = gan_loss(pred_real, True, config.gan_mode)
        loss_d = (loss_d_fake + loss_d_real) * config.d_loss_scale
        opt_d.zero_grad(set_to_none=True)
        losses = {"loss_D": loss_d, "loss_D_fake": loss_d_fake, "loss_D_real": loss_d_real}
        if not self.guard.ok(loss_d):  # nothing is updated in this step
            return {k: v.detach() for k, v in losses.items()}, False
        scaler_d.scale(loss_d).backward()
        scaler_d.step(opt_d)
        scaler_d.update()

        set_requires_grad(discriminator, False)
        self.guard.snapshot(discriminator)  # D's statistics after its own step
        with self.runtime.autocast():
            pred_fake = without_ddp(discriminator)(torch.cat([real_a, fake_b], 1))
        loss_g_gan = gan_loss(pred_fake, True, config.gan_mode)
        loss_g_l1 = F.l1_loss(fake_b.float(), real_b) * config.lambda_l1
        loss_g = loss_g_gan + loss_g_l1
        opt_g.zero_grad(set_to_none=True)
        losses.update(loss_G=loss_g, loss_G_GAN=loss_g_gan, loss_G_L1=loss_g_l1)
        finite = self.guard.ok(loss_g)
        if finite:
            scaler_g.scale(loss_g).backward()
            scaler_g.step(opt_g)
            scaler_g.update()
        set_requires_grad(discriminator, True)
        return {k: v.detach() for k, v in losses.items()}, finite

    def evaluate(self) -> dict[str, Any]:
        generator = inference_generator(self.nets["G"][2], self.config.inference_mode)
        scores, _ = score_translator(
            generator, self.val_batches, self.label_set, self.output, self.segmenter,
            self.segmenter_binary, self.runtime,
        )  # fmt: skip
        return scores

    @torch.no_grad()
    def sample_columns(self, real_a: torch.Tensor, real_b: torch.Tensor) -> list[np.ndarray]:
        generator = inference_generator(self.nets["G"][2], self.config.inference_mode)
        with self.runtime.autocast():
            fake_b = generator(real_a)
        return [to_uint8_images(real_a), to_uint8_images(fake_b), to_uint8_images(real_b)]

    def data_entry(self) -> dict[str, Any]:
        return {**super().data_entry(), "direction": self.config.direction, "output": self.output}

    def checkpoint_payload(self) -> dict[str, Any]:
        return {**super().checkpoint_payload(), "inference_mode": self.config.inference_mode}

    def curve_panels(self) -> dict[str, list[str]]:
        return {"generator": ["loss_G", "loss_G_GAN", "loss_G_L1"],
                "discriminator": ["loss_D", "loss_D_real", "loss_D_fake"]}  # fmt: skip
