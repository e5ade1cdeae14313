"""Fused norm + activation (the Triton kernels, forced with FASTPIX_IMPL=triton) against the
torch modules: nn.InstanceNorm2d / nn.BatchNorm2d followed by the activation module.

Each case clones one seeded input into two leaf tensors, runs both models and compares the
output, the gradients of input, weight and bias, and the running statistics. The reference
runs in float32 on the same values, so fp16/bf16 results are held to their own rounding.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastpix import _dispatch
from fastpix.nn import BatchNormAct2d, InstanceNormAct2d
from fastpix.nn.norm_act import norm_act, norm_act_reference

SLOPE = 0.2
ACTIVATIONS = [None, "relu", "leaky_relu", "tanh"]
ACTIVATION_MODULES = {
    None: nn.Identity,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(SLOPE),
    "tanh": nn.Tanh,
}
# (dtype, atol, rtol) of outputs and input gradients, which are stored in dtype.
DTYPES = [
    (torch.float32, 1e-5, 1e-5),
    (torch.float16, 2e-3, 2e-3),
    (torch.bfloat16, 1.6e-2, 1.6e-2),
]
# Parameter gradients and running statistics are fp32 sums in both implementations.
PARAM_TOL = {"atol": 2e-4, "rtol": 1e-4}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def make_models(kind, channels, affine=True, activation="leaky_relu", dropout=0.0, **kwargs):
    """(fused layer, reference nn.Sequential(norm, activation)) with the same state."""
    act = {"activation": activation, "negative_slope": SLOPE, "dropout": dropout}
    if kind == "batch":
        fused = BatchNormAct2d(channels, affine=affine, **act, **kwargs)
        norm = nn.BatchNorm2d(channels, affine=affine, **kwargs)
    else:
        fused = InstanceNormAct2d(channels, affine=affine, **act, **kwargs)
        norm = nn.InstanceNorm2d(channels, affine=affine, **kwargs)
    if affine:
        with torch.no_grad():
            fused.weight.normal_(1.0, 0.5)
            fused.bias.normal_(0.0, 0.5)
    norm.load_state_dict(fused.state_dict())  # same keys: checkpoints move both ways
    return fused, nn.Sequential(norm, ACTIVATION_MODULES[activation]())


def run_and_compare(fused, reference, x, device, dtype=torch.float32, atol=1e-5, rtol=1e-5):
    """Forward and backward through both models; assert outputs, gradients, buffers agree."""
    fused, reference = fused.to(device), reference.to(device)
    x_fused = x.detach().to(device=device, dtype=dtype).requires_grad_()
    x_ref = x_fused.detach().float().requires_grad_()
    y = fused(x_fused)
    y_ref = reference(x_ref)
    assert y.dtype == dtype and y.shape == x.shape
    torch.testing.assert_close(y.float(), y_ref, atol=atol, rtol=rtol)
    grad = torch.randn(y.shape, device=device).to(dtype)
    y.backward(grad)
    y_ref.backward(grad.float())
    torch.testing.assert_close(x_fused.grad.float(), x_ref.grad, atol=atol, rtol=rtol)
    for (name, p), p_ref in zip(fused.named_parameters(), reference[0].parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, **PARAM_TOL, msg=f"grad of {name}")
    for (name, b), b_ref in zip(fused.named_buffers(), reference[0].buffers()):
        torch.testing.assert_close(b, b_ref, **PARAM_TOL, msg=name)
    return y


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize(("dtype", "atol", "rtol"), DTYPES, ids=["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", ["instance", "batch"])
def test_matches_torch_modules(
    kernel_device, kind, activation, affine, dtype, atol, rtol, channels_last
):
    fused, reference = make_models(kind, 6, affine, activation)
    x = torch.randn(2, 6, 5, 7) * 2.0 + 0.5  # non-power-of-two C and H×W
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    y = run_and_compare(fused, reference, x, kernel_device, dtype, atol, rtol)
    assert y.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize(
    ("kind", "shape"),
    [
        ("batch", (4, 3, 1, 1)),  # 1×1 spatial: the unet_256 bottleneck
        ("batch", (1, 5, 6, 6)),  # N = 1 batch norm
        ("batch", (2, 3, 2, 2)),  # 2×2: the smallest normalized map of unet_256
        ("instance", (1, 3, 1, 2)),  # two elements per plane
        ("instance", (3, 130, 3, 2)),  # C > 128: several channel tiles
        ("batch", (3, 130, 3, 2)),
    ],
)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_edge_shapes(kernel_device, kind, shape, channels_last):
    fused, reference = make_models(kind, shape[1], activation="leaky_relu")
    x = torch.randn(shape)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    run_and_compare(fused, reference, x, kernel_device)


@pytest.mark.parametrize(
    ("kind", "shape"),
    [
        ("instance", (2, 3, 80, 80)),  # NCHW plane of 4 tiles
        ("instance", (2, 6, 30, 40)),  # channels_last plane of 5 tiles
        ("batch", (4, 6, 5, 7)),  # split across samples
        ("batch", (2, 3, 40, 110)),  # split across samples and positions
    ],
)
@pytest.mark.parametrize("split", [False, True], ids=["fused_plan", "split_plan"])
def test_fused_and_split_plans(kernel_device, force_plan, kind, shape, split):
    """Both plans (whole groups per program / partial statistics + merge) on the same input."""
    from fastpix.kernels import norm_act as kernels

    force_plan(split)
    x = torch.randn(shape) * 3.0 + 1.0
    if shape[1] == 6:
        x = x.to(memory_format=torch.channels_last)
    _, dims = kernels.nc_hw_view(x)
    assert kernels.plan(dims, kind == "instance", kernel_device).fused != split
    fused, reference = make_models(kind, shape[1], activation="leaky_relu")
    run_and_compare(fused, reference, x, kernel_device)


@pytest.mark.parametrize("kind", ["instance", "batch"])
def test_zero_variance_channels(kernel_device, kind):
    fused, reference = make_models(kind, 4, activation="relu")
    x = torch.randn(3, 4, 5, 6)
    x[:, 1] = 0.0  # constant channel: x̂ = 0, output = act(bias)
    x[1, 2] = 0.0  # constant plane only (instance norm)
    run_and_compare(fused, reference, x, kernel_device)
    # Any constant: x̂ is exactly 0 (torch's CPU mean can be an ulp off, so no torch here).
    x = torch.full((2, 4, 3, 5), -7.3, device=kernel_device)
    expected = torch.relu(fused.bias).view(1, 4, 1, 1).expand_as(x)
    torch.testing.assert_close(fused(x), expected, atol=0, rtol=0)


@pytest.mark.parametrize("kind", ["instance", "batch"])
def test_non_contiguous_input(kernel_device, kind):
    fused, reference = make_models(kind, 5, activation="tanh")
    x = torch.randn(2, 5, 9, 14)[:, :, 1:, ::2]  # strided view, neither NCHW nor NHWC dense
    assert not x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last)
    run_and_compare(fused, reference, x, kernel_device)


@pytest.mark.parametrize("kind", ["instance", "batch"])
def test_running_statistics_train_then_eval(kernel_device, kind):
    """Training updates (momentum, unbiased variance) over several steps, then eval mode
    normalizes with them, forward and backward; instance norm as in old pix2pix checkpoints."""
    fused, reference = make_models(kind, 5, track_running_stats=True, momentum=0.3)
    for step in range(3):
        x = torch.randn(2, 5, 4, 6) * (step + 1) + step
        run_and_compare(fused, reference, x, kernel_device)
    fused.eval(), reference.eval()
    run_and_compare(fused, reference, torch.randn(3, 5, 4, 6), kernel_device)


def test_cumulative_momentum(kernel_device):
    """momentum=None: running statistics are the plain average over steps (torch semantics)."""
    fused, reference = make_models("batch", 3, momentum=None)
    for _ in range(3):
        run_and_compare(fused, reference, torch.randn(4, 3, 3, 3), kernel_device)
    assert int(fused.num_batches_tracked) == 3


def test_half_module(kernel_device):
    """A module converted with .half(): fp16 parameters and buffers, fp16 gradients."""
    fused, reference = make_models("batch", 4)
    fused = fused.to(kernel_device).half()
    x = torch.randn(2, 4, 5, 5, device=kernel_device).half().requires_grad_()
    y = fused(x)
    y.backward(torch.ones_like(y))
    reference = reference.to(kernel_device)
    x_ref = x.detach().float().requires_grad_()
    reference[0].weight.data.copy_(fused.weight.float())
    reference[0].bias.data.copy_(fused.bias.float())
    y_ref = reference(x_ref)
    y_ref.backward(torch.ones_like(y_ref))
    assert fused.weight.grad.dtype == torch.float16 and fused.running_mean.dtype == torch.float16
    torch.testing.assert_close(y.float(), y_ref, atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(x.grad.float(), x_ref.grad, atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(
        fused.weight.grad.float(), reference[0].weight.grad, atol=2e-3, rtol=2e-3
    )


# ----------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("kind", ["instance", "batch"])
def test_dropout_mask_scale_and_backward(kernel_device, kind):
    """Fused dropout zeroes ~p of the outputs, scales the rest by 1/(1-p), and backward uses
    the very same mask (regenerated from the seed)."""
    p = 0.5
    fused, _ = make_models(kind, 8, activation="leaky_relu", dropout=p)
    fused = fused.to(kernel_device)
    x = torch.randn(4, 8, 6, 6, device=kernel_device, requires_grad=True)
    y = fused(x)
    keep = y != 0  # LeakyReLU outputs are never exactly 0
    assert abs(keep.float().mean().item() - (1 - p)) < 5 * (p * (1 - p) / keep.numel()) ** 0.5

    x_ref = x.detach().clone().requires_grad_()
    args = (kind, fused.weight, fused.bias, None, None, True, 0.1, 1e-5, "leaky_relu", SLOPE)
    y_ref = norm_act_reference(x_ref, *args) * keep / (1 - p)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    grad = torch.randn_like(y)
    y.backward(grad)
    y_ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-5, rtol=1e-5)


def test_dropout_follows_torch_seed_and_mode(kernel_device):
    fused, _ = make_models("batch", 4, activation=None, dropout=0.5)
    fused = fused.to(kernel_device)
    x = torch.randn(2, 4, 8, 8, device=kernel_device)
    torch.manual_seed(1)
    a = fused(x) == 0
    torch.manual_seed(1)
    b = fused(x) == 0
    c = fused(x) == 0
    assert torch.equal(a, b) and not torch.equal(a, c)
    fused.eval()
    assert (fused(x) != 0).all()  # no dropout in eval mode


# ----------------------------------------------------------------------------- reference path


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", ["instance", "batch"])
def test_reference_gradcheck_float64(kind, activation):
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(2, dtype=torch.float64, requires_grad=True)

    def fn(x, weight, bias):
        return norm_act_reference(
            x, kind, weight, bias, None, None, True, 0.1, 1e-5, activation, SLOPE
        )

    assert torch.autograd.gradcheck(fn, (x, weight, bias), fast_mode=True)


def test_default_dispatch_on_cpu_is_the_reference(monkeypatch):
    monkeypatch.delenv("FASTPIX_IMPL", raising=False)
    x = torch.randn(2, 3, 4, 4)
    assert _dispatch.implementation("norm_act", x) is norm_act_reference
    fused, reference = make_models("batch", 3)
    run_and_compare(fused, reference, x, torch.device("cpu"), atol=0, rtol=0)


def test_float64_runs_the_reference_even_when_triton_is_forced(kernel_device):
    fused, reference = make_models("instance", 3, activation="tanh")
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    y = fused.double().to(kernel_device)(x.to(kernel_device))
    assert y.dtype == torch.float64
    torch.testing.assert_close(y.cpu(), reference.double()(x), atol=1e-12, rtol=1e-12)


def test_state_dict_keys_match_torch():
    for fused, plain in [
        (BatchNormAct2d(8), nn.BatchNorm2d(8)),
        (InstanceNormAct2d(8), nn.InstanceNorm2d(8)),
        (
            InstanceNormAct2d(8, affine=True, track_running_stats=True),
            nn.InstanceNorm2d(8, affine=True, track_running_stats=True),
        ),
    ]:
        ours, theirs = fused.state_dict(), plain.state_dict()
        assert list(ours) == list(theirs)
        assert all(ours[k].shape == theirs[k].shape for k in ours)
        fused.load_state_dict(theirs)
        plain.load_state_dict(ours)


# ----------------------------------------------------------------------------- bad input


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        BatchNormAct2d(4, activation="gelu")
    with pytest.raises(ValueError, match="N×C×H×W"):
        BatchNormAct2d(4)(torch.randn(4, 5, 5))
    with pytest.raises(ValueError, match="expected 4 channels"):
        InstanceNormAct2d(4, affine=True)(torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="running_mean has 4 elements, expected 3"):
        BatchNormAct2d(4, affine=False).eval()(torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="dropout probability"):
        BatchNormAct2d(4, dropout=1.5)(torch.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match="kind must be"):
        norm_act(torch.randn(2, 3, 4, 4), "layer", None, None, None, None, True, 0.1, 1e-5, None)


@pytest.mark.parametrize("impl", ["torch", "triton"])
def test_single_value_statistics_are_rejected_on_both_paths(monkeypatch, impl):
    monkeypatch.setenv("FASTPIX_IMPL", impl)
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        InstanceNormAct2d(3)(torch.randn(2, 3, 1, 1))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNormAct2d(3)(torch.randn(1, 3, 1, 1))
