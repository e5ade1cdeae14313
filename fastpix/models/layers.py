"""The normalization + activation choice every fastpix model makes, in one place.

``norm_act(norm, channels, activation)`` returns the fused ``fastpix.nn`` layer for
``norm="batch"`` / ``"instance"`` and a plain activation module for ``norm="none"``. The fused
layers subclass the torch norms, so a model's state dict is the one it would have with plain
``nn.BatchNorm2d`` / ``nn.InstanceNorm2d`` followed by the activation.
"""

from __future__ import annotations

from torch import nn

from fastpix.nn import BatchNormAct2d, InstanceNormAct2d

NORMS = ("batch", "instance", "none")


def check_norm(norm: str) -> str:
    """``norm`` if it is one of ``NORMS``; a ValueError naming the valid ones otherwise."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of: " + ", ".join(map(repr, NORMS)))
    return norm


def activation_module(activation: str | None, negative_slope: float = 0.2) -> nn.Module:
    """The plain torch module for an activation name of ``fastpix.nn`` (None → Identity)."""
    if activation is None:
        return nn.Identity()
    if activation == "relu":
        return nn.ReLU()
    if activation == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    if activation == "tanh":
        return nn.Tanh()
    raise ValueError(f"unknown activation {activation!r}")


def norm_act(
    norm: str,
    channels: int,
    activation: str | None,
    negative_slope: float = 0.2,
) -> nn.Module:
    """Normalization over ``channels`` followed by ``activation``.

    batch: ``BatchNormAct2d`` (affine, running statistics), as pix2pix's ``norm=batch``.
    instance: ``InstanceNormAct2d`` (no affine, no running statistics), as pix2pix's
    ``norm=instance``.
    none: the activation alone (no parameters).
    """
    check_norm(norm)
    if norm == "batch":
        return BatchNormAct2d(channels, activation=activation, negative_slope=negative_slope)
    if norm == "instance":
        return InstanceNormAct2d(
            channels,
            affine=False,
            track_running_stats=False,
            activation=activation,
            negative_slope=negative_slope,
        )
    return activation_module(activation, negative_slope)
