"""``fastpix bench TARGET``: run a benchmark area and append its results."""

from __future__ import annotations

import argparse
import importlib

# target name -> "module:function"; each function takes the parsed args and returns rows.
TARGETS: dict[str, str] = {
    "kernels": "fastpix.bench.kernels:run",
    "models": "fastpix.bench.models:run",
    "loader": "fastpix.bench.loader:run",
    "infer": "fastpix.bench.infer:run",
    "pipeline": "fastpix.bench.pipeline:run",
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run benchmarks and append results to benchmarks/results/",
        description="Run fastpix benchmarks against their baselines in the same run.",
    )
    p.add_argument("target", choices=[*TARGETS, "all"], help="benchmark area")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--out", default="benchmarks/results", help="results folder")
    p.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    targets = list(TARGETS) if args.target == "all" else [args.target]
    for target in targets:
        module, name = TARGETS[target].split(":")
        getattr(importlib.import_module(module), name)(args)
    return 0
