"""Synthetic street scenes: determinism, sizes, class coverage, and a photo that is not a
recolouring of its labels."""

import numpy as np
import pytest

from fastpix.data.synthetic import NUM_CLASSES, make_scene, render_scene
from fastpix.data.synthetic.layout import sample_street
from fastpix.data.synthetic.raster import box_downsample, put_rgb, scale_rgb, take_rgb
from fastpix.labels import IGNORE_INDEX, get_label_set


@pytest.fixture(scope="module")
def scenes():
    """A set of small scenes shared by the statistical tests."""
    return [make_scene(seed, 80, 80, supersample=1) for seed in range(24)]


def test_same_seed_same_scene_other_seed_other_scene():
    photo, labels = make_scene(7, 48, 64)
    again_photo, again_labels = make_scene(7, 48, 64)
    np.testing.assert_array_equal(photo, again_photo)
    np.testing.assert_array_equal(labels, again_labels)
    other_photo, other_labels = make_scene(8, 48, 64)
    assert (other_labels != labels).mean() > 0.05
    assert np.abs(other_photo.astype(int) - photo).mean() > 5


@pytest.mark.parametrize(
    ("height", "width", "supersample"),
    [(16, 16, 1), (37, 53, 1), (37, 53, 3), (64, 128, 2), (100, 60, 2)],  # minimal, odd, wide, tall
)
def test_any_size(height, width, supersample):
    photo, labels = make_scene(3, height, width, supersample=supersample)
    assert photo.shape == (height, width, 3) and photo.dtype == np.uint8
    assert labels.shape == (height, width) and labels.dtype == np.uint8
    valid = (labels < NUM_CLASSES) | (labels == IGNORE_INDEX)
    assert valid.all()


def test_layout_is_the_same_at_every_size():
    _, small = make_scene(11, 64, 64, supersample=1)
    _, large = make_scene(11, 128, 128, supersample=1)
    # Nearest-downsampled large labels match the small render except along edges.
    assert (large[::2, ::2] == small).mean() > 0.9


def test_supersampled_labels_are_the_centre_samples():
    scene = render_scene(5, 40, 56, supersample=2)
    assert scene.fine_labels.shape == (80, 112)
    np.testing.assert_array_equal(scene.labels, scene.fine_labels[1::2, 1::2])
    photo, labels = make_scene(5, 40, 56, supersample=2)
    np.testing.assert_array_equal(photo, scene.photo)
    np.testing.assert_array_equal(labels, scene.labels)


def test_every_class_appears_in_a_set_of_scenes(scenes):
    present = np.zeros(256, int)
    for _, labels in scenes:
        present += np.bincount(labels.ravel(), minlength=256) > 0
    names = get_label_set("trainid").names
    missing = [names[k] for k in range(NUM_CLASSES) if present[k] == 0]
    assert not missing, f"classes never drawn in 24 scenes: {missing}"
    # The big classes are in nearly every scene; void stays rare and small.
    for name in ("road", "sidewalk", "building", "sky", "pole", "car"):
        assert present[names.index(name)] >= 22, name
    void = sum((labels == IGNORE_INDEX).mean() for _, labels in scenes) / len(scenes)
    assert void < 0.03


def test_same_class_pixels_vary(scenes):
    """Within a scene, the pixels of a class are not one colour (textures, shading)."""
    for photo, labels in scenes[:10]:
        for k in np.unique(labels):
            pixels = photo[labels == k].astype(float)
            if k != IGNORE_INDEX and len(pixels) >= 200:
                assert pixels.std(0).mean() > 3.0, f"class {k} is flat"


def test_class_colour_lookup_explains_only_part_of_the_photo(scenes):
    """Predicting each pixel by its class's mean colour over the set leaves a large share of
    the photo's variance unexplained: the photo is not a recolouring of the labels."""
    photos = np.concatenate([p.reshape(-1, 3) for p, _ in scenes]).astype(np.float64)
    labels = np.concatenate([lab.ravel() for _, lab in scenes])
    means = np.zeros((256, 3))
    for k in np.unique(labels):
        means[k] = photos[labels == k].mean(0)
    residual = ((photos - means[labels]) ** 2).sum()
    total = ((photos - photos.mean(0)) ** 2).sum()
    explained = 1 - residual / total
    assert 0.2 < explained < 0.75, explained


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed"),
        ({"height": 8}, "at least 16"),
        ({"supersample": 0}, "supersample"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"seed": 0, "height": 32, "width": 32, **kwargs}
    supersample = args.pop("supersample", 1)
    with pytest.raises(ValueError, match=message):
        make_scene(args["seed"], args["height"], args["width"], supersample=supersample)


def test_pixel_helpers_match_numpy_indexing():
    """take_rgb / put_rgb / scale_rgb (whole-pixel copies through a 12-byte view) do what
    numpy's boolean indexing of the channel axis does, on views of a larger image too."""
    rng = np.random.default_rng(0)
    image = rng.random((9, 11, 3), dtype=np.float32)
    region = (slice(2, 8), slice(1, 10))  # a strided view, as Canvas.photo[window.region]
    mask = rng.random((6, 9)) < 0.4
    np.testing.assert_array_equal(take_rgb(image[region], mask), image[region][mask])
    values = rng.random((int(mask.sum()), 3), dtype=np.float32)
    for new in (values, values[:, :1], np.float32(0.25), [0.1, 0.2, 0.3]):
        got, want = image.copy(), image.copy()
        put_rgb(got[region], mask, new)
        want[region][mask] = new
        np.testing.assert_array_equal(got, want)
    got, want = image.copy(), image.copy()
    scale_rgb(got[region], mask, 0.7)
    want[region][mask] *= np.float32(0.7)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="float32"):
        put_rgb(image.astype(np.float64), np.ones((9, 11), bool), 0.5)


@pytest.mark.parametrize("factor", [1, 2, 3])
def test_box_downsample_is_the_block_mean(factor):
    image = np.random.default_rng(factor).random((6 * factor, 4 * factor, 3), dtype=np.float32)
    want = image.reshape(6, factor, 4, factor, 3).astype(np.float64).mean(axis=(1, 3))
    np.testing.assert_allclose(box_downsample(image, factor), want, rtol=1e-6)


def test_building_segments_match_searchsorted():
    """BuildingRow.segment counts starts; the reference is a binary search."""
    street = sample_street(np.random.default_rng([4, 0]))
    row = street.front[0]
    z = np.random.default_rng(1).uniform(row.starts[0] - 10, row.starts[-1] + 10, 1000)
    z[: len(row.starts)] = row.starts  # exactly on a start: that building
    want = np.clip(np.searchsorted(row.starts, z, side="right") - 1, 0, len(row.starts) - 1)
    np.testing.assert_array_equal(row.segment(z), want)
