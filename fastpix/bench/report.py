"""Render recorded benchmark results: ``fastpix bench report``.

Reads every ``<results>/<name>.jsonl`` that ``fastpix.bench.harness.write_rows`` appended to and
writes ``<results>/README.md``: per benchmark and device, the rows of the latest run on that
device as a markdown table, headed by the device, date, git revision, library versions and
load average of that run. PNG plots go to ``<results>/plots/`` (matplotlib, the ``plot``
extra; without it the tables are still written):

- ``kernels_<device>.png``: GB/s vs bytes moved per pass, one line per provider (GPU runs
  only: on the CPU the fastpix provider is the torch reference);
- ``loader_<device>.png``: pairs/s vs decoder threads, one line per provider and config;
- ``infer_<device>.png``: latency per batch vs batch, one line per runtime, model and size;
- ``train_<device>.png``: images/s of fastpix and the reference per task and batch.

Files are written to a temporary name and renamed, so a reader never sees half a file.

    fastpix bench report [--out benchmarks/results]
    python benchmarks/render_results.py [--out benchmarks/results]
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Callable

from fastpix.bench.harness import markdown_table

# The columns shown per benchmark (other fields stay in the JSONL/CSV files).
COLUMNS: dict[str, list[str]] = {
    "kernels": ["case", "kind", "shape", "dtype", "variant", "pass", "provider", "impl",
                "median_ms", "gbps", "pct_of_copy", "vs_torch", "vs_compile"],
    "loader": ["config", "provider", "threads", "pairs_per_s", "pairs_per_s_median", "vs_pil",
               "vs_floor", "load_average_1m"],
    "infer": ["model", "size", "batch", "runtime", "median_ms", "images_per_s", "speedup",
              "agree"],
    "train": ["task", "provider", "width", "batch", "size", "precision", "impl", "loader",
              "steps_per_s", "images_per_s", "speedup", "speedup_best", "peak_cuda_mib",
              "rss_mib", "load_average_1m", "note"],
    "models": ["model", "options", "input", "mode", "params_m", "gflops", "median_ms",
               "min_ms"],
    "pipeline": ["case", "size", "batch", "threads", "precision", "impl", "stage",
                 "gflop_per_image", "median_ms", "images_per_s", "load_avg"],
}  # fmt: skip
# Fields of a run rather than of a row (fastpix.bench.harness.environment).
RUN_FIELDS = ("device", "date", "git", "torch", "cuda", "driver", "triton", "tensorrt",
              "onnxruntime", "cpu_threads", "load_average_1m")  # fmt: skip
ENVIRONMENT_FIELDS = {*RUN_FIELDS, "fastpix", "python", "machine", "compute_capability"}


def read_results(results_dir: str | os.PathLike) -> dict[str, list[dict]]:
    """benchmark name → every row of ``<results_dir>/<name>.jsonl``, in file order. A line
    that is not JSON raises ValueError naming the file and line."""
    results: dict[str, list[dict]] = {}
    for path in sorted(Path(results_dir).glob("*.jsonl")):
        rows = []
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON row ({exc.msg})") from None
        results[path.stem] = rows
    return results


def latest_runs(rows: list[dict]) -> dict[str, list[dict]]:
    """device → the rows of the latest run on that device (a run: rows with one ``date``,
    which ``write_rows`` stamps once per call)."""
    by_device: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_device[str(row.get("device", "unknown device"))].append(row)
    latest = {}
    for device, device_rows in by_device.items():
        newest = max(str(r.get("date", "")) for r in device_rows)
        latest[device] = [r for r in device_rows if str(r.get("date", "")) == newest]
    return latest


def _run_line(row: dict) -> str:
    def shown(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    parts = [f"{key} {shown(row[key])}" for key in RUN_FIELDS[1:] if row.get(key) is not None]
    return "; ".join(parts)


def _columns(name: str, rows: list[dict]) -> list[str]:
    wanted = COLUMNS.get(name)
    if wanted is None:
        wanted = sorted({k for r in rows for k in r} - ENVIRONMENT_FIELDS)
    # A run-level column (load average) stays when rows carry their own values.
    return [c for c in wanted if any(r.get(c) is not None for r in rows)]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "device"


def _write_atomically(path: Path, write: Callable[[str], None]) -> None:
    """``write(temporary_path)``, then rename the file to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- plots


