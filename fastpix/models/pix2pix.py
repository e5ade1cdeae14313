"""The pix2pix networks: U-Net and ResNet generators, PatchGAN and pixel discriminators.

Architectures, channel widths, bias rule and init are those of the official implementation
(pytorch-CycleGAN-and-pix2pix ``models/networks.py``, see ``shared/reference/pix2pix.md``);
``fastpix.compat.pix2pix`` loads its checkpoints into these classes and exports them back.

The module structure is fastpix's own: an explicit encoder/decoder where each normalization is
fused with the activation that follows it (``fastpix.nn``). The reference U-Net applies
LeakyReLU in place at the start of each inner block, so the skip half of every concatenation
holds ``leaky_relu(x)``, and the parent's ReLU then acts on the concatenation. Here each encoder
stage ends in LeakyReLU and the decoder applies ``relu`` to the skip before concatenating:
``relu(leaky_relu(x)) == relu(x)`` exactly, so outputs equal the reference formulation.

Inference modes (paper §3.3, reference ``test.py``): ``set_inference_mode(model, "eval")`` uses
the running statistics and no dropout; ``"paper"`` normalizes with the statistics of the batch
it is given (at batch 1: instance normalization with the batch-norm affine) and keeps dropout
only when asked. ``to_instance_norm`` turns a network into the deterministic instance-norm
network that paper mode at batch 1 computes.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from fastpix.models.layers import activation_module, check_norm, norm_act
from fastpix.models.weight_init import init_weights
from fastpix.nn import InstanceNormAct2d

INFERENCE_MODES = ("eval", "paper", "train")


def _conv_bias(norm: str) -> bool:
    # Reference rule: convs followed by a norm have a bias only under instance norm (which has
    # no affine); with norm="none" the reference also drops it.
    return norm == "instance"


def _stage(conv: nn.Module, norm_act_layer: nn.Module, dropout: float = 0.0) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(conv=conv, norm_act=norm_act_layer)
    if dropout > 0.0:
        # A separate module (not the fused layer's dropout) so that inference modes can switch
        # dropout independently of batch statistics.
        layers["dropout"] = nn.Dropout(dropout)
    return nn.Sequential(layers)


def _check_size(x: torch.Tensor, multiple: int, minimum: int, who: str) -> None:
    height, width = x.shape[-2:]
    if height % multiple or width % multiple or height < minimum or width < minimum:
        divisible = f"divisible by {multiple} and " if multiple > 1 else ""
        raise ValueError(
            f"{who} needs height and width {divisible}at least {minimum}, got {height}×{width}"
        )


def _check_channels(x: torch.Tensor, channels: int, who: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{who} expects an N×{channels}×H×W tensor, got shape {tuple(x.shape)}")


# --------------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------------


class UnetGenerator(nn.Module):
    """pix2pix U-Net generator with ``num_downs`` 4×4 stride-2 downsamplings.

    Level i (0 = outermost) has ``min(2**i, 8) * ngf`` inner channels. Encoder: conv (no norm
    at level 0 and at the innermost level) → norm → LeakyReLU(0.2). Decoder: ConvTranspose2d
    4×4 stride 2 on ``cat(relu(skip), up)`` → norm → ReLU, with Dropout(0.5) on levels
    4..num_downs-2 when ``use_dropout``; the outermost one has a bias and ends in tanh.
    ``num_downs=8`` is the reference ``unet_256``, 7 is ``unet_128``.

    Input: N×input_nc×H×W float, H and W divisible by ``2**num_downs`` (pix2pix feeds images
    normalized to [-1, 1]). Output: N×output_nc×H×W float in [-1, 1].
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        check_norm(norm)
        if num_downs < 5:
            raise ValueError(f"UnetGenerator needs num_downs >= 5, got {num_downs}")
        self.input_nc, self.output_nc, self.num_downs = input_nc, output_nc, num_downs
        self.ngf, self.norm, self.use_dropout = ngf, norm, use_dropout
        bias = _conv_bias(norm)
        inner = [min(2**level, 8) * ngf for level in range(num_downs)]
        outer = [input_nc, *inner[:-1]]  # encoder input channels per level
        innermost = num_downs - 1

        encoder = []
        for level in range(num_downs):
            conv = nn.Conv2d(outer[level], inner[level], 4, 2, 1, bias=bias)
            if level == 0:
                act = activation_module("leaky_relu")
            elif level == innermost:
                # The innermost output is the 1×1 bottleneck: no norm, and it only feeds the
                # decoder, which starts with ReLU.
                act = activation_module("relu")
            else:
                act = norm_act(norm, inner[level], "leaky_relu")
            encoder.append(_stage(conv, act))
        self.encoder = nn.ModuleList(encoder)

        decoder = []
        for level in range(num_downs):
            in_channels = inner[level] if level == innermost else 2 * inner[level]
            if level == 0:
                conv = nn.ConvTranspose2d(in_channels, output_nc, 4, 2, 1, bias=True)
                decoder.append(_stage(conv, activation_module("tanh")))
                continue
            conv = nn.ConvTranspose2d(in_channels, outer[level], 4, 2, 1, bias=bias)
            dropout = 0.5 if use_dropout and 4 <= level < innermost else 0.0
            decoder.append(_stage(conv, norm_act(norm, outer[level], "relu"), dropout))
        self.decoder = nn.ModuleList(decoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_channels(x, self.input_nc, "UnetGenerator")
        side = 2**self.num_downs
        _check_size(x, side, side, f"UnetGenerator(num_downs={self.num_downs})")
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = self.decoder[-1](skips.pop())
        for level in range(self.num_downs - 2, -1, -1):
            x = self.decoder[level](torch.cat([F.relu(skips.pop()), x], 1))
        return x


class ResnetBlock(nn.Module):
    """Residual block: ``x + norm(conv(dropout(norm_act(conv(x)))))`` with 3×3 convs."""

    def __init__(
        self, channels: int, norm: str, use_dropout: bool, bias: bool, padding_mode: str
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=bias, padding_mode=padding_mode)
        self.norm_act1 = norm_act(norm, channels, "relu")
        self.dropout = nn.Dropout(0.5) if use_dropout else nn.Identity()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=bias, padding_mode=padding_mode)
        self.norm2 = norm_act(norm, channels, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm2(self.conv2(self.dropout(self.norm_act1(self.conv1(x)))))


_PADDING_MODES = {"reflect": "reflect", "replicate": "replicate", "zero": "zeros"}


class ResnetGenerator(nn.Module):
    """pix2pix / CycleGAN ResNet generator (Johnson et al.).

    7×7 conv (ngf) → two 3×3 stride-2 convs (2ngf, 4ngf) → ``n_blocks`` residual blocks →
    two 3×3 stride-2 transposed convs → 7×7 conv (output_nc, with bias) → tanh; every conv but
    the last is followed by norm + ReLU. Padding of the 7×7 and 3×3 convs is ``padding_type``
    (reflect, as the reference).

    Input: N×input_nc×H×W float, H and W divisible by 4 (pix2pix feeds [-1, 1]).
    Output: N×output_nc×H×W float in [-1, 1].
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = False,
        n_blocks: int = 9,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__()
        check_norm(norm)
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        if padding_type not in _PADDING_MODES:
            raise ValueError(
                f"unknown padding_type {padding_type!r}; expected one of: "
                + ", ".join(map(repr, _PADDING_MODES))
            )
        self.input_nc, self.output_nc, self.ngf, self.norm = input_nc, output_nc, ngf, norm
        self.use_dropout, self.n_blocks, self.padding_type = use_dropout, n_blocks, padding_type
        bias = _conv_bias(norm)
        pad = _PADDING_MODES[padding_type]

        self.stem = _stage(
            nn.Conv2d(input_nc, ngf, 7, 1, 3, bias=bias, padding_mode=pad),
            norm_act(norm, ngf, "relu"),
        )
        self.downsample = nn.Sequential(
            *(
                _stage(
                    nn.Conv2d(ngf * 2**i, ngf * 2 ** (i + 1), 3, 2, 1, bias=bias),
                    norm_act(norm, ngf * 2 ** (i + 1), "relu"),
                )
                for i in range(2)
            )
        )
        self.blocks = nn.Sequential(
            *(ResnetBlock(ngf * 4, norm, use_dropout, bias, pad) for _ in range(n_blocks))
        )
        self.upsample = nn.Sequential(
            *(
                _stage(
                    nn.ConvTranspose2d(
                        ngf * 2 ** (2 - i), ngf * 2 ** (1 - i), 3, 2, 1, output_padding=1, bias=bias
                    ),
                    norm_act(norm, ngf * 2 ** (1 - i), "relu"),
                )
                for i in range(2)
            )
        )
        self.head = _stage(
            nn.Conv2d(ngf, output_nc, 7, 1, 3, bias=True, padding_mode=pad),
            activation_module("tanh"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_channels(x, self.input_nc, "ResnetGenerator")
        # the residual blocks reflect-pad by 1, which needs at least 2 pixels at 1/4 size
        _check_size(x, 4, 8, "ResnetGenerator")
        return self.head(self.upsample(self.blocks(self.downsample(self.stem(x)))))


# --------------------------------------------------------------------------------------------
# Discriminators
# --------------------------------------------------------------------------------------------


def patchgan_receptive_field(n_layers: int) -> int:
    """Input patch side seen by one output of ``NLayerDiscriminator(n_layers)``: 70 for 3."""
    # Layers from the output back: 4×4 s1 head, 4×4 s1 conv, then max(n_layers, 1) 4×4 s2.
    field = 1
    for stride in [1, 1] + [2] * max(n_layers, 1):
        field = (field - 1) * stride + 4
    return field


class NLayerDiscriminator(nn.Module):
    """PatchGAN discriminator: one real/fake logit per overlapping input patch.

    4×4 conv stride 2 (ndf, bias, no norm) → LeakyReLU(0.2); ``n_layers - 1`` × [4×4 conv
    stride 2 → norm → LeakyReLU] with ``min(2**n, 8) * ndf`` channels; 4×4 conv stride 1 → norm
    → LeakyReLU; 4×4 conv stride 1 to one channel. No sigmoid: train with
    ``BCEWithLogitsLoss`` (pix2pix ``gan_mode=vanilla``) or MSE (lsgan).
    ``n_layers=3`` is the 70×70 ``basic`` PatchGAN; see ``patchgan_receptive_field``.
    ``n_layers=0`` behaves like 1 (receptive field 16) with ndf channels, as the reference.

    Input: N×input_nc×H×W float, the condition and the real or generated image concatenated
    on channels (``cat(A, B)``, 6 channels for RGB pairs). Output: N×1×h×w logits; 30×30 at
    256×256 for n_layers=3.
    """

    def __init__(
        self, input_nc: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"
    ) -> None:
        super().__init__()
        check_norm(norm)
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {n_layers}")
        self.input_nc, self.ndf, self.n_layers, self.norm = input_nc, ndf, n_layers, norm
        bias = _conv_bias(norm)

        stages = [_stage(nn.Conv2d(input_nc, ndf, 4, 2, 1), activation_module("leaky_relu"))]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            stages.append(
                _stage(
                    nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=bias),
                    norm_act(norm, ndf * mult, "leaky_relu"),
                )
            )
        prev, mult = mult, min(2**n_layers, 8)
        stages.append(
            _stage(
                nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias),
                norm_act(norm, ndf * mult, "leaky_relu"),
            )
        )
        self.features = nn.Sequential(*stages)
        self.head = nn.Conv2d(ndf * mult, 1, 4, 1, 1)
        # the two stride-1 4×4 convs need 3 pixels after the stride-2 ones
        self.min_input_size = 3 * 2 ** max(n_layers, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_channels(x, self.input_nc, "NLayerDiscriminator")
        _check_size(x, 1, self.min_input_size, f"NLayerDiscriminator(n_layers={self.n_layers})")
        return self.head(self.features(x))


class PixelDiscriminator(nn.Module):
    """1×1 PatchGAN ("PixelGAN"): one logit per pixel.

    1×1 conv (ndf, bias) → LeakyReLU(0.2) → 1×1 conv (2ndf) → norm → LeakyReLU → 1×1 conv to
    one channel (bias only under instance norm, as the reference).

    Input: N×input_nc×H×W float (``cat(A, B)``). Output: N×1×H×W logits.
    """

    def __init__(self, input_nc: int = 6, ndf: int = 64, norm: str = "batch") -> None:
        super().__init__()
        check_norm(norm)
        self.input_nc, self.ndf, self.norm = input_nc, ndf, norm
        bias = _conv_bias(norm)
        self.features = nn.Sequential(
            _stage(nn.Conv2d(input_nc, ndf, 1), activation_module("leaky_relu")),
            _stage(nn.Conv2d(ndf, 2 * ndf, 1, bias=bias), norm_act(norm, 2 * ndf, "leaky_relu")),
        )
        self.head = nn.Conv2d(2 * ndf, 1, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_channels(x, self.input_nc, "PixelDiscriminator")
        return self.head(self.features(x))


# --------------------------------------------------------------------------------------------
# Factories (the names of ``fastpix.models.create``), initialized as the reference does
# --------------------------------------------------------------------------------------------


def unet_128(
    input_nc: int = 3,
    output_nc: int = 3,
    ngf: int = 64,
    norm: str = "batch",
    use_dropout: bool = True,
    init_type: str = "normal",
    init_gain: float = 0.02,
) -> UnetGenerator:
    """Reference ``unet_128`` (7 downsamplings; H, W divisible by 128). Dropout on by default,
    as pix2pix training (``--no_dropout`` unset)."""
    net = UnetGenerator(input_nc, output_nc, 7, ngf, norm, use_dropout)
    return init_weights(net, init_type, init_gain)


def unet_256(
    input_nc: int = 3,
    output_nc: int = 3,
    ngf: int = 64,
    norm: str = "batch",
    use_dropout: bool = True,
    init_type: str = "normal",
    init_gain: float = 0.02,
) -> UnetGenerator:
    """Reference ``unet_256`` (8 downsamplings; H, W divisible by 256), the pix2pix default
    generator: 54,413,955 parameters with batch norm."""
    net = UnetGenerator(input_nc, output_nc, 8, ngf, norm, use_dropout)
    return init_weights(net, init_type, init_gain)


def resnet_6blocks(
    input_nc: int = 3,
    output_nc: int = 3,
    ngf: int = 64,
    norm: str = "batch",
    use_dropout: bool = False,
    padding_type: str = "reflect",
    init_type: str = "normal",
    init_gain: float = 0.02,
) -> ResnetGenerator:
    """Reference ``resnet_6blocks``. Dropout off by default (CycleGAN's default)."""
    net = ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, 6, padding_type)
    return init_weights(net, init_type, init_gain)


def resnet_9blocks(
    input_nc: int = 3,
    output_nc: int = 3,
    ngf: int = 64,
    norm: str = "batch",
    use_dropout: bool = False,
    padding_type: str = "reflect",
    init_type: str = "normal",
    init_gain: float = 0.02,
) -> ResnetGenerator:
    """Reference ``resnet_9blocks``. Dropout off by default (CycleGAN's default)."""
    net = ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, 9, padding_type)
    return init_weights(net, init_type, init_gain)


