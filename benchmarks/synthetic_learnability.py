"""Can a small network learn the synthetic street scenes? Train a throwaway U-Net on the CPU
for a few minutes and score it on held-out scenes.

    .venv/bin/python benchmarks/synthetic_learnability.py --train 300 --test 100 --size 128 \
        --steps 1500

Scenes ``0..train-1`` train, scenes ``100000..`` test. The net is deliberately plain (conv-BN-
ReLU blocks, four resolutions, skip connections) and independent of ``fastpix.models``: this
checks the data, not a model. Prints per-class IoU and appends a row to
``benchmarks/results/synthetic_learnability.{jsonl,csv}``.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from torch import nn

from fastpix.bench.harness import environment, write_rows
from fastpix.data.synthetic import make_scene
from fastpix.labels import get_label_set
from fastpix.metrics import ConfusionMatrix

TEST_SEED = 100_000


def _scene(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    seed, size = args
    return make_scene(seed, size, size)


def scenes(seeds: range, size: int, workers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """N×3×S×S float photos in [-1, 1] and N×S×S int64 labels."""
    with ProcessPoolExecutor(workers) as pool:
        pairs = list(pool.map(_scene, [(s, size) for s in seeds], chunksize=8))
    photos = torch.from_numpy(np.stack([p for p, _ in pairs])).permute(0, 3, 1, 2)
    labels = torch.from_numpy(np.stack([lab for _, lab in pairs])).long()
    return photos.float() / 127.5 - 1.0, labels


def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyUNet(nn.Module):
    """Encoder-decoder with skips that works from half resolution down, then refines at full
    resolution with the input image: about 0.4 GMAC per 128×128 image at width 24."""

    def __init__(self, classes: int, width: int = 24) -> None:
        super().__init__()
        w = [width, 2 * width, 4 * width, round(5.33 * width)]
        self.down = nn.ModuleList(
            [block(3, w[0], 2)] + [block(w[i], w[i + 1], 2) for i in range(len(w) - 1)]
        )
        self.up = nn.ModuleList([block(w[i + 1] + w[i], w[i]) for i in reversed(range(len(w) - 1))])
        self.refine = nn.Sequential(
            nn.Conv2d(w[0] + 3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)
        )
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x, skips = image, []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = skips.pop()
        for layer in self.up:
            skip = skips.pop()
            x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear")
            x = layer(torch.cat([x, skip], 1))
        x = nn.functional.interpolate(x, size=image.shape[-2:], mode="bilinear")
        return self.head(self.refine(torch.cat([x, image], 1)))


def confusions(cm: ConfusionMatrix, names, top: int = 2) -> str:
    """Per class, the classes its pixels are most often mistaken for."""
    matrix = cm.matrix[:, : cm.num_classes].double()
    rows = matrix.sum(1, keepdim=True).clamp(min=1)
    share = (matrix / rows).fill_diagonal_(0)
    lines = []
    for k, name in enumerate(names):
        values, others = share[k].topk(top)
        pairs = ", ".join(f"{names[o]} {v:.2f}" for v, o in zip(values.tolist(), others.tolist()))
        lines.append(f"{name} → {pairs}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--minutes", type=float, default=4.0, help="time budget")
    parser.add_argument("--steps", type=int, default=0, help="step budget (overrides minutes)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--width", type=int, default=24)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    env = environment("cpu")  # the revision the run started from
    label_set = get_label_set("trainid")

    t0 = time.perf_counter()
    train_x, train_y = scenes(range(args.train), args.size, args.workers)
    test_x, test_y = scenes(range(TEST_SEED, TEST_SEED + args.test), args.size, args.workers)
    gen_s = time.perf_counter() - t0
    print(f"generated {args.train + args.test} scenes in {gen_s:.1f} s")

    net = TinyUNet(label_set.num_classes, args.width)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss(ignore_index=label_set.ignore_index)
    budget = args.minutes * 60
    start = time.perf_counter()
    step = 0
    while True:
        elapsed = time.perf_counter() - start
        progress = step / args.steps if args.steps else elapsed / budget
        if progress >= 1.0:
            break
        for group in opt.param_groups:  # warm-up, then cosine decay over the budget
            warm = min(1.0, (step + 1) / 30)
            group["lr"] = args.lr * warm * 0.5 * (1 + np.cos(np.pi * progress))
        idx = torch.randint(0, args.train, (args.batch,))
        x, y = train_x[idx], train_y[idx]
        if torch.rand(()) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} ({elapsed:.0f} s) loss {loss.item():.3f}", flush=True)

    net.eval()
    cm = ConfusionMatrix(label_set.num_classes, label_set.ignore_index)
    with torch.no_grad():
        for i in range(0, args.test, 16):
            cm.update(net(test_x[i : i + 16]).argmax(1), test_y[i : i + 16])
    print(cm.table(label_set.names))
    print(confusions(cm, label_set.names))
    scores = cm.compute()
    row = {
        "train_scenes": args.train,
        "test_scenes": args.test,
        "size": args.size,
        "train_seconds": round(time.perf_counter() - start, 1),
        "steps": step,
        "batch": args.batch,
        "width": args.width,
        "params": sum(p.numel() for p in net.parameters()),
        "miou": scores["miou"],
        "pixel_acc": scores["pixel_acc"],
        **{f"iou_{n.replace(' ', '_')}": v for n, v in zip(label_set.names, scores["iou"])},
    }
    path = write_rows("synthetic_learnability", [row], env)
    print(f"mIoU {scores['miou']:.4f} after {step} steps; results appended to {path}")


if __name__ == "__main__":
    main()
