"""What a data folder holds (``fastpix data show``): its layout, pairs per split, the image
size, and the class histogram of a few pairs per split."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from fastpix.data.layouts import LAYOUTS, LayoutError, list_pairs
from fastpix.data.writers import MANIFEST

SPLITS = ("train", "val", "test")


def detect_layout(root: str | os.PathLike) -> str:
    """The layout of ``root``: the one recorded by ``fastpix data synth`` if any, else
    ``cityscapes`` when it has ``leftImg8bit/`` and ``gtFine/``, else ``aligned`` when it has a
    ``test/`` split, else ``kaggle``."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: data folder not found")
    manifest = root / MANIFEST
    if manifest.is_file():
        return json.loads(manifest.read_text())["config"]["layout"]
    if (root / "leftImg8bit").is_dir() and (root / "gtFine").is_dir():
        return "cityscapes"
    return "aligned" if (root / "test").is_dir() else "kaggle"


def describe(
    root: str | os.PathLike, layout: str = "auto", label_set: str = "trainid", samples: int = 8
) -> str:
    """A printable summary of the data folder ``root``."""
    from fastpix.data.datasets import SegmentationDataset, split_halves
    from fastpix.data.imageio import read_image
    from fastpix.labels import get_label_set

    layout = detect_layout(root) if layout == "auto" else layout
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    labels = get_label_set(label_set)
    lines = [f"{root}: {layout} layout"]
    found = False
    for split in SPLITS:
        try:
            pairs = list_pairs(root, split, layout)
        except LayoutError as exc:
            if "not found" in str(exc):
                continue
            raise
        found = True
        first = pairs[0]
        if first.combined is not None:
            width, height = split_halves(first)[0].size
            kind = f"{first.combined.suffix} pairs of two {width}×{height} halves"
        else:
            width, height = read_image(first.photo).size
            kind = f"{width}×{height} photos with label-id maps"
        lines.append(f"  {split}: {len(pairs)} {kind}")
        dataset = SegmentationDataset(root, split, layout, labels)
        counts = np.zeros(256, np.int64)
        picks = np.linspace(0, len(pairs) - 1, min(samples, len(pairs))).round().astype(int)
        for i in picks:
            counts += np.bincount(dataset[int(i)][1].numpy().ravel(), minlength=256)[:256]
        total = max(1, counts.sum())
        shares = [
            f"{name} {100 * counts[k] / total:.1f}%"
            for k, name in enumerate(labels.names)
            if counts[k]
        ]
        void = counts[labels.ignore_index]
        if void:
            shares.append(f"void {100 * void / total:.1f}%")
        lines.append(f"    classes in {len(picks)} pairs: " + ", ".join(shares))
    if not found:
        raise LayoutError(f"{root}: no {'/'.join(SPLITS)} split in the {layout} layout")
    return "\n".join(lines)
