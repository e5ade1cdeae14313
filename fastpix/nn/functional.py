"""The functional forms of fastpix's fused layers, in one namespace (``import
fastpix.nn.functional as FF``; ``FF.batch_norm_act`` mirrors ``F.batch_norm`` plus the
activation, and so on)."""

from __future__ import annotations

from fastpix.nn.norm_act import batch_norm_act, instance_norm_act, norm_act
from fastpix.nn.spade_norm import spade_norm_act

__all__ = ["batch_norm_act", "instance_norm_act", "norm_act", "spade_norm_act"]
