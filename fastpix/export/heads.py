"""Output heads: what an exported graph returns after the network.

- ``logits``: the raw network output, float32: class scores N×K×H×W for a segmenter (N×1×H×W
  for a binary one), the N×3×H×W image in [-1, 1] for a generator.
- ``classes``: uint8 N×H×W class indices. Segmenters take the argmax over classes (a binary
  segmenter thresholds its logit at 0); pix2pix mask generators decode their colour mask with
  the label set's nearest-colour rule (``fastpix.palette.palette_to_class``, in the graph).
- ``color``: uint8 N×H×W×3, the classes drawn with the label set's palette.
- ``photo``: uint8 N×H×W×3, a photo generator's image mapped from [-1, 1] to 0..255.

TensorRT rejects uint8 intermediate tensors, so every head computes in int64/float32 and casts
to uint8 only at its output; the lookup tables are int64 constants for the same reason.
"""

from __future__ import annotations

import torch
from torch import nn

from fastpix.labels import LabelSet
from fastpix.palette import color_table, palette_to_class

KINDS = ("segmenter", "mask_generator", "photo_generator")
HEADS: dict[str, tuple[str, ...]] = {
    "segmenter": ("logits", "classes", "color"),
    "mask_generator": ("logits", "classes", "color"),
    "photo_generator": ("logits", "photo"),
}


def check_head(kind: str, head: str) -> str:
    if kind not in HEADS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of: {', '.join(KINDS)}")
    if head not in HEADS[kind]:
        raise ValueError(
            f"head {head!r} does not apply to a {kind.replace('_', ' ')}; "
            f"expected one of: {', '.join(HEADS[kind])}"
        )
    return head


class ArgmaxClasses(nn.Module):
    """Segmenter logits N×K×H×W → int64 N×H×W classes (K=1: logit > 0 is class 1)."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[1] == 1:
            return (logits[:, 0] > 0).long()
        return logits.argmax(1)


class PaletteClasses(nn.Module):
    """Generator colour mask N×3×H×W in [-1, 1] → int64 N×H×W classes of ``label_set``.

    The nearest mask colour is found with the reference ``palette_to_class`` math (ties to
    the lowest index), then mapped to its class; ``max_distance`` marks pixels farther than
    that from every colour as ``ignore_index``, as ``LabelSet.classes_from_mask``.
    """

    def __init__(self, label_set: LabelSet, max_distance: float | None = None) -> None:
        super().__init__()
        self.ignore_index = label_set.ignore_index
        self.max_distance = max_distance
        self.register_buffer("mask_palette", label_set.mask_palette, persistent=False)
        self.register_buffer("mask_lut", label_set.mask_lut.long(), persistent=False)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        index = palette_to_class(
            mask.float(),
            self.mask_palette,
            max_distance=self.max_distance,
            ignore_index=self.ignore_index,
            channel_dim=1,
            dtype=torch.int64,
        )
        return self.mask_lut[index]


class PaletteColors(nn.Module):
    """int64 classes N×H×W → int64 N×H×W×3 colours; classes outside 0..K-1 are black, as
    ``fastpix.palette.class_to_color``."""

    def __init__(self, label_set: LabelSet) -> None:
        super().__init__()
        table = color_table(torch.zeros(0, dtype=torch.long), label_set.palette)
        self.register_buffer("table", table.long(), persistent=False)

    def forward(self, classes: torch.Tensor) -> torch.Tensor:
        k = self.table.shape[0] - 1
        outside = (classes < 0) | (classes >= k)
        return self.table[torch.where(outside, torch.full_like(classes, k), classes)]


class PhotoPixels(nn.Module):
    """Generator photo N×3×H×W in [-1, 1] → N×H×W×3 float in 0..255, rounded and clamped."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        pixels = ((image.float() + 1.0) * 127.5).round().clamp(0.0, 255.0)
        return pixels.permute(0, 2, 3, 1)


class Deployed(nn.Module):
    """A network with its head: float32 N×3×H×W normalized images → the head's output.

    ``dtype=torch.float16`` runs the network in half precision (its weights must be half);
    the input is cast on entry and ``logits`` are returned as float32, so the graph's inputs
    and outputs keep one type whatever the precision inside.
    """

    def __init__(
        self,
        network: nn.Module,
        kind: str,
        head: str,
        label_set: LabelSet,
        dtype: torch.dtype = torch.float32,
        max_distance: float | None = None,
    ) -> None:
        super().__init__()
        check_head(kind, head)
        self.network, self.head, self.dtype = network, head, dtype
        self.classes: nn.Module | None = None
        self.colors: nn.Module | None = None
        self.pixels: nn.Module | None = None
        if head in ("classes", "color"):
            if kind == "segmenter":
                self.classes = ArgmaxClasses()
            else:
                self.classes = PaletteClasses(label_set, max_distance)
        if head == "color":
            self.colors = PaletteColors(label_set)
        if head == "photo":
            self.pixels = PhotoPixels()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.network(image.to(self.dtype))
        if self.head == "logits":
            return out.float()
        if self.pixels is not None:
            return self.pixels(out).to(torch.uint8)
        classes = self.classes(out)
        if self.colors is not None:
            return self.colors(classes).to(torch.uint8)
        return classes.to(torch.uint8)


__all__ = ["HEADS", "KINDS", "Deployed", "check_head"]
