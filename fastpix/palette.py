"""Palette ↔ class: RGB mask colours to class indices and back.

``palette_to_class`` assigns every pixel the index of its nearest palette colour (squared RGB
distance in 0..255 units; ties go to the lowest index), optionally marking pixels farther than
``max_distance`` from every colour as ``ignore_index``. It is robust to the blending and JPEG
noise of the pix2pix Cityscapes pairs, and decodes generator outputs (floats in [-1, 1]).

The functions here are the plain-torch reference: the CPU path and the test oracle. On CUDA
tensors the Triton kernels of ``fastpix.kernels.palette`` take over (see ``fastpix._dispatch``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

IGNORE_INDEX = 255
MAX_PALETTE = 255


def _channel_dim(image: torch.Tensor, channel_dim: int | None) -> int:
    if image.dim() not in (3, 4):
        raise ValueError(
            f"image must be HWC/CHW or NHWC/NCHW (3 or 4 dims), got shape {tuple(image.shape)}"
        )
    if channel_dim is not None:
        dim = channel_dim % image.dim()
        if image.shape[dim] != 3:
            raise ValueError(
                f"image dim {channel_dim} has size {image.shape[dim]}, expected 3 (RGB)"
            )
        return dim
    # uint8 images are usually decoded files (channels last); float images usually network
    # outputs (channels first). Either is accepted when only one layout has 3 channels.
    last, first = image.dim() - 1, image.dim() - 3
    order = (last, first) if image.dtype == torch.uint8 else (first, last)
    for dim in order:
        if image.shape[dim] == 3:
            return dim
    raise ValueError(
        f"image of shape {tuple(image.shape)} has no RGB channel dimension "
        "(expected 3 channels first or last)"
    )


def check_image(
    image: torch.Tensor,
    channel_dim: int | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> int:
    """Check an RGB image (layout, dtype, value range) and return its channel dim."""
    dim = _channel_dim(image, channel_dim)
    if image.dtype != torch.uint8:
        if not image.is_floating_point():
            raise TypeError(f"image must be uint8 or floating point, got {image.dtype}")
        lo, hi = value_range
        if not hi > lo:
            raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")
    return dim


def to_rgb255(
    image: torch.Tensor,
    channel_dim: int | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> tuple[torch.Tensor, int]:
    """Return (image as float32 in 0..255 units, its channel dim); uint8 stays exact."""
    dim = check_image(image, channel_dim, value_range)
    if image.dtype == torch.uint8:
        return image.float(), dim
    lo, hi = value_range
    return (image.float() - lo) * (255.0 / (hi - lo)), dim


def check_palette(palette: torch.Tensor) -> torch.Tensor:
    palette = torch.as_tensor(palette)
    if palette.dim() != 2 or palette.shape[1] != 3 or not 1 <= palette.shape[0] <= MAX_PALETTE:
        raise ValueError(
            f"palette must be K×3 with 1 <= K <= {MAX_PALETTE}, got shape {tuple(palette.shape)}"
        )
    if palette.is_floating_point() and (palette.min() < 0 or palette.max() > 255):
        raise ValueError("palette colours must lie in 0..255")
    return palette


def palette_to_class_reference(
    image: torch.Tensor,
    palette: torch.Tensor,
    max_distance: float | None = None,
    ignore_index: int = IGNORE_INDEX,
    channel_dim: int | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    dtype: torch.dtype = torch.uint8,
) -> torch.Tensor:
    """Plain-torch nearest-palette classification; see ``palette_to_class``."""
    palette = check_palette(palette)
    dim = check_image(image, channel_dim, value_range)
    if image.dtype == torch.uint8:
        # Masks hold few distinct colours (JPEG-damaged ones some thousands): classify each
        # distinct colour once and scatter back. Exact, since a pixel's class depends on its
        # value alone.
        rgb = image.movedim(dim, -1).to(torch.int32)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        distinct, inverse = torch.unique(packed, return_inverse=True)
        distinct_rgb = torch.stack(
            [(distinct >> 16) & 255, (distinct >> 8) & 255, distinct & 255], dim=-1
        ).float()
        index = _nearest(distinct_rgb, palette, max_distance, ignore_index)[inverse]
    else:
        rgb, dim = to_rgb255(image, channel_dim, value_range)
        index = _nearest(rgb.movedim(dim, -1), palette, max_distance, ignore_index)
    return index.to(dtype)


def _nearest(
    rgb: torch.Tensor, palette: torch.Tensor, max_distance: float | None, ignore_index: int
) -> torch.Tensor:
    """Index of the nearest palette colour for ...×3 float RGB in 0..255 units (int64)."""
    colors = palette.to(device=rgb.device, dtype=torch.float32)
    # One pass per colour keeps memory at O(pixels) instead of O(pixels × K); the strict
    # comparison keeps the lowest index on ties.
    best = torch.full(rgb.shape[:-1], float("inf"), device=rgb.device)
    index = torch.zeros(rgb.shape[:-1], dtype=torch.int64, device=rgb.device)
    for k in range(colors.shape[0]):
        d = ((rgb - colors[k]) ** 2).sum(-1)
        closer = d < best
        best = torch.where(closer, d, best)
        index = torch.where(closer, torch.full_like(index, k), index)
    if max_distance is not None:
        index = torch.where(
            best > float(max_distance) ** 2, torch.full_like(index, ignore_index), index
        )
    return index


def color_table(
    classes: torch.Tensor, palette: torch.Tensor, ignore_color: Sequence[int] = (0, 0, 0)
) -> torch.Tensor:
    """Check ``classes`` and return the (K+1)×3 uint8 table on its device: the K palette
    colours, then ``ignore_color`` for every class outside 0..K-1."""
    palette = check_palette(palette).to(device=classes.device, dtype=torch.uint8)
    if classes.is_floating_point():
        raise TypeError(f"classes must be an integer tensor, got {classes.dtype}")
    return torch.cat(
        [palette, torch.tensor([list(ignore_color)], dtype=torch.uint8, device=classes.device)]
    )


def class_to_color_reference(
    classes: torch.Tensor,
    palette: torch.Tensor,
    ignore_color: Sequence[int] = (0, 0, 0),
    channels_first: bool = False,
) -> torch.Tensor:
    """Plain-torch class → colour gather; see ``class_to_color``."""
    table = color_table(classes, palette, ignore_color)
    k = table.shape[0] - 1
    idx = classes.long()
    idx = torch.where((idx < 0) | (idx >= k), torch.full_like(idx, k), idx)
    out = table[idx]
    return out.movedim(-1, -3) if channels_first else out


def palette_to_class(
    image: torch.Tensor,
    palette: torch.Tensor,
    max_distance: float | None = None,
    ignore_index: int = IGNORE_INDEX,
    channel_dim: int | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    dtype: torch.dtype = torch.uint8,
) -> torch.Tensor:
    """Map RGB pixels to the index of the nearest palette colour.

    Args:
        image: uint8 H×W×3 / N×H×W×3 / 3×H×W / N×3×H×W, or a float image of the same layouts
            with values in ``value_range`` (generator outputs: (-1, 1); ToTensor images: (0, 1)).
        palette: K×3 colours in 0..255 (uint8 or float), K <= 255.
        max_distance: if given, pixels whose nearest colour is farther than this (Euclidean,
            0..255 units) become ``ignore_index``.
        ignore_index: the value written for such pixels.
        channel_dim: the RGB dimension; by default the last for uint8 and dim -3 for floats,
            whichever has size 3.
        value_range: the (low, high) range of float images.
        dtype: ``torch.uint8`` (default) or ``torch.int64``.

    Returns:
        (N)×H×W tensor of class indices on the image's device.
    """
    from fastpix._dispatch import implementation

    if dtype not in (torch.uint8, torch.int64):
        raise ValueError(f"dtype must be torch.uint8 or torch.int64, got {dtype}")
    fn = implementation("palette_to_class", image)
    return fn(
        image,
        palette,
        max_distance=max_distance,
        ignore_index=ignore_index,
        channel_dim=channel_dim,
        value_range=value_range,
        dtype=dtype,
    )


def class_to_color(
    classes: torch.Tensor,
    palette: torch.Tensor,
    ignore_color: Sequence[int] = (0, 0, 0),
    channels_first: bool = False,
) -> torch.Tensor:
    """Draw a class map: (N)×H×W integer classes → (N)×H×W×3 uint8 colours.

    Classes outside 0..K-1 (the ignore index) get ``ignore_color``. ``channels_first=True``
    returns (N)×3×H×W instead.
    """
    from fastpix._dispatch import implementation

    fn = implementation("class_to_color", classes)
    return fn(classes, palette, ignore_color=ignore_color, channels_first=channels_first)
