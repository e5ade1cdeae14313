"""fastpix.models: every registered model through one shared base, then per-family facts.

Parameter counts are checked against the reference table (shared/reference/pix2pix.md) or a
count written out by hand from the seed's layer list; full-size models are built on the meta
device (no memory, no init cost) and run forward only at small widths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fastpix.models as fm
from fastpix.models.resnet import ResNetBackbone, bilinear_kernel, load_torchvision_weights
from fastpix.nn import BatchNormAct2d


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def on_meta(name: str, **options) -> nn.Module:
    with torch.device("meta"):
        return fm.create(name, **options)


def _double_conv(c_in: int, c_out: int) -> int:
    # two 3×3 convs with bias, each followed by a batch norm (γ, β)
    return 9 * c_in * c_out + c_out + 2 * c_out + 9 * c_out * c_out + c_out + 2 * c_out


def _seed_unet_params(num_classes: int, base: int = 64, input_nc: int = 3) -> int:
    widths = [base * 2**i for i in range(5)]
    total = sum(_double_conv(a, b) for a, b in zip([input_nc, *widths[:3]], widths[:4]))
    total += _double_conv(widths[3], widths[4])
    for i in range(4):  # 2×2 transposed conv with bias, then a double conv on the concat
        total += 4 * widths[i + 1] * widths[i] + widths[i] + _double_conv(2 * widths[i], widths[i])
    return total + widths[0] * num_classes + num_classes


def _cgan_g_params(ngf: int = 64, nc: int = 3) -> int:
    convs = [(nc, ngf), (ngf, 2 * ngf), (2 * ngf, 4 * ngf), (4 * ngf, 8 * ngf), (8 * ngf, 16 * ngf)]
    ups = [(16 * ngf, 16 * ngf), (16 * ngf, 8 * ngf), (8 * ngf, 4 * ngf), (4 * ngf, 2 * ngf)]
    ups += [(2 * ngf, nc)]
    bn = 2 * (2 * ngf + 4 * ngf + 8 * ngf) + 2 * (16 * ngf + 8 * ngf + 4 * ngf + 2 * ngf)
    return sum(16 * a * b for a, b in convs + ups) + bn  # 4×4 kernels, no biases


def _spade_g_params(semantic_nc: int, ngf: int = 64) -> int:
    """SPADE generator ("normal"/"more"): the layer list of Park et al. 2019, appendix A."""

    def spade(c: int) -> int:  # shared 3×3 conv to 128 + ReLU, then 3×3 convs to γ and β
        return 9 * semantic_nc * 128 + 128 + 2 * (9 * 128 * c + c)

    def block(fin: int, fout: int) -> int:
        mid = min(fin, fout)
        total = 9 * fin * mid + mid + 9 * mid * fout + fout + spade(fin) + spade(mid)
        return total + (fin * fout + spade(fin) if fin != fout else 0)  # 1×1 shortcut

    widths = [16 * ngf] * 4 + [8 * ngf, 4 * ngf, 2 * ngf, ngf]
    total = 9 * semantic_nc * 16 * ngf + 16 * ngf + 9 * ngf * 3 + 3  # fc, conv_img
    return total + sum(block(a, b) for a, b in zip(widths[:-1], widths[1:]))


def _spade_d_params(input_nc: int, ndf: int = 64) -> int:
    # two scales of 4×4 convs: input → ndf (bias), doubling to 8·ndf (no bias), → 1 (bias)
    convs = [(input_nc, ndf), (ndf, 2 * ndf), (2 * ndf, 4 * ndf), (4 * ndf, 8 * ndf), (8 * ndf, 1)]
    return 2 * (sum(16 * a * b for a, b in convs) + ndf + 1)


def _spade_d_logits(outputs: list) -> torch.Tensor:
    """Every scale's logits (the last output of each), flattened side by side."""
    return torch.cat([scale[-1].flatten(1) for scale in outputs], 1)


