"""Segmentation objectives: top-k and class-weighted cross-entropy, soft Dice, Lovász-softmax
and class weights from label counts, each against a hand computation or an independent
oracle (numpy sorting, the Lovász extension as an integral, hard-prediction IoU)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastpix.train.config import SegmentationConfig
from fastpix.train.losses import (
    class_weights_from_counts,
    lovasz_softmax_loss,
    segmentation_loss,
    soft_dice_loss,
)

IGNORE = 255


def _random_case(seed: int, classes: int = 4, size: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, classes, size, size, generator=generator, dtype=torch.float64)
    target = torch.randint(0, classes, (2, size, size), generator=generator)
    target[0, 0, :3] = IGNORE
    return logits, target


def test_top_k_cross_entropy_keeps_the_hardest_pixels():
    logits, target = _random_case(0)
    per_pixel = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none")
    counted = np.sort(per_pixel[target != IGNORE].numpy())[::-1]  # 47 counted pixels
    kept = round(0.3 * counted.size)
    loss = segmentation_loss(logits, target, IGNORE, top_k=0.3)
    assert loss.item() == pytest.approx(counted[:kept].mean(), rel=1e-6)
    total = segmentation_loss(logits, target, IGNORE, reduction="sum", top_k=0.3)
    assert total.item() == pytest.approx(counted[:kept].sum(), rel=1e-6)
    assert segmentation_loss(logits, target, IGNORE, top_k=1.0).item() == pytest.approx(
        counted.mean(), rel=1e-6
    )


def test_weighted_top_k_cross_entropy_divides_by_the_kept_weights():
    # Two pixels, hand-computed: logits (0, ln 3) → p = (1/4, 3/4).
    logits = torch.tensor([0.0, math.log(3.0)]).reshape(1, 2, 1, 1).repeat(1, 1, 1, 2)
    target = torch.tensor([[[0, 1]]])  # losses ln 4 (class 0), ln(4/3) (class 1)
    weights = torch.tensor([2.0, 0.5])
    full = segmentation_loss(logits, target, class_weights=weights)
    expected = (2.0 * math.log(4.0) + 0.5 * math.log(4.0 / 3.0)) / 2.5
    assert full.item() == pytest.approx(expected, rel=1e-6)
    hardest = segmentation_loss(logits, target, class_weights=weights, top_k=0.5)
    assert hardest.item() == pytest.approx(math.log(4.0), rel=1e-6)  # 2·ln 4 / 2


def test_soft_dice_hand_computed():
    # Three pixels, two classes, probabilities (0.8, 0.2), (0.4, 0.6), (0.5, 0.5); targets 0,
    # 1, ignored. Class 0: 2·0.8 / (1.2 + 1); class 1: 2·0.6 / (0.8 + 1).
    probs = torch.tensor([[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]])
    logits = probs.log().T.reshape(1, 2, 1, 3)
    target = torch.tensor([[[0, 1, IGNORE]]])
    dice = (2 * 0.8 / 2.2 + 2 * 0.6 / 1.8) / 2
    assert soft_dice_loss(logits, target, IGNORE).item() == pytest.approx(1 - dice, rel=1e-6)
    # Class 1 absent from the target: only class 0 counts.
    only_zero = torch.tensor([[[0, 0, IGNORE]]])
    dice0 = 2 * (0.8 + 0.4) / (1.2 + 2)
    assert soft_dice_loss(logits, only_zero, IGNORE).item() == pytest.approx(1 - dice0, rel=1e-6)


def _jaccard_loss(errors_at_least: np.ndarray, truth: np.ndarray) -> float:
    """Δ_J(M) = |M| / |G ∪ M| for the mispredicted set M (0 when both are empty)."""
    union = np.logical_or(truth, errors_at_least).sum()
    return errors_at_least.sum() / union if union else 0.0


def test_lovasz_softmax_equals_the_integral_of_the_jaccard_loss():
    # The Lovász extension of a set function with Δ(∅) = 0 at errors e ∈ [0, 1]^P equals
    # ∫_0^1 Δ({i : e_i >= t}) dt; integrate it exactly between the sorted error values.
    logits, target = _random_case(1, classes=3, size=4)
    probs = logits.softmax(1).permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    labels = target.reshape(-1).numpy()
    probs, labels = probs[labels != IGNORE], labels[labels != IGNORE]
    per_class = []
    for c in np.unique(labels):
        truth = labels == c
        errors = np.abs(truth - probs[:, c])
        levels = np.concatenate([[0.0], np.sort(errors), [1.0]])
        integral = 0.0
        for low, high in zip(levels[:-1], levels[1:]):
            if high > low:
                integral += (high - low) * _jaccard_loss(errors >= high, truth)
        per_class.append(integral)
    loss = lovasz_softmax_loss(logits, target, IGNORE)
    assert loss.item() == pytest.approx(np.mean(per_class), rel=1e-6)  # float32 inside


def test_lovasz_softmax_of_hard_predictions_is_one_minus_iou():
    logits, target = _random_case(2)
    hard = logits * 1e3  # softmax ≈ one-hot of the argmax: errors are 0 or 1
    predicted = logits.argmax(1)
    valid = target != IGNORE
    ious = []
    for c in target[valid].unique():
        inter = ((predicted == c) & (target == c) & valid).sum().item()
        union = (((predicted == c) | (target == c)) & valid).sum().item()
        ious.append(inter / union)
    loss = lovasz_softmax_loss(hard, target, IGNORE)
    assert loss.item() == pytest.approx(1 - np.mean(ious), abs=1e-6)
    assert lovasz_softmax_loss(hard, predicted, IGNORE).item() == pytest.approx(0, abs=1e-6)


def test_region_losses_have_gradients_and_handle_an_all_ignored_batch():
    logits, target = _random_case(3)
    logits.requires_grad_(True)
    for fn in (soft_dice_loss, lovasz_softmax_loss):
        fn(logits, target, IGNORE).backward()
        assert logits.grad is not None and logits.grad.abs().sum() > 0
        logits.grad = None
        empty = fn(logits, torch.full_like(target, IGNORE), IGNORE)
        assert empty.item() == 0.0


def test_class_weights_hand_computed():
    # Class pixels 60, 30, 10, 0 of 100; images containing them hold 100, 60, 20, 0 pixels.
    pixels = torch.tensor([60.0, 30.0, 10.0, 0.0])
    image_pixels = torch.tensor([100.0, 60.0, 20.0, 0.0])
    # median_freq: freq = 0.6, 0.5, 0.5 → median 0.5; weights 0.5/0.6, 1, 1; unseen → 1.
    torch.testing.assert_close(
        class_weights_from_counts(pixels, image_pixels, "median_freq"),
        torch.tensor([0.5 / 0.6, 1.0, 1.0, 1.0]),
    )
    # sqrt_inv: 1/sqrt(f) scaled so that Σ f·w = 1.
    freq = np.array([0.6, 0.3, 0.1])
    raw = 1 / np.sqrt(freq)
    expected = torch.tensor([*(raw / (freq * raw).sum()), 1.0], dtype=torch.float32)
    weights = class_weights_from_counts(pixels, image_pixels, "sqrt_inv")
    torch.testing.assert_close(weights, expected)
    assert float((weights[:3].double() * torch.tensor(freq)).sum()) == pytest.approx(1.0)
    torch.testing.assert_close(class_weights_from_counts(pixels, image_pixels, "none"),
                               torch.ones(4))  # fmt: skip
    with pytest.raises(ValueError, match="unknown class weighting 'inverse'"):
        class_weights_from_counts(pixels, image_pixels, "inverse")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"loss": "dice"}, "loss must be one of ce, ce\\+dice, ce\\+lovasz"),
        ({"class_weights": "inverse"}, "class_weights must be one of"),
        ({"ce_top_k": 0.0}, "ce_top_k must be in"),
        ({"region_weight": -1.0}, "region_weight must be >= 0"),
        ({"binary": True, "loss": "ce+dice"}, "binary training uses plain BCE"),
    ],
)
def test_segmentation_config_rejects_bad_loss_options(fields, message):
    with pytest.raises(ValueError, match=message):
        SegmentationConfig(**fields).check()
