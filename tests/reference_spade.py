"""The NVlabs SPADE generator and discriminator, rebuilt from their published architecture.

A test oracle independent of fastpix: plain torch layers (``nn.BatchNorm2d`` /
``nn.InstanceNorm2d`` without affine, ``torch.nn.utils.spectral_norm``, ``nn.Upsample``,
separate activations) arranged and named as the NVlabs networks are, so their state dicts
carry the keys of NVlabs checkpoints. Facts used (SPADE paper, appendix A, and the NVlabs
repository's option defaults):

- ``norm_G`` is ``[spectral]spade<norm><k>x<k>``: spectral norm on every residual-block conv;
  ``syncbatch``/``batch``/``instance`` parameter-free norm; k×k SPADE convs.
- SPADE: norm(x)·(1 + γ) + β; γ, β from the map resized (nearest) to x: a shared k×k conv to
  128 channels + ReLU (``mlp_shared``), then one k×k conv each (``mlp_gamma``, ``mlp_beta``).
- Residual block fin → fout: fmid = min(fin, fout); ``conv_0`` (3×3 fin → fmid) after
  LeakyReLU(0.2) of ``norm_0``; ``conv_1`` (3×3 fmid → fout) after LeakyReLU of ``norm_1``;
  when fin ≠ fout, a shortcut ``conv_s`` (1×1, no bias) of ``norm_s`` (no activation).
- Generator: (sh, sw) = (round(sw / aspect_ratio), crop_size // 2**u), u = 5/6/7 for
  normal/more/most; ``fc`` 3×3 conv of the map resized to (sh, sw) → 16·ngf; blocks head_0,
  G_middle_0, G_middle_1 (16·ngf), up_0..up_3 (8, 4, 2, 1·ngf), up_4 (ngf/2, "most"); ×2
  nearest upsampling before G_middle_0, before G_middle_1 (more/most), before each up_i;
  then LeakyReLU(0.2), ``conv_img`` (3×3 → 3), tanh.
- Discriminator: ``num_D`` scales ``discriminator_i``, each the input avg-pooled (3, 2, 1,
  padding excluded) i times; per scale ``model0`` 4×4/2 conv (pad 2) + LeakyReLU, then
  ``model1..model{n-1}``: spectral-norm 4×4 conv (stride 2, the last stride 1; channels
  doubling up to 512; bias removed) + instance norm, nested as ``(conv, norm)`` in its own
  Sequential, + LeakyReLU; ``model{n}`` 4×4/1 conv to 1 channel; every stage's output returned.
- Init: xavier normal, gain 0.02, biases 0.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}


def parse_norm_g(norm_g: str) -> tuple[bool, str, int]:
    """``"spectralspadesyncbatch3x3"`` → (spectral, "syncbatch", 3)."""
    match = re.fullmatch(r"(spectral)?spade([a-z]+)(\d)x\d", norm_g)
    assert match, norm_g
    return bool(match.group(1)), match.group(2), int(match.group(3))


def param_free_norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    assert kind in ("batch", "syncbatch")  # one process: sync batch norm is batch norm
    return nn.BatchNorm2d(channels, affine=False)


class SPADE(nn.Module):
    def __init__(self, kind: str, ks: int, norm_nc: int, label_nc: int) -> None:
        super().__init__()
        self.param_free_norm = param_free_norm(kind, norm_nc)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, 128, ks, padding=ks // 2), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(128, norm_nc, ks, padding=ks // 2)
        self.mlp_beta = nn.Conv2d(128, norm_nc, ks, padding=ks // 2)

    def forward(self, x, seg):
        seg = F.interpolate(seg, size=tuple(x.shape[2:]), mode="nearest")
        hidden = self.mlp_shared(seg)
        return self.param_free_norm(x) * (self.mlp_gamma(hidden) + 1) + self.mlp_beta(hidden)


class SPADEResnetBlock(nn.Module):
    def __init__(self, fin: int, fout: int, norm_g: str, semantic_nc: int) -> None:
        super().__init__()
        spectral, kind, ks = parse_norm_g(norm_g)
        wrap = spectral_norm if spectral else (lambda m: m)
        self.learned_shortcut = fin != fout
        mid = min(fin, fout)
        self.conv_0 = wrap(nn.Conv2d(fin, mid, kernel_size=3, padding=1))
        self.conv_1 = wrap(nn.Conv2d(mid, fout, kernel_size=3, padding=1))
        if self.learned_shortcut:
            self.conv_s = wrap(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
        self.norm_0 = SPADE(kind, ks, fin, semantic_nc)
        self.norm_1 = SPADE(kind, ks, mid, semantic_nc)
        if self.learned_shortcut:
            self.norm_s = SPADE(kind, ks, fin, semantic_nc)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x, seg):
        skip = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        h = self.conv_0(self.act(self.norm_0(x, seg)))
        h = self.conv_1(self.act(self.norm_1(h, seg)))
        return skip + h


def init_xavier(model: nn.Module, gain: float = 0.02) -> nn.Module:
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class SPADEGenerator(nn.Module):
    def __init__(
        self,
        semantic_nc: int,
        ngf: int = 64,
        num_upsampling_layers: str = "normal",
        norm_g: str = "spectralspadesyncbatch3x3",
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
    ) -> None:
        super().__init__()
        self.mode = num_upsampling_layers
        self.sw = crop_size // 2 ** UPSAMPLINGS[num_upsampling_layers]
        self.sh = round(self.sw / aspect_ratio)
        widths = [16 * ngf] * 4 + [8 * ngf, 4 * ngf, 2 * ngf, ngf]
        self.fc = nn.Conv2d(semantic_nc, 16 * ngf, 3, padding=1)
        names = ["head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3"]
        for name, fin, fout in zip(names, widths[:-1], widths[1:]):
            setattr(self, name, SPADEResnetBlock(fin, fout, norm_g, semantic_nc))
        last = ngf
        if num_upsampling_layers == "most":
            self.up_4 = SPADEResnetBlock(ngf, ngf // 2, norm_g, semantic_nc)
            last = ngf // 2
        self.conv_img = nn.Conv2d(last, 3, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)
        init_xavier(self)

    def forward(self, seg):
        x = self.fc(F.interpolate(seg, size=(self.sh, self.sw)))
        x = self.head_0(x, seg)
        x = self.G_middle_0(self.up(x), seg)
        if self.mode in ("more", "most"):
            x = self.up(x)
        x = self.G_middle_1(x, seg)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = block(self.up(x), seg)
        if self.mode == "most":
            x = self.up_4(self.up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


def _norm_d_layer(conv: nn.Conv2d, norm_d: str) -> nn.Module:
    """NVlabs' non-SPADE norm wrapper: spectral norm, then (bias dropped) instance norm."""
    if norm_d.startswith("spectral"):
        conv = spectral_norm(conv)
        norm_d = norm_d[len("spectral") :]
    if norm_d in ("", "none"):
        return conv
    del conv.bias
    conv.register_parameter("bias", None)
    assert norm_d == "instance"
    return nn.Sequential(conv, nn.InstanceNorm2d(conv.out_channels, affine=False))


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, norm_d="spectralinstance"):
        super().__init__()
        stages = [[nn.Conv2d(input_nc, ndf, 4, 2, 2), nn.LeakyReLU(0.2)]]
        nf = ndf
        for n in range(1, n_layers):
            prev, nf = nf, min(nf * 2, 512)
            conv = nn.Conv2d(prev, nf, 4, 1 if n == n_layers - 1 else 2, 2)
            stages.append([_norm_d_layer(conv, norm_d), nn.LeakyReLU(0.2)])
        stages.append([nn.Conv2d(nf, 1, 4, 1, 2)])
        for n, layers in enumerate(stages):
            self.add_module(f"model{n}", nn.Sequential(*layers))

    def forward(self, x):
        outputs = []
        for stage in self.children():
            x = stage(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, num_d: int = 2):
        super().__init__()
        for i in range(num_d):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(input_nc, ndf, n_layers))
        init_xavier(self)

    def forward(self, x):
        results = []
        for d in self.children():
            results.append(d(x))
            x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
        return results


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and buffer random values (running variances positive), so that
    a wrong mapping cannot go unnoticed; the spectral-norm vectors u, v get two power
    iterations from a random start on their weight, as in training (σ = uᵀWv > 0, not exactly
    the largest singular value)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if name.endswith("num_batches_tracked"):
                tensor.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
            elif name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
        for module in model.modules():
            if hasattr(module, "weight_orig"):
                matrix = module.weight_orig.reshape(module.weight_orig.shape[0], -1)
                v = torch.randn(matrix.shape[1], generator=gen)
                for _ in range(2):
                    u = F.normalize(matrix @ v, dim=0)
                    v = F.normalize(matrix.t() @ u, dim=0)
                module.weight_u.copy_(u)
                module.weight_v.copy_(v)
    return model