def patchgan(
    input_nc: int = 6,
    ndf: int = 64,
    n_layers: int = 3,
    norm: str = "batch",
    init_type: str = "normal",
    init_gain: float = 0.02,
) -> NLayerDiscriminator:
    """Reference ``basic`` (n_layers=3, 70×70) / ``n_layers`` PatchGAN discriminator."""
    net = NLayerDiscriminator(input_nc, ndf, n_layers, norm)
    return init_weights(net, init_type, init_gain)


def pixelgan(
    input_nc: int = 6,
    ndf: int = 64,
    norm: str = "batch",
    init_type: str = "normal",
    init_gain: float = 0.02,
) -> PixelDiscriminator:
    """Reference ``pixel`` discriminator (1×1 receptive field)."""
    net = PixelDiscriminator(input_nc, ndf, norm)
    return init_weights(net, init_type, init_gain)


# --------------------------------------------------------------------------------------------
# Inference modes
# --------------------------------------------------------------------------------------------

_SAVED_TRACKING = "_fastpix_track_running_stats"


def set_inference_mode(model: nn.Module, mode: str = "eval", dropout: bool = False) -> nn.Module:
    """Put ``model`` in one of the pix2pix inference modes (in place) and return it.

    eval: ``model.eval()``: batch norms use their running statistics, dropout is off. The
        reference's ``test.py --eval``; deterministic.
    paper: what the pix2pix paper (§3.3) and the reference ``test.py`` without ``--eval`` do:
        every batch norm normalizes with the statistics of the batch it is given (at batch 1
        this is instance normalization with the batch-norm affine), dropout is on only when
        ``dropout=True``. Unlike the reference, running statistics are not updated.
    train: back to training (``model.train()`` with running statistics tracked again). Use it,
        or "eval", to leave paper mode: plain ``model.train()`` does not undo it.
    """
    if mode not in INFERENCE_MODES:
        raise ValueError(
            f"unknown mode {mode!r}; expected one of: " + ", ".join(map(repr, INFERENCE_MODES))
        )
    if dropout and mode != "paper":
        raise ValueError(f"dropout=True only applies to mode='paper', not {mode!r}")
    model.train(mode == "train")
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            if hasattr(module, _SAVED_TRACKING):
                module.track_running_stats = getattr(module, _SAVED_TRACKING)
                delattr(module, _SAVED_TRACKING)
            if mode == "paper":
                if getattr(module, "dropout", 0.0) and not dropout:
                    raise ValueError(
                        f"{type(module).__name__} has dropout fused in; paper mode without "
                        "dropout needs the dropout as a separate module"
                    )
                setattr(module, _SAVED_TRACKING, module.track_running_stats)
                module.track_running_stats = False
                module.train()
        elif isinstance(module, nn.modules.dropout._DropoutNd) and mode == "paper":
            module.train(dropout)
    return model


def to_instance_norm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every batch norm replaced by an instance norm carrying its
    affine γ/β (``InstanceNormAct2d(affine=True)`` with the same activation).

    In eval mode the copy computes what ``set_inference_mode(model, "paper")`` computes at
    batch 1 without dropout, deterministically and for any batch size: the form to export for
    paper-mode deployment. The copy is in eval mode.
    """
    converted = copy.deepcopy(model)
    _replace_batch_norms(converted)
    return converted.eval()


def _replace_batch_norms(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            instance = InstanceNormAct2d(
                child.num_features,
                affine=child.affine,
                activation=getattr(child, "activation", None),
                negative_slope=getattr(child, "negative_slope", 0.2),
                eps=child.eps,
                dropout=getattr(child, "dropout", 0.0),
            )
            if child.affine:
                with torch.no_grad():
                    instance.weight.copy_(child.weight)
                    instance.bias.copy_(child.bias)
            like = child.weight if child.affine else child.running_mean
            if like is not None:
                instance = instance.to(device=like.device, dtype=like.dtype)
            setattr(module, name, instance)
        else:
            _replace_batch_norms(child)
