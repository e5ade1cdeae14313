"""fastpix.io.decode_image against PIL for every file mode, and its errors for bad files.

Each case is decoded by the native decoder and by the PIL fallback, and compared with PIL's own
``Image.open(...).convert(mode)`` (or, for 16-bit files, the high byte of the samples).
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import fastpix.io.decode as decode_module
from fastpix._native import HAVE_NATIVE
from fastpix.io import DecodeError, decode_image, image_size


@pytest.fixture(params=["native", "pil"])
def backend(request, monkeypatch):
    """Run a test through the native decoder and through the PIL fallback."""
    if request.param == "native":
        if not HAVE_NATIVE:
            pytest.skip("fastpix._C not built")
    else:
        monkeypatch.setattr(decode_module, "native_module", lambda: None)
    return request.param


def _photo(height: int = 37, width: int = 53, seed: int = 0) -> np.ndarray:
    """A smooth gradient plus noise: realistic for JPEG, with no flat areas."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 4, y * 6, (x + y) * 3], -1)
    return (base + rng.integers(0, 40, base.shape)).clip(0, 255).astype(np.uint8)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png16(samples: np.ndarray) -> bytes:
    """A 16-bit grey (H×W) or RGB (H×W×3) PNG written by hand (PIL cannot write 16-bit RGB)."""
    height, width = samples.shape[:2]
    color_type = 2 if samples.ndim == 3 else 0
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PHOTO = Image.fromarray(_photo())
SIXTEEN = (np.random.default_rng(1).integers(0, 65536, (21, 34, 3))).astype(np.uint16)

# name -> encoded file. Every mode a data set can contain: Cityscapes *_labelIds.png (8-bit
# grey), *_color.png (RGBA), palette label maps, 16-bit PNGs, CMYK and progressive JPEGs.
FILES = {
    "jpeg_420": _encode(PHOTO, "JPEG", quality=90),
    "jpeg_444_q100": _encode(PHOTO, "JPEG", quality=100, subsampling=0),
    "jpeg_progressive": _encode(PHOTO, "JPEG", quality=80, progressive=True),
    "jpeg_grey": _encode(PHOTO.convert("L"), "JPEG"),
    "jpeg_cmyk": _encode(PHOTO.convert("CMYK"), "JPEG"),
    "png_rgb": _encode(PHOTO, "PNG"),
    "png_rgba": _encode(PHOTO.convert("RGBA"), "PNG"),
    "png_grey": _encode(PHOTO.convert("L"), "PNG"),
    "png_grey_alpha": _encode(PHOTO.convert("LA"), "PNG"),
    "png_palette": _encode(PHOTO.convert("P", palette=Image.Palette.ADAPTIVE, colors=40), "PNG"),
    "png_palette_4bit_trns": _encode(
        PHOTO.convert("P", palette=Image.Palette.ADAPTIVE, colors=12), "PNG", transparency=3
    ),
    "png_1bit": _encode(PHOTO.convert("1"), "PNG"),
    "png_16bit_grey": _png16(SIXTEEN[..., 0]),
    "png_16bit_rgb": _png16(SIXTEEN),
}


def _expected(data: bytes, mode: str) -> np.ndarray:
    """What the file holds, by PIL alone (16-bit: the high byte of each sample)."""
    if data == FILES["png_16bit_grey"] or data == FILES["png_16bit_rgb"]:
        samples = SIXTEEN[..., 0] if data == FILES["png_16bit_grey"] else SIXTEEN
        high = (samples >> 8).astype(np.uint8)
        if mode == "unchanged":
            return high
        image = Image.fromarray(high)
        return np.asarray(image.convert(mode))
    image = Image.open(io.BytesIO(data))
    if mode == "unchanged":
        return np.asarray(image.convert("L") if image.mode == "1" else image)
    return np.asarray(image.convert(mode))


