"""PyTorch datasets over the three layouts (kaggle, aligned, cityscapes).

- ``SegmentationDataset``: (photo, class map) pairs for photo → labels training. Colour masks
  (kaggle / aligned halves) are decoded to classes by the nearest colour of the label set;
  Cityscapes ``*_labelIds.png`` maps through its label-id table.
- ``AlignedDataset``: both halves as images for pix2pix (labels ↔ photo), with the reference
  transforms (``pix2pix_jitter``).

Both decode with PIL, resize photos bicubically and class maps (or colour masks flagged as
such) with nearest neighbour, and take their crop and flip from
``fastpix.data.transforms.sample_jitter`` with ``pair_rng(seed, epoch, index)``: the same pair
gets the same jitter in the same epoch, whichever process or loader reads it. Call
``set_epoch`` once per epoch (every DataLoader worker sees the change when the loader
re-creates its workers at the start of an epoch, which it does unless
``persistent_workers=True``).

    >>> from fastpix.data import SegmentationDataset
    >>> ds = SegmentationDataset("data/synth", "train")            # doctest: +SKIP
    >>> photo, mask = ds[0]     # float32 3×256×256 in [-1, 1], int64 256×256 trainIds
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from fastpix.data.imageio import read_image
from fastpix.data.layouts import LayoutError, PairFiles, list_pairs
from fastpix.data.transforms import (
    JitterConfig,
    apply_jitter,
    image_to_tensor,
    pair_rng,
    pix2pix_jitter,
    sample_jitter,
)
from fastpix.labels import LabelSet, get_label_set

DIRECTIONS = ("AtoB", "BtoA")
BICUBIC = Image.Resampling.BICUBIC
NEAREST = Image.Resampling.NEAREST


def split_halves(pair: PairFiles) -> tuple[Image.Image, Image.Image]:
    """Decode a side-by-side file into its (left, right) halves, checking the width."""
    image = read_image(pair.combined)
    width, height = image.size
    if width % 2:
        raise LayoutError(
            f"{pair.combined}: width {width} is odd; expected two halves of equal width side "
            "by side (photo | target)"
        )
    half = width // 2
    return image.crop((0, 0, half, height)), image.crop((half, 0, width, height))


def read_cityscapes(pair: PairFiles) -> tuple[Image.Image, Image.Image]:
    """Decode a Cityscapes photo and its label-id map, checking that their sizes agree."""
    photo = read_image(pair.photo)
    label = read_image(pair.label, mode="L")
    if photo.size != label.size:
        raise LayoutError(
            f"{pair.label}: size {label.size[0]}×{label.size[1]} does not match its photo "
            f"{pair.photo} ({photo.size[0]}×{photo.size[1]}); expected equal sizes"
        )
    return photo, label


class _PairDataset(Dataset):
    """Listing, epoch and per-pair jitter shared by the datasets."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str,
        layout: str,
        direction: str,
        jitter: JitterConfig | None,
        seed: int,
    ) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        self.root = Path(root)
        self.split = split
        self.layout = layout
        self.direction = direction
        self.jitter = jitter or JitterConfig()
        self.seed = seed
        self.epoch = 0
        self.pairs = list_pairs(root, split, layout)

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Select the jitter of ``epoch`` (crops and flips differ from epoch to epoch)."""
        self.epoch = int(epoch)

    def _sample(self, index: int, decoded: tuple[int, int], path: Path):
        """The jitter of pair ``index`` whose halves decode to ``decoded`` = (width, height)."""
        size = (decoded[1], decoded[0])
        try:
            self.jitter.output_size(size)
        except ValueError as exc:
            raise LayoutError(f"{path}: {exc}") from None
        resized = self.jitter.load_size or size
        return sample_jitter(self.jitter, resized, pair_rng(self.seed, self.epoch, index))

    def _halves(self, pair: PairFiles) -> tuple[Image.Image, Image.Image]:
        """(input half, target half) of a side-by-side file, after the direction."""
        left, right = split_halves(pair)
        return (left, right) if self.direction == "AtoB" else (right, left)


class SegmentationDataset(_PairDataset):
    """Photos and class maps for segmentation.

    Args:
        root: the data folder.
        split: ``train``, ``val`` or ``test``.
        layout: ``kaggle``, ``aligned`` or ``cityscapes`` (see ``fastpix.data.layouts``).
        label_set: a label set or its name (``trainid``, ``labelid``, ``road``, or one
            registered with ``fastpix.labels.register_label_set``).
        direction: for side-by-side files, ``AtoB`` (photo on the left, the Kaggle and
            pix2pix Cityscapes convention) or ``BtoA`` (photo on the right).
        jitter: resize / crop / flip (``JitterConfig``); None keeps decoded images as they are.
        seed: seeds the jitter together with the epoch and the pair index.
        max_distance: colour masks only: pixels farther than this (RGB, 0..255 units) from
            every mask colour become ``ignore_index`` instead of their nearest class.

    Items are ``(photo, mask)``: float32 3×H×W in [-1, 1] and int64 H×W class indices
    (``label_set.ignore_index`` for void).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        layout: str = "kaggle",
        label_set: str | LabelSet = "trainid",
        direction: str = "AtoB",
        jitter: JitterConfig | None = None,
        seed: int = 0,
        max_distance: float | None = None,
    ) -> None:
        super().__init__(root, split, layout, direction, jitter, seed)
        self.label_set = get_label_set(label_set)
        self.max_distance = max_distance
        ignore = self.label_set.ignore_index
        if layout == "cityscapes" and all(c == ignore for c in self.label_set.id_to_class):
            raise ValueError(
                f"label set {self.label_set.name!r} maps no Cityscapes label id to a class; "
                "the cityscapes layout needs trainid, labelid, road or a set with label ids"
            )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pair = self.pairs[index]
        photo, target = read_cityscapes(pair) if pair.combined is None else self._halves(pair)
        jitter = self._sample(index, photo.size, pair.combined or pair.photo)
        photo = apply_jitter(photo, self.jitter, jitter, BICUBIC)
        target = apply_jitter(target, self.jitter, jitter, NEAREST)
        values = torch.from_numpy(np.array(target, dtype=np.uint8))
        if pair.combined is None:
            classes = self.label_set.classes_from_ids(values)
        else:
            classes = self.label_set.classes_from_mask(values, max_distance=self.max_distance)
        return image_to_tensor(photo), classes.long()


