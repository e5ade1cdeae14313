"""How high can a segmenter score on the synthetic scenes? An estimate of the label ambiguity.

    .venv/bin/python benchmarks/synthetic_label_ceiling.py            # the demo's test scenes

A label pixel is one sample (the centre one) of a supersample block, while its photo pixel is
the block's average: where a block straddles a boundary, the pixel alone does not say which of
its classes the centre sample took. An oracle that knows every block's class counts, but not
their arrangement, and predicts the majority is right with probability (majority count) /
(block size); its expected IoU per class estimates the ceiling of a model reading these photos.
It is an estimate, not a bound: a model could read an edge's sub-pixel position from the
neighbouring pixels, and a real one also has to find the counts. Defaults: the demo's
held-out test scenes (seeds 220..269 at 128×128, supersample 2). Prints per-class ceilings
and appends a row to ``benchmarks/results/synthetic_label_ceiling.{jsonl,csv}``.
"""

from __future__ import annotations

import argparse

import numpy as np

from fastpix.bench.harness import environment, write_rows
from fastpix.data.synthetic import render_scene
from fastpix.labels import get_label_set

DEMO_TEST_SEEDS = (220, 50)  # first seed and count of `fastpix demo`'s test split


def expected_confusion(
    fine_labels: np.ndarray,
    labels: np.ndarray,
    supersample: int,
    num_classes: int,
    ignore_index: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected true positives, false positives and false negatives per class of the
    majority-of-block oracle on one scene (``ignore_index`` label pixels are not scored)."""
    h, w = labels.shape
    s = supersample
    blocks = fine_labels.reshape(h, s, w, s).transpose(0, 2, 1, 3).reshape(h, w, s * s)
    counts = np.stack([(blocks == c).sum(-1) for c in range(num_classes)], -1)
    share = counts / (s * s)  # P(label pixel == c | its block)
    predicted = counts.argmax(-1)  # lowest class on ties
    scored = labels != ignore_index
    tp, fp, fn = np.zeros((3, num_classes))
    for c in range(num_classes):
        chosen = (predicted == c) & scored
        tp[c] = share[..., c][chosen].sum()
        fp[c] = (1 - share[..., c])[chosen].sum()
        fn[c] = share[..., c][~chosen & scored].sum()
    return tp, fp, fn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first-seed", type=int, default=DEMO_TEST_SEEDS[0])
    parser.add_argument("--scenes", type=int, default=DEMO_TEST_SEEDS[1])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--supersample", type=int, default=2)
    args = parser.parse_args()
    env = environment("cpu")  # the revision the run started from
    label_set = get_label_set("trainid")
    total = np.zeros((3, label_set.num_classes))
    for seed in range(args.first_seed, args.first_seed + args.scenes):
        scene = render_scene(seed, args.size, args.size, args.supersample)
        total += expected_confusion(
            scene.fine_labels,
            scene.labels,
            args.supersample,
            label_set.num_classes,
            label_set.ignore_index,
        )
    tp, fp, fn = total
    present = (tp + fn) > 0
    iou = np.where(present, tp / np.maximum(tp + fp + fn, 1e-12), np.nan)
    for name, value in zip(label_set.names, iou):
        print(f"{name:14s} {value:.3f}")
    miou = float(np.nanmean(iou))
    row = {
        "first_seed": args.first_seed,
        "test_scenes": args.scenes,
        "size": args.size,
        "supersample": args.supersample,
        "miou_ceiling": miou,
        **{f"iou_{n.replace(' ', '_')}": float(v) for n, v in zip(label_set.names, iou)},
    }
    path = write_rows("synthetic_label_ceiling", [row], env)
    print(f"mIoU ceiling {miou:.4f}; appended to {path}")


if __name__ == "__main__":
    main()