# --------------------------------------------------------------------------------------------
# Shared base: every model states a narrow variant that runs fast on a CPU with its input and
# output shapes, an input it must reject, and the parameter count of a full-size
# configuration; the tests below run on each.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    small: dict  # options of the narrow variant
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    bad_shape: tuple[int, ...]  # must raise a ValueError that says what was expected
    full: dict  # options of the configuration whose parameter count is known
    full_params: int
    output: Callable | None = None  # the tensor to check, for models returning lists

    def make(self) -> nn.Module:
        torch.manual_seed(0)
        return fm.create(self.name, **self.small)

    def forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        return out if self.output is None else self.output(out)


CASES = [
    Case("unet_256", {"ngf": 4}, (1, 3, 256, 256), (1, 3, 256, 256), (1, 3, 256, 128),
         {"norm": "batch", "use_dropout": True}, 54_413_955),
    Case("unet_128", {"ngf": 4, "norm": "instance", "output_nc": 1},
         (2, 3, 128, 256), (2, 1, 128, 256), (1, 3, 100, 128), {"norm": "batch"}, 41_828_995),
    Case("resnet_9blocks", {"ngf": 4, "norm": "instance", "use_dropout": True},
         (1, 3, 32, 48), (1, 3, 32, 48), (1, 3, 30, 32), {"norm": "instance"}, 11_378_179),
    Case("resnet_6blocks", {"ngf": 4}, (2, 3, 32, 32), (2, 3, 32, 32), (1, 4, 32, 32),
         {"norm": "instance"}, 7_837_699),
    Case("patchgan", {"ndf": 4}, (1, 6, 256, 256), (1, 1, 30, 30), (1, 3, 256, 256),
         {}, 2_768_705),
    Case("pixelgan", {"ndf": 4}, (2, 6, 40, 24), (2, 1, 40, 24), (1, 3, 16, 16), {}, 9_024),
    # seed 001: multi-class; its own U-Net had 3 outputs
    Case("unet", {"num_classes": 19, "base_channels": 4}, (2, 3, 64, 96), (2, 19, 64, 96),
         (1, 3, 64, 72), {"num_classes": 3}, _seed_unet_params(3)),
    # seed 004: binary road mask at 128×128
    Case("unet", {"num_classes": 1, "base_channels": 4}, (2, 3, 128, 128), (2, 1, 128, 128),
         (1, 3, 120, 128), {"num_classes": 1}, _seed_unet_params(1)),
    Case("cgan_g", {"ngf": 4}, (1, 3, 256, 256), (1, 3, 256, 256), (1, 3, 48, 48),
         {}, _cgan_g_params()),
    Case("cgan_d", {"ndf": 4}, (2, 6, 256, 256), (2, 1, 13, 13), (1, 6, 80, 72), {},
         16 * (6 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 512) + 2 * (128 + 256 + 512)),
    # 70×50 is no multiple of 32: the upsampled map is cropped. Full size: torchvision
    # resnet34 without fc + 1×1 classifier + 64×64 transposed conv without bias.
    Case("fcn_resnet34", {"num_classes": 5}, (1, 3, 70, 50), (1, 5, 70, 50), (1, 3, 16, 64),
         {"num_classes": 19}, 21_284_672 + 512 * 19 + 19 + 19 * 19 * 64 * 64),
    # seed 003: NVlabs' Cityscapes generator (35 label ids + instance edges); multi-scale D
    Case("spade", {"label_nc": 5, "ngf": 4, "use_spectral_norm": False}, (1, 5, 32, 64),
         (1, 3, 32, 64), (1, 5, 48, 64),
         {"label_nc": 35, "use_instance": True, "num_upsampling_layers": "more"},
         _spade_g_params(36)),
    Case("multiscale_patchgan", {"input_nc": 8, "ndf": 4, "use_spectral_norm": False},
         (2, 8, 64, 64), (2, 11 * 11 + 7 * 7), (1, 7, 64, 64), {}, _spade_d_params(22),
         output=_spade_d_logits),
]  # fmt: skip
CASE_IDS = [f"{c.name}-{c.output_shape[1]}" for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_forward_shape_and_finite(case):
    model = case.make().eval()
    with torch.no_grad():
        out = case.forward(model, torch.randn(case.input_shape))
    assert out.shape == case.output_shape
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_backward_reaches_every_parameter(case):
    model = case.make().train()
    case.forward(model, torch.randn(case.input_shape)).square().mean().backward()
    for key, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), key
        # (a conv bias right before an instance norm gets no gradient: the norm removes
        # per-channel constants, so only weights are required to move)
        if key.endswith("weight"):
            assert param.grad.abs().sum() > 0, key


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_full_size_parameter_count(case):
    assert n_params(on_meta(case.name, **case.full)) == case.full_params


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_has_plain_torch_layer_keys(case):
    # Fused norm+activation layers keep the plain layers' state: only weight/bias and
    # batch-norm statistics appear, no fastpix-specific entry.
    allowed = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    for key in case.make().state_dict():
        assert key.rsplit(".", 1)[1] in allowed, key


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_rejects_bad_input(case):
    with pytest.raises(ValueError, match=r"(expects|needs) .*got"):
        case.make()(torch.randn(case.bad_shape))


