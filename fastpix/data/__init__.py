"""Data: file layouts, datasets, synthetic street scenes, writers and the native pair loader.

Importing this package is cheap; the submodules load on first use of their names.
"""

from __future__ import annotations

from fastpix._lazy import lazy_getattr
from fastpix.data.layouts import LAYOUTS, LayoutError, PairFiles, list_pairs

# public name -> submodule that defines it, imported on first access
_LAZY = {
    "SegmentationDataset": "fastpix.data.datasets",
    "AlignedDataset": "fastpix.data.datasets",
    "make_scene": "fastpix.data.synthetic",
    "render_scene": "fastpix.data.synthetic",
    "write_synthetic": "fastpix.data.writers",
    "prepare_cityscapes": "fastpix.data.cityscapes",
    "JitterConfig": "fastpix.data.transforms",
    "pix2pix_jitter": "fastpix.data.transforms",
    "PairLoader": "fastpix.data.loader",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = ["LAYOUTS", "LayoutError", "PairFiles", "list_pairs", *_LAZY]
