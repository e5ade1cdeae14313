"""The classic U-Net segmenter of seeds 001 and 004.

Four encoder stages of two 3×3 convs (each with bias, then batch norm + ReLU) followed by 2×2
max pooling, a double-conv bottleneck, four decoder stages of a 2×2 stride-2 transposed conv
whose output is concatenated with the encoder features of the same size (upsampled first, then
the skip, as seed 001) and a double conv, and a 1×1 conv head. Widths are ``base_channels``
times 1, 2, 4, 8 and 16 at the bottleneck (64 → 1024 in the seed).

``num_classes > 1``: one logit per class, train with cross-entropy (multi-class Cityscapes).
``num_classes = 1``: one logit per pixel, train with ``BCEWithLogitsLoss`` (seed 004's binary
road mask; seed 004 ends in a sigmoid, fastpix returns the logit).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fastpix.models.layers import norm_act

DEPTH = 4  # pooling steps: inputs must be divisible by 2**DEPTH


class DoubleConv(nn.Module):
    """3×3 conv → batch norm + ReLU → 3×3 conv → batch norm + ReLU (padding 1, size kept)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm_act1 = norm_act("batch", out_channels, "relu")
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm_act2 = norm_act("batch", out_channels, "relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm_act2(self.conv2(self.norm_act1(self.conv1(x))))


class UpStage(nn.Module):
    """2×2 stride-2 transposed conv, concatenation with the skip, double conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.upconv = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.conv = DoubleConv(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.upconv(x), skip], 1))


class UNet(nn.Module):
    """Seed U-Net for segmentation.

    Input: N×input_nc×H×W float, H and W divisible by 16 (seed 001 uses 256×256, seed 004
    128×128). Output: N×num_classes×H×W logits (N×1×H×W in binary mode, num_classes=1).

    Args:
        input_nc: input channels (3 for RGB).
        num_classes: classes to predict; 1 for a binary mask.
        base_channels: width of the first stage (64 in the seeds; smaller trains on a CPU).
    """

    def __init__(self, input_nc: int = 3, num_classes: int = 19, base_channels: int = 64) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if base_channels < 1:
            raise ValueError(f"base_channels must be >= 1, got {base_channels}")
        self.input_nc, self.num_classes, self.base_channels = input_nc, num_classes, base_channels
        widths = [base_channels * 2**i for i in range(DEPTH + 1)]
        self.encoder = nn.ModuleList(
            DoubleConv(c_in, c_out) for c_in, c_out in zip([input_nc, *widths[:-2]], widths[:-1])
        )
        self.bottleneck = DoubleConv(widths[-2], widths[-1])
        self.decoder = nn.ModuleList(
            UpStage(widths[i + 1], widths[i]) for i in reversed(range(DEPTH))
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.input_nc:
            raise ValueError(
                f"UNet expects an N×{self.input_nc}×H×W tensor, got shape {tuple(x.shape)}"
            )
        height, width = x.shape[-2:]
        if height % 2**DEPTH or width % 2**DEPTH:
            raise ValueError(
                f"UNet needs height and width divisible by {2**DEPTH}, got {height}×{width}"
            )
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for stage in self.decoder:
            x = stage(x, skips.pop())
        return self.head(x)
