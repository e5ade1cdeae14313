"""Normalization fused with its activation: ``InstanceNormAct2d`` and ``BatchNormAct2d``.

The layers subclass ``nn.InstanceNorm2d`` / ``nn.BatchNorm2d``, so parameters, buffers and
state-dict keys are exactly those of the plain torch layers: checkpoints move freely between
fused and plain models. The activation (and the optional dropout that pix2pix puts after the
decoder norms) is applied to the normalized output.

Two implementations of one functional op, ``norm_act``, chosen by ``fastpix._dispatch``:

- ``norm_act_reference``: torch ops (``F.instance_norm``/``F.batch_norm``, the activation,
  ``F.dropout``); the CPU path, the ONNX export path and the test oracle.
- ``norm_act_fused``: the Triton kernels of ``fastpix.kernels.norm_act`` behind the custom ops
  ``fastpix::norm_act_forward`` (which also updates the running statistics) and
  ``fastpix::norm_act_backward``, with fake implementations so that ``torch.compile`` traces
  through them, tied together by an autograd Function. Its dropout draws its mask from a
  Philox seed, so backward regenerates the forward's mask instead of storing it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fastpix._dispatch import implementation

ACTIVATIONS = (None, "relu", "leaky_relu", "tanh")
KINDS = ("instance", "batch")
# The kernels compute in fp32 and store these; other dtypes (float64) run the reference.
KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def check_activation(activation: str | None) -> str | None:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; expected one of: "
            + ", ".join(repr(a) for a in ACTIVATIONS)
        )
    return activation


def activation_reference(
    x: torch.Tensor, activation: str | None, negative_slope: float = 0.2, inplace: bool = False
) -> torch.Tensor:
    """The activation with torch ops; ``inplace`` overwrites ``x`` (only for a tensor that
    nothing else reads: the three activations' backward passes use their output)."""
    if activation is None:
        return x
    if activation == "relu":
        return F.relu(x, inplace=inplace)
    if activation == "leaky_relu":
        return F.leaky_relu(x, negative_slope, inplace=inplace)
    if activation == "tanh":
        return x.tanh_() if inplace else torch.tanh(x)
    raise ValueError(f"unknown activation {activation!r}")


def norm_act_reference(
    x: torch.Tensor,
    kind: str,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    use_batch_stats: bool,
    momentum: float,
    eps: float,
    activation: str | None,
    negative_slope: float,
    dropout: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
    """Normalization, activation, then dropout (when ``training``) with torch ops.

    ``kind`` is ``"instance"`` or ``"batch"``; the other arguments are those of
    ``F.instance_norm`` / ``F.batch_norm`` (``use_batch_stats`` is their
    ``use_input_stats`` / ``training``), which also update the running statistics.
    """
    if kind == "instance":
        y = F.instance_norm(
            x, running_mean, running_var, weight, bias, use_batch_stats, momentum, eps
        )
    elif kind == "batch":
        y = F.batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, momentum, eps)
    else:
        raise ValueError(f"kind must be 'instance' or 'batch', got {kind!r}")
    # y is the normalization's own fresh output (its backward reads x, not y).
    y = activation_reference(y, activation, negative_slope, inplace=True)
    if dropout > 0.0:
        y = F.dropout(y, dropout, training)
    return y


# ----------------------------------------------------------------------------- fused path

# running_mean/var are updated in place when use_batch_stats (the (a!)/(b!) annotations).
_FORWARD_SCHEMA = (
    "(Tensor x, Tensor? weight, Tensor? bias, Tensor(a!)? running_mean, "
    "Tensor(b!)? running_var, Tensor? seed, bool per_instance, bool use_batch_stats, "
    "float momentum, float eps, str activation, float negative_slope, float dropout) "
    "-> (Tensor, Tensor, Tensor)"
)
_BACKWARD_SCHEMA = (
    "(Tensor grad_y, Tensor x, Tensor? weight, Tensor? bias, Tensor mean, Tensor var, "
    "Tensor? seed, bool per_instance, bool batch_stats, float eps, str activation, "
    "float negative_slope, float dropout) -> (Tensor, Tensor, Tensor)"
)


def _forward_kernels(x, *args):
    from fastpix.kernels.norm_act import norm_act_forward

    return norm_act_forward(x, *args)


def _forward_fake(
    x, weight, bias, running_mean, running_var, seed, per_instance, use_batch_stats, *args
):
    from fastpix.kernels.norm_act import memory_format

    y = torch.empty_like(x, memory_format=memory_format(x))
    if not use_batch_stats:
        return y, x.new_empty(0, dtype=torch.float32), x.new_empty(0, dtype=torch.float32)
    n, c = x.shape[:2]
    mean = x.new_empty((n if per_instance else 1, c), dtype=torch.float32)
    return y, mean, torch.empty_like(mean)


def _backward_kernels(grad_y, x, weight, bias, *args):
    from fastpix.kernels.norm_act import norm_act_backward

    dx, dweight, dbias = norm_act_backward(grad_y, x, weight, bias, *args)
    # An op returns tensors: an empty one stands for "no parameter, no gradient".
    return (
        dx,
        dweight if dweight is not None else x.new_empty(0),
        dbias if dbias is not None else x.new_empty(0),
    )


def _backward_fake(grad_y, x, weight, bias, *args):
    from fastpix.kernels.norm_act import memory_format

    dx = torch.empty_like(x, memory_format=memory_format(x))
    dweight = torch.empty_like(weight) if weight is not None else x.new_empty(0)
    dbias = torch.empty_like(bias) if bias is not None else x.new_empty(0)
    return dx, dweight, dbias


def define_ops(name: str, forward, forward_fake, forward_schema: str, backward, backward_fake,
               backward_schema: str):  # fmt: skip
    """The custom ops ``fastpix::<name>_forward`` (which updates the running statistics in
    place) and ``fastpix::<name>_backward`` with their fake implementations, so that
    torch.compile traces through them; on torch < 2.4, the plain functions."""
    if not hasattr(torch.library, "custom_op"):
        return forward, backward
    forward_op = torch.library.custom_op(
        f"fastpix::{name}_forward",
        forward,
        mutates_args=("running_mean", "running_var"),
        schema=forward_schema,
    )
    forward_op.register_fake(forward_fake)
    backward_op = torch.library.custom_op(
        f"fastpix::{name}_backward", backward, mutates_args=(), schema=backward_schema
    )
    backward_op.register_fake(backward_fake)
    return forward_op, backward_op


_forward_op, _backward_op = define_ops(
    "norm_act", _forward_kernels, _forward_fake, _FORWARD_SCHEMA,
    _backward_kernels, _backward_fake, _BACKWARD_SCHEMA,
)  # fmt: skip


class _NormActFunction(torch.autograd.Function):
    """Autograd of the fused op. An op that updates running statistics in place cannot carry
    its own autograd formula, so this Function holds it; dynamo traces through both."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, seed, per_instance,
                use_batch_stats, momentum, eps, activation, negative_slope, dropout):  # fmt: skip
        y, mean, var = _forward_op(
            x, weight, bias, running_mean, running_var, seed, per_instance, use_batch_stats,
            momentum, eps, activation, negative_slope, dropout,
        )  # fmt: skip
        if not use_batch_stats:  # normalized with the running statistics: backward needs those
            mean, var = running_mean, running_var
        ctx.save_for_backward(x, weight, bias, mean, var, seed)
        ctx.options = (per_instance, use_batch_stats, eps, activation, negative_slope, dropout)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, weight, bias, mean, var, seed = ctx.saved_tensors
        dx, dweight, dbias = _backward_op(grad_y, x, weight, bias, mean, var, seed, *ctx.options)
        return (
            dx,
            dweight if weight is not None else None,
            dbias if bias is not None else None,
            *([None] * 10),
        )


def norm_act_fused(
    x: torch.Tensor,
    kind: str,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    use_batch_stats: bool,
    momentum: float,
    eps: float,
    activation: str | None,
    negative_slope: float,
    dropout: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
    """``norm_act_reference`` with the Triton kernels (same arguments, same results)."""
    p = float(dropout) if training else 0.0
    seed = None
    if p > 0.0:
        seed = torch.randint(0, 2**31 - 1, (1,), dtype=torch.int64, device=x.device)
    return _NormActFunction.apply(
        x, weight, bias, running_mean, running_var, seed, kind == "instance",
        bool(use_batch_stats), float(momentum), float(eps), activation or "none",
        float(negative_slope), p,
    )  # fmt: skip


# ----------------------------------------------------------------------------- functional


def _check_args(
    x: torch.Tensor,
    kind: str,
    tensors: dict[str, torch.Tensor | None],
    use_batch_stats: bool,
    activation: str | None,
    dropout: float,
) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be 'instance' or 'batch', got {kind!r}")
    if x.dim() != 4:
        raise ValueError(f"expected an N×C×H×W input, got shape {tuple(x.shape)}")
    check_activation(activation)
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {dropout}")
    c = x.shape[1]
    for name, t in tensors.items():
        if t is not None and t.numel() != c:
            raise ValueError(f"{name} has {t.numel()} elements, expected {c} (input channels)")
    if use_batch_stats:
        n, _, h, w = x.shape
        if kind == "instance" and h * w == 1:
            raise ValueError(
                f"Expected more than 1 spatial element when training, got input size {list(x.shape)}"
            )
        if kind == "batch" and n * h * w == 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {list(x.shape)}"
            )
    elif tensors["running_mean"] is None or tensors["running_var"] is None:
        raise ValueError("running_mean and running_var are needed when not using batch statistics")


def norm_act(
    x: torch.Tensor,
    kind: str,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    use_batch_stats: bool,
    momentum: float,
    eps: float,
    activation: str | None,
    negative_slope: float = 0.2,
    dropout: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
    """Instance or batch normalization, then the activation, then dropout when ``training``.

    Args:
        x: N×C×H×W float32/float16/bfloat16 (float64 runs the reference), NCHW or
            channels_last; the output has the same dtype and layout.
        kind: ``"instance"`` (statistics per (n, c) plane) or ``"batch"`` (per channel).
        weight, bias: C affine parameters or None.
        running_mean, running_var: C running statistics or None; updated in place (with
            ``momentum``, unbiased variance, as torch does) when ``use_batch_stats``.
        use_batch_stats: normalize with the input's statistics (training), else with the
            running ones.
        activation: None, ``"relu"``, ``"leaky_relu"`` (``negative_slope``) or ``"tanh"``.
        dropout: probability of zeroing an output (scaled by 1/(1-p)), applied if ``training``.
    """
    tensors = {
        "weight": weight,
        "bias": bias,
        "running_mean": running_mean,
        "running_var": running_var,
    }
    _check_args(x, kind, tensors, use_batch_stats, activation, dropout)
    use_kernels = x.dtype in KERNEL_DTYPES and x.numel() > 0
    impl = implementation("norm_act", x) if use_kernels else norm_act_reference
    return impl(
        x, kind, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps,
        activation, negative_slope, dropout, training,
    )  # fmt: skip


def instance_norm_act(
    x: torch.Tensor,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    activation: str | None = "leaky_relu",
    negative_slope: float = 0.2,
    dropout: float = 0.0,
    training: bool = True,
) -> torch.Tensor:
    """``F.instance_norm`` (same arguments) followed by the activation and dropout; see
    ``norm_act``. N×C×H×W in, same shape, dtype and layout out."""
    return norm_act(
        x, "instance", weight, bias, running_mean, running_var, use_input_stats, momentum,
        eps, activation, negative_slope, dropout, training,
    )  # fmt: skip


def batch_norm_act(
    x: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
    activation: str | None = "relu",
    negative_slope: float = 0.2,
    dropout: float = 0.0,
) -> torch.Tensor:
    """``F.batch_norm`` (same arguments) followed by the activation and dropout (when
    ``training``); see ``norm_act``. N×C×H×W in, same shape, dtype and layout out."""
    return norm_act(
        x, "batch", weight, bias, running_mean, running_var, training, momentum, eps,
        activation, negative_slope, dropout, training,
    )  # fmt: skip


# ----------------------------------------------------------------------------- layers


class _NormActMixin:
    activation: str | None
    negative_slope: float
    dropout: float

    def extra_repr(self) -> str:  # type: ignore[override]
        base = super().extra_repr()  # type: ignore[misc]
        act = f"activation={self.activation!r}"
        if self.activation == "leaky_relu":
            act += f", negative_slope={self.negative_slope}"
        if self.dropout:
            act += f", dropout={self.dropout}"
        return f"{base}, {act}"


class InstanceNormAct2d(_NormActMixin, nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` followed by an activation (and optional dropout), fused.

    Input N×C×H×W (float32/float16/bfloat16, NCHW or channels_last); output the same.
    Dropout (probability ``dropout``, active in training mode) follows the activation.
    """

    def __init__(
        self,
        num_features: int,
        affine: bool = False,
        activation: str | None = "leaky_relu",
        negative_slope: float = 0.2,
        eps: float = 1e-5,
        momentum: float = 0.1,
        track_running_stats: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(
            num_features,
            eps=eps,
            momentum=momentum,
            affine=affine,
            track_running_stats=track_running_stats,
        )
        self.activation = check_activation(activation)
        self.negative_slope = float(negative_slope)
        self.dropout = float(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected N×C×H×W input, got shape {tuple(x.shape)}")
        if self.affine and x.shape[1] != self.num_features:
            raise ValueError(
                f"expected {self.num_features} channels (num_features), got {x.shape[1]}"
            )
        return norm_act(
            x,
            "instance",
            self.weight,
            self.bias,
            self.running_mean,
            self.running_var,
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
            self.activation,
            self.negative_slope,
            self.dropout,
            self.training,
        )


class BatchNormAct2d(_NormActMixin, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` followed by an activation (and optional dropout), fused.

    Input N×C×H×W (float32/float16/bfloat16, NCHW or channels_last); output the same.
    Training mode normalizes with batch statistics and updates the running ones (momentum,
    unbiased variance, ``num_batches_tracked``) exactly as ``nn.BatchNorm2d``; eval mode uses
    the running statistics. Dropout (``dropout``, training mode only) follows the activation.
    """

    def __init__(
        self,
        num_features: int,
        activation: str | None = "relu",
        negative_slope: float = 0.2,
        momentum: float = 0.1,
        eps: float = 1e-5,
        affine: bool = True,
        track_running_stats: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(
            num_features,
            eps=eps,
            momentum=momentum,
            affine=affine,
            track_running_stats=track_running_stats,
        )
        self.activation = check_activation(activation)
        self.negative_slope = float(negative_slope)
        self.dropout = float(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected N×C×H×W input, got shape {tuple(x.shape)}")
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            momentum = (
                1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            )
        else:
            momentum = self.momentum if self.momentum is not None else 0.0
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return norm_act(
            x,
            "batch",
            self.weight,
            self.bias,
            self.running_mean if track else None,
            self.running_var if track else None,
            use_batch_stats,
            momentum,
            self.eps,
            self.activation,
            self.negative_slope,
            self.dropout,
            self.training,
        )