class AlignedDataset(_PairDataset):
    """pix2pix pairs, both halves as images, for labels ↔ photo translation.

    Args:
        root, split, layout, seed: as for ``SegmentationDataset``.
        direction: ``AtoB`` makes the left half the input ``A`` and the right half the target
            ``B``; ``BtoA`` swaps them (labels → photo on the Cityscapes pairs). Unlike the
            reference ``AlignedDataset``, the swap happens here, so ``A`` is always the input.
        jitter: default ``pix2pix_jitter(train=True)`` for ``split == "train"`` (resize to
            286, random 256 crop, flip) and ``pix2pix_jitter(train=False)`` otherwise.
        mask_half: ``"left"`` or ``"right"`` when that half of the files is a colour mask to
            be resized with nearest neighbour (keeping exact class colours) instead of the
            reference's bicubic. The cityscapes layout always resizes labels so: its ``B``
            is the label-id map drawn in the Cityscapes colours.

    Items are dicts: ``A`` and ``B`` float32 3×H×W in [-1, 1] and ``path`` (the pair's file;
    its photo for the cityscapes layout).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        layout: str = "aligned",
        direction: str = "AtoB",
        jitter: JitterConfig | None = None,
        seed: int = 0,
        mask_half: str | None = None,
    ) -> None:
        if jitter is None:
            jitter = pix2pix_jitter(train=split == "train")
        super().__init__(root, split, layout, direction, jitter, seed)
        if mask_half not in (None, "left", "right"):
            raise ValueError(f"mask_half must be None, 'left' or 'right', got {mask_half!r}")
        self.mask_half = mask_half

    def __getitem__(self, index: int) -> dict:
        pair = self.pairs[index]
        if pair.combined is None:
            photo, label = read_cityscapes(pair)
            ids = np.array(label, dtype=np.uint8)
            colors = get_label_set("labelid").colorize(torch.from_numpy(ids)).numpy()
            halves = [(photo, BICUBIC), (Image.fromarray(colors), NEAREST)]
            path = pair.photo
        else:
            left, right = split_halves(pair)
            halves = [
                (left, NEAREST if self.mask_half == "left" else BICUBIC),
                (right, NEAREST if self.mask_half == "right" else BICUBIC),
            ]
            path = pair.combined
        if self.direction == "BtoA":
            halves.reverse()
        jitter = self._sample(index, halves[0][0].size, path)
        a, b = (image_to_tensor(apply_jitter(im, self.jitter, jitter, rs)) for im, rs in halves)
        return {"A": a, "B": b, "path": str(path)}
