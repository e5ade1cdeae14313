"""SPADE in fastpix: inputs, the SPADE layer against plain torch, generator and discriminator
shapes and gradients, the losses against hand-computed values, VGG-19 against torchvision's
layout, and a short training run on synthetic scenes that lowers the losses.

The checkpoint layout is checked against the NVlabs architecture in test_compat_spade.py.
"""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastpix.data.synthetic import make_scene
from fastpix.models.spade import (
    SPADE,
    MultiscaleDiscriminator,
    SPADEGenerator,
    instance_edges,
    one_hot_labels,
)
from fastpix.models.vgg import VGG19Features, load_vgg19_weights
from fastpix.train.spade_losses import (
    SpadeObjective,
    VGGLoss,
    feature_matching_loss,
    hinge_loss,
    make_optimizers,
    training_step,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def test_one_hot_labels_matches_torch_one_hot():
    classes = torch.randint(0, 5, (2, 7, 9))
    expected = F.one_hot(classes, 5).permute(0, 3, 1, 2).float()
    assert torch.equal(one_hot_labels(classes, 5), expected)
    assert torch.equal(one_hot_labels(classes.unsqueeze(1).to(torch.uint8), 5), expected)


def test_one_hot_labels_ignore_pixels_are_zero_or_their_own_channel():
    classes = torch.tensor([[[0, 255], [2, 1]]])
    plain = one_hot_labels(classes, 3)
    assert plain[0, :, 0, 1].tolist() == [0, 0, 0]
    dontcare = one_hot_labels(classes, 3, contain_dontcare_label=True)
    assert dontcare.shape == (1, 4, 2, 2)
    assert dontcare[0, :, 0, 1].tolist() == [0, 0, 0, 1]
    assert dontcare[0, :, 1, 0].tolist() == [0, 0, 1, 0]


def test_one_hot_labels_rejects_unknown_classes():
    with pytest.raises(ValueError, match=r"class map holds 7, expected 0\.\.4 or the ignore"):
        one_hot_labels(torch.tensor([[[0, 7]]]), 5)
    with pytest.raises(TypeError, match="integer class map"):
        one_hot_labels(torch.zeros(1, 2, 2), 5)


def test_instance_edges_match_a_brute_force_loop():
    ids = torch.randint(0, 3, (2, 6, 7))
    expected = torch.zeros(2, 1, 6, 7)
    for n, i, j in itertools.product(range(2), range(6), range(7)):
        for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            a, b = i + di, j + dj
            if 0 <= a < 6 and 0 <= b < 7 and ids[n, a, b] != ids[n, i, j]:
                expected[n, 0, i, j] = 1
    assert torch.equal(instance_edges(ids), expected)


def test_label_input_channels():
    classes = torch.randint(0, 4, (1, 32, 64))
    model = SPADEGenerator(label_nc=4, ngf=2, contain_dontcare_label=True, use_instance=True)
    seg = model.label_input(classes)
    assert seg.shape == (1, 6, 32, 64) and model.semantic_nc == 6
    assert torch.equal(seg[:, :5], one_hot_labels(classes, 4, contain_dontcare_label=True))
    assert torch.equal(seg[:, 5:], instance_edges(classes))  # no instances: class boundaries
    instances = torch.zeros_like(classes)
    assert seg.shape == model.label_input(classes, instances).shape
    assert model.label_input(classes, instances)[:, 5].sum() == 0


# --------------------------------------------------------------------------------------------
# The SPADE layer: fused norm + modulation + activation against plain torch
# --------------------------------------------------------------------------------------------


class PlainSPADE(nn.Module):
    """SPADE with torch layers: BatchNorm2d(affine=False), modulation, then the activation."""

    def __init__(self, fused: SPADE, activation: bool) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(fused.param_free_norm.num_features, affine=False)
        self.mlp_shared, self.mlp_gamma, self.mlp_beta = (
            copy.deepcopy(m) for m in (fused.mlp_shared, fused.mlp_gamma, fused.mlp_beta)
        )
        self.activation = activation

    def forward(self, x, seg):
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        hidden = self.mlp_shared(seg)
        y = self.norm(x) * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)
        return F.leaky_relu(y, 0.2) if self.activation else y


