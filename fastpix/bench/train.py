"""End-to-end training throughput: ``fastpix bench train``.

pix2pix ``unet_256`` + basic PatchGAN (photo → colour mask, resize 286 → random 256 crop +
flip) on synthetic street scenes (``fastpix.data.write_synthetic``, Kaggle layout, JPEG),
steps/s and images/s of two providers timed in the same run, taking turns step by step:

- ``fastpix``: ``Pix2PixTrainer.train_step`` fed by the native ``PairLoader`` (background
  decode threads), with the trainer's defaults for the device: on CUDA the fused Triton
  norm + activation kernels, autocast (bf16 where supported, else fp16 + grad scaler) and
  channels_last; on the CPU fp32 and fastpix's torch reference ops (``impl`` column).
- ``reference``: ``fastpix.bench.reference_pix2pix`` (the reference recipe in plain PyTorch:
  ``nn.BatchNorm2d``, fp32 eager) fed by a ``torch.utils.data.DataLoader`` over the PIL +
  numpy ``AlignedDataset`` (same jitter, bicubic resize), ``workers`` worker processes.

At batch 1 and a bigger batch (CUDA: 32, the reference's width ngf = ndf = 64; CPU: 4, and the
networks scaled down to ngf = ndf = 16 at the same 256×256 size, to keep a CPU run to minutes; the
``--quick`` sizes are smaller still).
``speedup`` on fastpix rows is reference time / fastpix time per step (medians;
``speedup_best``: fastest steps). Peak CUDA memory and
the process RSS after each provider's steps are recorded.

A ``segmentation`` case times the ``demo`` preset's U-Net (``SegmentationTrainer``) with the
native loader and with the PIL loader (``loader="pil"``), 128×128 scenes.
``FASTPIX_BENCH_THREADS`` sets torch's CPU threads (on a shared machine, one thread avoids the
OpenMP oversubscription that makes small steps erratic).

    fastpix bench train [--quick] [--device cuda]
    python benchmarks/benchmark_train.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from fastpix.bench.harness import (
    environment,
    interleaved,
    load_average,
    markdown_table,
    peak_memory_mib,
    reset_peak_memory,
    rss_mib,
    script_main,
    write_rows,
)

COLUMNS = ["task", "provider", "width", "batch", "precision", "impl", "loader", "steps_per_s",
           "images_per_s", "speedup", "speedup_best", "peak_cuda_mib", "load_average_1m"]  # fmt: skip
SIZE = 256  # training crop (the Kaggle / pix2pix Cityscapes halves are 256×256)
LOAD_SIZE = 286  # resize before the random crop (reference recipe)
SEGMENTATION_SIZE = 128  # the demo preset's
SEGMENTATION_SCENES = 32  # 4 batches of the demo preset's 8


@dataclass(frozen=True)
class Setting:
    width: int  # ngf = ndf
    batches: tuple[int, ...]
    rounds: int  # timed steps per provider
    warmup: int  # untimed steps per provider first
    workers: int  # native loader threads / DataLoader worker processes
    scenes: int  # synthetic pairs written
    segmentation_batch: int | None = None  # None: the demo preset's (8)


CUDA_SETTING = Setting(width=64, batches=(1, 32), rounds=20, warmup=5, workers=4, scenes=128)
CPU_SETTING = Setting(width=16, batches=(1, 4), rounds=6, warmup=1, workers=1, scenes=32)
QUICK_CPU_SETTING = Setting(width=8, batches=(1, 2), rounds=2, warmup=1, workers=1, scenes=8)
QUICK_CUDA_SETTING = Setting(width=64, batches=(1, 16), rounds=5, warmup=2, workers=4, scenes=64)


def setting_for(device: torch.device, quick: bool) -> Setting:
    if device.type == "cuda":
        return QUICK_CUDA_SETTING if quick else CUDA_SETTING
    return QUICK_CPU_SETTING if quick else CPU_SETTING


def _endless(epoch_batches: Callable[[int], Iterator]) -> Iterator:
    """Batches of epoch 0, 1, 2, … without end."""
    epoch = 0
    while True:
        yield from epoch_batches(epoch)
        epoch += 1


# ----------------------------------------------------------------------------- providers


@contextlib.contextmanager
def _trainer_steps(trainer, device: torch.device, loader: str, **fields):
    """(step function, row fields) of a fastpix trainer: one ``train_step`` per call on its
    own training batches, endlessly; the trainer is closed afterwards."""
    from fastpix._dispatch import choose

    batches = _endless(trainer.train_batches.epoch)

    def step() -> None:
        trainer.train_step(*next(batches))

    amp = trainer.runtime.amp_dtype
    fields = {
        "precision": f"{str(amp).replace('torch.', '')} autocast" if amp else "fp32",
        "channels_last": trainer.runtime.channels_last,
        "impl": choose("norm_act", device.type),
        "loader": loader,
        **fields,
    }
    try:
        yield step, fields
    finally:
        batches.close()
        trainer.close()


@contextlib.contextmanager
def fastpix_pix2pix(root: Path, out: Path, batch: int, s: Setting, device: torch.device):
    """(step function, row fields) of fastpix's trainer on the pairs under ``root``."""
    from fastpix.train.config import Pix2PixConfig
    from fastpix.train.pix2pix import Pix2PixTrainer

    config = Pix2PixConfig(
        data=str(root), layout="kaggle", val_split=None, generator="unet_256",
        generator_options={"ngf": s.width}, discriminator="patchgan",
        discriminator_options={"ndf": s.width}, direction="AtoB", batch_size=batch, size=SIZE,
        load_size=LOAD_SIZE, loader="native", workers=s.workers, device=str(device),
        out=str(out), progress=False, sample_every=0, checkpoint_every=0,
    )  # fmt: skip
    loader = f"native PairLoader ({s.workers} threads)"
    with _trainer_steps(Pix2PixTrainer(config), device, loader) as provided:
        yield provided


