"""Fused SPADE normalization (the Triton kernels, forced with FASTPIX_IMPL=triton) against
torch modules: parameter-free nn.BatchNorm2d / nn.InstanceNorm2d, ``· (1 + γ) + β``, then the
activation module. Gradients of x, γ and β and the running statistics are compared."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastpix.nn import SpadeNormAct2d
from fastpix.nn.spade_norm import spade_norm_act, spade_norm_act_reference

SLOPE = 0.2
ACTIVATION_MODULES = {
    None: nn.Identity,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(SLOPE),
    "tanh": nn.Tanh,
}
# (dtype, atol, rtol) of values stored in dtype: y, dx, dγ, dβ.
DTYPES = [
    (torch.float32, 1e-5, 1e-5),
    (torch.float16, 2e-3, 2e-3),
    (torch.bfloat16, 1.6e-2, 1.6e-2),
]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


class ReferenceSpade(nn.Module):
    """SPADE as the paper's code writes it: parameter-free norm, modulation, activation."""

    def __init__(self, kind, channels, activation, **kwargs):
        super().__init__()
        if kind == "batch":
            self.param_free_norm = nn.BatchNorm2d(channels, affine=False, **kwargs)
        else:
            self.param_free_norm = nn.InstanceNorm2d(channels, affine=False, **kwargs)
        self.act = ACTIVATION_MODULES[activation]()

    def forward(self, x, gamma, beta):
        return self.act(self.param_free_norm(x) * (1 + gamma) + beta)


