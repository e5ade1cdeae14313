"""The fused layers under torch.compile (custom ops with fake implementations and registered
autograd, no graph breaks) and ONNX export (the reference path: standard ONNX operators)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastpix.nn import BatchNormAct2d, InstanceNormAct2d, SpadeNormAct2d


class SmallNet(nn.Module):
    """A pix2pix-like stack: conv → BN+LeakyReLU → conv → IN+ReLU → SPADE norm+LeakyReLU."""

    def __init__(self):
        super().__init__()
        # No conv bias before a norm (pix2pix's rule): its true gradient is 0, its computed
        # one rounding noise that differs between compiled and eager code.
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = BatchNormAct2d(8, activation="leaky_relu")
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.inorm = InstanceNormAct2d(8, affine=True, activation="relu")
        self.spade = SpadeNormAct2d(8, "batch")
        self.to_gamma_beta = nn.Conv2d(3, 16, 3, padding=1)

    def forward(self, x):
        h = self.inorm(self.conv2(self.bn(self.conv1(x))))
        gamma, beta = self.to_gamma_beta(x).chunk(2, dim=1)
        return self.spade(h, gamma, beta)


def make_pair(device):
    torch.manual_seed(0)
    model = SmallNet().to(device)
    twin = SmallNet().to(device)
    twin.load_state_dict(model.state_dict())
    return model, twin


def eager_reference(model, x, monkeypatch):
    """Output, input gradient and parameter gradients of ``model`` on the torch path."""
    with monkeypatch.context() as m:
        m.setenv("FASTPIX_IMPL", "torch")
        x = x.detach().clone().requires_grad_()
        y = model(x)
        y.square().sum().backward()
    return y.detach(), x.grad, [p.grad for p in model.parameters()]


def compile_and_compare(model, twin, x, monkeypatch, **compile_kwargs):
    torch._dynamo.reset()  # FASTPIX_IMPL is read when a model is traced
    compiled = torch.compile(model, fullgraph=True, **compile_kwargs)
    x = x.detach().clone().requires_grad_()
    y = compiled(x)
    y.square().sum().backward()
    y_ref, dx_ref, grads_ref = eager_reference(twin, x, monkeypatch)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x.grad, dx_ref, atol=1e-5, rtol=1e-5)
    for p, g in zip(model.parameters(), grads_ref):
        torch.testing.assert_close(p.grad, g, atol=1e-3, rtol=1e-3)  # large fp32 sums
    for b, b_ref in zip(model.buffers(), twin.buffers()):
        torch.testing.assert_close(b, b_ref, atol=1e-6, rtol=1e-5)


def test_compile_traces_the_custom_ops(kernel_device, monkeypatch):
    """FASTPIX_IMPL=triton: the forward graph calls the fused ops, the backward graph their
    backward ops, traced through the fake implementations; results match the torch path."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    graphs = {"forward": set(), "backward": set()}

    def called(node) -> str:
        # an op that mutates its inputs (running statistics) is wrapped for functionalization
        wrapped = "auto_functionalized" in str(node.target)
        return str(node.args[0] if wrapped else node.target)

    def recorder(kind):
        def compiler(gm, _inputs):
            graphs[kind].update(called(n) for n in gm.graph.nodes if n.op == "call_function")
            return make_boxed_func(gm.forward)

        return compiler

    backend = aot_autograd(fw_compiler=recorder("forward"), bw_compiler=recorder("backward"))
    model, twin = make_pair(kernel_device)
    x = torch.randn(2, 3, 6, 10, device=kernel_device)
    compile_and_compare(model, twin, x, monkeypatch, backend=backend)
    for op in ("norm_act", "spade_norm_act"):
        assert f"fastpix.{op}_forward.default" in graphs["forward"]
        assert f"fastpix.{op}_backward.default" in graphs["backward"]


@pytest.mark.slow
def test_compile_default_backend_reference_path(monkeypatch):
    """The default torch.compile (inductor) over the layers on CPU: the reference path."""
    monkeypatch.delenv("FASTPIX_IMPL", raising=False)
    model, twin = make_pair("cpu")
    compile_and_compare(model, twin, torch.randn(2, 3, 6, 10), monkeypatch)


def test_onnx_export_is_standard_onnx(tmp_path, monkeypatch):
    """Even with the kernels forced, export traces the reference: BatchNormalization,
    InstanceNormalization and plain activations that onnxruntime runs."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    monkeypatch.setenv("FASTPIX_IMPL", "triton")
    model, _ = make_pair("cpu")
    model.eval()
    x = torch.randn(2, 3, 6, 10)
    path = tmp_path / "small.onnx"
    torch.onnx.export(model, (x,), path, dynamo=True, input_names=["x"], output_names=["y"])
    ops = {node.op_type for node in onnx.load(path).graph.node}
    assert {"BatchNormalization", "InstanceNormalization", "LeakyRelu", "Relu"} <= ops
    assert ops <= {"Conv", "BatchNormalization", "InstanceNormalization", "LeakyRelu", "Relu",
                   "Add", "Mul", "Split", "Slice", "Constant", "Identity"}  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x.numpy()})
    monkeypatch.setenv("FASTPIX_IMPL", "torch")
    with torch.no_grad():
        expected = model(x).numpy()
    assert abs(got - expected).max() < 1e-5