@contextlib.contextmanager
def reference_pix2pix(root: Path, batch: int, s: Setting, device: torch.device):
    """(step function, row fields) of the plain PyTorch reference on the same pairs."""
    from fastpix.bench.reference_pix2pix import ReferencePix2Pix
    from fastpix.data.datasets import AlignedDataset
    from fastpix.data.transforms import pix2pix_jitter

    torch.manual_seed(0)
    dataset = AlignedDataset(root, "train", "kaggle", "AtoB", pix2pix_jitter(True, LOAD_SIZE, SIZE))  # fmt: skip
    model = ReferencePix2Pix(s.width, s.width, "batch", device)

    # Persistent workers: a small synthetic set has short epochs, and re-forking the workers
    # every epoch would charge the baseline a cost that a real data set spreads thinly.
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=True, num_workers=s.workers, drop_last=True,
        pin_memory=device.type == "cuda", persistent_workers=s.workers > 0,
    )  # fmt: skip
    batches = _endless(lambda epoch: iter(loader))

    def step() -> None:
        pair = next(batches)
        model.step(pair["A"].to(device, non_blocking=True), pair["B"].to(device, non_blocking=True))  # fmt: skip

    fields = {"precision": "fp32", "channels_last": False, "impl": "torch eager",
              "loader": f"PIL DataLoader ({s.workers} workers)"}  # fmt: skip
    try:
        yield step, fields
    finally:
        batches.close()


@contextlib.contextmanager
def fastpix_segmentation(root: Path, out: Path, loader: str, device: torch.device, s: Setting):
    """(step function, row fields) of the ``demo`` preset's U-Net trainer."""
    from fastpix.train.config import get_preset, replace
    from fastpix.train.segmentation import SegmentationTrainer

    config = replace(
        get_preset("demo"), data=str(root), out=str(out), val_split=None, loader=loader,
        workers=s.workers, device=str(device), threads=torch.get_num_threads(), progress=False,
        sample_every=0, checkpoint_every=0,
    )  # fmt: skip
    if s.segmentation_batch is not None:
        config = replace(config, batch_size=s.segmentation_batch)
    with _trainer_steps(
        SegmentationTrainer(config), device,
        f"{loader} ({s.workers} {'threads' if loader == 'native' else 'workers'})",
        batch=config.batch_size, width=config.model_options.get("base_channels"),
        size=f"{config.size}x{config.size}",
    ) as provided:  # fmt: skip
        yield provided


# ----------------------------------------------------------------------------- measuring


