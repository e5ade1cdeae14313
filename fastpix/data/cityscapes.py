"""Building pix2pix pairs from the official Cityscapes files (``fastpix data prepare-cityscapes``).

The pix2pix script ``datasets/prepare_cityscapes_dataset.py`` takes ``gtFine/<phase>/*/
*_gtFine_color.png`` and ``leftImg8bit/<phase>/*/*_leftImg8bit.png``, resizes both to 256×256
with PIL's default bicubic filter, pastes photo (left) | colour labels (right) into one image
and saves it as ``<out>/<train|test>/<i>.jpg`` (JPEG quality 100, 4:4:4; ``val`` goes to
``test``; ``i`` counts from 0 in sorted file order). Bicubic resizing blends the label colours
at region boundaries, and JPEG adds noise, so the labels cannot be recovered exactly.

``prepare_cityscapes`` writes the same files, but resizes the colour labels with nearest
neighbour (every pixel keeps a true label colour) and can write lossless PNG, which makes the
labels exact. ``original_resize=True`` reproduces the script's bicubic labels for comparison.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from fastpix.data.imageio import read_image, write_image
from fastpix.data.layouts import CITYSCAPES_COLOR_SUFFIX, CITYSCAPES_PHOTO_SUFFIX, LayoutError
from fastpix.data.parallel import map_in_processes

PHASES = {"train": "train", "val": "test"}  # Cityscapes phase → pix2pix output folder


@dataclass(frozen=True)
class _Job:
    photo: Path
    color: Path
    out: Path
    size: tuple[int, int]  # (height, width)
    original_resize: bool


def _by_name(folder: Path, suffix: str) -> dict[str, Path]:
    """``<city>/<name>`` → path for every ``folder/<city>/<name><suffix>``."""
    return {
        path.relative_to(folder).as_posix()[: -len(suffix)]: path
        for path in folder.glob(f"*/*{suffix}")
    }


def _pairs(gtfine_dir: Path, leftimg_dir: Path, phase: str) -> list[tuple[Path, Path]]:
    """(photo, colour label) paths of ``phase`` in sorted order, matched by name."""
    photo_dir, label_dir = leftimg_dir / phase, gtfine_dir / phase
    for folder in (photo_dir, label_dir):
        if not folder.is_dir():
            raise LayoutError(f"{folder}: folder not found (expected <dir>/{phase}/<city>/...)")
    photos = _by_name(photo_dir, CITYSCAPES_PHOTO_SUFFIX)
    labels = _by_name(label_dir, CITYSCAPES_COLOR_SUFFIX)
    if not photos:
        raise LayoutError(f"{photo_dir}: no */*{CITYSCAPES_PHOTO_SUFFIX} files")
    no_label = sorted(photos.keys() - labels.keys())
    if no_label:
        expected = label_dir / (no_label[0] + CITYSCAPES_COLOR_SUFFIX)
        raise LayoutError(f"{expected}: label missing for {photos[no_label[0]]}")
    no_photo = sorted(labels.keys() - photos.keys())
    if no_photo:
        expected = photo_dir / (no_photo[0] + CITYSCAPES_PHOTO_SUFFIX)
        raise LayoutError(f"{expected}: photo missing for {labels[no_photo[0]]}")
    return [(photos[key], labels[key]) for key in sorted(photos)]


def _write_pair(job: _Job) -> None:
    height, width = job.size
    photo = read_image(job.photo).resize((width, height), Image.Resampling.BICUBIC)
    label_filter = Image.Resampling.BICUBIC if job.original_resize else Image.Resampling.NEAREST
    color = read_image(job.color).resize((width, height), label_filter)
    pair = Image.new("RGB", (2 * width, height))
    pair.paste(photo, (0, 0))
    pair.paste(color, (width, 0))
    write_image(job.out, pair)


def prepare_cityscapes(
    gtfine_dir: str | os.PathLike,
    leftimg_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    size: int | tuple[int, int] = 256,
    png: bool = False,
    original_resize: bool = False,
    phases: tuple[str, ...] = ("train", "val"),
    workers: int = 2,
) -> dict[str, int]:
    """Write pix2pix pairs of the official Cityscapes ``phases`` to ``out_dir``.

    Args:
        gtfine_dir: the ``gtFine`` folder (holding ``train/``, ``val/``).
        leftimg_dir: the ``leftImg8bit`` folder.
        out_dir: where ``train/`` and ``test/`` (from ``val``) are written.
        size: (height, width) of each half, or an int for a square (pix2pix: 256).
        png: lossless ``<i>.png`` instead of ``<i>.jpg`` (quality 100, 4:4:4).
        original_resize: resize labels bicubically, as the pix2pix script does.
        workers: processes decoding and encoding in parallel (1: in this process).

    Returns:
        Pairs written per output folder.
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    if min(size) < 1:
        raise ValueError(f"size must be positive, got {size}")
    unknown = set(phases) - PHASES.keys()
    if unknown:
        raise ValueError(f"unknown phases {sorted(unknown)}; expected train and/or val")
    gtfine_dir, leftimg_dir, out_dir = Path(gtfine_dir), Path(leftimg_dir), Path(out_dir)
    suffix = ".png" if png else ".jpg"
    jobs: list[_Job] = []
    counts: dict[str, int] = {}
    for phase in phases:
        folder = out_dir / PHASES[phase]
        if folder.exists() and any(folder.iterdir()):
            raise LayoutError(f"{folder}: already holds files; prepare into an empty folder")
        pairs = _pairs(gtfine_dir, leftimg_dir, phase)
        for i, (photo, color) in enumerate(pairs):
            jobs.append(_Job(photo, color, folder / f"{i}{suffix}", size, original_resize))
        counts[PHASES[phase]] = len(pairs)
    start = time.perf_counter()
    map_in_processes(_write_pair, jobs, workers, chunksize=8)
    return {**counts, "seconds": round(time.perf_counter() - start, 3)}
