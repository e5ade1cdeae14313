"""Decoding one image: ``decode_image``, ``image_size`` and ``DecodeError``.

JPEG and PNG go through the native decoder (libjpeg-turbo, libpng; GIL released); other
formats PIL reads (BMP, WebP, TIFF, GIF, PPM), and everything goes through PIL when the native
module is missing. Both paths give the same pixels: the native decoder follows Pillow's
conversions (see ``decode_image``).
"""

from __future__ import annotations

import io
import os
from typing import Union

import numpy as np

from fastpix._native import native_module

# Pillow's decompression-bomb error threshold (2 × Image.MAX_IMAGE_PIXELS).
DEFAULT_MAX_PIXELS = 2 * 89_478_485
MODES = ("RGB", "L", "unchanged")

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class DecodeError(ValueError):
    """A file that cannot be decoded: corrupt, truncated, empty, not an image, or over the pixel
    limit. The message names the file (or ``<N bytes>``) and the reason."""


def source_name(source: Source) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{memoryview(source).nbytes} bytes>"
    return os.fspath(source)


def _native_input(source: Source):
    """What the native module takes: a path as str, or the bytes-like object itself."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source
    return os.fspath(source)


def _head(source: Source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(memoryview(source)[:8])
    try:
        with open(source, "rb") as f:
            return f.read(8)
    except FileNotFoundError:
        raise FileNotFoundError(f"{os.fspath(source)}: file not found") from None
    except OSError as exc:
        raise DecodeError(f"{os.fspath(source)}: cannot open: {exc.strerror}") from None


def is_native_format(head: bytes) -> bool:
    """Whether the first bytes of a file are JPEG or PNG (what the native decoder reads)."""
    return head.startswith(_JPEG_MAGIC) or head.startswith(_PNG_MAGIC)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")


def decode_image(
    source: Source, mode: str = "RGB", max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode an image file (path) or encoded bytes.

    Args:
        source: a path, or the bytes of a JPEG/PNG (or other PIL-readable) file.
        mode: ``"RGB"`` → uint8 H×W×3 (grey replicated, palette expanded, alpha dropped, CMYK
            converted as Pillow does); ``"L"`` → uint8 H×W luma (Pillow's ``convert("L")``);
            ``"unchanged"`` → the stored channels: H×W grey or palette indices (label-id maps),
            H×W×2 grey+alpha, H×W×3 RGB, H×W×4 RGBA or CMYK. 16-bit samples keep their high
            byte.
        max_pixels: refuse images with more pixels than this (decompression bombs); None for
            no limit.

    Returns:
        A C-contiguous uint8 numpy array.

    Raises:
        DecodeError: the file is corrupt, truncated, empty, not an image or too large.
        FileNotFoundError: the path does not exist.
    """
    _check_mode(mode)
    limit = 0 if max_pixels is None else int(max_pixels)
    head = _head(source)
    if not head:
        raise DecodeError(f"{source_name(source)}: empty file (0 bytes)")
    native = native_module()
    if native is not None and is_native_format(head):
        try:
            return native.decode_image(_native_input(source), mode, limit)
        except native.DecodeError as exc:
            raise DecodeError(f"{source_name(source)}: {exc}") from None
    return np.asarray(open_pil(source, mode, limit))


def image_size(source: Source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(height, width) of an image from its header, without decoding the pixels."""
    limit = 0 if max_pixels is None else int(max_pixels)
    native = native_module()
    if native is not None and is_native_format(_head(source)):
        try:
            height, width, _, _ = native.probe_image(_native_input(source))
        except native.DecodeError as exc:
            raise DecodeError(f"{source_name(source)}: {exc}") from None
    else:
        from PIL import Image

        try:
            with Image.open(_pil_input(source)) as im:
                width, height = im.size
        except Exception as exc:
            raise DecodeError(f"{source_name(source)}: {_reason(exc)}") from None
    if limit and width * height > limit:
        raise DecodeError(f"{source_name(source)}: {_limit_reason(width, height, limit)}")
    return height, width


def _pil_input(source: Source):
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    path = os.fspath(source)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: file not found")
    return path


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "cannot identify image file" in text:
        return "not an image file (PIL cannot identify it)"
    return text


def _limit_reason(width: int, height: int, limit: int) -> str:
    return (
        f"image is {width}x{height} = {width * height} pixels, over the limit of "
        f"max_pixels={limit} (a decompression bomb?)"
    )


def open_pil(source: Source, mode: str = "RGB", max_pixels: int = DEFAULT_MAX_PIXELS, draft=None):
    """The PIL decode behind ``decode_image``'s fallback: a loaded PIL image converted to
    ``mode`` (16-bit samples reduced to their high byte). ``draft`` is a (width, height) for
    PIL's JPEG draft mode. Raises DecodeError / FileNotFoundError like ``decode_image``."""
    from PIL import Image

    _check_mode(mode)
    name = source_name(source)
    fp = _pil_input(source)
    if (os.path.getsize(fp) if isinstance(fp, str) else fp.getbuffer().nbytes) == 0:
        raise DecodeError(f"{name}: empty file (0 bytes)")
    try:
        with Image.open(fp) as im:
            width, height = im.size
            if max_pixels and width * height > max_pixels:
                raise DecodeError(f"{name}: {_limit_reason(width, height, max_pixels)}")
            if draft is not None and im.format == "JPEG":
                im.draft("RGB", draft)
            im.load()
            return _convert(im, mode)
    except (DecodeError, FileNotFoundError):
        raise
    except Exception as exc:  # any failure of PIL's decoders on this file is a bad file
        raise DecodeError(f"{name}: {_reason(exc)}") from None


def _convert(im, mode: str):
    from PIL import Image

    if im.mode.startswith("I"):  # 16-bit grey ("I;16", "I;16B", or "I" holding 16-bit values)
        high = (np.asarray(im).astype(np.int64) >> 8).clip(0, 255).astype(np.uint8)
        im = Image.fromarray(high, "L")
    if mode == "unchanged":
        # A copy: the opened image's file is closed when the caller's `with` block ends.
        return im.convert("L") if im.mode in ("1", "F") else im.copy()
    return im.convert(mode)
