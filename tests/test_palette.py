"""palette_to_class / class_to_color reference path against a brute-force numpy oracle."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from fastpix import class_to_color, palette_to_class
from fastpix.labels import get_label_set
from fastpix.palette import class_to_color_reference, palette_to_class_reference


def nearest_numpy(rgb_hwc: np.ndarray, palette: np.ndarray, max_distance=None, ignore=255):
    """Brute force: all squared distances, first minimum wins."""
    d = (
        (rgb_hwc[..., None, :].astype(np.float64) - palette[None, None].astype(np.float64)) ** 2
    ).sum(-1)
    idx = d.argmin(-1)
    if max_distance is not None:
        idx = np.where(d.min(-1) > max_distance**2, ignore, idx)
    return idx


@pytest.mark.parametrize("k", [1, 2, 19, 29, 64])
def test_uint8_hwc_matches_brute_force(k):
    g = np.random.default_rng(k)
    palette = g.integers(0, 256, (k, 3)).astype(np.uint8)
    img = g.integers(0, 256, (13, 17, 3)).astype(np.uint8)
    got = palette_to_class(torch.from_numpy(img), torch.from_numpy(palette), dtype=torch.int64)
    np.testing.assert_array_equal(got.numpy(), nearest_numpy(img, palette))


def test_layouts_agree():
    g = np.random.default_rng(1)
    palette = torch.from_numpy(g.integers(0, 256, (7, 3)).astype(np.uint8))
    nhwc = torch.from_numpy(g.integers(0, 256, (2, 5, 6, 3)).astype(np.uint8))
    a = palette_to_class(nhwc, palette)
    b = palette_to_class(nhwc.permute(0, 3, 1, 2), palette)  # NCHW, non-contiguous
    c = palette_to_class(nhwc[1], palette)
    d = palette_to_class(nhwc[1].permute(2, 0, 1).contiguous(), palette)
    assert a.shape == (2, 5, 6) and a.dtype == torch.uint8
    assert torch.equal(a, b) and torch.equal(a[1], c) and torch.equal(c, d)


def test_float_ranges_match_uint8():
    g = np.random.default_rng(2)
    palette = torch.from_numpy(g.integers(0, 256, (19, 3)).astype(np.uint8))
    img = torch.from_numpy(g.integers(0, 256, (1, 3, 9, 11)).astype(np.uint8))
    ref = palette_to_class(img, palette, channel_dim=1)
    pm1 = img.float() / 127.5 - 1.0
    p01 = img.double() / 255.0
    assert torch.equal(palette_to_class(pm1, palette), ref)
    assert torch.equal(palette_to_class(p01, palette, value_range=(0.0, 1.0)), ref)


def test_ties_go_to_lowest_index():
    palette = torch.tensor([[10, 0, 0], [0, 0, 0], [20, 0, 0], [10, 0, 0]], dtype=torch.uint8)
    img = torch.tensor([[[5, 0, 0], [15, 0, 0], [10, 0, 0]]], dtype=torch.uint8)
    # 5 is equidistant from 10 (idx 0) and 0 (idx 1); 15 from 10 (idx 0) and 20 (idx 2);
    # 10 equals entries 0 and 3.
    assert palette_to_class(img, palette).tolist() == [[0, 0, 0]]


def test_max_distance():
    palette = torch.tensor([[0, 0, 0], [255, 255, 255]], dtype=torch.uint8)
    img = torch.tensor([[[3, 4, 0], [0, 0, 6], [128, 128, 128]]], dtype=torch.uint8)
    out = palette_to_class(img, palette, max_distance=5.0, ignore_index=99)
    assert out.tolist() == [[0, 99, 99]]  # distance 5 is kept, 6 is not
    g = np.random.default_rng(3)
    pal = g.integers(0, 256, (5, 3)).astype(np.uint8)
    im = g.integers(0, 256, (8, 8, 3)).astype(np.uint8)
    got = palette_to_class(torch.from_numpy(im), torch.from_numpy(pal), max_distance=60.0)
    np.testing.assert_array_equal(got.numpy(), nearest_numpy(im, pal, 60.0))


def test_bad_inputs_name_the_problem():
    pal = torch.zeros(3, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match="no RGB channel"):
        palette_to_class(torch.zeros(4, 4, 4, dtype=torch.uint8), pal)
    with pytest.raises(ValueError, match="palette must be K×3"):
        palette_to_class(torch.zeros(4, 4, 3, dtype=torch.uint8), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="3 or 4 dims"):
        palette_to_class(torch.zeros(4, 3, dtype=torch.uint8), pal)
    with pytest.raises(TypeError, match="uint8 or floating"):
        palette_to_class(torch.zeros(4, 4, 3, dtype=torch.int32), pal)
    with pytest.raises(ValueError, match="dtype"):
        palette_to_class(torch.zeros(4, 4, 3, dtype=torch.uint8), pal, dtype=torch.int32)


def test_class_to_color_gather_and_ignore():
    palette = torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.uint8)
    classes = torch.tensor([[0, 1], [255, 1]], dtype=torch.uint8)
    out = class_to_color(classes, palette, ignore_color=(9, 9, 9))
    assert out.shape == (2, 2, 3) and out.dtype == torch.uint8
    assert out.tolist() == [[[1, 2, 3], [4, 5, 6]], [[9, 9, 9], [4, 5, 6]]]
    chw = class_to_color(classes[None], palette, channels_first=True)
    assert chw.shape == (1, 3, 2, 2) and torch.equal(
        chw[0].permute(1, 2, 0), class_to_color(classes, palette)
    )


def test_round_trip_exact_palette():
    ls = get_label_set("trainid")
    classes = torch.randint(0, 19, (3, 16, 16))
    colors = class_to_color_reference(classes, ls.palette)
    assert torch.equal(palette_to_class_reference(colors, ls.palette).long(), classes)


def _voronoi_labels(rng, h, w, k, n_sites=60):
    ys, xs = np.mgrid[0:h, 0:w]
    sites = rng.uniform(0, 1, (n_sites, 2)) * [h, w]
    d = (ys[..., None] - sites[:, 0]) ** 2 + (xs[..., None] - sites[:, 1]) ** 2
    return rng.integers(0, k, n_sites)[d.argmin(-1)]


def test_recovers_jpeg_damaged_masks():
    """Masks saved as the pix2pix Cityscapes pairs are: rendered at high resolution,
    bicubic-resized to 256×256, JPEG q100 4:4:4. Nearest-palette must recover >= 95%."""
    ls = get_label_set("trainid")
    rng = np.random.default_rng(0)
    accs = []
    for _ in range(3):
        full = _voronoi_labels(rng, 512, 1024, 19)
        color = ls.palette.numpy()[full]
        small = Image.fromarray(color).resize((256, 256), Image.BICUBIC)
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=100, subsampling=0)
        damaged = np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        truth = np.array(Image.fromarray(full.astype(np.uint8)).resize((256, 256), Image.NEAREST))
        got = palette_to_class(torch.from_numpy(damaged), ls.palette).numpy()
        accs.append((got == truth).mean())
        assert len(np.unique(damaged.reshape(-1, 3), axis=0)) > 19  # really damaged
    assert np.mean(accs) >= 0.95, accs