@pytest.mark.parametrize("activation", ["leaky_relu", None], ids=["residual", "shortcut"])
def test_spade_layer_matches_plain_torch_forward_backward_and_statistics(activation):
    torch.manual_seed(0)
    fused = SPADE(6, 4, activation=activation)
    plain = PlainSPADE(fused, activation is not None)
    x = torch.randn(3, 6, 8, 10)
    seg = one_hot_labels(torch.randint(0, 4, (3, 4, 5)), 4)  # coarser map: resized inside
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    grad = torch.randn(3, 6, 8, 10)
    out1, out2 = fused(x1, seg), plain(x2, seg)
    torch.testing.assert_close(out1, out2, atol=1e-5, rtol=1e-5)
    out1.backward(grad)
    out2.backward(grad)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-5)
    for a, b in zip(
        (fused.mlp_shared[0], fused.mlp_gamma, fused.mlp_beta),
        (plain.mlp_shared[0], plain.mlp_gamma, plain.mlp_beta),
    ):
        torch.testing.assert_close(a.weight.grad, b.weight.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused.param_free_norm.running_var, plain.norm.running_var)
    fused.eval(), plain.eval()
    torch.testing.assert_close(fused(x, seg), plain(x, seg), atol=1e-5, rtol=1e-5)


def test_spade_layer_runs_the_fused_kernel(kernel_device):
    # FASTPIX_IMPL=triton: the Triton kernels (compiled on CUDA, interpreted on CPU).
    torch.manual_seed(0)
    fused = SPADE(4, 3, norm="instance").to(kernel_device)
    x = torch.randn(2, 4, 4, 4, device=kernel_device, requires_grad=True)
    seg = one_hot_labels(torch.randint(0, 3, (2, 4, 4)), 3).to(kernel_device)
    hidden = fused.mlp_shared(seg)
    gamma, beta = fused.mlp_gamma(hidden), fused.mlp_beta(hidden)
    expected = F.leaky_relu(F.instance_norm(x) * (1 + gamma) + beta, 0.2)
    out = fused(x, seg)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    (dx,) = torch.autograd.grad(out.square().sum(), x)
    (expected_dx,) = torch.autograd.grad(expected.square().sum(), x)
    torch.testing.assert_close(dx, expected_dx, atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------------------------
# Generator and discriminator
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upsampling", "size", "latent"),
    [("normal", (32, 64), (1, 2)), ("more", (64, 128), (1, 2)), ("most", (128, 128), (1, 1))],
)
def test_generator_shapes_per_upsampling_mode(upsampling, size, latent):
    torch.manual_seed(0)
    model = SPADEGenerator(label_nc=3, ngf=4, num_upsampling_layers=upsampling, spade_hidden=8)
    grids = []
    model.fc.register_forward_hook(lambda m, i, o: grids.append(tuple(o.shape[2:])))
    with torch.no_grad():
        out = model.eval()(one_hot_labels(torch.randint(0, 3, (1, *size)), 3))
    assert out.shape == (1, 3, *size) and grids == [latent]
    assert out.abs().max() <= 1  # tanh


def test_generator_rejects_bad_inputs():
    model = SPADEGenerator(label_nc=3, ngf=4, use_instance=True)
    with pytest.raises(ValueError, match=r"expects an N×4×H×W semantic map .*got shape \(1, 3, 32, 32\)"):  # fmt: skip
        model(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="divisible by 32, got 48×32"):
        model(torch.zeros(1, 4, 48, 32))
    with pytest.raises(ValueError, match="unknown num_upsampling_layers 'many'"):
        SPADEGenerator(num_upsampling_layers="many")
    with pytest.raises(ValueError, match="unknown SPADE norm 'group'"):
        SPADEGenerator(norm="group")


def test_generator_backward_reaches_every_parameter_through_spectral_norm():
    torch.manual_seed(0)
    model = SPADEGenerator(label_nc=3, ngf=4, spade_hidden=8, use_instance=True)
    classes = torch.randint(0, 3, (2, 32, 32))
    model(model.label_input(classes)).square().mean().backward()
    params = dict(model.named_parameters())
    assert "up_0.conv_s.weight_orig" in params and "up_0.conv_s.weight" not in params
    for name, param in params.items():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_discriminator_outputs_per_scale():
    torch.manual_seed(0)
    model = MultiscaleDiscriminator(input_nc=5, ndf=4, n_layers=4, num_D=3)
    x = torch.randn(2, 5, 64, 96)
    outputs = model(x)
    # 4×4 convs with padding 2: stride 2 gives ⌊h/2⌋ + 1, stride 1 gives h + 1; each scale
    # sees the input average-pooled (3, 2, 1) once more: 64×96 → 32×48 → 16×24.
    expected = {
        0: [(4, 33, 49), (8, 17, 25), (16, 9, 13), (32, 10, 14), (1, 11, 15)],
        1: [(4, 17, 25), (8, 9, 13), (16, 5, 7), (32, 6, 8), (1, 7, 9)],
        2: [(4, 9, 13), (8, 5, 7), (16, 3, 4), (32, 4, 5), (1, 5, 6)],
    }
    assert [[tuple(t.shape[1:]) for t in scale] for scale in outputs] == [expected[i] for i in range(3)]  # fmt: skip
    pooled = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    model.eval()
    torch.testing.assert_close(model(x)[1][-1], model.discriminator_1(pooled)[-1])
    with pytest.raises(ValueError, match=r"expects an N×5×H×W tensor .*got shape"):
        model(torch.randn(1, 4, 32, 32))


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------


