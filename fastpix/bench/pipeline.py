"""Pipeline throughput: ``fastpix bench pipeline``.

Seed 003's round trip (``fastpix.pipeline.run_pipeline``: FCN ResNet-34 → SPADE → FCN
ResNet-34, scores accumulated on the device) on synthetic street scenes, with random weights
(speed does not depend on them). Per configuration, rows for each stage timed alone
(``segment``: the segmenter on photos; ``synthesize``: one-hot labels + the generator) and for
the whole ``pipeline`` call, as images/s, through ``fastpix.bench.harness``:

- CUDA: NVlabs' Cityscapes generator (label ids, ngf 64, "more", 256×512, spectral norm
  folded) at batch 1 and 8, float32 and autocast float16, with fastpix's fused Triton kernels
  (``impl=triton``: the SPADE norms, the segmenter's batch norm + ReLU) and with the torch
  reference ops (``impl=torch``, ``FASTPIX_IMPL=torch``).
- CPU: a small generator (trainIds, ngf 16, 32-wide SPADE convs) at 128×256, batch 2,
  float32, with 1 and 2 torch threads: the CPU path works, at small sizes. ``load_avg`` (the
  1-minute load average at the end of a row) says how busy a shared machine was.

GFLOP/image (2 × multiply-accumulates, ``torch.utils.flop_counter``) is given per stage.

    fastpix bench pipeline [--quick] [--device cuda]
    python benchmarks/benchmark_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from fastpix.bench.harness import environment, markdown_table, measure, script_main, write_rows

COLUMNS = ["case", "size", "batch", "threads", "precision", "impl", "stage", "gflop_per_image",
           "median_ms", "images_per_s"]  # fmt: skip


@dataclass(frozen=True)
class Case:
    name: str
    size: tuple[int, int]  # (H, W)
    generator: dict  # SPADEGenerator options
    label_set: str  # the generator's classes
    batches: tuple[int, ...]
    precisions: tuple[str, ...]  # "fp32" and/or "amp"
    impls: tuple[str, ...]  # fastpix op implementations to force
    threads: tuple[int | None, ...] = (None,)  # torch CPU threads (None: leave as is)


CUDA_CASES = [
    Case("nvlabs_cityscapes", (256, 512),
         {"label_nc": 35, "use_instance": True, "num_upsampling_layers": "more", "use_spectral_norm": False},
         "labelid", (1, 8), ("fp32", "amp"), ("triton", "torch")),
]  # fmt: skip
CPU_CASES = [
    Case("small_cpu", (128, 256),
         {"label_nc": 19, "ngf": 16, "spade_hidden": 32, "use_spectral_norm": False},
         "trainid", (2,), ("fp32",), ("torch",), (1, 2)),
]  # fmt: skip


def scene_photos(n: int, size: tuple[int, int]) -> torch.Tensor:
    """``n`` synthetic street photos, N×3×H×W in [-1, 1]."""
    from fastpix.data.synthetic import make_scene

    photos = [torch.from_numpy(make_scene(seed, *size, supersample=1)[0]) for seed in range(n)]
    return torch.stack(photos).permute(0, 3, 1, 2).float() / 127.5 - 1


def _flops(fn, *args) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn(*args)
    return float(counter.get_total_flops())


@contextlib.contextmanager
def _forced_impl(impl: str):
    """FASTPIX_IMPL set to ``impl`` for the duration (read by the dispatch at every call)."""
    before = os.environ.get("FASTPIX_IMPL")
    os.environ["FASTPIX_IMPL"] = impl
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("FASTPIX_IMPL", None)
        else:
            os.environ["FASTPIX_IMPL"] = before


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _impl_usable(impl: str, device: torch.device) -> bool:
    from fastpix._dispatch import triton_error

    return impl == "torch" or (device.type == "cuda" and triton_error() is None)


def run_case(case: Case, device: torch.device, quick: bool) -> list[dict]:
    import fastpix.models as fm
    from fastpix.labels import get_label_set
    from fastpix.pipeline import Segmenter, Synthesizer, class_mapping

    torch.manual_seed(0)
    segmenter = Segmenter(fm.create("fcn_resnet34", num_classes=19), get_label_set("trainid"))
    synthesizer = Synthesizer(fm.create("spade", **case.generator), get_label_set(case.label_set))
    segmenter.network.to(device).eval()
    synthesizer.network.to(device).eval()
    lut = class_mapping(segmenter.label_set, synthesizer.label_set).to(device)
    repeats, warmup = (3, 1) if quick else (10, 2)
    rows = []
    for batch in case.batches:
        photos = scene_photos(batch, case.size).to(device)
        with torch.no_grad():
            classes = lut[segmenter(photos)]
        flops = {
            "segment": _flops(segmenter, photos) / batch,
            "synthesize": _flops(synthesizer, classes) / batch,
        }
        flops["pipeline"] = 2 * flops["segment"] + flops["synthesize"]
        settings = itertools.product(case.threads, case.precisions, case.impls)
        for threads, precision, impl in settings:
            if not _impl_usable(impl, device):
                continue
            with _forced_impl(impl), _torch_threads(threads):
                timings = _time_stages(
                    segmenter, synthesizer, photos, classes, precision == "amp", repeats, warmup
                )
                for stage, timing in timings.items():
                    rows.append(_row(case, batch, precision, impl, stage, flops, timing))
                    print(markdown_table(rows[-1:], COLUMNS).splitlines()[-1], flush=True)
    return rows


def _time_stages(segmenter, synthesizer, photos, classes, amp: bool, repeats: int, warmup: int):
    """Timings of ``segment``, ``synthesize`` and the whole ``pipeline`` on one batch."""
    from fastpix.pipeline import run_pipeline

    device = photos.device

    def under_autocast(fn, *args):
        def call():
            cast = torch.autocast(device.type, dtype=torch.float16) if amp else contextlib.nullcontext()  # fmt: skip
            with torch.inference_mode(), cast:
                fn(*args)

        return call

    def whole():
        run_pipeline(photos, segmenter, synthesizer, batch_size=photos.shape[0], device=device,
                     amp=amp, max_strips=0)  # fmt: skip

    calls = {
        "segment": under_autocast(segmenter, photos),
        "synthesize": under_autocast(synthesizer, classes),
        "pipeline": whole,
    }
    return {
        stage: measure(fn, device=device, warmup=warmup, repeats=repeats)
        for stage, fn in calls.items()
    }


def _row(case: Case, batch: int, precision: str, impl: str, stage: str, flops: dict, timing) -> dict:  # fmt: skip
    return {
        "bench": "pipeline",
        "case": case.name,
        "size": f"{case.size[0]}x{case.size[1]}",
        "generator": ",".join(f"{k}={v}" for k, v in case.generator.items()),
        "batch": batch,
        "threads": torch.get_num_threads(),
        "precision": precision,
        "impl": impl,
        "stage": stage,
        "gflop_per_image": flops[stage] / 1e9,
        "median_ms": timing.median_ms,
        "min_ms": timing.min_s * 1e3,
        "repeats": timing.repeats,
        "images_per_s": batch / timing.median_s,
        "load_avg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def run(args: argparse.Namespace) -> list[dict]:
    """Run the cases of the device; rows appended to ``<args.out>/pipeline.jsonl`` / ``.csv``."""
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cases = CUDA_CASES if device.type == "cuda" else CPU_CASES
    env = environment(device)  # the revision the run started from
    print("\n".join(markdown_table([], COLUMNS).splitlines()[:2]), flush=True)
    rows = [row for case in cases for row in run_case(case, device, bool(args.quick))]
    path = write_rows("pipeline", rows, env, args.out)
    print(markdown_table(rows, COLUMNS))
    print(f"results appended to {path}")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/benchmark_pipeline.py``."""
    return script_main(run, __doc__, "fewer repeats", argv)
