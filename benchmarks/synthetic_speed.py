"""How fast are synthetic scenes made and written?

    .venv/bin/python benchmarks/synthetic_speed.py [--n 500] [--workers 2] [--quick]

Times ``make_scene`` per size and supersampling factor (median over scenes, one process), then
``write_synthetic`` end to end (kaggle JPEG and PNG, cityscapes) for ``--n`` scenes at 256×256
with ``--workers`` processes: wall time, and CPU time of this process and its workers (on a
shared machine the CPU time per scene is the stable figure; each row records the 1-minute load
average when it was measured). Appends rows to ``benchmarks/results/synthetic_speed.{jsonl,csv}``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from fastpix.bench.harness import environment, markdown_table, measure, write_rows
from fastpix.data.synthetic import make_scene
from fastpix.data.writers import write_synthetic


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="scenes per written data set")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer scenes")
    args = parser.parse_args()
    env = environment("cpu")  # the revision the run started from
    n = 40 if args.quick else args.n
    rows = []
    for size, supersample in ((128, 1), (128, 2), (256, 1), (256, 2), (512, 2)):
        seeds = iter(range(10**6))

        def one_scene(size=size, supersample=supersample, seeds=seeds):
            make_scene(next(seeds), size, size, supersample=supersample)

        cpu = time.process_time()
        timing = measure(one_scene, warmup=1, repeats=5 if args.quick else 20)
        cpu = time.process_time() - cpu
        rows.append(
            {
                "what": "make_scene",
                "size": size,
                "supersample": supersample,
                "ms_per_scene": timing.median_ms,
                "cpu_ms_per_scene": 1e3 * cpu / (timing.repeats + 1),
                "workers": 1,
                "load_avg": os.getloadavg()[0],
            }
        )
    for layout, png in (("kaggle", False), ("kaggle", True), ("cityscapes", True)):
        out = Path(tempfile.mkdtemp(prefix="fastpix_synth_"))
        try:
            cpu = _cpu_seconds()
            start = time.perf_counter()
            write_synthetic(out, n=n, layout=layout, size=256, png=png, workers=args.workers)
            seconds = time.perf_counter() - start
            cpu = _cpu_seconds() - cpu
        finally:
            shutil.rmtree(out, ignore_errors=True)
        rows.append(
            {
                "what": f"write {layout} {'png' if png else 'jpeg'}",
                "size": 256,
                "supersample": 2,
                "scenes": n,
                "seconds": seconds,
                "ms_per_scene": 1e3 * seconds / n,
                "cpu_ms_per_scene": 1e3 * cpu / n,
                "workers": args.workers,
                "load_avg": os.getloadavg()[0],
            }
        )
    write_rows("synthetic_speed", rows, env)
    columns = ["what", "size", "supersample", "workers", "scenes", "seconds", "ms_per_scene",
               "cpu_ms_per_scene", "load_avg"]  # fmt: skip
    print(markdown_table(rows, columns))


if __name__ == "__main__":
    main()
