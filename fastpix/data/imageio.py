"""Reading and writing the image files of fastpix data sets.

``read_image`` decodes a file fully and turns every failure (missing, not an image, truncated
or corrupt) into a ``LayoutError`` that names the file. ``write_image`` writes through a
temporary file in the target folder and renames it into place, so an interrupted run never
leaves a half-written image behind. JPEGs are written as the pix2pix data are: quality 100,
no chroma subsampling (4:4:4).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from fastpix.data.layouts import LayoutError

JPEG_OPTIONS = {"quality": 100, "subsampling": 0}
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


def read_image(path: str | os.PathLike, mode: str = "RGB") -> Image.Image:
    """Decode ``path`` fully and convert it to ``mode`` ("RGB" or "L" for label-id maps).

    Raises ``LayoutError`` naming the file when it is missing or cannot be decoded, and when
    a label map (mode "L") is not a single-channel 8-bit image.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if mode == "L" and image.mode not in ("L", "P", "I", "I;16"):
                raise LayoutError(
                    f"{path}: expected a single-channel label image, got mode {image.mode}"
                )
            if mode == "L" and image.mode in ("I", "I;16"):
                values = np.asarray(image)
                if values.min() < 0 or values.max() > 255:
                    raise LayoutError(f"{path}: label values must lie in 0..255")
                return Image.fromarray(values.astype(np.uint8))
            if mode == "L" and image.mode == "P":
                return Image.fromarray(np.asarray(image).astype(np.uint8))
            return image.convert(mode)
    except FileNotFoundError:
        raise LayoutError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, LayoutError):
            raise
        raise LayoutError(f"{path}: cannot decode image ({exc})") from None


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it is renamed to ``path``, on any
    error it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path: str | os.PathLike, image: np.ndarray | Image.Image) -> Path:
    """Write an H×W×3 or H×W uint8 array (or PIL image) to ``path`` atomically; the format
    follows the suffix (.jpg/.jpeg: JPEG q100 4:4:4, .png: PNG)."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unsupported image suffix; expected one of {sorted(FORMATS)}")
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.ascontiguousarray(image))
    with atomic_write(path) as f:
        image.save(f, format=fmt, **(JPEG_OPTIONS if fmt == "JPEG" else {}))
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)
