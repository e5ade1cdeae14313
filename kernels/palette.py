"""Triton kernels: RGB pixels → nearest palette class, and class maps → colours.

``palette_to_class`` makes one pass over the image: a program classifies BLOCK_W pixels of one
row against the K palette colours, which sit in registers (K is a compile-time constant and the
colour loop is unrolled). It returns exactly what ``fastpix.palette.palette_to_class_reference``
returns:

- uint8 images: every quantity is an integer below 2^24, so fp32 arithmetic is exact in any
  order. The kernel ranks colours by |c|² - 2·p·c (|p|² is common to all colours) with three
  fused multiply-adds per colour, and adds |p|² back only for the max-distance test.
- float images: the reference's roundings are reproduced operation by operation: the pixel is
  mapped to (x - low)·255/(high - low) in fp32, the distance is ((dr² + dg²) + db²) in that
  order, and the launch disables FMA contraction, so the distances are bitwise the
  reference's. Ties keep the lowest index (strict <) in both; the max-distance threshold is
  squared in double and compared in fp32, as torch compares a float32 tensor with a Python
  float.

``class_to_color`` gathers each pixel's colour from the (K+1)×3 table (K colours, then the
ignore colour) in L1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import triton
import triton.language as tl
from fastpix.kernels.norm_act import on_input_device

from fastpix.palette import IGNORE_INDEX, check_image, check_palette, color_table

_MAX_BLOCK_W = 512  # pixels per program: one row of a 256×512 Cityscapes image


@triton.jit
def _palette_to_class_kernel(
    image_ptr,  # N×H×W×3 image (uint8 or float), element strides stride_n/h/w/c
    palette_ptr,  # K×3 fp32 colours in 0..255
    out_ptr,  # N×H×W class indices (uint8 or int64), contiguous
    H,
    W,
    stride_n,
    stride_h,
    stride_w,
    stride_c,
    low,  # float images: value mapped to 0
    scale,  # float images: 255 / (high - low)
    max_distance_sq,  # fp32 squared max distance (read when HAS_MAX_DISTANCE)
    ignore_index,
    K: tl.constexpr,
    IS_UINT8: tl.constexpr,
    HAS_MAX_DISTANCE: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)  # n·H + h
    w = tl.program_id(1) * BLOCK_W + tl.arange(0, BLOCK_W)
    mask = w < W
    pixel = image_ptr + (row // H) * stride_n + (row % H) * stride_h + w * stride_w
    r = tl.load(pixel, mask=mask, other=0).to(tl.float32)
    g = tl.load(pixel + stride_c, mask=mask, other=0).to(tl.float32)
    b = tl.load(pixel + 2 * stride_c, mask=mask, other=0).to(tl.float32)
    if not IS_UINT8:
        r = (r - low) * scale
        g = (g - low) * scale
        b = (b - low) * scale
    best = tl.full([BLOCK_W], float("inf"), tl.float32)
    index = tl.zeros([BLOCK_W], tl.int32)
    for k in tl.static_range(K):
        cr = tl.load(palette_ptr + 3 * k)
        cg = tl.load(palette_ptr + 3 * k + 1)
        cb = tl.load(palette_ptr + 3 * k + 2)
        if IS_UINT8:
            d = (cr * cr + cg * cg + cb * cb) - (r * (2.0 * cr) + g * (2.0 * cg) + b * (2.0 * cb))
        else:
            dr = r - cr
            dg = g - cg
            db = b - cb
            d = (dr * dr + dg * dg) + db * db
        closer = d < best
        best = tl.where(closer, d, best)
        index = tl.where(closer, k, index)
    if HAS_MAX_DISTANCE:
        if IS_UINT8:
            best = best + (r * r + g * g + b * b)
        index = tl.where(best > max_distance_sq, ignore_index, index)
    tl.store(out_ptr + row * W + w, index.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _class_to_color_kernel(
    classes_ptr,  # N×H×W integer classes, element strides stride_n/h/w
    table_ptr,  # (K+1)×3 uint8 colours; row K is the ignore colour
    out_ptr,  # N×H×W×3 (or N×3×H×W when CHANNELS_FIRST) uint8, contiguous
    H,
    W,
    stride_n,
    stride_h,
    stride_w,
    K: tl.constexpr,
    CHANNELS_FIRST: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)  # n·H + h
    n = row // H
    h = row % H
    w = tl.program_id(1) * BLOCK_W + tl.arange(0, BLOCK_W)
    mask = w < W
    cls = tl.load(classes_ptr + n * stride_n + h * stride_h + w * stride_w, mask=mask, other=0)
    cls = cls.to(tl.int64)
    entry = tl.where((cls >= 0) & (cls < K), cls, K) * 3
    for c in tl.static_range(3):
        color = tl.load(table_ptr + entry + c, mask=mask, other=0)
        if CHANNELS_FIRST:
            offs = ((n * 3 + c) * H + h) * W + w
        else:
            offs = (row * W + w) * 3 + c
        tl.store(out_ptr + offs, color, mask=mask)


# ----------------------------------------------------------------------------- host functions


def _row_grid(rows: int, width: int) -> tuple[tuple[int, int], int, int]:
    block_w = min(triton.next_power_of_2(max(width, 1)), _MAX_BLOCK_W)
    return (rows, triton.cdiv(width, block_w)), block_w, max(1, min(4, block_w // 128))


@on_input_device
def palette_to_class(
    image: torch.Tensor,
    palette: torch.Tensor,
    max_distance: float | None = None,
    ignore_index: int = IGNORE_INDEX,
    channel_dim: int | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    dtype: torch.dtype = torch.uint8,
) -> torch.Tensor:
    """Nearest-palette class of every pixel; arguments and result as
    ``fastpix.palette.palette_to_class`` (uint8 or float images, HWC/CHW/NHWC/NCHW with any
    strides; (N)×H×W uint8 or int64 out)."""
    palette = check_palette(palette)
    rgb = image.movedim(check_image(image, channel_dim, value_range), -1)
    batched = rgb.dim() == 4
    if not batched:
        rgb = rgb.unsqueeze(0)
    n, h, w, _ = rgb.shape
    out = torch.empty((n, h, w), dtype=dtype, device=image.device)
    if out.numel() > 0:
        colors = palette.to(device=image.device, dtype=torch.float32).contiguous()
        is_uint8 = image.dtype == torch.uint8
        low, high = value_range
        # Squared in double, then rounded to fp32: what `float32 tensor > python float` does.
        threshold = float(torch.tensor(float(max_distance or 0.0) ** 2, dtype=torch.float32))
        grid, block_w, num_warps = _row_grid(n * h, w)
        _palette_to_class_kernel[grid](
            rgb, colors, out, h, w, *rgb.stride(),
            float(low), 255.0 / (high - low), threshold, int(ignore_index),
            K=colors.shape[0], IS_UINT8=is_uint8, HAS_MAX_DISTANCE=max_distance is not None,
            BLOCK_W=block_w, num_warps=num_warps,
            # Exact integers need no care; float distances must round as the reference's.
            enable_fp_fusion=is_uint8,
        )  # fmt: skip
    return out if batched else out[0]


@on_input_device
def class_to_color(
    classes: torch.Tensor,
    palette: torch.Tensor,
    ignore_color: Sequence[int] = (0, 0, 0),
    channels_first: bool = False,
) -> torch.Tensor:
    """Class map → colours; arguments and result as ``fastpix.palette.class_to_color``
    (…×H×W integer classes in; …×H×W×3 uint8 out, or …×3×H×W when ``channels_first``,
    contiguous)."""
    table = color_table(classes, palette, ignore_color)
    if channels_first and classes.dim() < 2:
        raise ValueError(f"channels_first needs …×H×W classes, got shape {tuple(classes.shape)}")
    h, w = (1, 1, *classes.shape)[-2:]
    lead = classes.shape[:-2] if classes.dim() >= 2 else ()
    cls = classes.reshape(-1, h, w)
    rows = cls.shape[0] * h
    out = torch.empty(
        (cls.shape[0], 3, h, w) if channels_first else (cls.shape[0], h, w, 3),
        dtype=torch.uint8,
        device=classes.device,
    )
    if out.numel() > 0:
        grid, block_w, num_warps = _row_grid(rows, w)
        _class_to_color_kernel[grid](
            cls, table, out, h, w, *cls.stride(),
            K=table.shape[0] - 1, CHANNELS_FIRST=channels_first,
            BLOCK_W=block_w, num_warps=num_warps, enable_fp_fusion=True,
        )  # fmt: skip
    if channels_first:
        return out.view(*lead, 3, h, w)
    return out.view(*classes.shape, 3)
