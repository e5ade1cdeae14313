"""The training loop both trainers share: steps, epochs, validation, checkpoints and resume.

A trainer subclass builds its networks, optimizers and batches (``build``), does one
optimization step (``train_step``), scores the validation split (``evaluate``) and draws sample
columns (``sample_columns``). ``Trainer`` runs the loop around them:

- step by step through ``TrainBatches`` (epoch, position within it), the LR schedule stepped
  after every optimizer step; every ``log_every`` steps a train record, every
  ``sample_every`` steps a sample grid, every ``checkpoint_every`` steps ``last.pt``;
- at the end of every ``val_every``-th epoch and after the last step: validation, the best
  checkpoint by the trainer's metric and ``last.pt``; the loss curves and the progress GIF
  at most once a minute and when the run ends.

With a ``time_budget`` the run's length is chosen once, early: the first
``BUDGET_UNTIMED_STEPS`` steps of ``fit`` are not timed (they pay for allocations, oneDNN
primitives, cuDNN autotuning and kernel compilation), the next ``BUDGET_TIMED_STEPS`` give the
speed (fewer when they take over ``BUDGET_TIMED_FRACTION`` of the budget: slow steps are
measured well enough by a few), and the run then ends at the step where the budget, counted
from the start of ``fit``, runs out at that speed, or earlier at ``steps`` / ``epochs``. The LR
schedule is rescaled to that step count from the next step on (with cosine, the first 25
steps' rates differ from those of the final schedule by at most 0.2 % when it has 1,000 steps
or more). Validation, checkpoints and sample grids after the measurement come on top of the
budget. The decision is saved in every checkpoint, so a resumed run keeps it; a run resumed
before it measures again.

A checkpoint holds everything the next step depends on (weights, optimizer, schedule and
grad-scaler states, every rank's random states, epoch and position, the running log sums and
the best score), so ``Trainer.resume`` continues as if the run had never stopped: on the CPU
the resumed run's losses equal the uninterrupted run's bit for bit. Ctrl-C finishes the current
step, writes ``last.pt`` and stops.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from fastpix.checkpoint import load_checkpoint, model_entry, save_checkpoint
from fastpix.data.imageio import write_text
from fastpix.labels import get_label_set, label_set_to_dict
from fastpix.train.config import AnyConfig, config_from_dict, replace
from fastpix.train.engine import (
    NonFiniteGuard,
    Runtime,
    lr_factor,
    make_scheduler,
    rng_state,
    seed_everything,
    set_rng_state,
    unwrap,
)
from fastpix.train.logs import RunLog

CHECKPOINT_DIR = "checkpoints"
LAST = "last.pt"
BEST = "best.pt"
CONFIG_FILE = "config.json"
PLOT_EVERY_S = 60.0  # redraw loss_curves.png at an epoch end at most this often (and at the end)
# Fields a resumed run may change: how long and where it runs, and what it shows.
RESUME_OVERRIDES = ("epochs", "steps", "device", "threads", "progress", "workers", "loader")
BUDGET_UNTIMED_STEPS = 5
BUDGET_TIMED_STEPS = 20
BUDGET_TIMED_FRACTION = 0.05
clock = time.perf_counter  # what the time budget is measured with (a stand-in in tests)


class Trainer:
    """The loop around a task's step; see the module docstring. Subclasses set ``task``,
    ``best_metric``/``best_mode`` and the model keys, and implement the abstract methods."""

    task: ClassVar[str]
    target: ClassVar[str]  # what the batches hold: "classes" or "image" (fastpix.train.data)
    best_metric: str = "miou"  # the validation score that picks best.pt
    best_mode: str = "max"  # "max" or "min"

    def __init__(self, config: AnyConfig, checkpoint: dict[str, Any] | None = None) -> None:
        config.check()
        self.config = config
        self.runtime = Runtime.from_config(config)
        self.out = Path(config.out)
        self.log = RunLog(self.out, enabled=self.runtime.is_main, progress=config.progress)
        self.label_set = get_label_set(config.label_set)
        seed_everything(config.seed)
        # name -> (model name, options, wrapped network); optimizers under the same names
        self.nets: dict[str, tuple[str, dict[str, Any], nn.Module]] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.build()
        if self.runtime.rank:  # ranks draw different dropout masks
            torch.manual_seed(config.seed + self.runtime.rank)
        self.steps_per_epoch = len(self.train_batches)
        epochs_steps = config.epochs * self.steps_per_epoch
        self.step_cap = min(config.steps, epochs_steps) if config.steps else epochs_steps
        self.total_steps = self.step_cap
        if config.steps and config.steps > epochs_steps:
            self.log.message(
                f"steps {config.steps} is more than epochs × steps per epoch = {config.epochs} × "
                f"{self.steps_per_epoch} = {epochs_steps}: training stops at step "
                f"{epochs_steps} (raise epochs to train longer)"
            )
        self._lr_factor = lr_factor(config, self.steps_per_epoch, self.total_steps)
        self.schedulers = {k: make_scheduler(o, lambda step: self._lr_factor(step))
                           for k, o in self.optimizers.items()}  # fmt: skip
        self.scalers = {k: self.runtime.grad_scaler() for k in self.optimizers}
        self.guard = NonFiniteGuard(config.max_nonfinite, self.runtime)
        self.step = 0
        self.epoch = 0
        self.position = 0  # batches of `epoch` already trained on
        self.best: dict[str, Any] | None = None  # {"value", "step", "epoch"}
        self.budget: dict[str, Any] | None = None  # the time budget's decision (see _budget)
        self._budget_timer: tuple[int, float] | None = None  # (step, time) its timing began
        self._fit_started, self._fit_first_step = time.perf_counter(), 0
        self.last_scores: dict[str, Any] = {}
        self.validated_at = -1
        self._sums: dict[str, float] = {}  # losses summed since the last train record
        self._count = 0
        self._interval_steps = 0
        self._interval_start = self._plotted_at = time.perf_counter()
        self._stop = threading.Event()
        self.samples = None
        if self.runtime.is_main:  # left by a writer that was killed (see save_checkpoint)
            for stale in (self.out / CHECKPOINT_DIR).glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        if checkpoint is not None:
            self._restore(checkpoint)

    # -- to implement ----------------------------------------------------------------------

    def build(self) -> None:
        """Create ``self.nets``, ``self.optimizers``, ``self.train_batches`` and
        ``self.val_batches`` (an ``EvalBatches`` or None)."""
        raise NotImplementedError

    def train_step(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[dict, bool]:
        """One optimization step: (losses as 0-dim tensors, whether all were finite)."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, Any]:
        """Scores of the validation split, identical on every rank."""
        raise NotImplementedError

    def sample_columns(self, inputs: torch.Tensor, targets: torch.Tensor) -> list[np.ndarray]:
        """N×H×W×3 uint8 arrays: input, output and target of the sample pairs."""
        raise NotImplementedError

    def data_entry(self) -> dict[str, Any]:
        """The checkpoint's ``data`` field (see ``fastpix.checkpoint``)."""
        c = self.config
        return {"size": [c.size, c.size], "mean": [0.5] * 3, "std": [0.5] * 3, "layout": c.layout}

    def curve_panels(self) -> dict[str, list[str]]:
        """loss_curves.png panels: title → train record keys."""
        return {"loss": ["loss"]}

    # -- the loop --------------------------------------------------------------------------

    def fit(self, until: int | None = None) -> dict[str, Any]:
        """Train to the end of the schedule, or stop after step ``until`` (writing ``last.pt``,
        as an interrupted run would). Returns the run summary (see ``summary``)."""
        if self.runtime.is_main:
            write_text(self.out / CONFIG_FILE, json.dumps(self.config.to_dict(), indent=1) + "\n")
        self.log.start_bar(self.total_steps, self.step, f"{self.task} {self.out.name}")
        self._interval_start = self._plotted_at = time.perf_counter()
        self._interval_steps = 0
        self._fit_started, self._fit_first_step, self._budget_timer = clock(), self.step, None
        batches = None
        with _StopOnInterrupt(self._stop):
            try:
                while self.step < self._stop_step(until) and not self._should_stop():
                    if batches is None:
                        batches = iter(self.train_batches.epoch(self.epoch, self.position))
                    inputs, targets = next(batches)
                    losses, finite = self.train_step(inputs, targets)
                    self._after_step(losses, finite)
                    if self.position == self.steps_per_epoch:
                        batches.close()
                        batches = None
                        self.epoch += 1
                        self.position = 0
                        self._end_of_epoch()
                    elif self._checkpoint_due():
                        self.save(LAST)
            finally:
                if batches is not None:
                    batches.close()
                self.log.close_bar()
        seconds = clock() - self._fit_started
        if self.step >= self.total_steps and self.validated_at != self.step:
            self._validate()
        self.save(LAST)
        self._plot()
        if self._stop.is_set():
            self.log.message(
                f"stopped at step {self.step}; continue with: fastpix train {self.task} "
                f"--resume {self.out}"
            )
        return self.summary(seconds, self.step - self._fit_first_step)

    def _stop_step(self, until: int | None) -> int:
        return self.total_steps if until is None else min(until, self.total_steps)

    def _should_stop(self) -> bool:
        if not self.runtime.distributed:
            return self._stop.is_set()
        flag = torch.tensor([float(self._stop.is_set())], device=self.runtime.device)
        if self.runtime.all_reduce_sum(flag).item() > 0:
            self._stop.set()
        return self._stop.is_set()

    def _after_step(self, losses: dict[str, torch.Tensor], finite: bool) -> None:
        self.step += 1
        self.position += 1
        self._interval_steps += 1
        if self.config.time_budget and self.budget is None:
            self._budget()
        for scheduler in self.schedulers.values():
            scheduler.step()
        if not finite:
            shown = {k: repr(float(v)) for k, v in losses.items()}
            self.log.write({"kind": "nonfinite", "step": self.step, "epoch": self.epoch, **shown})
            self.log.message(f"step {self.step}: non-finite loss {shown}; update skipped")
        else:
            for key, value in losses.items():
                self._sums[key] = self._sums.get(key, 0.0) + float(value)
            self._count += 1
        self.guard.step_done(finite, self.step, {k: float(v) for k, v in losses.items()})
        if self.step % self.config.log_every == 0 or self.step == self.total_steps:
            self._write_train_record()
        else:
            self.log.advance()
        if self.config.sample_every and self.step % self.config.sample_every == 0:
            self._save_samples()

    def _budget(self) -> None:
        """Time the steps of the calibration window; after its last, choose the step count."""
        first = self._fit_first_step + BUDGET_UNTIMED_STEPS
        if self.step == first:
            self._budget_timer = (self.step, clock())
        if self._budget_timer is None or self.step == first:
            return
        timed_from, timer = self._budget_timer
        now = clock()
        seconds = float(self.config.time_budget)
        done = (self.step - timed_from >= BUDGET_TIMED_STEPS
                or now - timer >= BUDGET_TIMED_FRACTION * seconds)  # fmt: skip
        if not self.runtime.broadcast(done):  # rank 0's clock says when, for every rank
            return
        rate = (self.step - timed_from) / max(now - timer, 1e-9)
        left = seconds - (now - self._fit_started)
        steps = self.step + max(0, math.floor(left * rate))
        steps, rate = self.runtime.broadcast((steps, rate))  # every rank stops together
        self.budget = {"seconds": seconds, "steps": steps, "steps_per_s": rate,
                       "timed": [timed_from, self.step]}  # fmt: skip
        self._set_total(min(steps, self.step_cap))
        self.log.write({"kind": "budget", "step": self.step, **self.budget})
        capped = f" (capped by steps / epochs at {self.step_cap})" if steps > self.step_cap else ""
        timed = (f"step {self.step}" if self.step == timed_from + 1
                 else f"steps {timed_from + 1}–{self.step}")  # fmt: skip
        self.log.message(
            f"time budget {seconds:g} s: {rate:.3g} steps/s over {timed}, so {steps} steps"
            f"{capped}; training ends at step {self.total_steps}"
        )

    def _set_total(self, total: int) -> None:
        """End the run at step ``total``, the LR schedule rescaled to it."""
        self.total_steps = total
        self._lr_factor = lr_factor(self.config, self.steps_per_epoch, total)
        self.log.set_bar_total(total)

    def _write_train_record(self) -> None:
        now = time.perf_counter()
        rate = self._interval_steps / max(now - self._interval_start, 1e-9)
        self._interval_start, self._interval_steps = now, 0
        means = {k: v / max(1, self._count) for k, v in self._sums.items()}
        images = rate * self.config.batch_size * self.runtime.world_size
        lrs = {f"lr_{k}" if len(self.optimizers) > 1 else "lr": o.param_groups[0]["lr"]
               for k, o in self.optimizers.items()}  # fmt: skip
        self.log.write({"kind": "train", "step": self.step, "epoch": self.epoch, **means, **lrs,
                        "steps_per_s": rate, "images_per_s": images})  # fmt: skip
        self.log.advance(means)
        self._sums, self._count = {}, 0

    def _end_of_epoch(self) -> None:
        config = self.config
        validate = self.epoch % config.val_every == 0 or self.step >= self.total_steps
        if validate:
            self._validate()
        if validate or self._checkpoint_due():
            self.save(LAST)
        if time.perf_counter() - self._plotted_at >= PLOT_EVERY_S:
            self._plot()

    def _checkpoint_due(self) -> bool:
        every = self.config.checkpoint_every
        return bool(every) and self.step % every == 0

    def _validate(self) -> None:
        if self.val_batches is None:
            return
        self.runtime.sync_buffers(*(net for _, _, net in self.nets.values()))
        scores = self.evaluate()
        self.validated_at = self.step
        self.last_scores = scores
        self.log.write({"kind": "val", "step": self.step, "epoch": self.epoch, **scores})
        value = scores.get(self.best_metric)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, float))
        self.log.message(f"epoch {self.epoch} step {self.step}: {shown}")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        better = self.best is None or (
            value > self.best["value"] if self.best_mode == "max" else value < self.best["value"]
        )
        if better:
            self.best = {"metric": self.best_metric, "value": value, "step": self.step,
                         "epoch": self.epoch}  # fmt: skip
            self.save(BEST)

    def _save_samples(self) -> None:
        if not self.runtime.is_main:
            return
        if self.samples is None:
            source = self.val_batches or self.sample_source()
            self.samples = source.first(self.config.num_samples)
        self.log.save_samples(self.step, self.sample_columns(*self.samples))

    def sample_source(self):
        """Where sample pairs come from when there is no validation split: the training
        split without jitter."""
        from fastpix.train.data import EvalBatches

        return EvalBatches(self.config, self.runtime, self.config.train_split, self.target,
                           getattr(self.config, "direction", "AtoB"))  # fmt: skip

    def _plot(self) -> None:
        """Redraw the summaries of the run so far: loss curves and the progress GIF."""
        self.log.plot_curves(self.curve_panels(), [self.best_metric])
        self.log.write_gif()
        self._plotted_at = time.perf_counter()

    # -- checkpoints -----------------------------------------------------------------------

    def checkpoint_payload(self) -> dict[str, Any]:
        """The checkpoint of the current state (rank 0's weights, every rank's RNG)."""
        return {
            "task": self.task,
            "models": {k: model_entry(name, opts, net) for k, (name, opts, net) in self.nets.items()},
            "label_set": label_set_to_dict(self.label_set),
            "data": self.data_entry(),
            "config": self.config.to_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
            "rng": self.runtime.gather(rng_state()),
            "step": self.step,
            "epoch": self.epoch,
            "position": self.position,
            "world_size": self.runtime.world_size,
            "best": self.best,
            "budget": self.budget,
            "scores": self.last_scores,
            "log_sums": {"sums": dict(self._sums), "count": self._count},
            "nonfinite": {"consecutive": self.guard.consecutive, "total": self.guard.total},
        }  # fmt: skip

    def save(self, name: str) -> Path:
        """Write ``checkpoints/<name>`` (rank 0; every rank takes part in gathering RNG)."""
        payload = self.checkpoint_payload()
        path = self.out / CHECKPOINT_DIR / name
        if self.runtime.is_main:
            save_checkpoint(path, payload)
        return path

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        for key, (_, _, net) in self.nets.items():
            entry = checkpoint["models"].get(key)
            if entry is None:
                raise ValueError(f"checkpoint has no network {key!r} to resume")
            unwrap(net).load_state_dict(entry["state_dict"])
        for key, optimizer in self.optimizers.items():
            optimizer.load_state_dict(checkpoint["optimizers"][key])
            self.schedulers[key].load_state_dict(checkpoint["schedulers"][key])
            if checkpoint["scalers"][key]:  # empty when the scaler was off
                self.scalers[key].load_state_dict(checkpoint["scalers"][key])
        self.step = int(checkpoint["step"])
        self.epoch = int(checkpoint["epoch"])
        self.position = int(checkpoint["position"])
        self.best = checkpoint.get("best")
        self.budget = checkpoint.get("budget")
        if self.budget is not None:
            self._set_total(min(int(self.budget["steps"]), self.step_cap))
        self.last_scores = checkpoint.get("scores") or {}
        self.validated_at = self.step if self.last_scores else -1
        sums = checkpoint.get("log_sums") or {}
        self._sums, self._count = dict(sums.get("sums", {})), int(sums.get("count", 0))
        guard = checkpoint.get("nonfinite") or {}
        self.guard.consecutive = int(guard.get("consecutive", 0))
        self.guard.total = int(guard.get("total", 0))
        states = checkpoint["rng"]
        if len(states) == self.runtime.world_size:
            set_rng_state(states[self.runtime.rank])
        else:  # another process count: data order still matches, dropout draws do not
            self.log.message(
                f"resuming a {len(states)}-process run with {self.runtime.world_size} "
                "processes: random states are reseeded"
            )
            seed_everything(self.config.seed + self.step + self.runtime.rank)
        if self.position > self.steps_per_epoch:
            raise ValueError(
                f"checkpoint is at batch {self.position} of an epoch that now has "
                f"{self.steps_per_epoch} batches: the data or batch size changed"
            )
        self.log.resume(self.step)

    @classmethod
    def resume(cls, path: str | os.PathLike, **overrides: Any) -> Trainer:
        """The trainer of a run folder (its ``checkpoints/last.pt``) or of a checkpoint file,
        ready to continue (see ``from_checkpoint``)."""
        return cls.from_checkpoint(load_checkpoint(resolve_checkpoint(path), task=cls.task),
                                   **overrides)  # fmt: skip

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], **overrides: Any) -> Trainer:
        """The trainer of a loaded checkpoint with its saved config; ``overrides`` may change
        the ``RESUME_OVERRIDES`` fields (e.g. train longer with a larger ``epochs``)."""
        if checkpoint.get("task") != cls.task or "config" not in checkpoint:
            raise ValueError(f"not a {cls.task} training checkpoint of fastpix train")
        changed = sorted(k for k, v in overrides.items() if v is not None)
        fixed = [k for k in changed if k not in RESUME_OVERRIDES]
        if fixed:
            raise ValueError(
                f"cannot change {', '.join(fixed)} when resuming; a resumed run may change "
                f"only {', '.join(RESUME_OVERRIDES)}"
            )
        config = config_from_dict(checkpoint["config"])
        config = replace(config, **{k: overrides[k] for k in changed})
        return cls(config, checkpoint)

    def summary(self, seconds: float, steps: int) -> dict[str, Any]:
        """What the run reached: steps, epochs, best and last scores, speed, checkpoints."""
        checkpoints = self.out / CHECKPOINT_DIR
        return {
            "task": self.task,
            "out": str(self.out),
            "step": self.step,
            "epoch": self.epoch,
            "finished": self.step >= self.total_steps,
            "best": self.best,
            "budget": self.budget,
            "scores": self.last_scores,
            "train_seconds": seconds,
            "steps_per_s": steps / seconds if seconds > 0 else math.nan,
            "nonfinite_steps": self.guard.total,
            "last_checkpoint": str(checkpoints / LAST),
            "best_checkpoint": str(checkpoints / BEST) if self.best else None,
        }

    def close(self) -> None:
        """Leave the process group (distributed runs)."""
        self.runtime.close()


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or ``checkpoints/last.pt`` of a run folder."""
    path = Path(path)
    if path.is_dir():
        candidate = path / CHECKPOINT_DIR / LAST
        if not candidate.is_file():
            raise FileNotFoundError(f"{path}: a folder without {CHECKPOINT_DIR}/{LAST}")
        return candidate
    return path


class _StopOnInterrupt:
    """While active, the first Ctrl-C sets ``event`` (the loop stops after the current step
    and saves); a second one interrupts at once. Only in the main thread."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.previous = None

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self.event.is_set():
                raise KeyboardInterrupt
            self.event.set()

        signal.signal(signal.SIGINT, handler)

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
