"""Draws ``synthetic_scenes.png`` for the README: synthetic scenes, each photo beside its
colour mask.

    .venv/bin/python docs/images/synthetic_scenes.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fastpix.data.synthetic import make_scene
from fastpix.labels import get_label_set

SEEDS = (0, 3, 12, 5, 14, 17)
SIZE = 192
COLUMNS = 2
GAP = 4


def main() -> None:
    label_set = get_label_set("trainid")
    tiles = []
    for seed in SEEDS:
        photo, labels = make_scene(seed, SIZE, SIZE)
        mask = label_set.colorize(torch.from_numpy(labels)).numpy()
        tiles.append(np.concatenate([photo, mask], axis=1))
    tile_h, tile_w = tiles[0].shape[:2]
    rows = -(-len(tiles) // COLUMNS)
    canvas = np.full(
        (rows * tile_h + (rows - 1) * GAP, COLUMNS * tile_w + (COLUMNS - 1) * GAP, 3), 255, np.uint8
    )
    for i, tile in enumerate(tiles):
        y, x = divmod(i, COLUMNS)
        canvas[y * (tile_h + GAP) : y * (tile_h + GAP) + tile_h,
               x * (tile_w + GAP) : x * (tile_w + GAP) + tile_w] = tile  # fmt: skip
    # An adaptive 256-colour palette keeps the PNG small; the masks stay exact.
    image = Image.fromarray(canvas).quantize(256, method=Image.Quantize.MEDIANCUT, dither=0)
    out = Path(__file__).with_suffix(".png")
    image.save(out, optimize=True)
    print(f"{out}: {out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
