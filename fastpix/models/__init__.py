"""The fastpix model zoo: one-line creation of every network the seeds use.

    >>> import fastpix.models as fm
    >>> G = fm.create("unet_256", norm="batch", use_dropout=True)   # pix2pix generator
    >>> D = fm.create("patchgan", n_layers=3)                       # 70×70 PatchGAN, logits
    >>> seg = fm.create("unet", num_classes=1, base_channels=16)    # binary road U-Net

``list_models()`` gives the names; ``create`` rejects an unknown name or option with an error
that lists the valid ones. Options use the pix2pix reference's names where they exist
(``input_nc``, ``output_nc``, ``ngf``, ``ndf``, ``norm``, ``use_dropout``, ``n_layers``) and
``num_classes`` for segmenters. ``GAN_PAIRS`` names the generator/discriminator pairs the seeds
train together (``create_pair``).
"""

from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

from fastpix.models.cgan import CGANDiscriminator, CGANGenerator, cgan_discriminator, cgan_generator
from fastpix.models.pix2pix import (
    NLayerDiscriminator,
    PixelDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    patchgan,
    patchgan_receptive_field,
    pixelgan,
    resnet_6blocks,
    resnet_9blocks,
    set_inference_mode,
    to_instance_norm,
    unet_128,
    unet_256,
)
from fastpix.models.resnet import FCNResNet34, ResNetBackbone, fcn_resnet34
from fastpix.models.spade import MultiscaleDiscriminator, SPADEGenerator
from fastpix.models.unet import UNet
from fastpix.models.weight_init import init_weights

# name → factory; the factory's keyword arguments are the model's options.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "unet": UNet,
    "unet_128": unet_128,
    "unet_256": unet_256,
    "resnet_6blocks": resnet_6blocks,
    "resnet_9blocks": resnet_9blocks,
    "patchgan": patchgan,
    "pixelgan": pixelgan,
    "cgan_g": cgan_generator,
    "cgan_d": cgan_discriminator,
    "fcn_resnet34": fcn_resnet34,
    "spade": SPADEGenerator,
    "multiscale_patchgan": MultiscaleDiscriminator,
}

# configuration name → (generator, discriminator) model names.
GAN_PAIRS: dict[str, tuple[str, str]] = {
    "pix2pix": ("unet_256", "patchgan"),  # the paper's setup: U-Net G, 70×70 PatchGAN D
    "cgan": ("cgan_g", "cgan_d"),  # seed 001's DCGAN-style conditional GAN
    "spade": ("spade", "multiscale_patchgan"),  # seed 003's label → photo synthesis
}


def list_models() -> list[str]:
    """The names ``create`` accepts, sorted."""
    return sorted(MODELS)


def model_options(name: str) -> dict[str, object]:
    """The options of model ``name`` with their defaults."""
    factory = _factory(name)
    return {
        p.name: p.default
        for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def create(name: str, **options: object) -> nn.Module:
    """Build model ``name`` with ``options`` (see ``model_options(name)``)."""
    factory = _factory(name)
    valid = model_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for model {name!r}; valid options: {', '.join(valid)}"
        )
    return factory(**options)


def create_pair(
    config: str,
    generator_options: dict[str, object] | None = None,
    discriminator_options: dict[str, object] | None = None,
) -> tuple[nn.Module, nn.Module]:
    """The (generator, discriminator) of a ``GAN_PAIRS`` configuration."""
    if config not in GAN_PAIRS:
        raise ValueError(
            f"unknown GAN configuration {config!r}; valid: {', '.join(sorted(GAN_PAIRS))}"
        )
    g_name, d_name = GAN_PAIRS[config]
    return (
        create(g_name, **(generator_options or {})),
        create(d_name, **(discriminator_options or {})),
    )


def _factory(name: str) -> Callable[..., nn.Module]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(list_models())}")
    return MODELS[name]


__all__ = [
    "GAN_PAIRS",
    "MODELS",
    "CGANDiscriminator",
    "CGANGenerator",
    "FCNResNet34",
    "MultiscaleDiscriminator",
    "NLayerDiscriminator",
    "PixelDiscriminator",
    "ResNetBackbone",
    "ResnetGenerator",
    "SPADEGenerator",
    "UNet",
    "UnetGenerator",
    "create",
    "create_pair",
    "init_weights",
    "list_models",
    "model_options",
    "patchgan_receptive_field",
    "set_inference_mode",
    "to_instance_norm",
]
