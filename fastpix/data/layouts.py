"""Where the pairs are: the file layouts fastpix reads, as lists of ``PairFiles``.

- ``kaggle``: the Kaggle "Cityscapes Image Pairs" set, ``<root>/{train,val}/<n>.jpg``, each
  file a photo (left half) beside its colour mask (right half). A nested
  ``<root>/cityscapes_data/`` folder, as some downloads have, is found too.
- ``aligned``: pix2pix aligned A|B files, ``<root>/{train,val,test}/*``.
- ``cityscapes``: the official layout, ``<root>/leftImg8bit/<split>/<city>/*_leftImg8bit.png``
  with ``<root>/gtFine/<split>/<city>/*_gtFine_labelIds.png``.

Both the PIL datasets and the native ``PairLoader`` list files here, so they see the same
pairs in the same order.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

LAYOUTS = ("kaggle", "aligned", "cityscapes")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")
CITYSCAPES_PHOTO_SUFFIX = "_leftImg8bit.png"
CITYSCAPES_LABEL_SUFFIX = "_gtFine_labelIds.png"
CITYSCAPES_COLOR_SUFFIX = "_gtFine_color.png"


class LayoutError(ValueError):
    """A data folder does not have the layout asked for; the message names the path."""


@dataclass(frozen=True)
class PairFiles:
    """One training pair on disk.

    ``combined`` is a side-by-side file (photo | target) for the kaggle and aligned layouts;
    ``photo`` and ``label`` are separate files for the cityscapes layout. Exactly one of the
    two forms is set.
    """

    name: str
    combined: Path | None = None
    photo: Path | None = None
    label: Path | None = None


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def _image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise LayoutError(f"{folder}: folder not found")
    files = []
    for entry in sorted(folder.iterdir(), key=_natural_key):
        if entry.name.startswith(".") or entry.is_dir():
            continue
        if entry.suffix.lower() not in IMAGE_SUFFIXES:
            raise LayoutError(
                f"{entry}: not an image file (expected one of {', '.join(IMAGE_SUFFIXES)})"
            )
        files.append(entry)
    if not files:
        raise LayoutError(f"{folder}: no image files")
    return files


def _kaggle_root(root: Path) -> Path:
    # Some copies of the Kaggle set nest the splits in cityscapes_data/ (once or twice).
    for _ in range(2):
        nested = root / "cityscapes_data"
        if not (root / "train").is_dir() and nested.is_dir():
            root = nested
    return root


def list_pairs(root: str | os.PathLike, split: str, layout: str = "kaggle") -> list[PairFiles]:
    """The pairs of ``split`` under ``root`` in ``layout``, in natural file-name order."""
    root = Path(root)
    if layout not in LAYOUTS:
        raise LayoutError(f"unknown layout {layout!r}; expected one of: {', '.join(LAYOUTS)}")
    if not root.is_dir():
        raise LayoutError(f"{root}: data folder not found")
    if layout == "kaggle":
        root = _kaggle_root(root)
    if layout in ("kaggle", "aligned"):
        return [PairFiles(name=p.stem, combined=p) for p in _image_files(root / split)]
    return _cityscapes_pairs(root, split)


def _cityscapes_pairs(root: Path, split: str) -> list[PairFiles]:
    photo_dir = root / "leftImg8bit" / split
    label_dir = root / "gtFine" / split
    for folder in (photo_dir, label_dir):
        if not folder.is_dir():
            raise LayoutError(f"{folder}: folder not found (official Cityscapes layout)")
    pairs = []
    for photo in sorted(photo_dir.glob(f"*/*{CITYSCAPES_PHOTO_SUFFIX}"), key=_natural_key):
        stem = photo.name[: -len(CITYSCAPES_PHOTO_SUFFIX)]
        label = label_dir / photo.parent.name / f"{stem}{CITYSCAPES_LABEL_SUFFIX}"
        if not label.is_file():
            raise LayoutError(f"{label}: label file missing for photo {photo}")
        pairs.append(PairFiles(name=stem, photo=photo, label=label))
    if not pairs:
        raise LayoutError(f"{photo_dir}: no */*{CITYSCAPES_PHOTO_SUFFIX} files")
    return pairs
