"""``fastpix demo``: the main job end to end on synthetic street scenes, with a report.

    fastpix demo --out demo_out            # about 7 minutes, on any machine
    fastpix demo --time-budget 1800        # the U-Net trains 30 minutes instead of 5.5
    fastpix demo --out /tmp/smoke --quick  # a tiny smoke run (under a minute)

Stages, each timed and printed as it runs:

1. ``synthesize``: train / val / test scenes (``fastpix.data.writers.write_synthetic``, aligned
   photo|mask PNG pairs, exact masks); every scene has its own seed, so the test split is
   held out from training and from model selection.
2. ``train U-Net``: the ``demo`` preset (``fastpix.train.run_preset``) for its time budget
   (330 s: the step count follows the machine's speed), best checkpoint by validation mIoU.
   On a CUDA device the same budget goes to a wider U-Net on larger batches of more scenes
   (``CUDA_FULL``).
3. ``evaluate U-Net``: mIoU and per-class IoU (19 trainIds) on the test split
   (``fastpix.train.evaluate_checkpoint``).
4. ``train pix2pix``: the ``demo-pix2pix`` preset, photo → colour mask.
5. ``evaluate pix2pix``: its masks turned into classes by the nearest palette colour, scored on
   the test split.
6. ``deploy``: ONNX export, TensorRT engine, INT8 vs FP32 and ONNX predictions on held-out
   scenes (``fastpix.export.demo.deploy_stage``).

Everything lands in the output folder: ``report.md`` (summary table, images, tables; every
image path relative), ``demo.json`` (the numbers of the report), ``data/``, ``segmenter/``,
``pix2pix/`` and ``deploy/``. Running again into the same folder replaces what the last run
wrote there; a non-empty folder that no demo wrote is refused.

Only the standard library is imported here at import time (``fastpix --help`` stays fast).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

REPORT = "report.md"
RESULTS = "demo.json"
MARKER = ".fastpix-demo"  # written first: marks a folder this command may clean
OWNED = ("data", "segmenter", "pix2pix", "deploy", REPORT, RESULTS)  # what a re-run replaces
SAMPLE_PAIRS = 4  # synthetic training pairs shown in the report
SYNTH_POOL_MIN = 64  # fewer scenes are rendered in this process (a pool costs seconds to start)


@dataclass(frozen=True)
class DemoPlan:
    """How big the demo is: scene counts and the overrides of the two training presets."""

    scenes: int  # train + val scenes
    test_scenes: int  # held-out scenes for the final scores
    size: int  # side of the synthetic scenes, pixels
    segmenter: dict[str, Any] = field(default_factory=dict)  # overrides of preset "demo"
    pix2pix: dict[str, Any] = field(default_factory=dict)  # overrides of preset "demo-pix2pix"
    deploy_scenes: int = 4  # held-out scenes predicted with the ONNX model
    calibration_scenes: int = 16  # INT8 calibration scenes

    @property
    def val_scenes(self) -> int:
        return max(1, self.scenes // 10)

    def check(self) -> None:
        if self.scenes < 4:
            raise ValueError(f"--scenes must be >= 4 (train + val scenes), got {self.scenes}")
        if self.test_scenes < 1:
            raise ValueError(f"--test-scenes must be >= 1, got {self.test_scenes}")


# The full demo: about 7 minutes of 2 idle cores, 5.5 of them the U-Net (preset "demo").
FULL = DemoPlan(scenes=220, test_scenes=50, size=128)
# The full demo on a CUDA device: the U-Net's 330 s buy many more images there, so it is 4×
# wider (base 32: 7.8 M parameters) and takes batches of 16 from 10× the scenes, validating
# (and writing last.pt, 90 MB with Adam's state) every 40 epochs of 123 steps. Sized by
# arithmetic, not measured: no GPU has run it yet (README.md, "make demo").
CUDA_FULL = DemoPlan(
    scenes=2200, test_scenes=50, size=128,
    segmenter={"model_options": {"base_channels": 32}, "batch_size": 16, "warmup_steps": 100,
               "val_every": 40, "sample_every": 2000, "checkpoint_every": 5000,
               "log_every": 100, "workers": 0},
)  # fmt: skip
# A smoke run of every stage at toy sizes: the segmenter at 32×32, one optimizer step each.
QUICK = DemoPlan(
    scenes=8, test_scenes=2, size=128,
    segmenter={"size": 32, "batch_size": 2, "steps": 1, "epochs": 1, "warmup_steps": 0,
               "time_budget": 0, "sample_every": 1, "checkpoint_every": 1, "log_every": 1,
               "num_samples": 2},
    pix2pix={"batch_size": 1, "steps": 1, "sample_every": 1, "checkpoint_every": 1,
             "log_every": 1, "num_samples": 1},
    deploy_scenes=1, calibration_scenes=2,
)  # fmt: skip


def run_demo(
    out_dir: str | os.PathLike,
    *,
    quick: bool = False,
    scenes: int | None = None,
    test_scenes: int | None = None,
    seed: int = 0,
    threads: int | None = None,
    time_budget: float | None = None,
    device: str = "auto",
    backend: str = "auto",
    segmenter_overrides: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the demo into ``out_dir`` and return what ``demo.json`` holds.

    Args:
        quick: toy sizes (a smoke run of every stage, not a measurement).
        scenes: train + val scenes (default 220; quick 8); a tenth (at least 1) is val.
        test_scenes: held-out test scenes (default 50; quick 2).
        seed: seed of the first synthetic scene and of both trainings.
        threads: torch CPU threads of the trainings (default: the presets', 2).
        time_budget: seconds the U-Net trains (default: the ``demo`` preset's, 330).
        device: auto (CUDA when present), cpu or cuda[:i]: where the two trainings and the
            evaluations run; on CUDA the full demo follows ``CUDA_FULL``.
        backend: TensorRT backend for ``deploy_stage`` (auto, tensorrt, tensorrt-rtx).
        segmenter_overrides: more fields of the ``demo`` preset to replace (measurements of
            other configurations, ``benchmarks/benchmark_demo.py --set``).

    Returns:
        ``{"settings", "stages": [{"stage", "seconds", "figures"}], "total_seconds",
        "cpu_seconds", "segmenter": {"train", "test"}, "pix2pix": {"train", "test"}, "report"}`` where each
        ``test`` holds the scores of ``evaluate_checkpoint`` on the test split (``miou``,
        ``pixel_acc``, per-class ``iou`` list, ...).
    """
    device = _resolve_device(device)
    plan = demo_plan(quick, device)
    plan = replace(
        plan,
        scenes=plan.scenes if scenes is None else scenes,
        test_scenes=plan.test_scenes if test_scenes is None else test_scenes,
        segmenter={
            **plan.segmenter,
            **({} if time_budget is None else {"time_budget": time_budget}),
            **(segmenter_overrides or {}),
        },
    )
    plan.check()
    _check_batches(plan)
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"--time-budget must be > 0 seconds, got {time_budget}")
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    out = _prepare_folder(Path(out_dir))
    stages = _Stages(log)
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    load_before = _load_average()

    data = out / "data"
    synth = stages.run("synthesize", lambda: _synthesize(data, plan, seed))
    stages.note(
        f"{synth['splits']['train']} train, {synth['splits']['val']} val, "
        f"{synth['splits']['test']} test scenes at {plan.size}×{plan.size}"
    )

    common = {"data": str(data), "layout": "aligned", "seed": seed, "threads": threads,
              "device": device, "progress": False}  # fmt: skip
    seg_train = stages.run("train U-Net", lambda: _train("demo", out / "segmenter", common,
                                                          plan.segmenter))  # fmt: skip
    stages.note(
        f"{seg_train['step']} steps{_budget_note(seg_train)}, {seg_train['steps_per_s']:.2f} "
        f"steps/s, val mIoU {_score(seg_train, 'miou')}"
    )
    seg_checkpoint = _chosen_checkpoint(seg_train)
    seg_test = stages.run("evaluate U-Net", lambda: _evaluate(seg_checkpoint, data, device))
    stages.note(
        f"test mIoU {seg_test['scores']['miou']:.4f}, pixel acc "
        f"{seg_test['scores']['pixel_acc']:.4f} ({synth['splits']['test']} scenes)"
    )

    p2p_train = stages.run("train pix2pix", lambda: _train("demo-pix2pix", out / "pix2pix",
                                                            common, plan.pix2pix))  # fmt: skip
    stages.note(f"{p2p_train['step']} steps, {p2p_train['steps_per_s']:.2f} steps/s")
    p2p_checkpoint = _chosen_checkpoint(p2p_train)
    p2p_test = stages.run("evaluate pix2pix", lambda: _evaluate(p2p_checkpoint, data, device))
    stages.note(
        f"test mIoU {p2p_test['scores']['miou']:.4f} (palette → class), L1 "
        f"{p2p_test['scores']['l1']:.4f}"
    )

    def deploy() -> list[str]:
        from fastpix.export.demo import deploy_stage

        return deploy_stage(seg_checkpoint, out, scenes=plan.deploy_scenes,
                            calibration_scenes=plan.calibration_scenes, backend=backend)  # fmt: skip

    deploy_lines = stages.run("deploy", deploy)
    stages.note("ONNX, engine, INT8, ONNX predictions")

    result = {
        "settings": {
            "quick": quick, "scenes": plan.scenes, "val_scenes": plan.val_scenes,
            "test_scenes": plan.test_scenes, "size": plan.size, "seed": seed,
            "threads": threads, "device": device, "segmenter_overrides": plan.segmenter,
            "pix2pix_overrides": plan.pix2pix, "machine": _machine(),
            "load_average_before": load_before, "load_average_after": _load_average(),
        },
        "stages": stages.records,
        "total_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(_cpu_seconds() - cpu_started, 1),
        "synthesize": synth,
        "segmenter": {"train": seg_train, "checkpoint": _relative(seg_checkpoint, out),
                      "test": seg_test["scores"]},
        "pix2pix": {"train": p2p_train, "checkpoint": _relative(p2p_checkpoint, out),
                    "test": p2p_test["scores"]},
        "report": REPORT,
    }  # fmt: skip
    report = _report(out, result, seg_test, p2p_test, deploy_lines)
    _write_results(out, result, report)
    log(f"demo: done in {result['total_seconds']:.0f} s; open {out / REPORT}")
    return result


