"""Inference latency and throughput per runtime: ``fastpix bench infer``.

The pix2pix ``unet_256`` generator (photo → colour mask, decoded to classes in the graph; paper
mode) and the seed U-Net (19 classes, eval) at batch 1 and 8, 256×256 and 256×512, all with
the ``classes`` head so that every runtime returns the same uint8 class maps:

- ``torch eager fp32``; on CUDA also ``torch eager fp16 channels_last`` and ``torch.compile``;
- ``onnxruntime`` (CUDA provider on a GPU, CPU provider otherwise);
- on a GPU, TensorRT engines built for each shape: ``tensorrt fp16`` and ``tensorrt int8``
  (Q/DQ calibrated on synthetic scenes when ``fastpix.data.synthetic`` is present, else on
  random pixels; the calibration source is in each row).

Each row has the median and minimum latency per batch, images/s, the speed-up over torch
eager FP32 at the same shape and the fraction of pixels whose class equals eager FP32's.
Rows go to ``<out>/infer.jsonl`` / ``.csv`` through ``fastpix.bench.harness``. ``--quick``:
batch 1 and 8 at 256×256 only, fewer repeats. ``FASTPIX_BENCH_THREADS`` sets the CPU threads
of torch and onnxruntime alike.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import fastpix.models as fm
from fastpix.bench.harness import environment, markdown_table, measure, script_main, write_rows
from fastpix.export import Deployed, source_from_model, to_onnx
from fastpix.export.onnx import verification_images
from fastpix.export.source import inference_network, resolve_mode

# name → (model, options, kind)
MODELS = {
    "unet_256": ("unet_256", {}, "mask_generator"),
    "unet": ("unet", {"num_classes": 19}, "segmenter"),
}
SIZES = ((256, 256), (256, 512))
BATCHES = (1, 8)
COLUMNS = ["model", "size", "batch", "runtime", "median_ms", "images_per_s", "speedup", "agree"]


def _threads() -> int | None:
    value = os.environ.get("FASTPIX_BENCH_THREADS")
    return int(value) if value else None


def _onnxruntime(path: Path, device: torch.device) -> dict[str, Callable]:
    """``{"onnxruntime (provider)": run}``, ``run(x)`` taking a torch tensor (copied to the
    host, as onnxruntime reads numpy arrays)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if _threads():
        options.intra_op_num_threads = _threads()
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    session = ort.InferenceSession(str(path), options, providers=providers)

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"image": x.cpu().numpy()})[0])

    return {f"onnxruntime ({providers[0]})": run}


def _calibration_images(count: int, size: tuple[int, int]) -> tuple[list, str]:
    from fastpix.export.quantize import synthetic_scenes

    try:
        return [photo for photo, _ in synthetic_scenes(count, size)], "synthetic scenes"
    except ValueError:
        rng = np.random.default_rng(0)
        pixels = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(count)]
        return pixels, "random pixels"


def _engine_runtimes(
    onnx_paths: dict[str, Path], shape: tuple[int, ...], workdir: Path
) -> dict[str, Callable]:
    """TensorRT engines (static shape ``shape``) per precision; empty when none can run."""
    from fastpix.export.tensorrt import EngineError, EngineRunner, build_engine

    runtimes = {}
    for precision, path in onnx_paths.items():
        engine = workdir / f"{path.stem}_{'x'.join(map(str, shape))}.engine"
        try:
            build_engine(path, engine, batch=(shape[0],) * 3, sizes=((shape[2], shape[3]),) * 3)
            runner = EngineRunner(engine)
        except EngineError as exc:
            print(f"tensorrt {precision}: skipped ({str(exc).splitlines()[0]})", flush=True)
            continue
        runtimes[f"tensorrt {precision}"] = runner
    return runtimes


