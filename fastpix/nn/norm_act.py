"""Normalization fused with its activation: ``InstanceNormAct2d`` and ``BatchNormAct2d``.

The layers subclass ``nn.InstanceNorm2d`` / ``nn.BatchNorm2d``, so parameters, buffers and
state-dict keys are exactly those of the plain torch layers: checkpoints move freely between
fused and plain models. The activation (and the optional dropout that pix2pix puts after the
decoder norms) is applied to the normalized output.

This file holds the layers and the plain-torch reference (``norm_act_reference``), which is
the CPU path and the test oracle.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = (None, "relu", "leaky_relu", "tanh")


def check_activation(activation: str | None) -> str | None:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; expected one of: "
            + ", ".join(repr(a) for a in ACTIVATIONS)
        )
    return activation


def activation_reference(
    x: torch.Tensor, activation: str | None, negative_slope: float = 0.2
) -> torch.Tensor:
    if activation is None:
        return x
    if activation == "relu":
        return F.relu(x)
    if activation == "leaky_relu":
        return F.leaky_relu(x, negative_slope)
    if activation == "tanh":
        return torch.tanh(x)
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
) -> torch.Tensor:
    """Normalization then activation with torch ops. ``kind`` is ``"instance"`` or ``"batch"``."""
    if kind == "instance":
        y = F.instance_norm(
            x, running_mean, running_var, weight, bias, use_batch_stats, momentum, eps
        )
    elif kind == "batch":
        y = F.batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, momentum, eps)
    else:
        raise ValueError(f"kind must be 'instance' or 'batch', got {kind!r}")
    return activation_reference(y, activation, negative_slope)


class _NormActMixin:
    activation: str | None
    negative_slope: float
    dropout: float

    def _finish(self, y: torch.Tensor) -> torch.Tensor:
        if self.dropout > 0.0:
            # Dropout scales by a positive factor, so it commutes with ReLU/LeakyReLU; with
            # tanh the order (norm → dropout → tanh) is the one pix2pix never uses.
            y = F.dropout(y, self.dropout, self.training)
        return y

    def extra_repr(self) -> str:  # type: ignore[override]
        base = super().extra_repr()  # type: ignore[misc]
        act = f"activation={self.activation!r}"
        if self.activation == "leaky_relu":
            act += f", negative_slope={self.negative_slope}"
        if self.dropout:
            act += f", dropout={self.dropout}"
        return f"{base}, {act}"


class InstanceNormAct2d(_NormActMixin, nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` followed by an activation (and optional dropout), fused."""

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
        use_batch_stats = self.training or not self.track_running_stats
        y = norm_act_reference(
            x,
            "instance",
            self.weight,
            self.bias,
            self.running_mean,
            self.running_var,
            use_batch_stats,
            self.momentum if self.momentum is not None else 0.1,
            self.eps,
            self.activation,
            self.negative_slope,
        )
        return self._finish(y)


class BatchNormAct2d(_NormActMixin, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` followed by an activation (and optional dropout), fused."""

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
        self._check_input_dim(x)
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            momentum = (
                1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            )
        else:
            momentum = self.momentum if self.momentum is not None else 0.0
        use_batch_stats = self.training or self.running_mean is None
        y = norm_act_reference(
            x,
            "batch",
            self.weight,
            self.bias,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            use_batch_stats,
            momentum,
            self.eps,
            self.activation,
            self.negative_slope,
        )
        return self._finish(y)
