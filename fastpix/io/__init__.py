"""Image decoding: the single-image entry point of fastpix's native decoder.

    >>> from fastpix.io import decode_image
    >>> photo = decode_image("train/1.jpg")              # uint8 H×W×3
    >>> ids = decode_image("x_labelIds.png", "unchanged")  # uint8 H×W label ids

Batches of training pairs go through ``fastpix.data.PairLoader`` instead.
"""

from __future__ import annotations

from fastpix.io.decode import DEFAULT_MAX_PIXELS, MODES, DecodeError, decode_image, image_size

__all__ = ["DEFAULT_MAX_PIXELS", "MODES", "DecodeError", "decode_image", "image_size"]
