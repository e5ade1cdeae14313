"""Forward latency and FLOPs of every model in the zoo: ``fastpix bench models``.

Each model runs at batch 1 on the size the seeds use (256×256 pairs; seed 004's road U-Net at
128×128), in eval mode and, for the pix2pix generators, also in paper mode (batch statistics).
FLOPs (2 × multiply-accumulates) are counted by ``torch.utils.flop_counter`` on the meta
device. Rows go to ``<out>/models.jsonl`` / ``.csv`` through ``fastpix.bench.harness``.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

import fastpix.models as fm
from fastpix.bench.harness import environment, markdown_table, measure, write_rows

# model name, options, input shape (N, C, H, W), inference modes
CASES: list[tuple[str, dict, tuple[int, int, int, int], tuple[str, ...]]] = [
    ("unet_256", {}, (1, 3, 256, 256), ("eval", "paper")),
    ("unet_128", {}, (1, 3, 256, 256), ("eval", "paper")),
    ("resnet_9blocks", {}, (1, 3, 256, 256), ("eval", "paper")),
    ("patchgan", {}, (1, 6, 256, 256), ("eval",)),
    ("pixelgan", {}, (1, 6, 256, 256), ("eval",)),
    ("unet", {"num_classes": 19}, (1, 3, 256, 256), ("eval",)),
    ("unet", {"num_classes": 1}, (1, 3, 128, 128), ("eval",)),
    ("cgan_g", {}, (1, 3, 256, 256), ("eval",)),
    ("cgan_d", {}, (1, 6, 256, 256), ("eval",)),
    ("fcn_resnet34", {"num_classes": 19}, (1, 3, 256, 256), ("eval",)),
]
QUICK = {"unet_256", "patchgan", "fcn_resnet34"}
COLUMNS = ["model", "options", "input", "mode", "params_m", "gflops", "median_ms", "min_ms"]


def count_flops(name: str, options: dict, shape: tuple[int, ...]) -> float:
    """Forward FLOPs (2 × MACs) of ``create(name, **options)`` on an input of ``shape``."""
    with torch.device("meta"):
        model = fm.create(name, **options).eval()
        x = torch.empty(shape)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return float(counter.get_total_flops())


def run(args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    env = environment(device)  # the revision the run started from
    repeats, warmup = (3, 1) if args.quick else (10, 3)
    rows: list[dict] = []
    print("\n".join(markdown_table([], COLUMNS).splitlines()[:2]), flush=True)
    for name, options, shape, modes in CASES:
        if args.quick and name not in QUICK:
            continue
        torch.manual_seed(0)
        model = fm.create(name, **options).to(device)
        x = torch.randn(shape, device=device)
        flops = count_flops(name, options, shape)
        for mode in modes:
            fm.set_inference_mode(model, mode)

            def forward(model=model, x=x):
                with torch.no_grad():
                    return model(x)

            timing = measure(forward, device=device, warmup=warmup, repeats=repeats)
            rows.append(
                {
                    "model": name,
                    "options": ",".join(f"{k}={v}" for k, v in options.items()),
                    "input": "x".join(map(str, shape)),
                    "mode": mode,
                    "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                    "gflops": flops / 1e9,
                    "median_ms": timing.median_ms,
                    "min_ms": timing.min_s * 1e3,
                    "repeats": timing.repeats,
                }
            )
            print(markdown_table(rows[-1:], COLUMNS).splitlines()[-1], flush=True)
    path = write_rows("models", rows, env, args.out)
    print(markdown_table(rows, COLUMNS))
    print(f"results appended to {path}")
    return rows
