"""The benchmark harness every fastpix benchmark uses.

``measure`` times a callable with warm-up and, on CUDA, proper synchronization (CUDA events),
returning the median and spread over repeats. ``write_rows`` appends result rows, each
stamped with the date, git revision, device and library versions, to
``benchmarks/results/<name>.jsonl`` and ``.csv`` so that tables and plots can be made from them.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

DEFAULT_RESULTS_DIR = Path("benchmarks") / "results"


@dataclass(frozen=True)
class Timing:
    median_s: float
    min_s: float
    max_s: float
    repeats: int

    @property
    def median_ms(self) -> float:
        return self.median_s * 1e3


def measure(
    fn: Callable[[], object],
    *,
    device: torch.device | str = "cpu",
    warmup: int = 3,
    repeats: int = 10,
    min_time_s: float = 0.0,
) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones (more if needed to
    reach ``min_time_s``). CUDA work is timed with events on the current stream."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start_all = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start_all < min_time_s:
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return Timing(statistics.median(times), min(times), max(times), len(times))


def interleaved(
    providers: dict[str, Callable[[], object]],
    rounds: int,
    device: torch.device | str = "cpu",
    warmup: int = 1,
) -> dict[str, Timing]:
    """Time each provider once per round, the providers taking turns, so that a busy (shared)
    machine slows them alike; ``warmup`` untimed rounds first. Returns provider → Timing
    over the ``rounds`` timed calls."""
    samples: dict[str, list[float]] = {name: [] for name in providers}
    for round_index in range(warmup + rounds):
        for name, fn in providers.items():
            seconds = measure(fn, device=device, warmup=0, repeats=1).median_s
            if round_index >= warmup:
                samples[name].append(seconds)
    return {
        name: Timing(statistics.median(times), min(times), max(times), len(times))
        for name, times in samples.items()
    }


def load_average() -> float | None:
    """The 1-minute load average (other processes on a shared machine), None where unknown."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def rss_mib() -> float | None:
    """This process's resident memory now, MiB (None where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_memory(device: torch.device | str) -> None:
    """Start a new peak-memory window on a CUDA device (nothing on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device | str) -> float | None:
    """Peak CUDA memory allocated by torch since ``reset_peak_memory``, MiB (None on the
    CPU)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def _git_revision(checkout: str | os.PathLike | None = None) -> str:
    """Short HEAD revision of ``checkout`` (default: fastpix's own), with ``-dirty`` when
    tracked files outside benchmarks/results (where rows are appended) differ from it: a row
    must name the code that produced it."""
    try:
        here = Path(checkout) if checkout is not None else Path(__file__).resolve().parent
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, cwd=here,
        ).stdout.strip()  # fmt: skip
        if not head:
            return "unknown"
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
             ":(exclude,top)benchmarks/results"],
            capture_output=True, text=True, timeout=5, cwd=here,
        ).stdout.strip()  # fmt: skip
        return f"{head}-dirty" if changed else head
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _optional_version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:
        return None
    return getattr(mod, "__version__", "unknown")


def environment(device: torch.device | str = "cpu") -> dict:
    """What a result was measured on: date, revision, device, library versions (torch,
    CUDA, Triton, TensorRT, onnxruntime; None where absent) and the machine's load. Take it
    as a run starts: the row then names the code the run started from (a commit made during a
    long run is not credited with it) and the load of other processes before the run's own."""
    from fastpix._version import __version__

    device = torch.device(device)
    env = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git": _git_revision(),
        "fastpix": __version__,
        "torch": torch.__version__,
        "triton": _optional_version("triton"),
        "tensorrt": _optional_version("tensorrt") or _optional_version("tensorrt_rtx"),
        "onnxruntime": _optional_version("onnxruntime"),
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "load_average_1m": load_average(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            device=props.name,
            compute_capability=f"{props.major}.{props.minor}",
            driver=_nvidia_driver(),
        )
    else:
        env["device"] = (
            f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
        )
    return env


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def write_rows(
    name: str,
    rows: Iterable[dict],
    env: dict,
    results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR,
) -> Path:
    """Append ``rows`` (each merged with ``env``) to ``<results_dir>/<name>.jsonl`` and
    ``.csv``; returns the JSONL path."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    rows = [{**env, **row} for row in rows]
    jsonl = results_dir / f"{name}.jsonl"
    with open(jsonl, "a") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")
    csv_path = results_dir / f"{name}.csv"
    fields = sorted({k for row in rows for k in row})
    if csv_path.exists():
        with open(csv_path, newline="") as f:
            existing = next(csv.reader(f), [])
        fields = existing + [k for k in fields if k not in existing]
        if fields != existing:  # a new column: rewrite with the wider header
            with open(csv_path, newline="") as f:
                old = list(csv.DictReader(f))
            _write_csv(csv_path, fields, old + rows)
            return jsonl
        with open(csv_path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=fields).writerows(rows)
        return jsonl
    _write_csv(csv_path, fields, rows)
    return jsonl


def _write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    """Rows as a markdown table of the given columns (floats to 4 significant digits)."""

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def script_main(
    run: Callable[[argparse.Namespace], object],
    description: str | None,
    quick_help: str,
    argv: list[str] | None = None,
) -> int:
    """Entry point of a ``benchmarks/benchmark_*.py`` script: the options ``fastpix bench``
    gives every target (``--device``, ``--out``, ``--quick``), then ``run(args)``."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--out", default="benchmarks/results", help="results folder")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    run(parser.parse_args(argv))
    return 0