def _series(rows: list[dict], key: Callable[[dict], str], x: str, y: str) -> dict[str, list]:
    """label → sorted (x, y) points of the rows that have both values."""
    series: dict[str, list] = defaultdict(list)
    for row in rows:
        if isinstance(row.get(x), (int, float)) and isinstance(row.get(y), (int, float)):
            series[key(row)].append((row[x], row[y]))
    return {label: sorted(points) for label, points in series.items()}


def _kernel_bytes(row: dict) -> dict:
    """The row with ``bytes_moved`` (GB/s × median seconds)."""
    return {**row, "bytes_moved": row["gbps"] * 1e9 * row["median_ms"] / 1e3}


def _plot_kernels(rows: list[dict]):
    if str(rows[0].get("device", "cpu")).startswith("cpu"):
        return None  # GPU runs only: on the CPU fastpix runs the torch reference
    rows = [_kernel_bytes(r) for r in rows if r.get("gbps") and r.get("median_ms")]

    def label(r: dict) -> str:
        return f"{r['case']} {r.get('pass', '')} {r.get('dtype', '')} {r['provider']}"

    return _series(rows, label, "bytes_moved", "gbps"), "bytes moved per pass", "GB/s", True


def _plot_loader(rows: list[dict]):
    def label(r: dict) -> str:
        return f"{r.get('config', '')} {r['provider']}"

    return _series(rows, label, "threads", "pairs_per_s"), "threads", "pairs/s", False


def _plot_infer(rows: list[dict]):
    def label(r: dict) -> str:
        return f"{r['model']} {r['size']} {r['runtime']}"

    return _series(rows, label, "batch", "median_ms"), "batch", "latency per batch (ms)", False


def _plot_train(rows: list[dict]):
    def label(r: dict) -> str:
        return f"{r.get('task', '')} {r['provider']}"

    return _series(rows, label, "batch", "images_per_s"), "batch", "images/s", False


PLOTS: dict[str, Callable[[list[dict]], tuple | None]] = {
    "kernels": _plot_kernels,
    "loader": _plot_loader,
    "infer": _plot_infer,
    "train": _plot_train,
}


def _draw(path: Path, title: str, plot: tuple) -> bool:
    series, xlabel, ylabel, logx = plot
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for label, points in sorted(series.items()):
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", label=label)
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    _write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------- report


def render(results_dir: str | os.PathLike = "benchmarks/results", plots: bool = True) -> Path:
    """Write ``<results_dir>/README.md`` (and the PNG plots) from the recorded results;
    returns the README's path. FileNotFoundError when the folder holds no results."""
    results_dir = Path(results_dir)
    results = read_results(results_dir) if results_dir.is_dir() else {}
    if not results:
        raise FileNotFoundError(f"{results_dir}: no benchmark results (*.jsonl) to render")
    can_plot = plots
    if plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            can_plot = False
            print("matplotlib is missing (pip install 'fastpix[plot]'): tables only")
    lines = [
        "# Benchmark results",
        "",
        "Generated by `fastpix bench report` from the `*.jsonl` files in this folder: for each "
        "benchmark and device, the latest run. Ratios compare fastpix with the baseline "
        "measured in the same run (> 1: fastpix is faster).",
    ]
    for name, rows in results.items():
        for device, run in sorted(latest_runs(rows).items()):
            lines += ["", f"## {name} — {device}", "", _run_line(run[0]), ""]
            lines.append(markdown_table(run, _columns(name, run)))
            if can_plot and name in PLOTS:
                plot = PLOTS[name](run)
                png = results_dir / "plots" / f"{name}_{_slug(device)}.png"
                if plot is not None and _draw(png, f"{name} — {device}", plot):
                    lines += ["", f"![{name} on {device}](plots/{png.name})"]
    cpu_only = sorted(
        name
        for name, rows in results.items()
        if all(str(r.get("device", "cpu")).startswith("cpu") for r in rows)
    )
    if cpu_only:
        lines += ["", "## Not measured", "",
                  f"No GPU run is recorded for: {', '.join(cpu_only)}. Their GPU rows (Triton "
                  "kernels, nvJPEG, AMP + channels_last training, TensorRT) come from "
                  "`fastpix bench all` on a CUDA machine."]  # fmt: skip
    readme = results_dir / "README.md"
    text = "\n".join(lines) + "\n"
    _write_atomically(readme, lambda tmp: Path(tmp).write_text(text))
    return readme


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/render_results.py``."""
    import argparse

    parser = argparse.ArgumentParser(description="Render benchmarks/results into README.md.")
    parser.add_argument("--out", default="benchmarks/results", help="results folder")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="tables only")
    args = parser.parse_args(argv)
    print(f"wrote {render(args.out, args.plots)}")
    return 0