def _time_providers(providers: dict, s: Setting, device: torch.device, base: dict) -> list[dict]:
    """Rows of the providers ({name: context manager of (step, fields)}), timed in turns."""
    with contextlib.ExitStack() as stack:
        opened = {name: stack.enter_context(make()) for name, make in providers.items()}
        steps = {name: step for name, (step, _) in opened.items()}
        timings = interleaved(steps, s.rounds, device, warmup=s.warmup)
        rows = []
        for name, (step, fields) in opened.items():
            if device.type == "cuda":
                reset_peak_memory(device)
                step()  # one more step alone: its peak memory
            timing = timings[name]
            batch = fields.get("batch", base.get("batch"))
            rows.append({
                **base, **fields, "provider": name, "median_s": timing.median_s,
                "min_s": timing.min_s, "max_s": timing.max_s, "rounds": timing.repeats,
                "steps_per_s": 1.0 / timing.median_s, "images_per_s": batch / timing.median_s,
                "peak_cuda_mib": peak_memory_mib(device), "rss_mib": rss_mib(),
                "load_average_1m": load_average(),
            })  # fmt: skip
    # On a shared machine the median carries the other jobs' noise; the best step is the
    # least disturbed one. Both ratios are kept.
    rows[0]["speedup"] = rows[-1]["median_s"] / rows[0]["median_s"]
    rows[0]["speedup_best"] = rows[-1]["min_s"] / rows[0]["min_s"]
    return rows


def _out_of_memory_row(base: dict, exc: Exception) -> dict:
    return {**base, "provider": "all", "note": f"skipped: {str(exc).splitlines()[0]}"}


def pix2pix_rows(root: Path, work: Path, s: Setting, device: torch.device) -> list[dict]:
    rows = []
    for batch in s.batches:
        base = {"bench": "train", "task": "pix2pix", "model": "unet_256+patchgan",
                "width": s.width, "batch": batch, "size": f"{SIZE}x{SIZE}",
                "load_size": LOAD_SIZE, "device_type": device.type}  # fmt: skip
        providers = {
            "fastpix": lambda b=batch: fastpix_pix2pix(root, work / f"p2p{b}", b, s, device),
            "reference": lambda b=batch: reference_pix2pix(root, b, s, device),
        }
        try:
            found = _time_providers(providers, s, device, base)
        except torch.cuda.OutOfMemoryError as exc:  # the big batch on a small GPU
            found = [_out_of_memory_row(base, exc)]
            torch.cuda.empty_cache()
        rows += found
        for row in found:
            print(markdown_table([row], COLUMNS).splitlines()[-1], flush=True)
    return rows


def segmentation_rows(root: Path, work: Path, s: Setting, device: torch.device) -> list[dict]:
    base = {"bench": "train", "task": "segmentation", "model": "unet (demo preset)",
            "device_type": device.type}  # fmt: skip
    providers = {
        "fastpix": lambda: fastpix_segmentation(root, work / "seg_native", "native", device, s),
        "fastpix (PIL loader)": lambda: fastpix_segmentation(
            root, work / "seg_pil", "pil", device, s
        ),
    }
    rows = _time_providers(providers, s, device, base)
    for row in rows:
        print(markdown_table([row], COLUMNS).splitlines()[-1], flush=True)
    return rows


def run(args: argparse.Namespace) -> list[dict]:
    """Run the train benchmark; rows appended to ``<args.out>/train.jsonl`` / ``.csv``."""
    from fastpix.data import write_synthetic

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if os.environ.get("FASTPIX_BENCH_THREADS"):  # the same knob as fastpix bench infer
        torch.set_num_threads(int(os.environ["FASTPIX_BENCH_THREADS"]))
    s = setting_for(device, bool(args.quick))
    env = environment(device)  # the revision the run started from
    if device.type != "cuda":
        print("note: CPU run: networks at ngf = ndf = "
              f"{s.width}; the Triton kernels, AMP and channels_last are CUDA-only, so fastpix "
              "runs its torch reference ops in fp32 (the GPU rows are not measured here)")  # fmt: skip
    print("\n".join(markdown_table([], COLUMNS).splitlines()[:2]), flush=True)
    with tempfile.TemporaryDirectory(prefix="fastpix-bench-train-") as tmp:
        work = Path(tmp)
        pairs, scenes = work / "pairs", work / "scenes128"
        common = {"layout": "kaggle", "seed": 0, "val_fraction": 0.0, "supersample": 1}
        write_synthetic(pairs, n=s.scenes, size=SIZE, workers=1, **common)
        write_synthetic(scenes, n=SEGMENTATION_SCENES, size=SEGMENTATION_SIZE, workers=1, **common)
        rows = pix2pix_rows(pairs, work, s, device)
        rows += segmentation_rows(scenes, work, s, device)
    path = write_rows("train", rows, env, args.out)
    print(markdown_table(rows, COLUMNS))
    print(f"results appended to {path}")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/benchmark_train.py``."""
    return script_main(run, __doc__, "smaller networks, fewer steps", argv)