def test_every_registered_model_has_a_test_case():
    assert {case.name for case in CASES} == set(fm.list_models())


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown model 'unet_512'") as err:
        fm.create("unet_512")
    for name in fm.list_models():
        assert name in str(err.value)


def test_unknown_option_lists_the_valid_options():
    with pytest.raises(ValueError, match="unknown option 'num_class' for model 'unet'") as err:
        fm.create("unet", num_class=3)
    assert "num_classes" in str(err.value) and "base_channels" in str(err.value)


def test_bad_option_values_are_named():
    with pytest.raises(ValueError, match="unknown norm 'group'"):
        fm.create("patchgan", norm="group")
    with pytest.raises(ValueError, match="unknown init_type 'uniform'"):
        fm.create("pixelgan", init_type="uniform")
    with pytest.raises(ValueError, match="num_downs >= 5"):
        fm.UnetGenerator(num_downs=4)


def test_model_options_use_reference_names():
    assert fm.model_options("unet_256")["norm"] == "batch"
    assert set(fm.model_options("patchgan")) >= {"input_nc", "ndf", "n_layers", "norm"}
    assert set(fm.model_options("resnet_9blocks")) >= {"ngf", "use_dropout", "output_nc"}
    assert fm.model_options("fcn_resnet34")["num_classes"] == 19


def test_gan_pairs():
    g, d = fm.create_pair("cgan", {"ngf": 4}, {"ndf": 4})
    assert isinstance(g, fm.CGANGenerator) and isinstance(d, fm.CGANDiscriminator)
    assert fm.GAN_PAIRS["pix2pix"] == ("unet_256", "patchgan")
    with pytest.raises(ValueError, match="valid: cgan, pix2pix"):
        fm.create_pair("cyclegan")


# --------------------------------------------------------------------------------------------
# pix2pix facts (shared/reference/pix2pix.md)
# --------------------------------------------------------------------------------------------


def _count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_unet_256_layer_and_key_counts():
    g = on_meta("unet_256", norm="batch", use_dropout=True)
    assert _count(g, nn.Conv2d) == 8 and _count(g, nn.ConvTranspose2d) == 8
    assert _count(g, nn.BatchNorm2d) == 13 and _count(g, nn.Dropout) == 3
    assert len(g.state_dict()) == 82
    assert sum(b.numel() for b in g.buffers()) == 9_869
    assert len(on_meta("unet_256", norm="instance").state_dict()) == 32
    assert n_params(on_meta("unet_256", norm="instance")) == 54_409_603
    g128 = on_meta("unet_128")
    assert len(g128.state_dict()) == 70 and _count(g128, nn.Dropout) == 2
    assert _count(g128, nn.BatchNorm2d) == 11


def test_norm_act_layers_are_the_fused_fastpix_ones():
    g = on_meta("unet_256")
    assert _count(g, BatchNormAct2d) == 13
    assert {m.activation for m in g.modules() if isinstance(m, BatchNormAct2d)} == {
        "leaky_relu",
        "relu",
    }