def run(args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if _threads():
        torch.set_num_threads(_threads())
    env = environment(device)  # the revision the run started from
    warmup, repeats = (1, 3) if args.quick else (3, 10) if device.type == "cuda" else (1, 5)
    sizes = SIZES[:1] if args.quick else SIZES
    rows: list[dict] = []
    print("\n".join(markdown_table([], COLUMNS).splitlines()[:2]), flush=True)
    with tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        for name, (model_name, options, kind) in MODELS.items():
            torch.manual_seed(0)
            source = source_from_model(fm.create(model_name, **options), kind=kind)
            runtimes, engine_onnx, common = _model_runtimes(name, source, device, workdir)
            for size in sizes:
                for batch in BATCHES:
                    x = verification_images(batch, size, source.mean, source.std).to(device)
                    shaped = dict(runtimes)
                    if engine_onnx:
                        shaped.update(_engine_runtimes(engine_onnx, tuple(x.shape), workdir))
                    shape = {"model": name, "size": f"{size[0]}x{size[1]}", "batch": batch}
                    found = _measure_shape(shaped, x, device, warmup, repeats, shape)
                    rows += [{**row, **common} for row in found]
    path = write_rows("infer", rows, env, args.out)
    print(markdown_table(rows, COLUMNS))
    print(f"results appended to {path}")
    return rows


def _model_runtimes(name: str, source, device: torch.device, workdir: Path):
    """(runtimes taking the input tensor, ONNX files to build engines from, row fields)."""
    mode = resolve_mode(source, "auto")
    kind, label_set = source.kind, source.label_set
    eager = Deployed(inference_network(source, mode), kind, "classes", label_set)
    runtimes: dict[str, Callable] = {"torch eager fp32": eager.eval().to(device)}
    onnx_fp32 = workdir / f"{name}_fp32.onnx"
    to_onnx(source, onnx_fp32, mode=mode, dynamic_size=True, verify=False)
    if device.type != "cuda":
        runtimes.update(_onnxruntime(onnx_fp32, device))
        return runtimes, {}, {}
    half = Deployed(
        inference_network(source, mode).half(), kind, "classes", label_set, torch.float16
    )
    runtimes["torch eager fp16 channels_last"] = half.eval().to(
        device, memory_format=torch.channels_last
    )
    runtimes["torch.compile fp32"] = torch.compile(runtimes["torch eager fp32"])
    runtimes.update(_onnxruntime(onnx_fp32, device))
    from fastpix.export.quantize import quantize_int8

    onnx_fp16, onnx_int8 = workdir / f"{name}_fp16.onnx", workdir / f"{name}_int8.onnx"
    to_onnx(source, onnx_fp16, mode=mode, precision="fp16", dynamic_size=True, verify=False)
    calibration, calibrated_on = _calibration_images(16, SIZES[0])
    quantize_int8(onnx_fp32, onnx_int8, calibration, source=calibrated_on)
    return runtimes, {"fp16": onnx_fp16, "int8": onnx_int8}, {"calibration": calibrated_on}


def _measure_shape(runtimes, x, device, warmup, repeats, shape: dict) -> list[dict]:
    """One row per runtime; the first runtime is the reference for speed-up and agreement."""
    rows = []
    reference = baseline_ms = None
    for runtime, fn in runtimes.items():

        def call(fn=fn):
            with torch.no_grad():
                return fn(x)

        out = call().cpu()
        timing = measure(call, device=device, warmup=warmup, repeats=repeats)
        if reference is None:
            reference, baseline_ms = out, timing.median_ms
        row = {
            **shape,
            "runtime": runtime,
            "median_ms": timing.median_ms,
            "min_ms": timing.min_s * 1e3,
            "images_per_s": x.shape[0] / timing.median_s,
            "speedup": baseline_ms / timing.median_ms,
            "agree": float((out == reference).float().mean()),
            "repeats": timing.repeats,
            "threads": torch.get_num_threads() if device.type == "cpu" else None,
        }
        rows.append(row)
        print(markdown_table([row], COLUMNS).splitlines()[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/benchmark_infer.py``."""
    return script_main(run, "Inference latency per runtime.", "256×256 only, fewer repeats", argv)
