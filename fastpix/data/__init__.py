"""Data: file layouts, datasets, synthetic street scenes and the native pair loader."""

from fastpix.data.layouts import LAYOUTS, LayoutError, PairFiles, list_pairs
from fastpix.data.loader import PairLoader

__all__ = ["LAYOUTS", "LayoutError", "PairFiles", "PairLoader", "list_pairs"]
