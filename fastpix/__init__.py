"""fastpix: fast street-scene image-to-image segmentation.

Photo → label mask (U-Net, ResNet-34 FCN, pix2pix) and label → photo (pix2pix, SPADE), with
Triton kernels for the memory-bound steps, a native pair decoder and TensorRT deployment.
"""

from fastpix._version import __version__
from fastpix.labels import get_label_set
from fastpix.palette import class_to_color, palette_to_class

__all__ = ["__version__", "class_to_color", "get_label_set", "palette_to_class"]
