"""The training objectives: segmentation cross-entropy (or binary cross-entropy), the region
losses that can be added to it (soft Dice, Lovász-softmax), class weights from label
frequencies, the GAN losses of pix2pix, and the rule that turns segmenter logits into classes.

Losses are computed in float32 whatever the autocast dtype of the logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fastpix.train.config import CLASS_WEIGHTINGS

GAN_MODES = ("vanilla", "lsgan")


def segmentation_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = 255,
    binary: bool = False,
    reduction: str = "mean",
    class_weights: torch.Tensor | None = None,
    top_k: float = 1.0,
) -> torch.Tensor:
    """Cross-entropy over classes, or BCE with logits when ``binary``; ``ignore_index``
    pixels do not count.

    Args:
        logits: N×K×H×W (K = 1 when binary).
        target: N×H×W int64 class ids; binary: class 1 is the positive class.
        reduction: ``mean`` over the counted pixels, or ``sum``.
        class_weights: K float weights of the cross-entropy (not binary); ``mean`` then
            divides by the summed weights of the counted pixels, as ``F.cross_entropy`` does.
        top_k: keep only this fraction (0, 1] of the counted pixels, those with the highest
            (weighted) loss ("online hard example mining"; not binary). 1 keeps all.
    """
    if not 0.0 < top_k <= 1.0:
        raise ValueError(f"top_k must be in (0, 1], got {top_k}")
    if binary and (class_weights is not None or top_k < 1.0):
        raise ValueError("class_weights and top_k apply to the multi-class cross-entropy only")
    if binary:
        if logits.shape[1] != 1:
            raise ValueError(f"binary loss needs N×1×H×W logits, got {tuple(logits.shape)}")
        valid = (target != ignore_index).float()
        per_pixel = F.binary_cross_entropy_with_logits(
            logits[:, 0].float(), (target == 1).float(), reduction="none"
        )
        total = (per_pixel * valid).sum()
        return total if reduction == "sum" else total / valid.sum().clamp(min=1)
    weight = None if class_weights is None else class_weights.to(logits.device, torch.float32)
    if top_k == 1.0:
        return F.cross_entropy(
            logits.float(), target, weight=weight, ignore_index=ignore_index, reduction=reduction
        )
    per_pixel = F.cross_entropy(
        logits.float(), target, weight=weight, ignore_index=ignore_index, reduction="none"
    )
    valid = target != ignore_index
    losses = per_pixel[valid]
    kept = max(1, round(top_k * losses.numel())) if losses.numel() else 0
    hardest, order = losses.topk(kept)
    total = hardest.sum()
    if reduction == "sum":
        return total
    if weight is None:
        return total / max(kept, 1)
    return total / weight[target[valid][order]].sum().clamp(min=1e-12)


def _class_probabilities(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities and one-hot targets of the counted pixels: two P×K float32."""
    num_classes = logits.shape[1]
    probs = logits.float().softmax(1).permute(0, 2, 3, 1).reshape(-1, num_classes)
    labels = target.reshape(-1)
    valid = labels != ignore_index
    probs, labels = probs[valid], labels[valid]
    return probs, F.one_hot(labels, num_classes).float()


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255
) -> torch.Tensor:
    """1 − the mean soft Dice coefficient of the classes present in ``target``.

    Per class c over all counted pixels of the batch: ``2·Σ p_c·g_c / (Σ p_c + Σ g_c)`` with
    p the softmax probabilities and g the one-hot target. Classes absent from the batch are
    left out (their Dice would only push their probabilities down, which the cross-entropy
    does already). 0 when nothing is counted.

    Args:
        logits: N×K×H×W float.
        target: N×H×W int64 class ids, ``ignore_index`` not counted.
    """
    probs, onehot = _class_probabilities(logits, target, ignore_index)
    present = onehot.sum(0) > 0
    if not present.any():
        return logits.sum() * 0.0
    intersection = (probs * onehot).sum(0)
    sizes = probs.sum(0) + onehot.sum(0)
    dice = 2.0 * intersection[present] / sizes[present].clamp(min=1e-12)
    return 1.0 - dice.mean()


def lovasz_softmax_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255
) -> torch.Tensor:
    """The Lovász-softmax loss (Berman et al., CVPR 2018) over the classes present in
    ``target``: a convex surrogate of 1 − IoU per class, averaged.

    For class c, pixel errors ``e = |g_c − p_c|`` are sorted in decreasing order and weighted
    by the increments of the Jaccard loss ``1 − |G ∩ M_i| / |G ∪ M_i|`` as the i largest
    errors are counted as mistakes (the gradient of the Lovász extension). Computed over all
    counted pixels of the batch at once. 0 when nothing is counted.

    Args:
        logits: N×K×H×W float.
        target: N×H×W int64 class ids, ``ignore_index`` not counted.
    """
    probs, onehot = _class_probabilities(logits, target, ignore_index)
    present = (onehot.sum(0) > 0).nonzero().flatten()
    if present.numel() == 0:
        return logits.sum() * 0.0
    probs, onehot = probs[:, present], onehot[:, present]
    errors = (onehot - probs).abs()
    errors, order = errors.sort(0, descending=True)
    truth = onehot.gather(0, order)
    positives = truth.sum(0)
    intersection = positives - truth.cumsum(0)
    union = positives + (1.0 - truth).cumsum(0)
    jaccard = 1.0 - intersection / union
    increments = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]], 0)
    return (errors * increments).sum(0).mean()


def class_weights_from_counts(
    pixel_counts: torch.Tensor, image_counts: torch.Tensor, method: str
) -> torch.Tensor:
    """Cross-entropy class weights from label statistics of a training split.

    Args:
        pixel_counts: K, how many pixels of each class the split holds.
        image_counts: K, summed pixel counts of the images in which each class appears (for
            ``median_freq``; the split's total pixels per class image set).
        method: ``median_freq``: Eigen & Fergus' median frequency balancing, ``freq_c =
            pixels of c / pixels of the images containing c`` and ``w_c = median(freq) /
            freq_c``; ``sqrt_inv``: ``w_c = 1 / sqrt(pixels of c / all pixels)`` scaled so
            that the pixel-weighted mean weight is 1; ``none``: all ones.

    Returns:
        K float32 weights; classes that never occur get weight 1 (they have no pixels).
    """
    if method not in CLASS_WEIGHTINGS:
        raise ValueError(
            f"unknown class weighting {method!r}; expected one of {', '.join(CLASS_WEIGHTINGS)}"
        )
    pixels = pixel_counts.double()
    weights = torch.ones_like(pixels)
    seen = pixels > 0
    if method == "none" or not seen.any():
        return weights.float()
    if method == "median_freq":
        freq = pixels[seen] / image_counts.double()[seen]
        weights[seen] = freq.median() / freq
    else:
        freq = pixels[seen] / pixels.sum()
        inverse = freq.rsqrt()
        weights[seen] = inverse / (freq * inverse).sum()
    return weights.float()


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
