"""ResNet-34 written in fastpix, and the fully convolutional segmenter of seed 003 built on it.

``ResNetBackbone`` is torchvision's ``resnet34`` without the average pool and the classifier:
same modules, same state-dict keys (``conv1``, ``bn1``, ``layer1.0.conv1`` …
``layer4.2.bn2``, ``layerN.0.downsample.0/1``), so an ImageNet ``resnet34`` ``.pth`` saved by
torchvision loads into it (``load_torchvision_weights``, ``fc.*`` ignored). Batch norms that
precede a ReLU are fused with it (``fastpix.nn.BatchNormAct2d``, same keys).

``FCNResNet34`` (seed 003): the backbone (stride 32, 512 channels) → 1×1 conv classifier →
one ConvTranspose2d that upsamples ×32 back to the input size, initialized to bilinear
interpolation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fastpix.models.layers import norm_act
from fastpix.models.state_dict import StateDictSource, load_torchvision_state

RESNET34_LAYERS = (3, 4, 6, 3)
STRIDE = 32
# torchvision's ImageNet preprocessing, applied inside FCNResNet34 to its [-1, 1] input.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BasicBlock(nn.Module):
    """torchvision's ``BasicBlock``: two 3×3 convs with batch norm, identity or 1×1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = norm_act("batch", out_channels, "relu")
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = norm_act("batch", out_channels, None)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                norm_act("batch", out_channels, None),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))) + shortcut)


class ResNetBackbone(nn.Module):
    """ResNet with basic blocks, up to ``layer4`` (no pooling, no classifier).

    ``layers=(3, 4, 6, 3)`` is ResNet-34 (21,284,672 parameters).
    Input: N×3×H×W float, ImageNet-normalized for ImageNet weights. Output: N×512×⌈H/32⌉×⌈W/32⌉.
    """

    def __init__(self, layers: tuple[int, ...] = RESNET34_LAYERS) -> None:
        super().__init__()
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be four block counts >= 1, got {layers}")
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = norm_act("batch", 64, "relu")
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = (64, 128, 256, 512)
        in_channels = 64
        for index, (blocks, width) in enumerate(zip(layers, widths)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(in_channels, width, stride)]
            stage += [BasicBlock(width, width, 1) for _ in range(blocks - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
            in_channels = width
        self.out_channels = in_channels
        for module in self.modules():
            if isinstance(module, nn.Conv2d):  # torchvision's init
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def load_torchvision_weights(backbone: ResNetBackbone, source: StateDictSource) -> ResNetBackbone:
    """Load a torchvision ``resnet34`` state dict (a ``.pth`` path or a dict) into ``backbone``.

    ``fc.weight`` / ``fc.bias`` are ignored; every other key must be present with its shape.
    The file is read with ``torch.load(weights_only=True)``.
    """
    return load_torchvision_state(backbone, source, "resnet34", "fc.")


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """channels×channels×k×k ConvTranspose2d weight that upsamples each channel bilinearly
    (factor ``(k + 1) // 2``) and does not mix channels."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(kernel_size, dtype=torch.float64) - center).abs() / factor
    weight = torch.zeros(channels, channels, kernel_size, kernel_size, dtype=torch.float64)
    weight[range(channels), range(channels)] = torch.outer(taps, taps)
    return weight.float()


class FCNResNet34(nn.Module):
    """Seed 003's segmenter: ResNet-34 with avgpool/fc replaced by a 1×1 conv classifier and a
    transposed conv upsampling ×32 to full resolution.

    Input: N×3×H×W RGB in [-1, 1] (the fastpix convention); it is mapped to torchvision's
    ImageNet normalization inside, so ImageNet weights see what they were trained on. Any
    H, W >= 32. Output: N×num_classes×H×W logits (train with cross-entropy).

    The upsampler is ConvTranspose2d(k=64, s=32) initialized to bilinear interpolation, with
    padding 31 and output padding 30 so each stride-32 feature lands on the pixel it is centred
    on (feature j covers pixels around 32·j); its output is cropped to H×W.
    """

    def __init__(self, num_classes: int = 19) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.backbone = ResNetBackbone(RESNET34_LAYERS)
        self.classifier = nn.Conv2d(self.backbone.out_channels, num_classes, 1)
        self.upsample = nn.ConvTranspose2d(
            num_classes,
            num_classes,
            2 * STRIDE,
            STRIDE,
            padding=STRIDE - 1,
            output_padding=STRIDE - 2,
            bias=False,
        )
        with torch.no_grad():
            self.upsample.weight.copy_(bilinear_kernel(num_classes, 2 * STRIDE))
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        # [-1, 1] → [0, 1] → ImageNet statistics, as one per-channel affine map.
        self.register_buffer("input_scale", (0.5 / std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", ((0.5 - mean) / std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"FCNResNet34 expects an N×3×H×W tensor, got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        if height < STRIDE or width < STRIDE:
            raise ValueError(f"FCNResNet34 needs inputs of at least 32×32, got {height}×{width}")
        features = self.backbone(x * self.input_scale + self.input_shift)
        return self.upsample(self.classifier(features))[..., :height, :width]


def fcn_resnet34(num_classes: int = 19, pretrained_backbone: str | None = None) -> FCNResNet34:
    """``FCNResNet34``; ``pretrained_backbone`` is a local torchvision ``resnet34`` ``.pth``
    (ImageNet weights) loaded into the backbone, ``fc.*`` ignored."""
    model = FCNResNet34(num_classes)
    if pretrained_backbone is not None:
        load_torchvision_weights(model.backbone, pretrained_backbone)
    return model
