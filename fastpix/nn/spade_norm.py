"""SPADE normalization fused with its activation: ``act(norm(x) · (1 + γ) + β)``.

SPADE (Park et al. 2019) normalizes with a parameter-free norm (batch norm in its Cityscapes
setting: batch statistics in training, running ones in eval; or instance norm) and modulates
every element with γ and β, full N×C×H×W maps that small convolutions compute from the
segmentation map; its residual blocks then apply LeakyReLU(0.2). Gradients flow to x, γ and β.

As for ``fastpix.nn.norm_act``: ``spade_norm_act_reference`` (torch ops; CPU, ONNX export and
test oracle) and ``spade_norm_act_fused`` (Triton kernels behind the custom ops
``fastpix::spade_norm_act_forward``/``_backward``) are chosen by ``fastpix._dispatch``.
``SpadeNormAct2d`` holds the norm's buffers under ``nn.BatchNorm2d(affine=False)``'s names, so
it can stand where SPADE's ``param_free_norm`` stands and load its checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _NormBase

from fastpix._dispatch import implementation
from fastpix.nn.norm_act import (
    KERNEL_DTYPES,
    KINDS,
    activation_reference,
    check_activation,
    define_ops,
)


def spade_norm_act_reference(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    kind: str,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    use_batch_stats: bool,
    momentum: float,
    eps: float,
    activation: str | None,
    negative_slope: float,
) -> torch.Tensor:
    """The parameter-free norm (``F.instance_norm``/``F.batch_norm``, which also update the
    running statistics), the modulation and the activation, with torch ops."""
    if kind == "instance":
        x_hat = F.instance_norm(
            x, running_mean, running_var, None, None, use_batch_stats, momentum, eps
        )
    else:
        x_hat = F.batch_norm(
            x, running_mean, running_var, None, None, use_batch_stats, momentum, eps
        )
    return activation_reference(x_hat * (1 + gamma) + beta, activation, negative_slope)


# ----------------------------------------------------------------------------- fused path

# running_mean/var are updated in place when use_batch_stats (the (a!)/(b!) annotations).
_FORWARD_SCHEMA = (
    "(Tensor x, Tensor gamma, Tensor beta, Tensor(a!)? running_mean, Tensor(b!)? running_var, "
    "bool per_instance, bool use_batch_stats, float momentum, float eps, str activation, "
    "float negative_slope) -> (Tensor, Tensor, Tensor)"
)
_BACKWARD_SCHEMA = (
    "(Tensor grad_y, Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor var, "
    "bool per_instance, bool batch_stats, float eps, str activation, float negative_slope) "
    "-> (Tensor, Tensor, Tensor)"
)


def _forward_kernels(x, *args):
    from fastpix.kernels.spade_norm import spade_norm_act_forward

    return spade_norm_act_forward(x, *args)


def _forward_fake(x, gamma, beta, running_mean, running_var, per_instance, use_batch_stats, *args):
    from fastpix.kernels.norm_act import memory_format

    y = torch.empty_like(x, memory_format=memory_format(x))
    if not use_batch_stats:
        return y, x.new_empty(0, dtype=torch.float32), x.new_empty(0, dtype=torch.float32)
    n, c = x.shape[:2]
    mean = x.new_empty((n if per_instance else 1, c), dtype=torch.float32)
    return y, mean, torch.empty_like(mean)


def _backward_kernels(grad_y, *args):
    from fastpix.kernels.spade_norm import spade_norm_act_backward

    return spade_norm_act_backward(grad_y, *args)


def _backward_fake(grad_y, x, gamma, beta, *args):
    from fastpix.kernels.norm_act import memory_format

    layout = memory_format(x)
    return (
        torch.empty_like(x, memory_format=layout),
        torch.empty_like(gamma, memory_format=layout),
        torch.empty_like(beta, memory_format=layout),
    )


_forward_op, _backward_op = define_ops(
    "spade_norm_act", _forward_kernels, _forward_fake, _FORWARD_SCHEMA,
    _backward_kernels, _backward_fake, _BACKWARD_SCHEMA,
)  # fmt: skip


class _SpadeNormActFunction(torch.autograd.Function):
    """Autograd of the fused op (see ``fastpix.nn.norm_act._NormActFunction``)."""

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, per_instance, use_batch_stats,
                momentum, eps, activation, negative_slope):  # fmt: skip
        y, mean, var = _forward_op(
            x, gamma, beta, running_mean, running_var, per_instance, use_batch_stats,
            momentum, eps, activation, negative_slope,
        )  # fmt: skip
        if not use_batch_stats:  # normalized with the running statistics: backward needs those
            mean, var = running_mean, running_var
        ctx.save_for_backward(x, gamma, beta, mean, var)
        ctx.options = (per_instance, use_batch_stats, eps, activation, negative_slope)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        dx, dgamma, dbeta = _backward_op(grad_y, *ctx.saved_tensors, *ctx.options)
        return dx, dgamma, dbeta, *([None] * 8)


def spade_norm_act_fused(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    kind: str,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    use_batch_stats: bool,
    momentum: float,
    eps: float,
    activation: str | None,
    negative_slope: float,
) -> torch.Tensor:
    """``spade_norm_act_reference`` with the Triton kernels (same arguments, same results)."""
    return _SpadeNormActFunction.apply(
        x, gamma, beta, running_mean, running_var, kind == "instance", bool(use_batch_stats),
        float(momentum), float(eps), activation or "none", float(negative_slope),
    )  # fmt: skip


# ----------------------------------------------------------------------------- functional


def spade_norm_act(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    kind: str = "batch",
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    use_batch_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    activation: str | None = "leaky_relu",
    negative_slope: float = 0.2,
) -> torch.Tensor:
    """SPADE's ``act(norm(x) · (1 + gamma) + beta)``.

    Args:
        x: N×C×H×W float32/float16/bfloat16 (float64 runs the reference), NCHW or
            channels_last; the output has its dtype and layout.
        gamma, beta: N×C×H×W modulation maps (any float dtype); they get gradients.
        kind: the parameter-free norm, ``"batch"`` (per channel) or ``"instance"``.
        running_mean, running_var: C running statistics or None; updated in place when
            ``use_batch_stats`` (momentum, unbiased variance, as torch does).
        use_batch_stats: normalize with the input's statistics (training), else the running
            ones.
        activation: None, ``"relu"``, ``"leaky_relu"`` (``negative_slope``) or ``"tanh"``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'instance' or 'batch', got {kind!r}")
    if x.dim() != 4:
        raise ValueError(f"expected an N×C×H×W input, got shape {tuple(x.shape)}")
    for name, t in (("gamma", gamma), ("beta", beta)):
        if t.shape != x.shape:
            raise ValueError(
                f"{name} must have the input's shape {tuple(x.shape)}, got {tuple(t.shape)}"
            )
    check_activation(activation)
    if not use_batch_stats and (running_mean is None or running_var is None):
        raise ValueError("running_mean and running_var are needed when not using batch statistics")
    use_kernels = x.dtype in KERNEL_DTYPES and x.numel() > 0
    use_kernels = use_kernels and gamma.is_floating_point() and beta.is_floating_point()
    impl = implementation("spade_norm_act", x) if use_kernels else spade_norm_act_reference
    return impl(
        x, gamma, beta, kind, running_mean, running_var, use_batch_stats, momentum, eps,
        activation, negative_slope,
    )  # fmt: skip


