"""Synthetic data sets written in each layout read back through the datasets: the labels come
back (all of them from PNG, nearly all from JPEG), names and splits follow the layouts."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from fastpix.data import AlignedDataset, LayoutError, SegmentationDataset, list_pairs
from fastpix.data.synthetic import make_scene
from fastpix.data.transforms import JitterConfig
from fastpix.data.writers import _colorize, trainid_to_labelid, write_synthetic
from fastpix.labels import LABELS, get_label_set


def scene_of(pair_name: str, layout: str, seed: int, offsets: dict[str, int], split: str) -> int:
    """Which scene a file holds: files are numbered within their split in scene order."""
    first = {"kaggle": 1, "aligned": 0}[layout]
    return seed + offsets[split] + int(pair_name) - first


def test_kaggle_png_round_trip_is_exact(tmp_path):
    summary = write_synthetic(tmp_path, n=5, layout="kaggle", size=(40, 56), seed=3, png=True,
                              val_fraction=0.2, workers=1)  # fmt: skip
    assert summary["splits"] == {"train": 4, "val": 1}
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == [
        f"{i}.png" for i in (1, 2, 3, 4)
    ]
    assert [p.name for p in (tmp_path / "val").iterdir()] == ["1.png"]
    for split, offset in (("train", 0), ("val", 4)):
        ds = SegmentationDataset(tmp_path, split)
        for i, pair in enumerate(ds.pairs):
            photo, labels = make_scene(
                scene_of(pair.name, "kaggle", 3, {split: offset}, split), 40, 56
            )
            got_photo, got_labels = ds[i]
            np.testing.assert_array_equal(got_labels.numpy(), labels)
            np.testing.assert_array_equal(
                ((got_photo + 1) * 127.5).round().byte().permute(1, 2, 0), photo
            )


def test_kaggle_jpeg_masks_decode_to_the_labels(tmp_path):
    write_synthetic(tmp_path, n=4, layout="kaggle", size=128, seed=10, val_fraction=0, workers=1)
    ds = SegmentationDataset(tmp_path, "train")
    agreement, blended = [], 0
    for i, pair in enumerate(ds.pairs):
        _, labels = make_scene(10 + int(pair.name) - 1, 128, 128)
        agreement.append((ds[i][1].numpy() == labels).mean())
        mask = np.asarray(Image.open(pair.combined))[:, 128:].reshape(-1, 3)
        blended += len(np.unique(mask, axis=0))
    assert min(agreement) >= 0.95, agreement
    assert blended > 4 * 200  # bicubic + JPEG: many more colours than the 20 of the palette
    with Image.open(ds.pairs[0].combined) as image:
        assert image.format == "JPEG" and image.size == (256, 128)


def test_aligned_layout_and_direction(tmp_path):
    summary = write_synthetic(tmp_path, n=6, layout="aligned", size=32, seed=0,
                              val_fraction=1 / 3, test_fraction=1 / 6, png=True, workers=1)  # fmt: skip
    assert summary["splits"] == {"train": 3, "val": 2, "test": 1}
    assert [p.name for p in list_pairs(tmp_path, "val", "aligned")] == ["0", "1"]
    item = AlignedDataset(tmp_path, "test", direction="BtoA", jitter=JitterConfig())[0]
    photo, labels = make_scene(5, 32, 32)
    colors = get_label_set("trainid").palette.numpy()[labels]
    np.testing.assert_array_equal(((item["A"] + 1) * 127.5).round().byte().permute(1, 2, 0), colors)
    np.testing.assert_array_equal(((item["B"] + 1) * 127.5).round().byte().permute(1, 2, 0), photo)


def test_cityscapes_layout_holds_label_ids(tmp_path):
    write_synthetic(tmp_path, n=5, layout="cityscapes", size=(32, 64), seed=7, val_fraction=0.4,
                    workers=2)  # fmt: skip
    pairs = list_pairs(tmp_path, "val", "cityscapes")
    assert len(pairs) == 2 and len(list_pairs(tmp_path, "train", "cityscapes")) == 3
    want_lut = np.zeros(256, np.uint8)
    for label in LABELS:
        if 0 <= label.train_id < 255 and want_lut[label.train_id] == 0:
            want_lut[label.train_id] = label.id
    np.testing.assert_array_equal(trainid_to_labelid(), want_lut)
    colors = np.zeros((256, 3), np.uint8)
    for label in reversed(LABELS):
        if label.id >= 0:
            colors[label.id] = label.color
    ds = SegmentationDataset(tmp_path, "val", layout="cityscapes")
    for i, pair in enumerate(pairs):
        city, seq, frame = pair.name.split("_")
        assert pair.photo.parent.name == city and frame == "000019"
        _, labels = make_scene(7 + 3 + int(seq), 32, 64)
        ids = np.asarray(Image.open(pair.label))
        assert ids[labels == 0].tolist() == [7] * int((labels == 0).sum())  # road is label id 7
        np.testing.assert_array_equal(ds[i][1].numpy(), labels)
        color_file = pair.label.with_name(pair.name + "_gtFine_color.png")
        np.testing.assert_array_equal(
            np.asarray(Image.open(color_file).convert("RGB")), colors[ids]
        )


def test_manifest_and_refusal_to_overwrite(tmp_path):
    write_synthetic(tmp_path, n=2, layout="kaggle", size=24, val_fraction=0, workers=1)
    manifest = json.loads((tmp_path / "fastpix_synth.json").read_text())
    assert manifest["config"]["layout"] == "kaggle" and manifest["splits"] == {"train": 2}
    assert sum(manifest["class_pixels"]) == 2 * 24 * 24
    with pytest.raises(LayoutError, match=r"train: already holds files"):
        write_synthetic(tmp_path, n=2, layout="kaggle", size=24, workers=1)
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layout": "voc"}, "unknown layout"),
        ({"n": 0}, "n must be"),
        ({"size": 8}, "at least 16"),
        ({"layout": "kaggle", "test_fraction": 0.2}, "no test split"),
        ({"n": 2, "val_fraction": 0.9}, "none for train"),
        ({"workers": 0}, "workers"),
    ],
)
def test_bad_settings(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        write_synthetic(tmp_path, **{"n": 4, "size": 32, "workers": 1, **kwargs})


@pytest.mark.parametrize("label_set_name", ["trainid", "labelid"])
def test_mask_colours_match_the_label_set(label_set_name):
    """The writers' numpy colour lookup draws what ``LabelSet.colorize`` draws, ignore and
    out-of-range values included."""
    classes = np.arange(256, dtype=np.uint8).reshape(16, 16)
    want = get_label_set(label_set_name).colorize(torch.from_numpy(classes)).numpy()
    np.testing.assert_array_equal(_colorize(label_set_name, classes), want)