# n_layers → (parameters with batch norm, output side at 256×256, receptive field)
PATCHGAN_TABLE = {
    0: (72_897, 126, 16),
    1: (139_585, 126, 16),
    2: (666_433, 62, 34),
    3: (2_768_705, 30, 70),
    4: (6_964_033, 14, 142),
    5: (11_159_361, 6, 286),
}


@pytest.mark.parametrize("n_layers", sorted(PATCHGAN_TABLE))
def test_patchgan_table(n_layers):
    params, side, field = PATCHGAN_TABLE[n_layers]
    assert n_params(on_meta("patchgan", n_layers=n_layers)) == params
    assert fm.patchgan_receptive_field(n_layers) == field
    d = fm.create("patchgan", n_layers=n_layers, ndf=2).eval()
    with torch.no_grad():
        assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, side, side)


def test_patchgan_instance_norm_count():
    assert n_params(on_meta("patchgan", norm="instance")) == 2_767_809


@pytest.mark.parametrize("n_layers", [0, 2, 3, 5])
def test_patchgan_receptive_field_brute_force(n_layers):
    # The input region that influences one central output, found from its gradient.
    torch.manual_seed(n_layers)
    d = fm.create("patchgan", n_layers=n_layers, ndf=2, norm="none").double()
    x = torch.randn(1, 6, 384, 384, dtype=torch.float64, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3))).flatten()
    cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2))).flatten()
    assert rows.min() > 0 and rows.max() < 383  # not clipped by the border
    assert rows.max() - rows.min() + 1 == fm.patchgan_receptive_field(n_layers)
    assert cols.max() - cols.min() + 1 == fm.patchgan_receptive_field(n_layers)


def test_pixelgan_is_per_pixel():
    d = fm.create("pixelgan", ndf=4).eval()
    x = torch.randn(1, 6, 8, 8)
    y = x.clone()
    y[..., 3, 5] += 1.0
    with torch.no_grad():
        changed = (d(x) != d(y))[0, 0]
    assert changed.nonzero().tolist() == [[3, 5]]


def test_discriminators_return_unbounded_logits():
    torch.manual_seed(0)
    for name in ("patchgan", "pixelgan", "cgan_d"):
        d = fm.create(name, ndf=4, init_type="normal", init_gain=1.0).eval()
        with torch.no_grad():
            out = d(torch.randn(4, 6, 64, 64) * 4)
        assert out.min() < 0 or out.max() > 1, name  # a sigmoid would keep it in (0, 1)


def test_unet_generator_any_num_downs_and_tanh_range():
    g = fm.UnetGenerator(num_downs=6, ngf=4, use_dropout=True).eval()
    with torch.no_grad():
        out = g(torch.randn(1, 3, 64, 128) * 10)
    assert out.shape == (1, 3, 64, 128) and out.abs().max() <= 1
    assert _count(g, nn.Dropout) == 1  # levels 4..num_downs-2


def test_init_weights_matches_the_reference_recipe():
    torch.manual_seed(0)
    d = fm.create("patchgan", n_layers=4)
    conv = torch.cat([m.weight.flatten() for m in d.modules() if isinstance(m, nn.Conv2d)])
    bn = torch.cat([m.weight for m in d.modules() if isinstance(m, nn.BatchNorm2d)])
    assert conv.mean().abs() < 1e-3 and abs(conv.std().item() - 0.02) < 1e-3
    assert (bn.mean() - 1).abs() < 5e-3 and abs(bn.std().item() - 0.02) < 5e-3
    biases = [m.bias for m in d.modules() if getattr(m, "bias", None) is not None]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)


def test_inference_mode_arguments():
    g = fm.create("unet_128", ngf=2)
    with pytest.raises(ValueError, match="unknown mode 'test'"):
        fm.set_inference_mode(g, "test")
    with pytest.raises(ValueError, match="dropout=True only applies"):
        fm.set_inference_mode(g, "eval", dropout=True)


def test_paper_mode_then_train_tracks_running_stats_again():
    g = fm.create("unet_128", ngf=2)
    bn = g.encoder[1].norm_act
    fm.set_inference_mode(g, "paper")
    before = bn.running_mean.clone()
    g(torch.randn(1, 3, 128, 128))
    assert torch.equal(bn.running_mean, before)  # paper mode leaves the statistics alone
    fm.set_inference_mode(g, "train")
    g(torch.randn(1, 3, 128, 128))
    assert not torch.equal(bn.running_mean, before)


