"""What a training run shows and leaves behind: a tqdm bar, ``metrics.jsonl``, loss curves,
sample grids and the progress GIF.

Only rank 0 writes (``RunLog(enabled=False)`` on the other ranks does nothing). Every file is
written atomically (temporary file, then rename), so a crash never leaves half of one:

- ``metrics.jsonl``: one JSON record per line: ``{"kind": "train", "step", "epoch", losses,
  "lr", "steps_per_s"}``, ``{"kind": "val", "step", "epoch", scores}``,
  ``{"kind": "nonfinite", "step", losses}`` and, with a time budget, ``{"kind": "budget",
  "step", "seconds", "steps", "steps_per_s", "timed"}`` (the step count it chose). On
  resume, records after the checkpoint's step are dropped, so the file always tells the
  history of the weights in ``last.pt``.
- ``loss_curves.png``: training losses (and validation loss) against steps, one panel per
  network (segmenter; G and D), and the validation scores.
- ``samples/step_XXXXXXXX.png``: rows of input | output | target for fixed validation pairs.
- ``progress.gif``: the sample grids in step order, one frame each (as seed 000's GIF),
  rebuilt whenever the loss curves are.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fastpix.data.imageio import atomic_write, write_image

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "loss_curves.png"
GIF_FILE = "progress.gif"
SAMPLES_DIR = "samples"
GIF_MAX_FRAMES = 60
GIF_FRAME_MS = 400
GRID_GAP = 2  # pixels between tiles of a sample grid


class RunLog:
    """The log files of a run folder and the progress bar (rank 0 only)."""

    def __init__(self, out: str | os.PathLike, enabled: bool = True, progress: bool = True):
        self.out = Path(out)
        self.enabled = enabled
        self.progress = progress and enabled
        self.records: list[dict[str, Any]] = []
        self._bar = None
        if enabled:
            self.out.mkdir(parents=True, exist_ok=True)

    # -- metrics.jsonl ---------------------------------------------------------------------

    def resume(self, step: int) -> None:
        """Load the records up to ``step`` and rewrite the file without later ones."""
        if not self.enabled:
            return
        path = self.out / METRICS_FILE
        self.records = []
        if path.is_file():
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    warnings.warn(f"{path}:{number}: unreadable record dropped", stacklevel=2)
                    continue
                if record.get("step", 0) <= step:
                    self.records.append(record)
        with atomic_write(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in self.records)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (a dict of JSON values; nan/inf are written as null)."""
        if not self.enabled:
            return
        record = {k: _json_value(v) for k, v in record.items()}
        self.records.append(record)
        with open(self.out / METRICS_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    # -- progress bar ----------------------------------------------------------------------

    def start_bar(self, total: int, initial: int, description: str) -> None:
        if not self.progress:
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=total, initial=initial, desc=description, unit="step", dynamic_ncols=True
        )

    def set_bar_total(self, total: int) -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def advance(self, postfix: dict[str, float] | None = None) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        if postfix:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def message(self, text: str) -> None:
        """A line for the user that does not break the progress bar."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, flush=True)

    # -- plots and images ------------------------------------------------------------------

    def plot_curves(self, panels: dict[str, Sequence[str]], scores: Sequence[str]) -> None:
        """``loss_curves.png``: one panel per entry of ``panels`` (title → train record keys,
        drawn with the validation records' ``val_<key>`` when present) and one of the
        validation ``scores``. Skipped (with a warning) without matplotlib."""
        if not self.enabled:
            return
        try:
            import matplotlib

            matplotlib.use("Agg")
            from matplotlib import pyplot as plt
        except ImportError:
            warnings.warn("matplotlib is not installed: no loss_curves.png", stacklevel=2)
            return
        train = [r for r in self.records if r.get("kind") == "train"]
        val = [r for r in self.records if r.get("kind") == "val"]
        count = len(panels) + 1
        fig, axes = plt.subplots(1, count, figsize=(4.5 * count, 3.4), squeeze=False)
        for ax, (title, keys) in zip(axes[0], panels.items()):
            for key in keys:
                _plot(ax, train, key, f"train {key}")
                _plot(ax, val, f"val_{key}", f"val {key}", marker="o")
            ax.set_title(title)
        ax = axes[0][-1]
        for key in scores:
            _plot(ax, val, key, key, marker="o")
        ax.set_title("validation")
        for ax in axes[0]:
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        with atomic_write(self.out / CURVES_FILE) as f:
            f.write(buffer.getvalue())

    def save_samples(self, step: int, columns: Sequence[np.ndarray]) -> Path | None:
        """``samples/step_XXXXXXXX.png``: row i shows ``columns[c][i]`` side by side (each an
        N×H×W×3 uint8 array)."""
        if not self.enabled:
            return None
        path = self.out / SAMPLES_DIR / f"step_{step:08d}.png"
        write_image(path, sample_grid(columns))
        return path

    def write_gif(self) -> None:
        """``progress.gif`` from the sample grids so far (at most ``GIF_MAX_FRAMES``, evenly
        spaced, always with the last)."""
        from PIL import Image

        if not self.enabled:
            return
        grids = sorted((self.out / SAMPLES_DIR).glob("step_*.png"))
        if not grids:
            return
        if len(grids) > GIF_MAX_FRAMES:
            picks = np.linspace(0, len(grids) - 1, GIF_MAX_FRAMES).round().astype(int)
            grids = [grids[i] for i in sorted(set(picks.tolist()))]
        frames = []
        for path in grids:
            with Image.open(path) as image:
                frames.append(image.convert("RGB"))
        buffer = io.BytesIO()
        frames[0].save(
            buffer, format="GIF", save_all=True, append_images=frames[1:],
            duration=GIF_FRAME_MS, loop=0,
        )  # fmt: skip
        with atomic_write(self.out / GIF_FILE) as f:
            f.write(buffer.getvalue())


def sample_grid(columns: Sequence[np.ndarray]) -> np.ndarray:
    """Tiles N×H×W×3 uint8 arrays: one row per sample, one column per array, white gaps."""
    rows, height, width, _ = columns[0].shape
    gap = GRID_GAP
    grid = np.full(
        (rows * height + (rows - 1) * gap, len(columns) * width + (len(columns) - 1) * gap, 3),
        255,
        np.uint8,
    )
    for c, images in enumerate(columns):
        if images.shape != columns[0].shape or images.dtype != np.uint8:
            raise ValueError(
                f"sample column {c} is {images.dtype} {images.shape}, expected uint8 "
                f"{columns[0].shape}"
            )
        for r in range(rows):
            top, left = r * (height + gap), c * (width + gap)
            grid[top : top + height, left : left + width] = images[r]
    return grid


def to_uint8_images(images: torch.Tensor) -> np.ndarray:
    """Float N×3×H×W images in [-1, 1] → N×H×W×3 uint8 (numpy)."""
    array = images.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round()
    return array.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _plot(ax, records: list[dict], key: str, label: str, marker: str | None = None) -> None:
    points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
    if points:
        steps, values = zip(*points)
        ax.plot(steps, values, label=label, marker=marker, markersize=3, linewidth=1)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # 0-dim tensors, numpy scalars
        return _json_value(value.item())
    return value
