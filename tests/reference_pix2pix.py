"""The official pix2pix networks, rebuilt from the facts in shared/reference/pix2pix.md.

A test oracle, independent of fastpix: plain torch layers arranged in the reference's module
structure (recursive ``UnetSkipConnectionBlock`` with in-place activations, ``nn.Sequential``
PatchGAN, ``ResnetBlock`` with ``ReflectionPad2d``), so its state dicts carry exactly the key
names of checkpoints saved by the official code (``tests/data/*_state_dict_keys.txt``).
"""

from __future__ import annotations

import torch
from torch import nn


def norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "old_instance":  # older versions: instance norm that tracked running stats
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=True)
    assert norm == "none"
    return nn.Identity()


def uses_bias(norm: str) -> bool:
    return norm in ("instance", "old_instance")


class UnetSkipConnectionBlock(nn.Module):
    def __init__(
        self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False,
        innermost=False, norm="batch", use_dropout=False,
    ):  # fmt: skip
        super().__init__()
        self.outermost = outermost
        bias = uses_bias(norm)
        if input_nc is None:
            input_nc = outer_nc
        down_conv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        if outermost:
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv]
            layers += [nn.ReLU(True), up_conv, norm_layer(norm, outer_nc)]
        else:
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, norm_layer(norm, inner_nc), submodule]
            layers += [nn.ReLU(True), up_conv, norm_layer(norm, outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm="batch", use_dropout=False):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(
                ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout
            )
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(
            output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm
        )

    def forward(self, x):
        return self.model(x)


class ResnetBlock(nn.Module):
    def __init__(self, dim, norm, use_dropout):
        super().__init__()
        bias = uses_bias(norm)
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        layers.append(nn.ReLU(True))
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf=64, norm="batch", use_dropout=False, n_blocks=9):
        super().__init__()
        bias = uses_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias)]
        layers += [norm_layer(norm, ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias)]
            layers += [norm_layer(norm, 2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias)]
            layers += [norm_layer(norm, c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf=64, n_layers=3, norm="batch"):
        super().__init__()
        bias = uses_bias(norm)
        layers = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=bias)]
            layers += [norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias)]
        layers += [norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf=64, norm="batch"):
        super().__init__()
        bias = uses_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_layer(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x):
        return self.net(x)


def define_G(netG, input_nc=3, output_nc=3, ngf=64, norm="batch", use_dropout=True):
    if netG == "unet_256":
        return UnetGenerator(input_nc, output_nc, 8, ngf, norm, use_dropout)
    if netG == "unet_128":
        return UnetGenerator(input_nc, output_nc, 7, ngf, norm, use_dropout)
    if netG == "resnet_9blocks":
        return ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, 9)
    if netG == "resnet_6blocks":
        return ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, 6)
    raise ValueError(netG)


def define_D(netD, input_nc=6, ndf=64, n_layers=3, norm="batch"):
    if netD == "basic":
        return NLayerDiscriminator(input_nc, ndf, 3, norm)
    if netD == "n_layers":
        return NLayerDiscriminator(input_nc, ndf, n_layers, norm)
    if netD == "pixel":
        return PixelDiscriminator(input_nc, ndf, norm)
    raise ValueError(netD)


def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random norm parameters and statistics (conv weights are random from torch's default
    init already; norm layers start at γ=1, β=0, mean 0, var 1, which would hide mix-ups)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                tensor.fill_(7)
            elif name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=g) + 0.5)
            elif tensor.dim() == 1:  # biases, norm γ/β, running means
                offset = 1.0 if name.endswith("weight") else 0.0
                tensor.copy_(torch.randn(tensor.shape, generator=g) * 0.1 + offset)
    return net
