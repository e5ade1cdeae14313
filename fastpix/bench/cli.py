"""``fastpix bench TARGET``: run a benchmark area and append its results; ``report`` renders
them into ``benchmarks/results/README.md`` and PNG plots."""

from __future__ import annotations

import argparse
import importlib

# target name -> "module:function"; each function takes the parsed args and returns rows.
TARGETS: dict[str, str] = {
    "kernels": "fastpix.bench.kernels:run",
    "models": "fastpix.bench.models:run",
    "loader": "fastpix.bench.loader:run",
    "train": "fastpix.bench.train:run",
    "infer": "fastpix.bench.infer:run",
    "pipeline": "fastpix.bench.pipeline:run",
    "demo": "fastpix.bench.demo:run",
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run benchmarks and append results to benchmarks/results/",
        description="Run fastpix benchmarks against their baselines in the same run. 'all' "
        "runs every target in turn (a failing one is reported and the rest still run), then "
        "'report', which renders the latest results into <out>/README.md and <out>/plots/.",
    )
    p.add_argument("target", choices=[*TARGETS, "all", "report"], help="benchmark area")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--out", default="benchmarks/results", help="results folder")
    p.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    p.add_argument(
        "--full",
        action="store_true",
        help="with 'all' on the CPU: the full sizes (by default 'all' on a CPU-only run uses "
        "the --quick sizes, which fit a small machine)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fastpix.bench.report import render

    if args.target == "report":
        print(f"wrote {render(args.out)}")
        return 0
    targets = list(TARGETS) if args.target == "all" else [args.target]
    if args.target == "all" and not args.quick and not getattr(args, "full", False):
        import torch

        if (args.device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cpu":
            args.quick = True
            print("note: CPU run: every target at its --quick sizes (--full for the full ones)")
    failed = []
    for target in targets:
        print(f"== fastpix bench {target}", flush=True)
        module, name = TARGETS[target].split(":")
        try:
            getattr(importlib.import_module(module), name)(args)
        except Exception as exc:
            if len(targets) == 1:
                raise
            failed.append(target)
            print(f"fastpix bench {target}: failed: {type(exc).__name__}: {exc}", flush=True)
    if args.target == "all":
        print(f"wrote {render(args.out)}")
    if failed:
        print(f"failed targets: {', '.join(failed)}")
        return 1
    return 0