# --------------------------------------------------------------------------------------------
# Seed models
# --------------------------------------------------------------------------------------------


def test_seed_unet_widths_follow_base_channels():
    model = fm.create("unet", base_channels=64, num_classes=3)
    assert [s.conv1.out_channels for s in model.encoder] == [64, 128, 256, 512]
    assert model.bottleneck.conv2.out_channels == 1024
    assert model.head.kernel_size == (1, 1) and model.head.out_channels == 3


def test_cgan_discriminator_matches_seed_patch_count_at_64():
    d = fm.create("cgan_d", ndf=4).eval()
    with torch.no_grad():
        assert d(torch.randn(3, 6, 64, 64)).shape == (3, 1, 1, 1)  # the seed's view(-1,1,1,1)


# --------------------------------------------------------------------------------------------
# ResNet-34 backbone (torchvision layout) and the FCN
# --------------------------------------------------------------------------------------------


def torchvision_resnet34_layout() -> dict[str, tuple[int, ...]]:
    """Key → shape of torchvision's ``resnet34().state_dict()``, written from its definition:
    conv1 7×7, bn1, layer1..4 of (3, 4, 6, 3) BasicBlocks (conv1/bn1/conv2/bn2, downsample.0/1
    on the first block of layers 2-4), fc 512→1000."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

    def norm(prefix, c):
        return {f"{prefix}.{p}": (() if p == "num_batches_tracked" else (c,)) for p in bn}

    keys = {"conv1.weight": (64, 3, 7, 7), **norm("bn1", 64)}
    c_in = 64
    for layer, (blocks, c) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            keys[f"{p}.conv1.weight"] = (c, c_in if b == 0 else c, 3, 3)
            keys.update(norm(f"{p}.bn1", c))
            keys[f"{p}.conv2.weight"] = (c, c, 3, 3)
            keys.update(norm(f"{p}.bn2", c))
            if b == 0 and layer > 1:
                keys[f"{p}.downsample.0.weight"] = (c, c_in, 1, 1)
                keys.update(norm(f"{p}.downsample.1", c))
        c_in = c
    keys["fc.weight"], keys["fc.bias"] = (1000, 512), (1000,)
    return keys


def test_backbone_keys_are_torchvision_resnet34():
    layout = torchvision_resnet34_layout()
    params = [s for k, s in layout.items() if k.endswith(("weight", "bias"))]
    assert sum(torch.Size(s).numel() for s in params) == 21_797_672  # torchvision's resnet34
    with torch.device("meta"):
        backbone = ResNetBackbone()
    got = {k: tuple(v.shape) for k, v in backbone.state_dict().items()}
    assert got == {k: s for k, s in layout.items() if not k.startswith("fc.")}
    assert n_params(backbone) == 21_284_672


def _functional_resnet34(state: dict, x: torch.Tensor) -> torch.Tensor:
    """torchvision's resnet34 forward (to layer4) written with torch.nn.functional."""

    def bn(prefix, t):
        return F.batch_norm(
            t, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"],
            state[f"{prefix}.weight"], state[f"{prefix}.bias"], False, 0.0, 1e-5,
        )  # fmt: skip

    x = F.relu(bn("bn1", F.conv2d(x, state["conv1.weight"], stride=2, padding=3)))
    x = F.max_pool2d(x, 3, 2, 1)
    for layer, blocks in enumerate((3, 4, 6, 3), start=1):
        for b in range(blocks):
            p, stride = f"layer{layer}.{b}", 2 if b == 0 and layer > 1 else 1
            y = F.relu(bn(f"{p}.bn1", F.conv2d(x, state[f"{p}.conv1.weight"], None, stride, 1)))
            y = bn(f"{p}.bn2", F.conv2d(y, state[f"{p}.conv2.weight"], None, 1, 1))
            if f"{p}.downsample.0.weight" in state:
                x = bn(f"{p}.downsample.1", F.conv2d(x, state[f"{p}.downsample.0.weight"], None, 2))
            x = F.relu(y + x)
    return x


