"""Datasets over the three layouts: transforms against hand-computed crops and flips, label
decoding against the known tables, and an error naming the file for every kind of bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

from fastpix.data import AlignedDataset, LayoutError, SegmentationDataset
from fastpix.data.transforms import JitterConfig, pair_rng, pix2pix_jitter, sample_jitter
from fastpix.labels import LABEL_BY_NAME, custom_label_set, get_label_set

TRAINID = get_label_set("trainid")


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


def random_pair(rng, height, width):
    """A photo and a class map (trainIds 0..18), with the mask drawn in palette colours."""
    photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    classes = rng.integers(0, 19, (height, width), dtype=np.uint8)
    return photo, classes, TRAINID.palette.numpy()[classes]


@pytest.fixture
def aligned_root(tmp_path):
    """An aligned folder of PNG pairs (photo | colour mask), 20×24 halves."""
    rng = np.random.default_rng(0)
    truth = []
    for split in ("train", "test"):
        for i in range(3):
            photo, classes, mask = random_pair(rng, 20, 24)
            save(tmp_path / split / f"{i}.png", np.concatenate([photo, mask], 1))
            truth.append((split, photo, classes))
    return tmp_path, truth


def to_uint8(tensor):
    """[-1, 1] float 3×H×W → H×W×3 uint8 (exact for values that came from uint8)."""
    return ((tensor.permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy()


def test_no_jitter_returns_the_halves_exactly(aligned_root):
    root, truth = aligned_root
    ds = SegmentationDataset(root, "train", layout="aligned")
    assert len(ds) == 3
    for i in range(3):
        photo, mask = ds[i]
        assert photo.dtype == torch.float32 and photo.shape == (3, 20, 24)
        assert mask.dtype == torch.int64 and mask.shape == (20, 24)
        assert photo.min() >= -1.0 and photo.max() <= 1.0
        np.testing.assert_array_equal(to_uint8(photo), truth[i][1])
        np.testing.assert_array_equal(mask.numpy(), truth[i][2])


@pytest.mark.parametrize("epoch", [0, 1, 5])
def test_crop_and_flip_match_a_hand_computed_window(aligned_root, epoch):
    root, truth = aligned_root
    config = JitterConfig(crop_size=(13, 17), flip=True)
    ds = SegmentationDataset(root, "train", layout="aligned", jitter=config, seed=42)
    ds.set_epoch(epoch)
    flips = set()
    for i in range(3):
        j = sample_jitter(config, (20, 24), pair_rng(42, epoch, i))
        flips.add(j.flip)
        want_photo = truth[i][1][j.top : j.top + 13, j.left : j.left + 17]
        want_mask = truth[i][2][j.top : j.top + 13, j.left : j.left + 17]
        if j.flip:
            want_photo, want_mask = want_photo[:, ::-1], want_mask[:, ::-1]
        photo, mask = ds[i]
        np.testing.assert_array_equal(to_uint8(photo), want_photo)
        np.testing.assert_array_equal(mask.numpy(), want_mask)


def test_jitter_changes_with_the_epoch_and_repeats_within_it(aligned_root):
    root, _ = aligned_root
    ds = AlignedDataset(root, "train", jitter=JitterConfig(crop_size=(8, 8), flip=True))
    first = [ds[i]["A"] for i in range(3)]
    assert all(torch.equal(a, ds[i]["A"]) for i, a in enumerate(first))
    ds.set_epoch(1)
    assert not all(torch.equal(a, ds[i]["A"]) for i, a in enumerate(first))


def test_nearest_resize_of_class_maps(aligned_root):
    """Class maps are resized by nearest neighbour: output pixel (y, x) takes input pixel
    (floor((y + 0.5) · H_in / H_out), floor((x + 0.5) · W_in / W_out)). The sizes are chosen
    so that no sample falls exactly on a pixel border (20/32 = 5/8, 24/40 = 3/5)."""
    root, truth = aligned_root
    ds = SegmentationDataset(root, "train", layout="aligned", jitter=JitterConfig((32, 40)))
    _, mask = ds[1]
    rows = np.floor((np.arange(32) + 0.5) * 20 / 32).astype(int)
    cols = np.floor((np.arange(40) + 0.5) * 24 / 40).astype(int)
    np.testing.assert_array_equal(mask.numpy(), truth[1][2][rows][:, cols])


def keys_bicubic(image, out_size, a=-0.5):
    """Separable bicubic resampling with the Keys kernel (a = -0.5), edges clamped: like PIL,
    horizontally first, rounding to 8 bits between the passes."""

    def weights(n_in, n_out):
        centre = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        taps = np.floor(centre)[:, None] + np.arange(-1, 3)
        d = np.abs(centre[:, None] - taps)
        w = np.where(
            d <= 1,
            (a + 2) * d**3 - (a + 3) * d**2 + 1,
            np.where(d < 2, a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a, 0.0),
        )
        matrix = np.zeros((n_out, n_in))
        for k in range(4):
            np.add.at(
                matrix, (np.arange(n_out), np.clip(taps[:, k], 0, n_in - 1).astype(int)), w[:, k]
            )
        return matrix / matrix.sum(1, keepdims=True)

    rows, cols = weights(image.shape[0], out_size[0]), weights(image.shape[1], out_size[1])
    wide = np.clip(np.einsum("ijc,xj->ixc", image.astype(np.float64), cols).round(), 0, 255)
    return np.clip(np.einsum("yi,ixc->yxc", rows, wide), 0, 255)


def test_bicubic_resize_of_photos(aligned_root):
    """Photos are resized bicubically (PIL's Keys kernel, as pix2pix), not bilinearly."""
    root, truth = aligned_root
    ds = SegmentationDataset(root, "train", layout="aligned", jitter=JitterConfig((40, 48)))
    got = (ds[0][0].permute(1, 2, 0).numpy().astype(np.float64) + 1) * 127.5
    want = keys_bicubic(truth[0][1], (40, 48))
    inner = (slice(4, -4), slice(4, -4))  # away from the borders, where PIL drops taps
    assert np.abs(got - want)[inner].max() <= 2.0
    source = torch.from_numpy(truth[0][1]).permute(2, 0, 1)[None].float()
    bilinear = torch.nn.functional.interpolate(source, size=(40, 48), mode="bilinear")
    assert np.abs(got - bilinear[0].permute(1, 2, 0).numpy())[inner].mean() > 5.0


def test_pix2pix_reference_transforms(aligned_root):
    root, _ = aligned_root
    train = AlignedDataset(root, "train")
    assert train.jitter == JitterConfig((286, 286), (256, 256), True) == pix2pix_jitter(True)
    item = train[0]
    assert item["A"].shape == item["B"].shape == (3, 256, 256)
    assert item["path"].endswith("train/0.png")
    test = AlignedDataset(root, "test")
    assert test.jitter == JitterConfig(load_size=(256, 256)) == pix2pix_jitter(False)
    # No crop, no flip at test time: the resized halves, same for every epoch.
    first = test[2]["A"]
    test.set_epoch(3)
    assert torch.equal(first, test[2]["A"])


def test_direction_swaps_the_halves(aligned_root):
    root, truth = aligned_root
    none = JitterConfig()
    a_to_b = AlignedDataset(root, "train", direction="AtoB", jitter=none)[0]
    b_to_a = AlignedDataset(root, "train", direction="BtoA", jitter=none)[0]
    assert torch.equal(a_to_b["A"], b_to_a["B"]) and torch.equal(a_to_b["B"], b_to_a["A"])
    np.testing.assert_array_equal(to_uint8(a_to_b["A"]), truth[0][1])
    # Segmentation with the photo on the right.
    seg = SegmentationDataset(root, "train", layout="aligned", direction="BtoA")
    mask_as_photo = to_uint8(seg[0][0])
    np.testing.assert_array_equal(mask_as_photo, TRAINID.palette.numpy()[truth[0][2]])


def test_mask_half_is_resized_nearest(aligned_root):
    root, _ = aligned_root
    ds = AlignedDataset(root, "train", jitter=JitterConfig((37, 37)), mask_half="right")
    colors = to_uint8(ds[0]["B"]).reshape(-1, 3)
    palette = {tuple(c) for c in TRAINID.palette.numpy()}
    assert all(tuple(c) in palette for c in np.unique(colors, axis=0))
    blended = AlignedDataset(root, "train", jitter=JitterConfig((37, 37)))
    colors = np.unique(to_uint8(blended[0]["B"]).reshape(-1, 3), axis=0)
    assert sum(tuple(c) not in palette for c in colors) > 10


def test_max_distance_marks_unknown_colours_void(tmp_path):
    photo = np.zeros((4, 4, 3), np.uint8)
    mask = np.empty((4, 4, 3), np.uint8)
    mask[:] = LABEL_BY_NAME["road"].color
    mask[0, 0] = (128, 64, 110)  # 18 from road
    mask[1, 1] = (0, 255, 0)  # nearest: vegetation (107, 142, 35), 160 away
    save(tmp_path / "train" / "1.png", np.concatenate([photo, mask], 1))
    loose = SegmentationDataset(tmp_path, "train")[0][1]
    strict = SegmentationDataset(tmp_path, "train", max_distance=30)[0][1]
    assert loose[0, 0] == strict[0, 0] == LABEL_BY_NAME["road"].train_id
    assert loose[1, 1] == LABEL_BY_NAME["vegetation"].train_id and strict[1, 1] == 255


def test_label_sets(aligned_root):
    root, truth = aligned_root
    road = SegmentationDataset(root, "train", layout="aligned", label_set="road")[0][1]
    np.testing.assert_array_equal(road.numpy(), (truth[0][2] == 0).astype(np.int64))
    two = custom_label_set([(128, 64, 128), (70, 130, 180)], ["road", "sky"])
    custom = SegmentationDataset(root, "train", layout="aligned", label_set=two)[0][1]
    assert set(np.unique(custom.numpy())) <= {0, 1}


def cityscapes_root(tmp_path, label_ids, size=(16, 32)):
    rng = np.random.default_rng(1)
    files = []
    for i, ids in enumerate(label_ids):
        stem = f"town_{i:06d}_000019"
        photo = save(
            tmp_path / "leftImg8bit" / "val" / "town" / f"{stem}_leftImg8bit.png",
            rng.integers(0, 256, (*size, 3)),
        )
        label = save(tmp_path / "gtFine" / "val" / "town" / f"{stem}_gtFine_labelIds.png", ids)
        files.append((photo, label))
    return files


def test_cityscapes_label_ids_map_to_train_ids(tmp_path):
    ids = np.random.default_rng(2).integers(0, 34, (16, 32)).astype(np.uint8)
    cityscapes_root(tmp_path, [ids])
    want = np.full(256, 255, np.int64)
    for label in LABEL_BY_NAME.values():
        if label.id >= 0 and 0 <= label.train_id < 255:
            want[label.id] = label.train_id
    _, classes = SegmentationDataset(tmp_path, "val", layout="cityscapes")[0]
    np.testing.assert_array_equal(classes.numpy(), want[ids])
    _, raw = SegmentationDataset(tmp_path, "val", layout="cityscapes", label_set="labelid")[0]
    np.testing.assert_array_equal(raw.numpy(), ids)
    item = AlignedDataset(tmp_path, "val", layout="cityscapes", jitter=JitterConfig())[0]
    colors = np.array([LABEL_BY_NAME[get_label_set("labelid").names[i]].color for i in ids.ravel()])
    np.testing.assert_array_equal(to_uint8(item["B"]).reshape(-1, 3), colors)


# --- errors name the file and what was expected ------------------------------------------


def test_odd_width(tmp_path):
    save(tmp_path / "train" / "1.png", np.zeros((8, 15, 3)))
    with pytest.raises(LayoutError, match=r"1\.png: width 15 is odd"):
        SegmentationDataset(tmp_path, "train")[0]


def test_non_image_file(tmp_path):
    save(tmp_path / "train" / "1.png", np.zeros((8, 16, 3)))
    (tmp_path / "train" / "notes.txt").write_text("x")
    with pytest.raises(LayoutError, match=r"notes\.txt: not an image file"):
        SegmentationDataset(tmp_path, "train")


def test_corrupt_image(tmp_path):
    path = tmp_path / "train" / "2.jpg"
    path.parent.mkdir()
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    ds = SegmentationDataset(tmp_path, "train")
    with pytest.raises(LayoutError, match=r"2\.jpg: cannot decode image"):
        ds[0]


def test_truncated_image(tmp_path):
    path = save(
        tmp_path / "train" / "1.png", np.random.default_rng(0).integers(0, 255, (32, 64, 3))
    )
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(LayoutError, match=r"1\.png: cannot decode image"):
        AlignedDataset(tmp_path, "train")[0]


def test_missing_folder(tmp_path):
    with pytest.raises(LayoutError, match=r"val: folder not found"):
        SegmentationDataset(tmp_path, "val")
    with pytest.raises(LayoutError, match=r"nowhere: data folder not found"):
        SegmentationDataset(tmp_path / "nowhere", "train")


def test_missing_cityscapes_label(tmp_path):
    ((_, label),) = cityscapes_root(tmp_path, [np.zeros((16, 32))])
    label.unlink()
    with pytest.raises(
        LayoutError, match=r"town_000000_000019_gtFine_labelIds\.png: label file missing"
    ):
        SegmentationDataset(tmp_path, "val", layout="cityscapes")


def test_cityscapes_size_mismatch(tmp_path):
    ((_, label),) = cityscapes_root(tmp_path, [np.zeros((16, 32))])
    save(label, np.zeros((16, 30)))
    with pytest.raises(LayoutError, match=r"labelIds\.png: size 30×16 does not match its photo"):
        SegmentationDataset(tmp_path, "val", layout="cityscapes")[0]


def test_cityscapes_label_not_single_channel(tmp_path):
    ((_, label),) = cityscapes_root(tmp_path, [np.zeros((16, 32))])
    save(label, np.zeros((16, 32, 3)))
    with pytest.raises(LayoutError, match=r"labelIds\.png: expected a single-channel label"):
        SegmentationDataset(tmp_path, "val", layout="cityscapes")[0]


def test_crop_larger_than_image(aligned_root):
    root, _ = aligned_root
    ds = SegmentationDataset(
        root, "train", layout="aligned", jitter=JitterConfig(crop_size=(64, 64))
    )
    with pytest.raises(LayoutError, match=r"0\.png: crop_size \(64, 64\) is larger"):
        ds[0]


def test_bad_arguments(aligned_root, tmp_path):
    root, _ = aligned_root
    with pytest.raises(ValueError, match="direction"):
        SegmentationDataset(root, "train", layout="aligned", direction="AB")
    with pytest.raises(ValueError, match="unknown label set"):
        SegmentationDataset(root, "train", layout="aligned", label_set="nope")
    with pytest.raises(ValueError, match="mask_half"):
        AlignedDataset(root, "train", mask_half="top")
    cityscapes_root(tmp_path, [np.zeros((16, 32))])
    with pytest.raises(ValueError, match="maps no Cityscapes label id"):
        SegmentationDataset(tmp_path, "val", "cityscapes", label_set=custom_label_set([(1, 2, 3)]))