# -- stages ----------------------------------------------------------------------------------


class _Stages:
    """Runs named stages, printing and recording how long each took and its key figures."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.records: list[dict[str, Any]] = []

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        self.log(f"demo: {name} ...")
        start = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - start
        self.records.append({"stage": name, "seconds": round(seconds, 1), "figures": ""})
        self.log(f"demo: {name} done in {seconds:.1f} s")
        return value

    def note(self, figures: str) -> None:
        self.records[-1]["figures"] = figures
        self.log(f"demo:   {figures}")


def demo_plan(quick: bool, device: str) -> DemoPlan:
    """The plan of a run: ``QUICK``, or the full demo for the device (``FULL``, ``CUDA_FULL``)."""
    if quick:
        return QUICK
    return CUDA_FULL if device.startswith("cuda") else FULL


def _resolve_device(device: str) -> str:
    """``--device`` as the trainings will resolve it (``auto`` → ``cuda:0`` when torch sees a
    CUDA device, else ``cpu``), checked before anything is written."""
    from fastpix.train.engine import pick_device

    try:
        return str(pick_device(device))
    except ValueError as exc:  # "device 'x': ..." → "--device 'x': ..."
        raise ValueError(f"--{exc}") from None


def _budget_note(summary: dict[str, Any]) -> str:
    """``", time budget 330 s"`` when the run's length came from a time budget."""
    budget = summary.get("budget")
    return "" if not budget else f", time budget {budget['seconds']:g} s"


