"""The Triton palette ↔ class kernels (forced with FASTPIX_IMPL=triton) must return exactly what
the torch reference returns, and the nearest colour a brute-force numpy search finds."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from fastpix import _dispatch, class_to_color, palette_to_class
from fastpix.labels import get_label_set
from fastpix.palette import class_to_color_reference, palette_to_class_reference


def brute_force_nearest(rgb: np.ndarray, palette: np.ndarray, max_distance=None, ignore=255):
    """All squared distances in float64 (exact for uint8), first minimum wins."""
    d = ((rgb[..., None, :].astype(np.float64) - palette.astype(np.float64)) ** 2).sum(-1)
    index = d.argmin(-1)
    if max_distance is not None:
        index = np.where(d.min(-1) > max_distance**2, ignore, index)
    return index


def both(image, palette, device, **kwargs):
    """(kernel result on device, reference result on CPU), after checking they are equal."""
    got = palette_to_class(image.to(device), palette.to(device), **kwargs)
    expected = palette_to_class_reference(image, palette, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert torch.equal(got.cpu(), expected)
    return got.cpu(), expected


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_dispatch_picks_the_kernels(kernel_device):
    from fastpix.kernels import palette as kernels

    image = torch.zeros(2, 2, 3, dtype=torch.uint8, device=kernel_device)
    assert _dispatch.implementation("palette_to_class", image) is kernels.palette_to_class
    assert _dispatch.implementation("class_to_color", image) is kernels.class_to_color


@pytest.mark.parametrize("k", [1, 2, 19, 64])
@pytest.mark.parametrize("out_dtype", [torch.uint8, torch.int64])
def test_uint8_random_palettes(kernel_device, rng, k, out_dtype):
    palette = rng.integers(0, 256, (k, 3)).astype(np.uint8)
    image = rng.integers(0, 256, (2, 3, 37, 3)).astype(np.uint8)  # NHWC, odd width
    got, _ = both(
        torch.from_numpy(image), torch.from_numpy(palette), kernel_device, dtype=out_dtype
    )
    np.testing.assert_array_equal(got.numpy(), brute_force_nearest(image, palette))


def test_layouts_and_strides(kernel_device, rng):
    palette = torch.from_numpy(rng.integers(0, 256, (7, 3)).astype(np.uint8))
    nhwc = torch.from_numpy(rng.integers(0, 256, (2, 4, 21, 3)).astype(np.uint8))
    expected, _ = both(nhwc, palette, kernel_device)
    for view, result in (
        (nhwc.permute(0, 3, 1, 2), expected),  # NCHW view of NHWC memory
        (nhwc.permute(0, 3, 1, 2).contiguous(), expected),  # NCHW
        (nhwc[:, :, ::2], expected[:, :, ::2]),  # strided columns
        (nhwc[1], expected[1]),  # HWC
    ):
        got, _ = both(view, palette, kernel_device)
        assert torch.equal(got, result)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_float_images_bitwise(kernel_device, rng, dtype, value_range):
    """Generator outputs: the kernel rounds exactly as the reference does, so even pixels
    that land near the midpoint between two colours get the same class."""
    low, high = value_range
    palette = torch.from_numpy(rng.integers(0, 256, (19, 3)).astype(np.uint8))
    image = torch.from_numpy(rng.uniform(low, high, (1, 3, 4, 33))).to(dtype)
    # near-ties: midpoints of colour pairs, in image units, plus and minus an ulp
    mid = (palette[:-1].double() + palette[1:].double()) / 2 / 255 * (high - low) + low
    mid = mid.T.reshape(1, 3, 1, -1).to(dtype)
    ties = torch.cat([mid, mid.nextafter(mid + 1), mid.nextafter(mid - 1)], dim=2)
    for img in (image, ties):
        both(img, palette, kernel_device, value_range=value_range, max_distance=40.0)
        both(img, palette, kernel_device, value_range=value_range)


def test_ties_go_to_lowest_index(kernel_device):
    palette = torch.tensor([[10, 0, 0], [0, 0, 0], [20, 0, 0], [10, 0, 0]], dtype=torch.uint8)
    image = torch.tensor([[[5, 0, 0], [15, 0, 0], [10, 0, 0]]], dtype=torch.uint8)
    got, _ = both(image, palette, kernel_device)
    assert got.tolist() == [[0, 0, 0]]
    floats = image.permute(2, 0, 1).float()  # exact ties in float arithmetic too
    got, _ = both(floats, palette, kernel_device, value_range=(0.0, 255.0))
    assert got.tolist() == [[0, 0, 0]]


def test_max_distance(kernel_device, rng):
    palette = torch.tensor([[0, 0, 0], [255, 255, 255]], dtype=torch.uint8)
    image = torch.tensor([[[3, 4, 0], [0, 0, 6], [128, 128, 128]]], dtype=torch.uint8)
    got, _ = both(image, palette, kernel_device, max_distance=5.0, ignore_index=99)
    assert got.tolist() == [[0, 99, 99]]  # distance 5 is kept, 6 is not
    got, _ = both(image, palette, kernel_device, max_distance=5.0, ignore_index=-1)
    assert got.tolist() == [[0, 255, 255]]  # uint8 output wraps the ignore value, as torch
    pal = rng.integers(0, 256, (5, 3)).astype(np.uint8)
    img = rng.integers(0, 256, (2, 8, 3)).astype(np.uint8)
    got, _ = both(torch.from_numpy(img), torch.from_numpy(pal), kernel_device, max_distance=60.0)
    np.testing.assert_array_equal(got.numpy(), brute_force_nearest(img, pal, 60.0))


def test_max_distance_threshold_rounds_like_torch(kernel_device):
    """torch compares a float32 tensor with a Python float in fp32: a squared distance one
    ulp above 25 is not above 25.000001, which rounds to that same fp32 value."""
    image = torch.tensor([5.0, 0.00138, 0.0]).view(3, 1, 1)  # 0..255 units with this range
    best = np.float32(25.0) + np.float32(0.00138) * np.float32(0.00138)
    assert best == np.nextafter(np.float32(25.0), np.float32(26.0)) and float(best) > 25.000001
    palette = torch.tensor([[0, 0, 0]], dtype=torch.uint8)
    got, _ = both(
        image, palette, kernel_device, value_range=(0.0, 255.0), max_distance=25.000001**0.5
    )
    assert got.item() == 0


def test_recovers_jpeg_damaged_masks(kernel_device):
    """Pairs-style masks (bicubic resize + JPEG) classified by the kernel as by the reference."""
    label_set = get_label_set("trainid")
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:128, 0:256]
    sites = rng.uniform(0, 1, (40, 2)) * [128, 256]
    d = (ys[..., None] - sites[:, 0]) ** 2 + (xs[..., None] - sites[:, 1]) ** 2
    labels = rng.integers(0, 19, 40)[d.argmin(-1)]
    small = Image.fromarray(label_set.palette.numpy()[labels]).resize((64, 32), Image.BICUBIC)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=100, subsampling=0)
    damaged = torch.from_numpy(np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    assert len(np.unique(damaged.reshape(-1, 3).numpy(), axis=0)) > 19  # really damaged
    got, _ = both(damaged, label_set.palette, kernel_device)
    truth = Image.fromarray(labels.astype(np.uint8)).resize((64, 32), Image.NEAREST)
    assert (got.numpy() == np.array(truth)).mean() >= 0.9
    mask = label_set.classes_from_mask(damaged.to(kernel_device), max_distance=30.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASTPIX_IMPL", "torch")
        assert torch.equal(mask.cpu(), label_set.classes_from_mask(damaged, max_distance=30.0))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int64])
@pytest.mark.parametrize("shape", [(9, 13), (2, 9, 13), (2, 2, 3, 5)])
def test_class_to_color(kernel_device, dtype, shape):
    palette = get_label_set("trainid").palette
    low = 0 if dtype == torch.uint8 else -3
    classes = torch.randint(low, 25, shape, generator=torch.Generator().manual_seed(1))
    classes[..., 0] = 255  # the ignore index
    classes = classes.to(dtype)
    for channels_first in (False, True):
        got = class_to_color(
            classes.to(kernel_device), palette.to(kernel_device), (9, 8, 7), channels_first
        )
        expected = class_to_color_reference(classes, palette, (9, 8, 7), channels_first)
        assert got.shape == expected.shape and torch.equal(got.cpu(), expected)
    strided = classes.transpose(-1, -2)
    got = class_to_color(strided.to(kernel_device), palette.to(kernel_device))
    assert torch.equal(got.cpu(), class_to_color_reference(strided, palette))


def test_round_trip(kernel_device):
    palette = get_label_set("labelid").mask_palette
    classes = torch.randint(0, palette.shape[0], (2, 5, 40)).to(kernel_device)
    colors = class_to_color(classes, palette.to(kernel_device))
    assert torch.equal(palette_to_class(colors, palette.to(kernel_device)).long(), classes)


def test_bad_inputs_raise_like_the_reference(kernel_device):
    pal = torch.zeros(3, 3, dtype=torch.uint8, device=kernel_device)
    with pytest.raises(ValueError, match="no RGB channel"):
        palette_to_class(torch.zeros(4, 4, 4, dtype=torch.uint8, device=kernel_device), pal)
    with pytest.raises(TypeError, match="uint8 or floating"):
        palette_to_class(torch.zeros(4, 4, 3, dtype=torch.int32, device=kernel_device), pal)
    with pytest.raises(ValueError, match="value_range"):
        palette_to_class(torch.zeros(3, 4, 4, device=kernel_device), pal, value_range=(1.0, 0.0))
    with pytest.raises(TypeError, match="integer tensor"):
        class_to_color(torch.zeros(4, 4, device=kernel_device), pal)