def run_and_compare(kind, activation, x, device, dtype=torch.float32, atol=1e-5, rtol=1e-5):
    channels = x.shape[1]
    fused = SpadeNormAct2d(channels, kind, activation=activation, negative_slope=SLOPE)
    reference = ReferenceSpade(kind, channels, activation)
    reference.param_free_norm.load_state_dict(fused.state_dict())
    fused, reference = fused.to(device), reference.to(device)
    layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else None
    inputs = [x, torch.randn(x.shape) * 0.5, torch.randn(x.shape) * 0.5]
    ours = [t.to(device=device, dtype=dtype) for t in inputs]
    if layout is not None:
        ours = [t.contiguous(memory_format=layout) for t in ours]
    ours = [t.requires_grad_() for t in ours]
    theirs = [t.detach().float().requires_grad_() for t in ours]
    y, y_ref = fused(*ours), reference(*theirs)
    assert y.dtype == dtype and y.shape == x.shape
    torch.testing.assert_close(y.float(), y_ref, atol=atol, rtol=rtol)
    grad = torch.randn(y.shape, device=device).to(dtype)
    y.backward(grad)
    y_ref.backward(grad.float())
    for name, a, b in zip(("x", "gamma", "beta"), ours, theirs):
        torch.testing.assert_close(a.grad.float(), b.grad, atol=atol, rtol=rtol, msg=name)
    for name, b in fused.named_buffers():
        expected = getattr(reference.param_free_norm, name)
        torch.testing.assert_close(b, expected, atol=2e-4, rtol=1e-4, msg=name)
    return fused, reference, y


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize(("dtype", "atol", "rtol"), DTYPES, ids=["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("activation", list(ACTIVATION_MODULES))
@pytest.mark.parametrize("kind", ["instance", "batch"])
def test_matches_torch_modules(kernel_device, kind, activation, dtype, atol, rtol, channels_last):
    x = torch.randn(2, 6, 5, 7) * 2.0 + 0.5  # non-power-of-two C and H×W
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    _, _, y = run_and_compare(kind, activation, x, kernel_device, dtype, atol, rtol)
    assert y.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize(
    ("kind", "shape"),
    [
        ("batch", (4, 3, 1, 1)),  # 1×1 spatial: the unet_256 bottleneck
        ("batch", (1, 5, 6, 6)),  # N = 1 batch norm
        ("instance", (3, 130, 3, 2)),  # C > 128: several channel tiles
    ],
)
def test_edge_shapes(kernel_device, kind, shape):
    run_and_compare(kind, "leaky_relu", torch.randn(shape), kernel_device)


@pytest.mark.parametrize(
    ("kind", "shape"),
    [
        ("instance", (2, 3, 80, 80)),  # NCHW plane of 4 tiles
        ("batch", (2, 6, 30, 40)),  # channels_last, split across samples and positions
    ],
)
@pytest.mark.parametrize("split", [False, True], ids=["fused_plan", "split_plan"])
def test_fused_and_split_plans(kernel_device, force_plan, kind, shape, split):
    from fastpix.kernels import norm_act as kernels

    force_plan(split)
    x = torch.randn(shape) * 3.0 + 1.0
    if shape[1] == 6:
        x = x.to(memory_format=torch.channels_last)
    _, dims = kernels.nc_hw_view(x)
    assert kernels.plan(dims, kind == "instance", kernel_device).fused != split
    run_and_compare(kind, "leaky_relu", x, kernel_device)


@pytest.mark.parametrize("kind", ["instance", "batch"])
def test_zero_variance_channels(kernel_device, kind):
    x = torch.randn(3, 4, 5, 6)
    x[:, 1] = 0.0  # constant channel: x̂ = 0 (torch's mean of zeros is exact too)
    x[1, 2] = 0.0  # constant plane only (instance norm)
    run_and_compare(kind, "relu", x, kernel_device)
    # Any constant: x̂ is exactly 0, so y = act(β) (torch's CPU mean can be an ulp off).
    fused = SpadeNormAct2d(4, kind, activation="leaky_relu").to(kernel_device)
    x = torch.full((2, 4, 5, 3), 7.3, device=kernel_device)
    beta = torch.randn_like(x)
    y = fused(x, torch.randn_like(x), beta)
    torch.testing.assert_close(y, torch.nn.functional.leaky_relu(beta, SLOPE), atol=0, rtol=0)


def test_running_statistics_train_then_eval(kernel_device):
    fused = SpadeNormAct2d(5, "batch", momentum=0.3).to(kernel_device)
    reference = ReferenceSpade("batch", 5, "leaky_relu", momentum=0.3).to(kernel_device)
    for step in range(4):
        if step == 3:
            fused.eval(), reference.eval()
        x = torch.randn(2, 5, 4, 6, device=kernel_device) * (step + 1) + step
        gamma, beta = torch.randn_like(x), torch.randn_like(x)
        torch.testing.assert_close(
            fused(x, gamma, beta), reference(x, gamma, beta), atol=1e-5, rtol=1e-5
        )
    state, expected = fused.state_dict(), reference.param_free_norm.state_dict()
    assert list(state) == list(expected)
    for key in state:
        torch.testing.assert_close(state[key], expected[key], atol=1e-5, rtol=1e-5)


def test_mixed_layouts_and_non_contiguous(kernel_device):
    """γ, β and the output gradient need not share x's layout; strided views are copied."""
    fused = SpadeNormAct2d(4, "instance").to(kernel_device)
    x = torch.randn(2, 4, 9, 12, device=kernel_device)[:, :, 1:, ::2].requires_grad_()
    gamma = torch.randn(2, 8, 6, 4, device=kernel_device).permute(0, 3, 1, 2)
    gamma = gamma.contiguous(memory_format=torch.channels_last).requires_grad_()
    beta = torch.randn(2, 4, 8, 6, device=kernel_device).requires_grad_()
    y = fused(x, gamma, beta)
    y.sum().backward()  # an expanded (stride 0) gradient
    grads = [t.grad for t in (x, gamma, beta)]
    reference = ReferenceSpade("instance", 4, "leaky_relu")
    leaves = [t.detach().cpu().requires_grad_() for t in (x, gamma, beta)]
    reference(*leaves).sum().backward()
    torch.testing.assert_close(y.detach().cpu(), reference(*leaves).detach(), atol=1e-5, rtol=1e-5)
    for got, leaf in zip(grads, leaves):
        torch.testing.assert_close(got.cpu(), leaf.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh"])
@pytest.mark.parametrize("kind", ["instance", "batch"])
def test_reference_gradcheck_float64(kind, activation):
    x, gamma, beta = (
        torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True) for _ in range(3)
    )

    def fn(x, gamma, beta):
        return spade_norm_act_reference(
            x, gamma, beta, kind, None, None, True, 0.1, 1e-5, activation, SLOPE
        )

    assert torch.autograd.gradcheck(fn, (x, gamma, beta), fast_mode=True)


def test_state_dict_keys_match_spade_param_free_norm():
    assert list(SpadeNormAct2d(8, "batch").state_dict()) == list(
        nn.BatchNorm2d(8, affine=False).state_dict()
    )
    assert list(SpadeNormAct2d(8, "instance").state_dict()) == []


def test_bad_arguments_name_the_problem():
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="gamma must have the input's shape"):
        spade_norm_act(x, torch.randn(2, 3, 1, 1), torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="norm must be 'batch' or 'instance'"):
        SpadeNormAct2d(3, "group")
    with pytest.raises(ValueError, match="expected 3 channels"):
        SpadeNormAct2d(3)(torch.randn(2, 4, 4, 4), torch.randn(2, 4, 4, 4), torch.randn(2, 4, 4, 4))
    with pytest.raises(ValueError, match="unknown activation"):
        SpadeNormAct2d(3, activation="silu")
