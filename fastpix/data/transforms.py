"""The random jitter of pix2pix training, decided once per pair in Python.

Both the PIL datasets and the native ``PairLoader`` take their crop position and flip from
``sample_jitter``, so for a given (seed, epoch, index) every path crops and flips the same way.
Reference behaviour (pix2pix ``get_params``): resize each half to ``load_size``, take a random
``crop_size`` window shared by photo and target, flip both with probability 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Size = tuple[int, int]  # (height, width)


@dataclass(frozen=True)
class JitterConfig:
    """Per-split transform settings.

    load_size: (H, W) each half is resized to first; None keeps the decoded size.
    crop_size: (H, W) window cropped after resizing; None keeps the whole image.
    flip: random horizontal flip.
    """

    load_size: Size | None = None
    crop_size: Size | None = None
    flip: bool = False

    def output_size(self, decoded: Size) -> Size:
        size = self.load_size or decoded
        if self.crop_size is None:
            return size
        if self.crop_size[0] > size[0] or self.crop_size[1] > size[1]:
            raise ValueError(f"crop_size {self.crop_size} is larger than the resized image {size}")
        return self.crop_size


@dataclass(frozen=True)
class Jitter:
    """The crop window's top-left corner (in resized pixels) and whether to flip."""

    top: int = 0
    left: int = 0
    flip: bool = False


def pair_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator that decides the jitter of pair ``index`` in ``epoch``."""
    return np.random.default_rng([seed, epoch, index])


def sample_jitter(config: JitterConfig, resized: Size, rng: np.random.Generator) -> Jitter:
    """Draw the crop corner and flip for one pair whose halves are ``resized`` (H, W)."""
    top = left = 0
    if config.crop_size is not None:
        top = int(rng.integers(0, max(0, resized[0] - config.crop_size[0]) + 1))
        left = int(rng.integers(0, max(0, resized[1] - config.crop_size[1]) + 1))
    flip = bool(config.flip and rng.random() < 0.5)
    return Jitter(top, left, flip)


def pix2pix_jitter(
    train: bool = True, load_size: int = 286, crop_size: int = 256, flip: bool = True
) -> JitterConfig:
    """The pix2pix reference transforms: for training, resize each half to ``load_size``
    square (aspect ratio ignored), take a random ``crop_size`` crop and flip half of the
    pairs; for testing, resize to ``crop_size`` only (no jitter)."""
    if crop_size > load_size:
        raise ValueError(f"crop_size {crop_size} is larger than load_size {load_size}")
    if not train:
        return JitterConfig(load_size=(crop_size, crop_size))
    return JitterConfig((load_size, load_size), (crop_size, crop_size), flip)


def apply_jitter(image, config: JitterConfig, jitter: Jitter, resample: int):
    """Resize a PIL image to ``config.load_size`` with ``resample``, crop ``config.crop_size``
    at the jitter's corner, then mirror it if the jitter says so (in this order, as the
    native loader does)."""
    from PIL import Image

    if config.load_size is not None:
        height, width = config.load_size
        if image.size != (width, height):
            image = image.resize((width, height), resample)
    if config.crop_size is not None:
        height, width = config.crop_size
        image = image.crop((jitter.left, jitter.top, jitter.left + width, jitter.top + height))
    if jitter.flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


def image_to_tensor(image):
    """PIL RGB image (or H×W×3 uint8 array) → float32 3×H×W tensor in [-1, 1], as pix2pix's
    ``ToTensor`` + ``Normalize(0.5, 0.5)``."""
    import torch

    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
