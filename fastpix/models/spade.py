"""SPADE (Park et al. 2019, "Semantic Image Synthesis with Spatially-Adaptive Normalization"):
the label → photo generator and its multi-scale PatchGAN discriminator.

The layout follows the public NVlabs implementation (``models/networks/generator.py``,
``architecture.py``, ``normalization.py``, ``discriminator.py``), module for module, so a
spectral-norm fastpix generator has exactly the state-dict keys of an NVlabs checkpoint
(``fastpix.compat.spade`` loads those):

- ``SPADE``: a parameter-free norm (``param_free_norm``: batch norm, NVlabs' ``syncbatch``, or
  instance norm), then ``x̂·(1 + γ) + β`` with γ, β computed from the segmentation map (resized
  to the activation's size, nearest) by ``mlp_shared`` (3×3 conv to 128 channels + ReLU),
  ``mlp_gamma`` and ``mlp_beta`` (3×3 convs). The norm, the modulation and the LeakyReLU that
  follows in the residual block run as one fused op, ``fastpix.nn.SpadeNormAct2d``.
- ``SPADEResnetBlock``: ``conv_1(act(norm_1(conv_0(act(norm_0(x))))))`` plus the shortcut,
  learned (``conv_s(norm_s(x))``, 1×1 without bias, no activation) when the channel count
  changes; the middle width is ``min(fin, fout)``. Spectral norm wraps conv_0, conv_1, conv_s
  (``torch.nn.utils.spectral_norm``: keys ``weight_orig``, ``weight_u``, ``weight_v``).
- ``SPADEGenerator``: ``fc`` (3×3 conv of the segmentation map downsampled to the latent grid,
  16·ngf channels), ``head_0``, ``G_middle_0``, ``G_middle_1`` (16·ngf), ``up_0`` … ``up_3``
  (8, 4, 2, 1 · ngf), ``up_4`` (ngf/2, only for ``"most"``), then LeakyReLU(0.2), ``conv_img``
  (3×3 to RGB) and tanh; nearest ×2 upsampling before G_middle_0, (G_middle_1 for ``"more"``
  and ``"most"``), up_0 … up_3 (and up_4). ``num_upsampling_layers`` ``normal`` / ``more`` /
  ``most`` is 5 / 6 / 7 upsamplings; ``normal`` and ``more`` have identical weights.
- ``MultiscaleDiscriminator``: ``num_D`` PatchGANs (``discriminator_i``) on the input and its
  3×3/2 average-pooled copies; each is ``n_layers`` 4×4 convs (padding 2, stride 2 except the
  last, ``min(2·nf, 512)`` channels, the first without norm; the others spectral-normed
  without bias, then instance norm) with LeakyReLU(0.2), and a 4×4 conv to one logit channel.
  It returns every layer's output for feature matching.

NVlabs' Cityscapes setting: ``ngf=64``, ``norm_G="spectralspadesyncbatch3x3"`` (spectral norm,
batch-norm statistics, 3×3 SPADE convs), ``label_nc=35`` label ids plus one instance-edge
channel (``contain_dontcare_label`` off: 36 input channels), ``crop_size=512``,
``aspect_ratio=2`` and ``num_upsampling_layers="more"`` (set by its Cityscapes data set), so a
4×8 latent grid grows to a 256×512 photo. NVlabs fixes the latent grid from ``crop_size`` and
``aspect_ratio``; here it is the input size / 2**upsamplings, which is the same grid at the
training size and lets one generator run at any multiple of 2**upsamplings.

Inputs are one-hot label maps (``one_hot_labels``), optionally with an instance-edge channel
(``instance_edges``); ``SPADEGenerator.label_input`` builds them from a class map.
Under DDP the batch-norm statistics are per process (NVlabs synchronizes them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import remove_spectral_norm, spectral_norm
from torch.nn.utils.spectral_norm import SpectralNorm

from fastpix.models.layers import activation_module
from fastpix.models.weight_init import init_weights
from fastpix.nn import InstanceNormAct2d, SpadeNormAct2d

UPSAMPLING_LAYERS = {"normal": 5, "more": 6, "most": 7}
SPADE_NORMS = ("batch", "instance")
SPADE_HIDDEN = 128  # width of mlp_shared; NVlabs hardcodes 128
NEGATIVE_SLOPE = 0.2
D_NORMS = ("instance", "none")


# --------------------------------------------------------------------------------------------
# Label maps → generator input
# --------------------------------------------------------------------------------------------


def one_hot_labels(
    classes: torch.Tensor,
    num_classes: int,
    contain_dontcare_label: bool = False,
    ignore_index: int = 255,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """One-hot label map, SPADE's semantic input.

    Args:
        classes: N×H×W (or N×1×H×W) integer class map with values in 0..num_classes-1 or
            ``ignore_index``.
        num_classes: K, SPADE's ``label_nc``.
        contain_dontcare_label: give ``ignore_index`` pixels their own channel K (NVlabs'
            ``--contain_dontcare_label``: K+1 channels); otherwise they are all-zero.

    Returns:
        N×K×H×W (or N×(K+1)×H×W) tensor of ``dtype`` on the input's device.
    """
    if classes.is_floating_point():
        raise TypeError(f"classes must be an integer class map, got {classes.dtype}")
    if classes.dim() == 4 and classes.shape[1] == 1:
        classes = classes[:, 0]
    if classes.dim() != 3:
        raise ValueError(f"classes must be N×H×W, got shape {tuple(classes.shape)}")
    classes = classes.long()
    ignored = classes == ignore_index
    bad = ~ignored & ((classes < 0) | (classes >= num_classes))
    if bool(bad.any()):
        value = int(classes[bad][0])
        raise ValueError(
            f"class map holds {value}, expected 0..{num_classes - 1} or the ignore index "
            f"{ignore_index}"
        )
    channels = num_classes + int(contain_dontcare_label)
    index = torch.where(ignored, torch.full_like(classes, num_classes), classes)
    # Scatter into one spare channel for ignored pixels, then drop it unless it is wanted.
    out = torch.zeros(
        classes.shape[0], num_classes + 1, *classes.shape[1:], dtype=dtype, device=classes.device
    )
    out.scatter_(1, index.unsqueeze(1), 1.0)
    return out[:, :channels]


def instance_edges(instances: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """N×1×H×W map that is 1 where a pixel differs from one of its 4 neighbours (NVlabs'
    ``get_edges``). ``instances``: N×H×W or N×1×H×W integer instance (or class) ids."""
    if instances.dim() == 3:
        instances = instances.unsqueeze(1)
    if instances.dim() != 4 or instances.shape[1] != 1:
        raise ValueError(f"instances must be N×H×W or N×1×H×W, got {tuple(instances.shape)}")
    edge = torch.zeros(instances.shape, dtype=torch.bool, device=instances.device)
    horizontal = instances[..., :, 1:] != instances[..., :, :-1]
    vertical = instances[..., 1:, :] != instances[..., :-1, :]
    edge[..., :, 1:] |= horizontal
    edge[..., :, :-1] |= horizontal
    edge[..., 1:, :] |= vertical
    edge[..., :-1, :] |= vertical
    return edge.to(dtype)


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------


class SPADE(nn.Module):
    """Spatially-adaptive normalization: ``act(norm(x)·(1 + γ(seg)) + β(seg))``.

    ``forward(x, seg)``: x N×C×H×W; seg N×S×h×w semantic map (resized to H×W, nearest, when
    its size differs). ``activation`` is "leaky_relu" (slope 0.2) for the residual path of
    ``SPADEResnetBlock`` and None for its shortcut.
    """

    def __init__(
        self,
        norm_nc: int,
        semantic_nc: int,
        norm: str = "batch",
        kernel_size: int = 3,
        activation: str | None = "leaky_relu",
        hidden: int = SPADE_HIDDEN,
    ) -> None:
        super().__init__()
        if norm not in SPADE_NORMS:
            raise ValueError(f"unknown SPADE norm {norm!r}; expected one of: batch, instance")
        pad = kernel_size // 2
        self.param_free_norm = SpadeNormAct2d(
            norm_nc, norm=norm, activation=activation, negative_slope=NEGATIVE_SLOPE
        )
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(semantic_nc, hidden, kernel_size, padding=pad), nn.ReLU()
        )
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        if seg.shape[-2:] != x.shape[-2:]:
            seg = F.interpolate(seg, size=x.shape[-2:], mode="nearest")
        hidden = self.mlp_shared(seg)
        gamma, beta = self.mlp_gamma(hidden), self.mlp_beta(hidden)
        return self.param_free_norm(x, gamma.to(x.dtype), beta.to(x.dtype))


class SPADEResnetBlock(nn.Module):
    """SPADE residual block (fin → fout channels); see the module docstring."""

    def __init__(
        self,
        fin: int,
        fout: int,
        semantic_nc: int,
        norm: str = "batch",
        use_spectral_norm: bool = True,
        kernel_size: int = 3,
        hidden: int = SPADE_HIDDEN,
    ) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = nn.Conv2d(fin, fmiddle, 3, padding=1)
        self.conv_1 = nn.Conv2d(fmiddle, fout, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(fin, fout, 1, bias=False)
        if use_spectral_norm:
            self.conv_0 = spectral_norm(self.conv_0)
            self.conv_1 = spectral_norm(self.conv_1)
            if self.learned_shortcut:
                self.conv_s = spectral_norm(self.conv_s)
        self.norm_0 = SPADE(fin, semantic_nc, norm, kernel_size, hidden=hidden)
        self.norm_1 = SPADE(fmiddle, semantic_nc, norm, kernel_size, hidden=hidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, semantic_nc, norm, kernel_size, activation=None, hidden=hidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(self.norm_0(x, seg))
        dx = self.conv_1(self.norm_1(dx, seg))
        return shortcut + dx


class SPADEGenerator(nn.Module):
    """SPADE generator: semantic map → photo.

    Args:
        label_nc: classes of the one-hot input (NVlabs ``label_nc``: 35 for Cityscapes label
            ids; 19 for fastpix trainIds).
        ngf: base width; blocks have 16, 16, 16, 8, 4, 2, 1 (, 1/2) × ngf channels.
        num_upsampling_layers: ``normal`` (5), ``more`` (6, NVlabs Cityscapes) or ``most`` (7).
        contain_dontcare_label: one extra channel for the ignore class (``one_hot_labels``).
        use_instance: one extra channel for instance edges (``instance_edges``; NVlabs uses
            them unless ``--no_instance``).
        norm: the parameter-free norm of every SPADE, ``batch`` or ``instance``.
        use_spectral_norm: spectral norm on the residual blocks' convs (NVlabs default);
            ``fold_spectral_norm`` turns it into plain weights for inference.
        spade_kernel: kernel size of the SPADE convs (3: NVlabs' ``3x3``).
        spade_hidden: width of each SPADE's shared conv (128 in NVlabs; smaller for small,
            fast generators).
        init_type, init_gain: NVlabs' ``--init_type xavier --init_variance 0.02``.

    Input: N×semantic_nc×H×W float (``semantic_nc = label_nc + contain_dontcare_label +
    use_instance``), H and W divisible by 2**upsamplings (32 / 64 / 128).
    Output: N×3×H×W float in [-1, 1].
    """

    def __init__(
        self,
        label_nc: int = 19,
        ngf: int = 64,
        num_upsampling_layers: str = "normal",
        contain_dontcare_label: bool = False,
        use_instance: bool = False,
        norm: str = "batch",
        use_spectral_norm: bool = True,
        spade_kernel: int = 3,
        spade_hidden: int = SPADE_HIDDEN,
        init_type: str = "xavier",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if num_upsampling_layers not in UPSAMPLING_LAYERS:
            raise ValueError(
                f"unknown num_upsampling_layers {num_upsampling_layers!r}; expected one of: "
                + ", ".join(UPSAMPLING_LAYERS)
            )
        if label_nc < 1 or ngf < 2:
            raise ValueError(f"need label_nc >= 1 and ngf >= 2, got {label_nc} and {ngf}")
        self.label_nc, self.ngf = label_nc, ngf
        self.num_upsampling_layers = num_upsampling_layers
        self.contain_dontcare_label, self.use_instance = contain_dontcare_label, use_instance
        self.norm, self.use_spectral_norm = norm, use_spectral_norm
        self.semantic_nc = label_nc + int(contain_dontcare_label) + int(use_instance)
        self.scale = 2 ** UPSAMPLING_LAYERS[num_upsampling_layers]

        def block(fin: int, fout: int) -> SPADEResnetBlock:
            return SPADEResnetBlock(
                fin, fout, self.semantic_nc, norm, use_spectral_norm, spade_kernel, spade_hidden
            )

        nf = ngf
        self.fc = nn.Conv2d(self.semantic_nc, 16 * nf, 3, padding=1)
        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final_nc = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)
        init_weights(self, init_type, init_gain)

    def _stages(self) -> list[tuple[bool, SPADEResnetBlock]]:
        """(upsample ×2 before it, block) in order."""
        more = self.num_upsampling_layers in ("more", "most")
        stages = [(False, self.head_0), (True, self.G_middle_0), (more, self.G_middle_1)]
        stages += [(True, self.up_0), (True, self.up_1), (True, self.up_2), (True, self.up_3)]
        if self.num_upsampling_layers == "most":
            stages.append((True, self.up_4))
        return stages

    def forward(self, seg: torch.Tensor) -> torch.Tensor:
        if seg.dim() != 4 or seg.shape[1] != self.semantic_nc:
            raise ValueError(
                f"SPADEGenerator expects an N×{self.semantic_nc}×H×W semantic map (one-hot "
                f"labels{' + dontcare' if self.contain_dontcare_label else ''}"
                f"{' + instance edges' if self.use_instance else ''}), got shape "
                f"{tuple(seg.shape)}"
            )
        height, width = seg.shape[-2:]
        if height % self.scale or width % self.scale:
            raise ValueError(
                f"SPADEGenerator({self.num_upsampling_layers!r}) needs height and width "
                f"divisible by {self.scale}, got {height}×{width}"
            )
        x = self.fc(F.interpolate(seg, size=(height // self.scale, width // self.scale)))
        for upsample, block in self._stages():
            if upsample:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            # Resize the map once per block; its SPADEs all work at this size.
            x = block(x, F.interpolate(seg, size=x.shape[-2:], mode="nearest"))
        return torch.tanh(self.conv_img(F.leaky_relu(x, NEGATIVE_SLOPE)))

    def label_input(
        self,
        classes: torch.Tensor,
        instances: torch.Tensor | None = None,
        ignore_index: int = 255,
    ) -> torch.Tensor:
        """The semantic map this generator takes, from an N×H×W class map: the one-hot labels
        (``one_hot_labels``), then the instance edges when ``use_instance`` — of
        ``instances`` when given, else of the class map itself (class boundaries: what a
        segmenter's prediction can offer; it marks no edge between touching objects of one
        class)."""
        seg = one_hot_labels(classes, self.label_nc, self.contain_dontcare_label, ignore_index)
        if self.use_instance:
            seg = torch.cat([seg, instance_edges(classes if instances is None else instances)], 1)
        return seg


def fold_spectral_norm(model: nn.Module) -> nn.Module:
    """Replace every spectral-norm reparametrization in ``model`` by its current weight
    ``W_orig / σ`` (σ = uᵀ W_orig v with the stored u, v: what eval mode computes), in place.
    A ``SPADEGenerator`` then reports ``use_spectral_norm=False``; returns ``model``."""
    for module in model.modules():
        if any(isinstance(hook, SpectralNorm) for hook in module._forward_pre_hooks.values()):
            remove_spectral_norm(module)
    for module in model.modules():
        if isinstance(module, (SPADEGenerator, MultiscaleDiscriminator)):
            module.use_spectral_norm = False
    return model


# --------------------------------------------------------------------------------------------
# Discriminator
# --------------------------------------------------------------------------------------------


class SpadePatchDiscriminator(nn.Module):
    """One scale of SPADE's discriminator (NVlabs ``NLayerDiscriminator``).

    ``model0``: 4×4 conv stride 2 (ndf, bias) → LeakyReLU(0.2); ``model1`` …
    ``model{n_layers-1}``: 4×4 conv (stride 2, the last stride 1; ``min(2·nf, 512)``
    channels; spectral norm; no bias before a norm) → instance norm → LeakyReLU(0.2);
    ``model{n_layers}``: 4×4 conv to 1 channel. All convs pad by 2.

    Input N×input_nc×H×W; returns the list of every stage's output, the logits last.
    """

    def __init__(
        self,
        input_nc: int,
        ndf: int = 64,
        n_layers: int = 4,
        norm: str = "instance",
        use_spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        if norm not in D_NORMS:
            raise ValueError(f"unknown norm {norm!r}; expected one of: instance, none")
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.input_nc = input_nc
        pad = 2  # ceil((4 - 1) / 2)
        stages = [
            nn.Sequential(nn.Conv2d(input_nc, ndf, 4, 2, pad), activation_module("leaky_relu"))
        ]
        nf = ndf
        for n in range(1, n_layers):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == n_layers - 1 else 2
            conv = nn.Conv2d(nf_prev, nf, 4, stride, pad, bias=norm == "none")
            if use_spectral_norm:
                conv = spectral_norm(conv)
            if norm == "none":
                stages.append(nn.Sequential(conv, activation_module("leaky_relu")))
            else:  # NVlabs nests (conv, norm) in its own Sequential: keys modelN.0.0.*
                norm_layer = InstanceNormAct2d(nf, activation="leaky_relu")
                stages.append(nn.Sequential(nn.Sequential(conv, norm_layer)))
        stages.append(nn.Sequential(nn.Conv2d(nf, 1, 4, 1, pad)))
        for index, stage in enumerate(stages):
            self.add_module(f"model{index}", stage)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for stage in self.children():
            x = stage(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    """SPADE's discriminator: ``num_D`` PatchGANs on the input, then on it average-pooled
    (3×3, stride 2, padding 1, padding not counted) once, twice, …

    Args:
        input_nc: semantic channels + 3 (the label map and the photo concatenated).
        ndf, n_layers, norm, use_spectral_norm: of each ``SpadePatchDiscriminator``
            (NVlabs ``--ndf 64 --n_layers_D 4 --norm_D spectralinstance``).
        num_D: scales (NVlabs ``--num_D 2``).

    Input: N×input_nc×H×W float. Output: a list per scale of the list of every stage's output
    (N×C×h×w; the last is the N×1×h×w logits), for the hinge loss and feature matching.
    """

    def __init__(
        self,
        input_nc: int = 22,
        ndf: int = 64,
        n_layers: int = 4,
        num_D: int = 2,
        norm: str = "instance",
        use_spectral_norm: bool = True,
        init_type: str = "xavier",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if num_D < 1:
            raise ValueError(f"num_D must be >= 1, got {num_D}")
        self.input_nc, self.num_D = input_nc, num_D
        self.use_spectral_norm = use_spectral_norm
        for index in range(num_D):
            self.add_module(
                f"discriminator_{index}",
                SpadePatchDiscriminator(input_nc, ndf, n_layers, norm, use_spectral_norm),
            )
        init_weights(self, init_type, init_gain)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        if x.dim() != 4 or x.shape[1] != self.input_nc:
            raise ValueError(
                f"MultiscaleDiscriminator expects an N×{self.input_nc}×H×W tensor (semantic "
                f"map + photo), got shape {tuple(x.shape)}"
            )
        results = []
        for index, discriminator in enumerate(self.children()):
            if index:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            results.append(discriminator(x))
        return results


__all__ = [
    "SPADE",
    "MultiscaleDiscriminator",
    "SPADEGenerator",
    "SPADEResnetBlock",
    "SpadePatchDiscriminator",
    "fold_spectral_norm",
    "instance_edges",
    "one_hot_labels",
]