def _random_torchvision_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in torchvision_resnet34_layout().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            fan_in = torch.Size(shape[1:]).numel() if len(shape) > 1 else 10
            state[key] = torch.randn(shape, generator=g) / fan_in**0.5
    return state


def test_pretrained_backbone_loads_torchvision_file_and_computes_resnet34(tmp_path):
    state = _random_torchvision_state()
    path = tmp_path / "resnet34-333f7ec4.pth"
    torch.save(state, path)
    fcn = fm.create("fcn_resnet34", num_classes=4, pretrained_backbone=str(path)).eval()
    for key, value in fcn.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(fcn.backbone(x), _functional_resnet34(state, x))


def test_pretrained_backbone_errors(tmp_path):
    backbone = ResNetBackbone()
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_torchvision_weights(backbone, tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth: not a torch checkpoint: expected a file"):
        load_torchvision_weights(backbone, junk)
    state = _random_torchvision_state()
    del state["layer3.2.bn2.running_var"]
    with pytest.raises(ValueError, match=r"missing keys \['layer3.2.bn2.running_var'\]"):
        load_torchvision_weights(backbone, state)
    state = _random_torchvision_state()
    state["conv1.weight"] = torch.zeros(64, 1, 7, 7)
    with pytest.raises(ValueError, match=r"conv1.weight has shape \(64, 1, 7, 7\)"):
        load_torchvision_weights(backbone, state)


def test_fcn_normalizes_its_input_to_imagenet_statistics():
    fcn = fm.create("fcn_resnet34", num_classes=2).eval()
    seen = {}
    fcn.backbone.conv1.register_forward_pre_hook(lambda m, args: seen.update(x=args[0]))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        fcn(x)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(seen["x"], ((x + 1) / 2 - mean) / std)


def test_fcn_upsampler_is_bilinear_and_aligned_with_the_features():
    fcn = fm.create("fcn_resnet34", num_classes=2)
    up = fcn.upsample
    torch.testing.assert_close(up.weight, bilinear_kernel(2, 64))
    with torch.no_grad():
        constant = up(torch.ones(1, 2, 4, 5))
        impulse = torch.zeros(1, 2, 4, 5)
        impulse[0, 1, 2, 3] = 1.0
        response = up(impulse)
    assert constant.shape == (1, 2, 128, 160)
    # interior (away from the zero-padded border) reproduces the constant: partition of unity
    torch.testing.assert_close(constant[..., 32:96, 32:128], torch.ones(1, 2, 64, 96))
    assert response[0, 0].abs().max() == 0  # classes are not mixed
    peak = (response[0, 1] == response[0, 1].max()).nonzero()
    assert {tuple(p) for p in peak.tolist()} <= {
        (64 + dy, 96 + dx) for dy in (0, 1) for dx in (0, 1)
    }


# --------------------------------------------------------------------------------------------
# FLOPs (pix2pix.md: 12.10 / 24.19 GFLOPs for unet_256, 6.39 for the basic D) and the CLI
# --------------------------------------------------------------------------------------------


def test_flop_counts_match_the_reference_measurements():
    from fastpix.bench.models import count_flops

    assert count_flops("unet_256", {}, (1, 3, 256, 256)) / 1e9 == pytest.approx(12.10, abs=5e-3)
    assert count_flops("unet_256", {}, (1, 3, 256, 512)) / 1e9 == pytest.approx(24.19, abs=5e-3)
    assert count_flops("patchgan", {}, (1, 6, 256, 256)) / 1e9 == pytest.approx(6.39, abs=5e-3)


def _cli(argv: list[str]) -> None:
    import argparse

    from fastpix.models import cli

    parser = argparse.ArgumentParser(prog="fastpix")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    assert args.func(args) == 0


def test_cli_list_prints_every_model_with_its_size(capsys):
    _cli(["models", "list"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == fm.list_models()
    assert any(line.startswith("unet_256") and " 54.414 M " in line for line in lines)
