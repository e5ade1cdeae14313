"""What the demo's U-Net reaches: ``fastpix bench demo``.

Runs the whole demo (``fastpix.demo.run_demo``, what ``make demo`` runs: synthesize → train the
``demo`` preset → evaluate on held-out scenes → pix2pix → deploy) in a temporary folder and
appends one row to ``benchmarks/results/demo_miou.{jsonl,csv}`` through
``fastpix.bench.harness``: the held-out test mIoU and per-class IoU (19 trainIds) of the U-Net,
its optimizer steps and steps/s, every stage's seconds, the whole demo's wall time, the
pix2pix mIoU and the load average before and after (the 2-core machine it was measured on
was shared with other jobs; compare rows only with that in mind).

``--set FIELD=VALUE`` overrides fields of the ``demo`` preset for one measurement (the
configurations tried while tuning it); the row records them. The preset trains for a time
budget, so its step count follows the machine and its load; ``--set time_budget=0 --set
steps=N`` measures a fixed number of steps instead.

    fastpix bench demo [--quick]
    python benchmarks/benchmark_demo.py [--quick] [--set time_budget=0 --set steps=200] \
        [--keep demo_out]
"""

from __future__ import annotations

import argparse
import ast
import tempfile
from typing import Any

from fastpix.bench.harness import environment, markdown_table, write_rows

COLUMNS = ["overrides", "steps", "steps_per_s", "train_s", "demo_s", "demo_cpu_s", "miou", "pixel_acc",
           "p2p_miou", "load_before", "load_after"]  # fmt: skip
NOTE = "2-core machine shared with other engineers' training/benchmark jobs"


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["steps=200", "lr=0.003"]`` → ``{"steps": 200, "lr": 0.003}`` (Python literals, else
    strings)."""
    overrides = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set expects FIELD=VALUE, got {item!r}")
        try:
            overrides[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            overrides[name] = text
    return overrides


def measure_demo(
    quick: bool = False,
    overrides: dict[str, Any] | None = None,
    scenes: int | None = None,
    keep: str | None = None,
) -> dict[str, Any]:
    """Run the demo once, in ``keep`` (a demo folder) or a temporary folder; returns the
    result row."""
    from fastpix.demo import run_demo
    from fastpix.labels import get_label_set

    overrides = overrides or {}
    with tempfile.TemporaryDirectory(prefix="fastpix-bench-demo-") as scratch:
        result = run_demo(keep or scratch, quick=quick, scenes=scenes,
                          segmenter_overrides=overrides)  # fmt: skip
    settings, seg, p2p = result["settings"], result["segmenter"], result["pix2pix"]
    names = get_label_set("trainid").names
    return {
        "quick": quick,
        "overrides": " ".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "preset",
        "train_scenes": result["synthesize"]["splits"]["train"],
        "test_scenes": settings["test_scenes"],
        "size": settings["size"],
        "steps": seg["train"]["step"],
        "steps_per_s": seg["train"]["steps_per_s"],
        "train_s": seg["train"]["train_seconds"],
        "demo_s": result["total_seconds"],
        "demo_cpu_s": result["cpu_seconds"],
        **{f"{r['stage'].replace(' ', '_')}_s": r["seconds"] for r in result["stages"]},
        "miou": seg["test"]["miou"],
        "pixel_acc": seg["test"]["pixel_acc"],
        **{f"iou_{n.replace(' ', '_')}": v for n, v in zip(names, seg["test"]["iou"])},
        "p2p_miou": p2p["test"]["miou"],
        "load_before": settings["load_average_before"][0],
        "load_after": settings["load_average_after"][0],
        "note": NOTE,
    }


def run(args: argparse.Namespace) -> list[dict]:
    """``fastpix bench demo``: one demo measurement appended to ``<args.out>/demo_miou.*``."""
    overrides = parse_overrides(getattr(args, "set", None) or [])
    env = environment("cpu")  # the revision and versions the run started from (it takes minutes)
    row = measure_demo(
        bool(args.quick), overrides, getattr(args, "scenes", None), getattr(args, "keep", None)
    )
    path = write_rows("demo_miou", [row], env, args.out)
    print(markdown_table([row], COLUMNS))
    print(f"results appended to {path}")
    return [row]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/benchmark_demo.py``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="benchmarks/results", help="results folder")
    parser.add_argument("--quick", action="store_true", help="the demo's toy sizes")
    parser.add_argument("--scenes", type=int, help="train + val scenes (default: the demo's)")
    parser.add_argument("--keep", metavar="DIR", help="write the demo here (kept) instead")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a field of the demo preset (repeatable)")  # fmt: skip
    run(parser.parse_args(argv))
    return 0
