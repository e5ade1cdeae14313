"""Images in, model inputs out: the training preprocessing, for every input form.

``as_rgb`` accepts a file path (decoded by ``fastpix.data.imageio.read_image``), a PIL image,
a numpy array (H×W×3, or 3×H×W) or a torch tensor (3×H×W, or H×W×3), uint8 0..255 or float
0..1, and returns an RGB PIL image. ``to_model_input`` applies the transforms of the datasets'
evaluation path (``fastpix.data.transforms``): bicubic resize to the model's (H, W) with
``apply_jitter``, ``image_to_tensor`` to [-1, 1]; a model trained with another mean/std is
then re-normalized to it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fastpix.data.imageio import read_image
from fastpix.data.layouts import IMAGE_SUFFIXES, _natural_key
from fastpix.data.transforms import Jitter, JitterConfig, apply_jitter, image_to_tensor
from fastpix.export.source import PIX2PIX_NORMALIZATION

BICUBIC = Image.Resampling.BICUBIC


def _array_to_hwc(array: np.ndarray, what: str) -> np.ndarray:
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or 3 not in (array.shape[0], array.shape[-1]):
        raise ValueError(f"{what}: expected an H×W×3 or 3×H×W image, got shape {array.shape}")
    if array.shape[-1] != 3:
        array = np.moveaxis(array, 0, -1)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{what}: expected uint8 or float pixels, got {array.dtype}")
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(f"{what}: float images must hold values in [0, 1]")
    return np.ascontiguousarray((array * 255.0 + 0.5).astype(np.uint8))


def as_rgb(image, what: str = "image") -> Image.Image:
    """Any accepted single image → RGB PIL image (see module docstring)."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.dim() == 3 and tensor.shape[0] == 3:
            tensor = tensor.permute(1, 2, 0)
        image = tensor.numpy()
    if isinstance(image, np.ndarray):
        return Image.fromarray(_array_to_hwc(image, what))
    raise TypeError(
        f"{what}: expected a file path, PIL image, numpy array or torch tensor, "
        f"got {type(image).__name__}"
    )


def list_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files named by ``inputs``: files as given, folders listed in natural name
    order (files with other suffixes skipped). Two inputs with the same stem are refused,
    since outputs are named after the stem."""
    files: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found = sorted(
                (f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES),
                key=_natural_key,
            )
            if not found:
                raise FileNotFoundError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    stems = [f.stem for f in files]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise ValueError(
            f"several inputs are named {', '.join(clashes)}; their outputs would overwrite "
            "each other"
        )
    return files


def split_batch(images) -> tuple[list, bool]:
    """(list of single images, whether the input was a batch): lists/tuples and 4-D arrays
    or tensors are batches."""
    if isinstance(images, (list, tuple)):
        return list(images), True
    if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
        return list(images), True
    return [images], False


def to_model_input(
    images: Sequence[Image.Image],
    size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """RGB PIL images → float32 N×3×H×W at ``size`` (H, W), normalized as in training."""
    resize = JitterConfig(load_size=tuple(size))
    batch = torch.stack(
        [image_to_tensor(apply_jitter(image, resize, Jitter(), BICUBIC)) for image in images]
    )
    if tuple(mean) == PIX2PIX_NORMALIZATION and tuple(std) == PIX2PIX_NORMALIZATION:
        return batch  # image_to_tensor's [-1, 1] is this normalization
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((batch + 1.0) / 2.0 - mean_t) / std_t
