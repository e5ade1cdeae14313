"""Cityscapes labels and the label sets fastpix trains on.

The official table (cityscapesScripts ``helpers/labels.py``) is reproduced in ``LABELS``. A
``LabelSet`` is what a model predicts: K class names with a K×3 palette for drawing them, a
lookup table from Cityscapes label ids to class indices, and the rule that turns the colours
of an RGB mask (as in the pix2pix / Kaggle pairs) back into classes.

    >>> from fastpix.labels import get_label_set
    >>> ls = get_label_set("trainid")
    >>> ls.num_classes, ls.names[0], tuple(ls.palette[0].tolist())
    (19, 'road', (128, 64, 128))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

IGNORE_INDEX = 255

Color = tuple[int, int, int]


class Label(NamedTuple):
    name: str
    id: int
    train_id: int
    category: str
    ignore_in_eval: bool
    color: Color


# name, id, trainId, category, ignoreInEval, color
LABELS: tuple[Label, ...] = tuple(
    Label(*row)
    for row in [
        ("unlabeled", 0, 255, "void", True, (0, 0, 0)),
        ("ego vehicle", 1, 255, "void", True, (0, 0, 0)),
        ("rectification border", 2, 255, "void", True, (0, 0, 0)),
        ("out of roi", 3, 255, "void", True, (0, 0, 0)),
        ("static", 4, 255, "void", True, (0, 0, 0)),
        ("dynamic", 5, 255, "void", True, (111, 74, 0)),
        ("ground", 6, 255, "void", True, (81, 0, 81)),
        ("road", 7, 0, "flat", False, (128, 64, 128)),
        ("sidewalk", 8, 1, "flat", False, (244, 35, 232)),
        ("parking", 9, 255, "flat", True, (250, 170, 160)),
        ("rail track", 10, 255, "flat", True, (230, 150, 140)),
        ("building", 11, 2, "construction", False, (70, 70, 70)),
        ("wall", 12, 3, "construction", False, (102, 102, 156)),
        ("fence", 13, 4, "construction", False, (190, 153, 153)),
        ("guard rail", 14, 255, "construction", True, (180, 165, 180)),
        ("bridge", 15, 255, "construction", True, (150, 100, 100)),
        ("tunnel", 16, 255, "construction", True, (150, 120, 90)),
        ("pole", 17, 5, "object", False, (153, 153, 153)),
        ("polegroup", 18, 255, "object", True, (153, 153, 153)),
        ("traffic light", 19, 6, "object", False, (250, 170, 30)),
        ("traffic sign", 20, 7, "object", False, (220, 220, 0)),
        ("vegetation", 21, 8, "nature", False, (107, 142, 35)),
        ("terrain", 22, 9, "nature", False, (152, 251, 152)),
        ("sky", 23, 10, "sky", False, (70, 130, 180)),
        ("person", 24, 11, "human", False, (220, 20, 60)),
        ("rider", 25, 12, "human", False, (255, 0, 0)),
        ("car", 26, 13, "vehicle", False, (0, 0, 142)),
        ("truck", 27, 14, "vehicle", False, (0, 0, 70)),
        ("bus", 28, 15, "vehicle", False, (0, 60, 100)),
        ("caravan", 29, 255, "vehicle", True, (0, 0, 90)),
        ("trailer", 30, 255, "vehicle", True, (0, 0, 110)),
        ("train", 31, 16, "vehicle", False, (0, 80, 100)),
        ("motorcycle", 32, 17, "vehicle", False, (0, 0, 230)),
        ("bicycle", 33, 18, "vehicle", False, (119, 11, 32)),
        ("license plate", -1, -1, "vehicle", True, (0, 0, 142)),
    ]
)

LABEL_BY_NAME: dict[str, Label] = {label.name: label for label in LABELS}
LABEL_BY_ID: dict[int, Label] = {label.id: label for label in LABELS}


def _mask_colors() -> tuple[list[Color], list[int]]:
    """Distinct colours of the label ids 0..33 and, for each, the first label id that uses it.

    gtFine ``*_color.png`` files and pix2pix pairs draw every label id in its colour; where
    labels share a colour (five void labels, pole/polegroup) the first-defined label wins, as
    cityscapesScripts' reverse lookups do.
    """
    colors: list[Color] = []
    ids: list[int] = []
    for label in LABELS:
        if label.id >= 0 and label.color not in colors:
            colors.append(label.color)
            ids.append(label.id)
    return colors, ids


@dataclass(frozen=True)
class LabelSet:
    """The classes a model predicts.

    Attributes:
        name: short name (``trainid``, ``labelid``, ``road`` or a user name).
        names: K class names.
        colors: K RGB colours used to draw the classes.
        id_to_class: 256-entry table from a Cityscapes label id (0..33; other values are
            ignored) to a class index or ``ignore_index``.
        mask_colors: the colours recognised in RGB masks, in priority order (ties go to the
            first); ``mask_to_class`` maps each to a class index or ``ignore_index``.
        ignore_index: the value of pixels that carry no class (255).
    """

    name: str
    names: tuple[str, ...]
    colors: tuple[Color, ...]
    id_to_class: tuple[int, ...]
    mask_colors: tuple[Color, ...]
    mask_to_class: tuple[int, ...]
    ignore_index: int = IGNORE_INDEX

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def palette(self) -> torch.Tensor:
        """K×3 uint8 tensor of class colours."""
        return torch.tensor(self.colors, dtype=torch.uint8).reshape(-1, 3)

    @property
    def mask_palette(self) -> torch.Tensor:
        """M×3 uint8 tensor of the colours recognised in RGB masks."""
        return torch.tensor(self.mask_colors, dtype=torch.uint8).reshape(-1, 3)

    @property
    def mask_lut(self) -> torch.Tensor:
        """256-entry uint8 table: index into ``mask_palette`` (or ignore) → class index."""
        lut = torch.full((256,), self.ignore_index, dtype=torch.uint8)
        lut[: len(self.mask_to_class)] = torch.tensor(self.mask_to_class, dtype=torch.uint8)
        return lut

    @property
    def id_lut(self) -> np.ndarray:
        """256-entry uint8 numpy table: Cityscapes label id → class index."""
        return np.asarray(self.id_to_class, dtype=np.uint8)

    def classes_from_ids(self, label_ids):
        """Map Cityscapes label ids (``*_gtFine_labelIds.png`` values) to class indices.

        Accepts a numpy array or tensor of any shape with integer values; values outside
        0..255 are not valid label ids and raise ``ValueError``.
        """
        if isinstance(label_ids, torch.Tensor):
            if label_ids.numel() and (int(label_ids.min()) < 0 or int(label_ids.max()) > 255):
                raise ValueError("label ids must lie in 0..255")
            lut = torch.as_tensor(self.id_lut, device=label_ids.device)
            return lut[label_ids.long()]
        label_ids = np.asarray(label_ids)
        if label_ids.size and (label_ids.min() < 0 or label_ids.max() > 255):
            raise ValueError("label ids must lie in 0..255")
        return self.id_lut[label_ids.astype(np.intp)]

    def classes_from_mask(
        self, mask: torch.Tensor, max_distance: float | None = None, **kwargs
    ) -> torch.Tensor:
        """Map an RGB colour mask to class indices by the nearest mask colour.

        ``mask`` is laid out as ``fastpix.palette_to_class`` accepts (uint8 HWC/NHWC/CHW/NCHW
        or float); the result is uint8 (N)×H×W with ``ignore_index`` for void colours and, when
        ``max_distance`` is given, for pixels farther than that from every mask colour.
        """
        from fastpix.palette import palette_to_class

        index = palette_to_class(
            mask,
            self.mask_palette.to(mask.device),
            max_distance=max_distance,
            ignore_index=self.ignore_index,
            **kwargs,
        )
        return self.mask_lut.to(index.device)[index.long()]

    def colorize(self, classes: torch.Tensor) -> torch.Tensor:
        """Class map (…×H×W) → …×H×W×3 uint8 colours; ignore pixels are black."""
        from fastpix.palette import class_to_color

        return class_to_color(classes, self.palette.to(classes.device))


def _build_trainid() -> LabelSet:
    train = sorted((lab for lab in LABELS if 0 <= lab.train_id < 255), key=lambda lab: lab.train_id)
    id_to_class = [IGNORE_INDEX] * 256
    for lab in LABELS:
        if lab.id >= 0:
            id_to_class[lab.id] = lab.train_id if 0 <= lab.train_id < 255 else IGNORE_INDEX
    colors, ids = _mask_colors()
    return LabelSet(
        name="trainid",
        names=tuple(lab.name for lab in train),
        colors=tuple(lab.color for lab in train),
        id_to_class=tuple(id_to_class),
        mask_colors=tuple(colors),
        mask_to_class=tuple(id_to_class[i] for i in ids),
    )


def _build_labelid() -> LabelSet:
    labels = [lab for lab in LABELS if lab.id >= 0]
    id_to_class = [IGNORE_INDEX] * 256
    for lab in labels:
        id_to_class[lab.id] = lab.id
    colors, ids = _mask_colors()
    return LabelSet(
        name="labelid",
        names=tuple(lab.name for lab in labels),
        colors=tuple(lab.color for lab in labels),
        id_to_class=tuple(id_to_class),
        mask_colors=tuple(colors),
        mask_to_class=tuple(ids),
    )


def _build_road() -> LabelSet:
    """Binary road vs. everything else (seed 004): every pixel is a class, none is ignored."""
    road_id = LABEL_BY_NAME["road"].id
    id_to_class = [1 if i == road_id else 0 for i in range(256)]
    colors, ids = _mask_colors()
    return LabelSet(
        name="road",
        names=("background", "road"),
        colors=((0, 0, 0), LABEL_BY_NAME["road"].color),
        id_to_class=tuple(id_to_class),
        mask_colors=tuple(colors),
        mask_to_class=tuple(id_to_class[i] for i in ids),
    )


def custom_label_set(
    colors: Sequence[Sequence[int]],
    names: Sequence[str] | None = None,
    name: str = "custom",
) -> LabelSet:
    """A label set from a list of colours (and optional names): class k is drawn and
    recognised by ``colors[k]``. Up to 255 classes (255 is the ignore index)."""
    cols = tuple(tuple(int(v) for v in c) for c in colors)
    if not cols or len(cols) > 255:
        raise ValueError(f"a label set needs 1..255 colours, got {len(cols)}")
    for c in cols:
        if len(c) != 3 or not all(0 <= v <= 255 for v in c):
            raise ValueError(f"colour {c} is not an (r, g, b) triple of 0..255 values")
    if names is None:
        names = [f"class_{k}" for k in range(len(cols))]
    if len(names) != len(cols):
        raise ValueError(f"{len(names)} names for {len(cols)} colours")
    return LabelSet(
        name=name,
        names=tuple(names),
        colors=cols,  # type: ignore[arg-type]
        id_to_class=tuple([IGNORE_INDEX] * 256),
        mask_colors=cols,  # type: ignore[arg-type]
        mask_to_class=tuple(range(len(cols))),
    )


_BUILDERS = {"trainid": _build_trainid, "labelid": _build_labelid, "road": _build_road}
_REGISTRY: dict[str, LabelSet] = {}


def register_label_set(label_set: LabelSet) -> None:
    """Make a user label set available to ``get_label_set`` (and to CLI flags) by name."""
    if label_set.name in _BUILDERS:
        raise ValueError(f"{label_set.name!r} is a built-in label set name")
    _REGISTRY[label_set.name] = label_set


def label_set_names() -> list[str]:
    return sorted(set(_BUILDERS) | set(_REGISTRY))


def get_label_set(name: str | LabelSet) -> LabelSet:
    """The label set called ``name`` (``trainid``, ``labelid``, ``road`` or a registered one)."""
    if isinstance(name, LabelSet):
        return name
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name not in _BUILDERS:
        raise ValueError(
            f"unknown label set {name!r}; expected one of: {', '.join(label_set_names())}"
        )
    _REGISTRY[name] = _BUILDERS[name]()
    return _REGISTRY[name]


def label_set_from_dict(data: dict) -> LabelSet:
    """Rebuild a label set from ``label_set_to_dict`` output (checkpoints, ONNX metadata)."""
    name = data["name"]
    if name in _BUILDERS:
        return get_label_set(name)
    return custom_label_set(data["colors"], data["names"], name=name)


def label_set_to_dict(label_set: LabelSet) -> dict:
    return {
        "name": label_set.name,
        "names": list(label_set.names),
        "colors": [list(c) for c in label_set.colors],
        "ignore_index": label_set.ignore_index,
    }


__all__ = [
    "IGNORE_INDEX",
    "LABELS",
    "LABEL_BY_ID",
    "LABEL_BY_NAME",
    "Label",
    "LabelSet",
    "custom_label_set",
    "get_label_set",
    "label_set_from_dict",
    "label_set_names",
    "label_set_to_dict",
    "register_label_set",
]
