"""Data: file layouts, datasets, synthetic street scenes and the native pair loader."""

from fastpix.data.layouts import LAYOUTS, LayoutError, PairFiles, list_pairs

__all__ = ["LAYOUTS", "LayoutError", "PairFiles", "list_pairs"]
