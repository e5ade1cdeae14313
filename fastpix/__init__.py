"""fastpix: fast street-scene image-to-image segmentation.

Photo → label mask (U-Net, ResNet-34 FCN, pix2pix) and label → photo (pix2pix, SPADE), with
Triton kernels for the memory-bound steps, a native pair decoder and TensorRT deployment.
"""

from __future__ import annotations

from fastpix._lazy import lazy_getattr
from fastpix._version import __version__

# Loaded on first use, so that `fastpix --help` and `import fastpix.cli` do not import torch.
_LAZY = {
    "get_label_set": "fastpix.labels",
    "class_to_color": "fastpix.palette",
    "palette_to_class": "fastpix.palette",
}

__all__ = ["__version__", "class_to_color", "get_label_set", "palette_to_class"]

__getattr__ = lazy_getattr(__name__, _LAZY)
