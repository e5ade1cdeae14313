"""fastpix layers: normalization fused with activation, and SPADE's modulated normalization."""

from __future__ import annotations

from fastpix.nn.norm_act import BatchNormAct2d, InstanceNormAct2d
from fastpix.nn.spade_norm import SpadeNormAct2d

__all__ = ["BatchNormAct2d", "InstanceNormAct2d", "SpadeNormAct2d"]
