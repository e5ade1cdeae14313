"""The baseline of ``fastpix bench train``: the pix2pix reference recipe in plain PyTorch.

What a user without fastpix would run (``shared/reference/pix2pix.md``): the recursive
``UnetSkipConnectionBlock`` U-Net and the basic 70×70 PatchGAN built from stock modules
(``nn.BatchNorm2d`` or ``nn.InstanceNorm2d``, in-place ``LeakyReLU``/``ReLU``, ``nn.Dropout``),
N(0, 0.02) init, Adam (2e-4, β 0.5/0.999), vanilla GAN loss (BCE with logits) + 100·L1, the D
loss halved, all in fp32 eager mode. The module structure is the reference's, so the state
dicts carry the official key names (and ``fastpix.compat.pix2pix`` loads them into fastpix's
networks: the benchmark's tests use that to check both sides compute the same function).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def reference_norm(norm: str, channels: int) -> nn.Module:
    """The reference ``get_norm_layer``: ``batch`` (affine, running stats) or ``instance``."""
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ValueError(f"norm must be 'batch' or 'instance', got {norm!r}")


class ReferenceUnetBlock(nn.Module):
    """One level of the reference U-Net: down-conv, the inner levels, up-conv, and the skip
    concatenation (``cat(x, block(x))``) everywhere but the outermost level."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        bias = norm == "instance"  # convs before a batch norm have no bias
        down = nn.Conv2d(input_nc or outer_nc, inner_nc, 4, 2, 1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, reference_norm(norm, outer_nc)]  # fmt: skip
        else:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, reference_norm(norm, inner_nc), submodule,
                      nn.ReLU(True), up, reference_norm(norm, outer_nc)]  # fmt: skip
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class ReferenceUnet(nn.Module):
    """The reference ``UnetGenerator``: ``num_downs=8`` is unet_256 (N×3×H×W in [-1, 1], H and
    W divisible by 256 → N×3×H×W in [-1, 1]); dropout on the three middle levels."""

    def __init__(self, num_downs: int = 8, ngf: int = 64, norm: str = "batch") -> None:
        super().__init__()
        block = ReferenceUnetBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = ReferenceUnetBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=True)  # fmt: skip
        for outer in (4, 2, 1):
            block = ReferenceUnetBlock(ngf * outer, ngf * outer * 2, submodule=block, norm=norm)
        self.model = ReferenceUnetBlock(3, ngf, input_nc=3, submodule=block, outermost=True, norm=norm)  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ReferencePatchGAN(nn.Module):
    """The reference basic ``NLayerDiscriminator`` (n_layers 3, 70×70 receptive field):
    N×6×256×256 → N×1×30×30 logits."""

    def __init__(self, ndf: int = 64, norm: str = "batch", input_nc: int = 6) -> None:
        super().__init__()
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for previous, mult, stride in ((1, 2, 2), (2, 4, 2), (4, 8, 1)):
            layers += [nn.Conv2d(ndf * previous, ndf * mult, 4, stride, 1, bias=bias),
                       reference_norm(norm, ndf * mult), nn.LeakyReLU(0.2, True)]  # fmt: skip
        layers.append(nn.Conv2d(ndf * 8, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_normal(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference ``init_weights('normal')``: conv weights N(0, gain), biases 0; batch-norm
    weights N(1, gain), biases 0."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return net


class ReferencePix2Pix:
    """The reference ``Pix2PixModel.optimize_parameters``: one D step then one G step.

    Args:
        ngf, ndf: generator / discriminator widths (64 in the reference).
        norm: ``batch`` (pix2pix's default) or ``instance``.
        device: where the networks live.
        num_downs: U-Net depth (8: unet_256; 7: unet_128).
    """

    def __init__(
        self,
        ngf: int = 64,
        ndf: int = 64,
        norm: str = "batch",
        device: str | torch.device = "cpu",
        num_downs: int = 8,
    ) -> None:
        self.generator = init_normal(ReferenceUnet(num_downs, ngf, norm)).to(device).train()
        self.discriminator = init_normal(ReferencePatchGAN(ndf, norm)).to(device).train()
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))  # fmt: skip
        self.lambda_l1 = 100.0

    @staticmethod
    def _gan_loss(prediction: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.ones_like(prediction) if real else torch.zeros_like(prediction)
        return F.binary_cross_entropy_with_logits(prediction, target)

    def _set_d_requires_grad(self, flag: bool) -> None:
        for parameter in self.discriminator.parameters():
            parameter.requires_grad_(flag)

    def step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """One training step on N×3×H×W float32 batches in [-1, 1]; returns the losses."""
        fake_b = self.generator(real_a)
        self._set_d_requires_grad(True)
        self.opt_d.zero_grad()
        loss_d_fake = self._gan_loss(self.discriminator(torch.cat([real_a, fake_b.detach()], 1)), False)  # fmt: skip
        loss_d_real = self._gan_loss(self.discriminator(torch.cat([real_a, real_b], 1)), True)
        loss_d = (loss_d_fake + loss_d_real) * 0.5
        loss_d.backward()
        self.opt_d.step()
        self._set_d_requires_grad(False)
        self.opt_g.zero_grad()
        loss_g_gan = self._gan_loss(self.discriminator(torch.cat([real_a, fake_b], 1)), True)
        loss_g_l1 = F.l1_loss(fake_b, real_b) * self.lambda_l1
        loss_g = loss_g_gan + loss_g_l1
        loss_g.backward()
        self.opt_g.step()
        return {"loss_D": loss_d.detach(), "loss_G": loss_g.detach()}