@pytest.mark.parametrize("mode", ["RGB", "L", "unchanged"])
@pytest.mark.parametrize("name", sorted(FILES))
def test_decode_matches_pil(name, mode, backend, tmp_path):
    data = FILES[name]
    expected = _expected(data, mode)
    path = tmp_path / f"{name}.{'jpg' if name.startswith('jpeg') else 'png'}"
    path.write_bytes(data)
    for source in (path, data):
        got = decode_image(source, mode)
        assert got.dtype == np.uint8 and got.shape == expected.shape, (got.shape, expected.shape)
        if name.startswith("jpeg"):
            # Two libjpeg-turbo builds (the system's and Pillow's) with the same default IDCT
            # and upsampling: identical in practice (measured max difference 0); allow one level.
            assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
        else:
            np.testing.assert_array_equal(got, expected)


def test_label_maps_stay_single_channel(tmp_path):
    """Official *_labelIds.png (8-bit grey) and palette label maps decode to H×W ids."""
    ids = np.random.default_rng(2).integers(0, 34, (19, 23)).astype(np.uint8)
    grey = tmp_path / "a_gtFine_labelIds.png"
    Image.fromarray(ids).save(grey)
    palette = tmp_path / "b.png"
    indexed = Image.fromarray(ids, "L").convert("P")
    indexed.putdata(ids.ravel().tolist())
    indexed.save(palette)
    for path in (grey, palette):
        np.testing.assert_array_equal(decode_image(path, "unchanged"), ids)


def test_image_size_reads_header(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(FILES["jpeg_420"])
    assert image_size(path) == (37, 53)
    assert image_size(FILES["png_16bit_rgb"]) == (21, 34)


def _bad_files() -> dict[str, tuple[bytes, str]]:
    """name -> (file bytes, a phrase the error must contain)."""
    jpeg = FILES["jpeg_420"]
    png = FILES["png_rgb"]
    lossless_sof = jpeg.replace(b"\xff\xc0", b"\xff\xc3", 1)  # SOF3: a process libjpeg lacks
    bad_ihdr_crc = png[:29] + bytes([png[29] ^ 0xFF]) + png[30:]
    return {
        "truncated_jpeg": (jpeg[: len(jpeg) // 2], "premature end"),
        "jpeg_missing_end": (jpeg[:-2], "premature end"),
        "truncated_png": (png[: len(png) // 2], "truncated"),
        "unsupported_jpeg": (lossless_sof, "unsupported jpeg process"),
        "corrupt_png": (bad_ihdr_crc, "crc"),
        "zero_bytes": (b"", "empty file"),
        "text": (b"name,id\nroad,7\n" * 20, "not"),
    }


@pytest.mark.parametrize("name", sorted(_bad_files()))
def test_bad_files_raise_decode_error_naming_the_file(name, backend, tmp_path):
    data, phrase = _bad_files()[name]
    path = tmp_path / f"{name}.dat"
    path.write_bytes(data)
    with pytest.raises(DecodeError) as info:
        decode_image(path)
    message = str(info.value)
    assert str(path) in message
    if backend == "native" or phrase in ("empty file", "not"):
        assert phrase in message.lower(), message
    assert isinstance(info.value, ValueError)


def test_decompression_bomb_limit(backend, tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    with pytest.raises(DecodeError, match=r"300x200 = 60000 pixels.*max_pixels=50000"):
        decode_image(path, max_pixels=50_000)
    assert decode_image(path, max_pixels=60_000).shape == (200, 300, 3)
    assert decode_image(path, max_pixels=None).shape == (200, 300, 3)


def test_missing_file_and_bad_mode(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        decode_image(tmp_path / "nope.jpg")
    with pytest.raises(ValueError, match="mode must be one of"):
        decode_image(FILES["png_rgb"], "RGBA")


def test_other_formats_go_through_pil(tmp_path):
    path = tmp_path / "x.bmp"
    PHOTO.save(path)
    np.testing.assert_array_equal(decode_image(path), np.asarray(PHOTO))
