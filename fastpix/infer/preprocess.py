"""Images in, model inputs out: the training preprocessing, for every input form.

``as_rgb`` accepts a file path, a PIL image, a numpy array (H×W×3, or 3×H×W) or a torch
tensor (3×H×W, or H×W×3), uint8 0..255 or float 0..1, and returns an RGB PIL image.
``to_model_input`` applies what training applies to a photo: bicubic resize to the model's
(H, W) (PIL, as the datasets), scale to [0, 1], subtract the mean and divide by the standard
deviation per channel.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError


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


def read_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode an image file fully as RGB; errors name the file."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{path}: cannot decode image ({exc})") from None


def as_rgb(image, what: str = "image") -> Image.Image:
    """Any accepted single image → RGB PIL image (see module docstring)."""
    if isinstance(image, (str, os.PathLike)):
        return read_rgb(image)
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
    height, width = size
    arrays = []
    for image in images:
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(image, dtype=np.uint8))
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (batch - mean_t) / std_t
