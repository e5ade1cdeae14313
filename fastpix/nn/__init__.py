"""fastpix layers: normalization fused with activation."""

from fastpix.nn.norm_act import BatchNormAct2d, InstanceNormAct2d

__all__ = ["BatchNormAct2d", "InstanceNormAct2d"]