def test_hinge_loss_hand_computed():
    scale_a = [torch.zeros(1), torch.tensor([[-2.0, 0.5, 1.5]])]  # last output: the logits
    scale_b = [torch.zeros(1), torch.tensor([[0.0, -0.5]])]
    outputs = [scale_a, scale_b]
    # real: mean(relu(1 - x)) = (3 + 0.5 + 0) / 3 and (1 + 1.5) / 2, averaged over scales
    assert hinge_loss(outputs, real=True).item() == pytest.approx((3.5 / 3 + 1.25) / 2)
    # fake: mean(relu(1 + x)) = (0 + 1.5 + 2.5) / 3 and (1 + 0.5) / 2
    assert hinge_loss(outputs, real=False).item() == pytest.approx((4 / 3 + 0.75) / 2)
    # generator: -mean(x) = 0 and 0.25
    assert hinge_loss(outputs, True, for_discriminator=False).item() == pytest.approx(0.125)
    with pytest.raises(ValueError, match="scores its fakes as real"):
        hinge_loss(outputs, False, for_discriminator=False)


def test_feature_matching_hand_computed():
    fake = [[torch.tensor([1.0, 2.0]), torch.tensor([5.0]), torch.tensor([9.0])],
            [torch.tensor([0.0]), torch.tensor([7.0])]]  # fmt: skip
    real = [[torch.tensor([0.0, 4.0]), torch.tensor([2.0]), torch.tensor([-9.0])],
            [torch.tensor([1.0]), torch.tensor([0.0])]]  # fmt: skip
    # scale 0: L1 1.5 + 3 (logits excluded); scale 1: 1; summed, divided by 2 scales
    assert feature_matching_loss(fake, real).item() == pytest.approx((1.5 + 3 + 1) / 2)


def test_vgg19_features_have_torchvision_keys_and_size():
    model = VGG19Features()
    convs = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]  # torchvision vgg19
    assert list(model.state_dict()) == [f"features.{i}.{p}" for i in convs for p in ("weight", "bias")]  # fmt: skip
    assert sum(p.numel() for p in model.parameters()) == 20_024_384
    assert len(model.features) == 37


def _vgg_oracle(state: dict, x: torch.Tensor) -> list[torch.Tensor]:
    """relu1_1 … relu5_1 with functional ops: the first conv of each block, pools between."""
    convs = sorted({int(k.split(".")[1]) for k in state})
    firsts = {0, 2, 4, 8, 12}  # index (in conv order) of each block's first conv
    pools_after = {1, 3, 7, 11}  # max pool after these convs
    outputs = []
    for n, index in enumerate(convs[:13]):
        x = F.relu(F.conv2d(x, state[f"features.{index}.weight"], state[f"features.{index}.bias"], padding=1))  # fmt: skip
        if n in firsts:
            outputs.append(x)
        if n in pools_after:
            x = F.max_pool2d(x, 2)
    return outputs


def test_vgg_loss_against_a_functional_oracle(tmp_path):
    torch.manual_seed(0)
    weights = {k: torch.randn_like(v) * 0.05 for k, v in VGG19Features().state_dict().items()}
    weights["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files have a classifier
    torch.save(weights, tmp_path / "vgg19.pth")
    loss = VGGLoss(tmp_path / "vgg19.pth")
    fake = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    real = torch.rand(1, 3, 32, 32) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    f = _vgg_oracle(weights, ((fake + 1) / 2 - mean) / std)
    r = _vgg_oracle(weights, ((real + 1) / 2 - mean) / std)
    expected = sum(w * (a - b).abs().mean() for w, a, b in zip([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1], f, r))  # fmt: skip
    value = loss(fake, real)
    torch.testing.assert_close(value, expected, atol=1e-6, rtol=1e-4)
    value.backward()
    assert fake.grad is not None and all(p.grad is None for p in loss.parameters())
    assert loss(real, real).item() == 0
    assert not loss.train().vgg.training
    raw = VGGLoss(loss.vgg, imagenet_input=False)
    torch.testing.assert_close(raw(fake, real), sum(
        w * (a - b).abs().mean()
        for w, a, b in zip([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1], _vgg_oracle(weights, fake), _vgg_oracle(weights, real))
    ), atol=1e-6, rtol=1e-4)  # fmt: skip


def test_vgg_weights_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="torchvision vgg19 checkpoint not found"):
        VGGLoss(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="not a torchvision vgg19 state dict"):
        load_vgg19_weights(VGG19Features(), {"features.0.weight": torch.zeros(64, 3, 3, 3)})


