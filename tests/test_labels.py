import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from fastpix.labels import (
    IGNORE_INDEX,
    LABELS,
    custom_label_set,
    get_label_set,
    label_set_from_dict,
    label_set_to_dict,
)

# A copy of ../shared/reference/cityscapes_labels.csv (cityscapesScripts labels.py).
REFERENCE_CSV = Path(__file__).parent / "data" / "cityscapes_labels.csv"

# trainId order of the 19 evaluated classes (cityscapesScripts labels.py).
TRAIN_NAMES = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
]  # fmt: skip


def _reference_rows():
    with open(REFERENCE_CSV, newline="") as f:
        return list(csv.DictReader(f))


def test_table_matches_official_csv_cell_by_cell():
    rows = _reference_rows()
    assert len(rows) == len(LABELS) == 35
    for row, label in zip(rows, LABELS):
        assert label.name == row["name"]
        assert label.id == int(row["id"])
        assert label.train_id == int(row["trainId"])
        assert label.category == row["category"]
        assert label.ignore_in_eval == (row["ignoreInEval"] == "True")
        assert label.color == (int(row["r"]), int(row["g"]), int(row["b"]))


def test_table_facts():
    assert sum(lab.ignore_in_eval for lab in LABELS) == 16
    assert sorted({lab.category for lab in LABELS}) == sorted(
        ["void", "flat", "construction", "object", "nature", "sky", "human", "vehicle"]
    )


def test_trainid_set():
    ls = get_label_set("trainid")
    assert ls.num_classes == 19
    assert list(ls.names) == TRAIN_NAMES
    assert ls.palette.dtype == torch.uint8 and ls.palette.shape == (19, 3)
    assert tuple(ls.palette[15].tolist()) == (0, 60, 100)  # bus
    ids = np.arange(34)
    mapped = ls.classes_from_ids(ids)
    assert mapped[7] == 0 and mapped[8] == 1 and mapped[33] == 18 and mapped[31] == 16
    assert mapped[0] == IGNORE_INDEX and mapped[29] == IGNORE_INDEX and mapped[18] == IGNORE_INDEX
    assert (mapped != IGNORE_INDEX).sum() == 19


def test_labelid_set_and_road_set():
    lid = get_label_set("labelid")
    assert lid.num_classes == 34
    assert list(lid.classes_from_ids(np.array([0, 7, 33]))) == [0, 7, 33]
    road = get_label_set("road")
    assert road.num_classes == 2
    ids = torch.arange(34)
    assert road.classes_from_ids(ids).tolist() == [1 if i == 7 else 0 for i in range(34)]


def test_mask_decoding_uses_full_colour_table():
    ls = get_label_set("trainid")
    # Sky must not be read as road by the binary set, void black is ignore for trainid,
    # pole/polegroup share a colour and the first-defined (pole) wins.
    colors = torch.tensor(
        [[[70, 130, 180], [0, 0, 0], [153, 153, 153], [0, 0, 90], [128, 64, 128]]],
        dtype=torch.uint8,
    )
    assert ls.classes_from_mask(colors).tolist() == [[10, 255, 5, 255, 0]]
    assert get_label_set("road").classes_from_mask(colors).tolist() == [[0, 0, 0, 0, 1]]


def test_ids_out_of_range_rejected():
    with pytest.raises(ValueError, match="0..255"):
        get_label_set("trainid").classes_from_ids(np.array([-1, 3]))


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="labelid.*road.*trainid"):
        get_label_set("nope")


def test_custom_set_round_trip():
    ls = custom_label_set([(0, 0, 0), (255, 0, 0)], ["bg", "red"], name="mine")
    again = label_set_from_dict(label_set_to_dict(ls))
    assert again.names == ("bg", "red") and again.colors == ((0, 0, 0), (255, 0, 0))
    img = torch.tensor([[[250, 10, 5], [3, 3, 3]]], dtype=torch.uint8)
    assert ls.classes_from_mask(img).tolist() == [[1, 0]]
    with pytest.raises(ValueError, match="2 names for 1 colours"):
        custom_label_set([(1, 2, 3)], ["a", "b"])