def _check_batches(plan: DemoPlan) -> None:
    """Every training run needs a full batch of training scenes (partial batches are dropped)."""
    from fastpix.train.config import get_preset

    batch = max(
        get_preset("demo", **plan.segmenter).batch_size,
        get_preset("demo-pix2pix", **plan.pix2pix).batch_size,
    )
    train = plan.scenes - plan.val_scenes
    if train < batch:
        raise ValueError(
            f"--scenes {plan.scenes} leaves {train} training scenes, fewer than the batch size "
            f"{batch}; give --scenes {batch + max(1, (batch + 1) // 9)} or more"
        )


def _prepare_folder(out: Path) -> Path:
    """Create ``out`` or clean what an earlier demo wrote there; refuse any other folder."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file; expected a folder (new, or of an earlier demo)")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ValueError(
            f"--out {out}: holds files that no fastpix demo wrote (no {MARKER}); give a new or "
            "empty folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by fastpix demo; a re-run replaces its files here\n")
    for name in OWNED:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    return out


def _synthesize(data: Path, plan: DemoPlan, seed: int) -> dict[str, Any]:
    from fastpix.data.writers import write_synthetic

    n = plan.scenes + plan.test_scenes
    summary = write_synthetic(
        data, n=n, layout="aligned", size=plan.size, seed=seed, png=True,
        val_fraction=plan.val_scenes / n, test_fraction=plan.test_scenes / n,
        workers=1 if n < SYNTH_POOL_MIN else min(16, os.cpu_count() or 1),
    )  # fmt: skip
    splits = {"train": 0, "val": 0, "test": 0, **summary["splits"]}
    return {"splits": splits, "seconds": summary["seconds"], "first_seed": seed}


def _train(
    preset: str, out: Path, common: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    from fastpix.train import run_preset

    return run_preset(preset, out=str(out), **{**common, **overrides})  # overrides win


def _chosen_checkpoint(summary: dict[str, Any]) -> str:
    """The best checkpoint by validation, or the last one when no validation ran."""
    return summary["best_checkpoint"] or summary["last_checkpoint"]


def _evaluate(checkpoint: str, data: Path, device: str) -> dict[str, Any]:
    from fastpix.train.evaluate import evaluate_checkpoint

    return evaluate_checkpoint(checkpoint, data, split="test", layout="aligned", device=device)


def _score(summary: dict[str, Any], key: str) -> str:
    value = (summary.get("scores") or {}).get(key)
    return "n/a" if value is None else f"{value:.4f}"


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # not on every platform
        return None


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system): on a shared
    machine, a better measure of the work than the wall time."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}"


def _relative(path: str | os.PathLike, out: Path) -> str:
    return Path(path).resolve().relative_to(out.resolve()).as_posix()


# -- report ----------------------------------------------------------------------------------


def _report(
    out: Path,
    result: dict[str, Any],
    seg_test: dict[str, Any],
    p2p_test: dict[str, Any],
    deploy_lines: list[str],
) -> str:
    """The markdown of ``report.md``; image paths are relative to ``out``."""
    settings, seg, p2p = result["settings"], result["segmenter"], result["pix2pix"]
    load = settings["load_average_before"], settings["load_average_after"]
    lines = [
        "# fastpix demo",
        "",
        f"Synthetic street scenes → U-Net segmenter and pix2pix (photo → mask) → evaluation on "
        f"held-out scenes → ONNX / TensorRT deployment. {'Quick smoke run (toy sizes). ' if settings['quick'] else ''}"
        f"Total {result['total_seconds']:.1f} s ({result['cpu_seconds']:.0f} CPU seconds) on "
        f"{settings['machine']} (load average before / after: {_fmt_load(load[0])} / "
        f"{_fmt_load(load[1])}).",
        "",
        "| stage | seconds | key figures |",
        "|---|---:|---|",
        *(f"| {r['stage']} | {r['seconds']:.1f} | {r['figures']} |" for r in result["stages"]),
        "",
        "## Synthetic data",
        "",
        f"`data/` (aligned layout, photo | mask PNG pairs): "
        f"{result['synthesize']['splits']['train']} train, "
        f"{result['synthesize']['splits']['val']} val and {result['synthesize']['splits']['test']} "
        f"test scenes, seeds {settings['seed']} onward, one seed per scene.",
        "",
    ]
    for index in range(min(SAMPLE_PAIRS, result["synthesize"]["splits"]["train"])):
        lines.append(f"![training pair {index}](data/train/{index}.png)")
    lines += [
        "",
        "## U-Net segmenter (preset `demo`)",
        "",
        *_training_lines(out, "segmenter", seg["train"]),
        f"On the {settings['test_scenes']} held-out test scenes (`{seg['checkpoint']}`): "
        f"**mIoU {seg['test']['miou']:.4f}**, pixel accuracy {seg['test']['pixel_acc']:.4f}, "
        f"class accuracy {seg['test']['class_acc']:.4f}.",
        "",
        seg_test["table"],
        "",
        "## pix2pix photo → colour mask (preset `demo-pix2pix`)",
        "",
        *_training_lines(out, "pix2pix", p2p["train"]),
        f"On the test scenes (`{p2p['checkpoint']}`), the generated masks mapped to classes by "
        f"their nearest palette colour: **mIoU {p2p['test']['miou']:.4f}**, pixel accuracy "
        f"{p2p['test']['pixel_acc']:.4f}, L1 {p2p['test']['l1']:.4f}.",
        "",
        p2p_test["table"],
        "",
        *deploy_lines,
    ]
    return "\n".join(lines) + "\n"


def _training_lines(out: Path, run: str, summary: dict[str, Any]) -> list[str]:
    """Steps, speed, loss curves and the last sample grid of one training run."""
    best = summary.get("best") or {}
    lines = [
        f"`{run}/`: {summary['step']} steps ({summary['epoch']} epochs{_budget_note(summary)}) "
        f"in {summary['train_seconds']:.1f} s, {summary['steps_per_s']:.2f} steps/s; best "
        f"validation {best.get('metric', 'score')} {_fmt_value(best.get('value'))} at step "
        f"{best.get('step', 'n/a')}.",
        "",
    ]
    curves = out / run / "loss_curves.png"
    if curves.exists():
        lines.append(f"![{run} loss curves]({run}/loss_curves.png)")
    else:
        lines.append("(no loss curves: matplotlib is not installed)")
    grids = sorted((out / run / "samples").glob("step_*.png"))
    if grids:
        name = grids[-1].relative_to(out).as_posix()
        lines += ["", f"Validation samples at step {int(grids[-1].stem[5:])} "
                  f"(input | output | target):", "", f"![{run} samples]({name})"]  # fmt: skip
    return [*lines, ""]


def _fmt_value(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "n/a"


def _fmt_load(load: list[float] | None) -> str:
    return "n/a" if load is None else " ".join(f"{v:.2f}" for v in load)


def _write_results(out: Path, result: dict[str, Any], report: str) -> None:
    """``demo.json`` then ``report.md``, each atomically; every linked image must exist."""
    from fastpix.data.imageio import write_text
    from fastpix.metrics import _nan_to_none

    missing = [link for link in report_images(report) if not (out / link).is_file()]
    if missing:
        raise RuntimeError(f"report links images that were not written: {', '.join(missing)}")
    write_text(out / RESULTS, json.dumps(_nan_to_none(result), indent=1) + "\n")
    write_text(out / REPORT, report)


def report_images(markdown: str) -> list[str]:
    """The image paths ``![alt](path)`` of a markdown text, in order."""
    import re

    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown)


# -- command line ----------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the main job end to end on synthetic scenes, with a report",
        description="Synthesize street scenes, train a U-Net segmenter and a short pix2pix "
        "run, evaluate both on held-out scenes, export to ONNX / TensorRT, and write "
        "OUT/report.md with tables and images (about 7 minutes: the U-Net trains for a time "
        "budget, on a CUDA device a wider one).",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--quick", action="store_true", help="toy sizes: a smoke run of every stage")
    p.add_argument("--scenes", type=int, help="train + val scenes (default 220; quick 8)")
    p.add_argument("--test-scenes", type=int, help="held-out test scenes (default 50; quick 2)")
    p.add_argument("--seed", type=int, default=0, help="first scene seed and training seed")
    p.add_argument("--threads", type=int, help="torch CPU threads for training (default 2)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="seconds the U-Net trains (default 330; more trains a better model)")  # fmt: skip
    p.add_argument("--device", default="auto",
                   help="auto (CUDA when present), cpu, cuda or cuda:N (default auto)")  # fmt: skip
    p.add_argument(
        "--backend", default="auto", choices=["auto", "tensorrt", "tensorrt-rtx"],
        help="TensorRT backend of the engine build (default auto)",
    )  # fmt: skip
    p.set_defaults(func=_run_command)


def _run_command(args: argparse.Namespace) -> int:
    run_demo(
        args.out, quick=args.quick, scenes=args.scenes, test_scenes=args.test_scenes,
        seed=args.seed, threads=args.threads, time_budget=args.time_budget, device=args.device,
        backend=args.backend,
        log=lambda message: print(message, flush=True),
    )  # fmt: skip
    return 0
