"""The training objectives: segmentation cross-entropy (or binary cross-entropy) and the GAN
losses of pix2pix, plus the rule that turns segmenter logits into classes.

Losses are computed in float32 whatever the autocast dtype of the logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_MODES = ("vanilla", "lsgan")


def segmentation_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = 255,
    binary: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy over classes, or BCE with logits when ``binary``; ``ignore_index``
    pixels do not count.

    Args:
        logits: N×K×H×W (K = 1 when binary).
        target: N×H×W int64 class ids; binary: class 1 is the positive class.
        reduction: ``mean`` over the counted pixels, or ``sum``.
    """
    if binary:
        if logits.shape[1] != 1:
            raise ValueError(f"binary loss needs N×1×H×W logits, got {tuple(logits.shape)}")
        valid = (target != ignore_index).float()
        per_pixel = F.binary_cross_entropy_with_logits(
            logits[:, 0].float(), (target == 1).float(), reduction="none"
        )
        total = (per_pixel * valid).sum()
        return total if reduction == "sum" else total / valid.sum().clamp(min=1)
    return F.cross_entropy(logits.float(), target, ignore_index=ignore_index, reduction=reduction)


def predict_classes(logits: torch.Tensor, binary: bool = False) -> torch.Tensor:
    """N×K×H×W logits → N×H×W int64 classes (binary: logit > 0 is class 1)."""
    if binary:
        return (logits[:, 0] > 0).long()
    return logits.argmax(1)


def gan_loss(prediction: torch.Tensor, real: bool, mode: str = "vanilla") -> torch.Tensor:
    """pix2pix's GANLoss: D's logit map against an all-1 (real) or all-0 (fake) target,
    with BCE-with-logits (``vanilla``) or mean squared error (``lsgan``)."""
    prediction = prediction.float()
    target = torch.full_like(prediction, 1.0 if real else 0.0)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(prediction, target)
    if mode == "lsgan":
        return F.mse_loss(prediction, target)
    raise ValueError(f"unknown gan_mode {mode!r}; expected one of {', '.join(GAN_MODES)}")