# --------------------------------------------------------------------------------------------
# The objective and training
# --------------------------------------------------------------------------------------------


def _small_pair(seed: int = 0) -> tuple[SPADEGenerator, MultiscaleDiscriminator]:
    torch.manual_seed(seed)
    generator = SPADEGenerator(label_nc=19, ngf=8, spade_hidden=16)
    return generator, MultiscaleDiscriminator(input_nc=19 + 3, ndf=8)


def test_objective_scores_fakes_and_reals_in_one_batch_as_separately():
    generator, discriminator = _small_pair()
    discriminator.eval()  # spectral norm keeps its u, v: calls are comparable
    objective = SpadeObjective(generator, discriminator)
    semantics = generator.label_input(torch.randint(0, 19, (2, 32, 64)))
    fake, real = torch.rand(2, 3, 32, 64), torch.rand(2, 3, 32, 64)
    fake_out, real_out = objective.discriminate(semantics, fake, real)
    for joint, image in ((fake_out, fake), (real_out, real)):
        alone = discriminator(torch.cat([semantics, image], 1))
        for a, b in zip(itertools.chain(*joint), itertools.chain(*alone)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    losses, fake = objective.generator_losses(semantics, real)
    assert set(losses) == {"GAN", "GAN_Feat"} and fake.shape == real.shape
    assert set(SpadeObjective(generator, discriminator, lambda_feat=0).generator_losses(semantics, real)[0]) == {"GAN"}  # fmt: skip
    d_losses = objective.discriminator_losses(semantics, real)
    assert set(d_losses) == {"D_Fake", "D_real"}
    sum(d_losses.values()).backward()
    assert all(p.grad is None for p in generator.parameters())


def test_ttur_optimizers():
    generator, discriminator = _small_pair()
    opt_g, opt_d = make_optimizers(generator, discriminator)
    assert (opt_g.defaults["lr"], opt_d.defaults["lr"]) == (1e-4, 4e-4)
    assert opt_g.defaults["betas"] == opt_d.defaults["betas"] == (0.0, 0.9)
    opt_g, opt_d = make_optimizers(generator, discriminator, lr=1e-3, ttur=False)
    assert (opt_g.defaults["lr"], opt_d.defaults["lr"], opt_d.defaults["betas"]) == (1e-3, 1e-3, (0.5, 0.999))  # fmt: skip


def _scenes(n: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    photos, labels = zip(*(make_scene(seed, height, width) for seed in range(n)))
    photos_t = torch.stack([torch.from_numpy(p).permute(2, 0, 1) for p in photos])
    return photos_t.float() / 127.5 - 1, torch.stack([torch.from_numpy(x) for x in labels]).long()


@pytest.mark.slow
def test_short_training_run_on_synthetic_scenes_lowers_the_losses():
    photos, labels = _scenes(4, 32, 64)
    generator, discriminator = _small_pair()
    objective = SpadeObjective(generator, discriminator)
    opt_g, opt_d = make_optimizers(generator, discriminator)
    semantics = generator.label_input(labels)

    def distance() -> float:  # of the generator's photos to the real ones, state untouched
        with torch.no_grad():
            return (copy.deepcopy(generator)(semantics) - photos).abs().mean().item()

    start = distance()
    steps = [training_step(objective, opt_g, opt_d, semantics, photos) for _ in range(24)]
    assert all(finite for _, finite in steps)
    history = [losses for losses, _ in steps]
    assert all(torch.isfinite(v) for step in history for v in step.values())
    d_loss = [float(step["D_Fake"] + step["D_real"]) for step in history]
    assert d_loss[0] == pytest.approx(2.0, abs=0.05)  # an untrained D outputs about 0
    assert sum(d_loss[-5:]) / 5 < 1.8  # D learns to tell the fakes from the photos
    assert distance() < 0.92 * start  # and G's photos get closer to them
    assert all(p.requires_grad for p in discriminator.parameters())


def test_training_step_with_autocast_and_reused_fake():
    photos, labels = _scenes(2, 32, 32)
    generator, discriminator = _small_pair(1)
    objective = SpadeObjective(generator, discriminator)
    opt_g, opt_d = make_optimizers(generator, discriminator)
    before = copy.deepcopy(generator.state_dict())
    losses, finite = training_step(
        objective, opt_g, opt_d, generator.label_input(labels), photos,
        reuse_fake=True, autocast_dtype=torch.bfloat16,
    )  # fmt: skip
    assert finite and set(losses) == {"GAN", "GAN_Feat", "D_Fake", "D_real"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert not torch.equal(before["conv_img.weight"], generator.state_dict()["conv_img.weight"])