class SpadeNormAct2d(_NormBase):
    """SPADE's parameter-free norm with the modulation and the activation fused.

    ``forward(x, gamma, beta)`` returns ``act(norm(x) · (1 + gamma) + beta)``, all three
    N×C×H×W. ``norm="batch"`` (SPADE's Cityscapes default) keeps running statistics under
    ``nn.BatchNorm2d(affine=False)``'s buffer names (running_mean, running_var,
    num_batches_tracked) and uses them in eval mode; ``norm="instance"`` has no buffers, as
    ``nn.InstanceNorm2d(affine=False)``. ``activation=None`` gives SPADE's shortcut norm.
    """

    def __init__(
        self,
        num_features: int,
        norm: str = "batch",
        activation: str | None = "leaky_relu",
        negative_slope: float = 0.2,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
    ) -> None:
        if norm not in KINDS:
            raise ValueError(f"norm must be 'batch' or 'instance', got {norm!r}")
        super().__init__(
            num_features, eps, momentum, affine=False, track_running_stats=norm == "batch"
        )
        self.norm = norm
        self.activation = check_activation(activation)
        self.negative_slope = float(negative_slope)

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"expected N×C×H×W input, got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        self._check_input_dim(x)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"expected {self.num_features} channels (num_features), got {x.shape[1]}"
            )
        momentum = self.momentum if self.momentum is not None else 0.0
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or not self.track_running_stats
        return spade_norm_act(
            x,
            gamma,
            beta,
            self.norm,
            self.running_mean,
            self.running_var,
            use_batch_stats,
            momentum,
            self.eps,
            self.activation,
            self.negative_slope,
        )

    def extra_repr(self) -> str:
        act = f"activation={self.activation!r}"
        if self.activation == "leaky_relu":
            act += f", negative_slope={self.negative_slope}"
        return f"{self.num_features}, norm={self.norm!r}, eps={self.eps}, {act}"
