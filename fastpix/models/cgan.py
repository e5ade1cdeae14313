"""Seed 001's conditional GAN: a DCGAN-style encoder-decoder generator and discriminator.

Generator: four 4×4 stride-2 convs (ngf, 2ngf, 4ngf, 8ngf; LeakyReLU(0.2), batch norm from the
second on) and a 4×4 valid conv to 16ngf, then a 4×4 valid transposed conv (16ngf) and four
4×4 stride-2 transposed convs (8ngf, 4ngf, 2ngf, output_nc), batch norm + ReLU after all but
the last, tanh at the end. No skip connections; no norm or activation between the encoder's
last conv and the decoder's first transposed conv (as in the seed). No conv has a bias.

Discriminator: the condition and the image concatenated on channels, four 4×4 stride-2 convs
(ndf … 8ndf; LeakyReLU(0.2), batch norm from the second on) and a 4×4 valid conv to one
channel. Deviation from the seed: the seed ends in a sigmoid and flattens the map to
(N·h·w)×1×1×1; fastpix returns the N×1×h×w logit map. Train with ``BCEWithLogitsLoss`` against
a target of the same shape, which is the seed's BCE averaged over the same patches.

Both are initialized as pix2pix/DCGAN (N(0, 0.02), batch-norm weights N(1, 0.02)) by the
factories ``cgan_generator`` / ``cgan_discriminator`` (the seed shows no init).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from fastpix.models.layers import activation_module, norm_act
from fastpix.models.weight_init import init_weights

MIN_SIZE = 64  # smallest input side: 16× downsampling leaves 4, the valid 4×4 conv leaves 1


def _check_input(x: torch.Tensor, channels: int, who: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{who} expects an N×{channels}×H×W tensor, got shape {tuple(x.shape)}")
    height, width = x.shape[-2:]
    if height % 16 or width % 16 or height < MIN_SIZE or width < MIN_SIZE:
        raise ValueError(
            f"{who} needs height and width divisible by 16 and at least {MIN_SIZE}, "
            f"got {height}×{width}"
        )


def _down(in_channels: int, out_channels: int, norm: bool) -> nn.Sequential:
    act = norm_act("batch", out_channels, "leaky_relu") if norm else activation_module("leaky_relu")
    return nn.Sequential(
        OrderedDict(conv=nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=False), norm_act=act)
    )


def _up(in_channels: int, out_channels: int, stride: int, padding: int) -> nn.Sequential:
    conv = nn.ConvTranspose2d(in_channels, out_channels, 4, stride, padding, bias=False)
    return nn.Sequential(OrderedDict(conv=conv, norm_act=norm_act("batch", out_channels, "relu")))


class CGANGenerator(nn.Module):
    """Seed 001's encoder-decoder generator.

    Input: N×input_nc×H×W float (normalized as the training data), H and W divisible by 16 and
    at least 64 (seed 001 trains at 256×256). Output: N×output_nc×H×W float in [-1, 1].
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64) -> None:
        super().__init__()
        self.input_nc, self.output_nc, self.ngf = input_nc, output_nc, ngf
        self.encoder = nn.Sequential(
            _down(input_nc, ngf, norm=False),
            _down(ngf, 2 * ngf, norm=True),
            _down(2 * ngf, 4 * ngf, norm=True),
            _down(4 * ngf, 8 * ngf, norm=True),
            nn.Conv2d(8 * ngf, 16 * ngf, 4, 1, 0, bias=False),
        )
        self.decoder = nn.Sequential(
            _up(16 * ngf, 16 * ngf, stride=1, padding=0),
            _up(16 * ngf, 8 * ngf, stride=2, padding=1),
            _up(8 * ngf, 4 * ngf, stride=2, padding=1),
            _up(4 * ngf, 2 * ngf, stride=2, padding=1),
            nn.ConvTranspose2d(2 * ngf, output_nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.input_nc, "CGANGenerator")
        return self.decoder(self.encoder(x))


class CGANDiscriminator(nn.Module):
    """Seed 001's conditional discriminator, returning logits.

    Input: N×input_nc×H×W float, ``cat(condition, image)`` on channels (6 for RGB pairs), H
    and W divisible by 16 and at least 64. Output: N×1×(H/16-3)×(W/16-3) logits (13×13 at
    256×256, 1×1 at 64×64).
    """

    def __init__(self, input_nc: int = 6, ndf: int = 64) -> None:
        super().__init__()
        self.input_nc, self.ndf = input_nc, ndf
        self.features = nn.Sequential(
            _down(input_nc, ndf, norm=False),
            _down(ndf, 2 * ndf, norm=True),
            _down(2 * ndf, 4 * ndf, norm=True),
            _down(4 * ndf, 8 * ndf, norm=True),
        )
        self.head = nn.Conv2d(8 * ndf, 1, 4, 1, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.input_nc, "CGANDiscriminator")
        return self.head(self.features(x))


def cgan_generator(
    input_nc: int = 3,
    output_nc: int = 3,
    ngf: int = 64,
    init_type: str = "normal",
    init_gain: float = 0.02,
) -> CGANGenerator:
    """Seed 001's CGAN generator, initialized N(0, init_gain)."""
    return init_weights(CGANGenerator(input_nc, output_nc, ngf), init_type, init_gain)


def cgan_discriminator(
    input_nc: int = 6,
    ndf: int = 64,
    init_type: str = "normal",
    init_gain: float = 0.02,
) -> CGANDiscriminator:
    """Seed 001's CGAN discriminator (logits), initialized N(0, init_gain)."""
    return init_weights(CGANDiscriminator(input_nc, ndf), init_type, init_gain)
