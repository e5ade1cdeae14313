"""The deployment stage that ends ``fastpix demo``: export → engine → ONNX predictions.

``deploy_stage(checkpoint, out_dir)`` exports the checkpoint to ONNX (checked against torch),
builds a TensorRT engine from it (TensorRT-RTX builds on the CPU; where no backend is
installed the report says so), quantizes a Q/DQ INT8 copy calibrated on synthetic scenes and
compares it with FP32, then segments held-out synthetic scenes with ``Predictor`` over the
ONNX file. It writes everything under ``<out_dir>/deploy/`` and returns the markdown section
of the demo report, with the images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

CALIBRATION_SCENES = 16
REPORT_SCENES = 4


def deploy_stage(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    scenes: int = REPORT_SCENES,
    calibration_scenes: int = CALIBRATION_SCENES,
    backend: str = "auto",
) -> list[str]:
    """Run the deployment stage for ``checkpoint``; returns markdown lines (paths relative to
    ``out_dir``)."""
    from fastpix.data.imageio import write_image
    from fastpix.export import load_checkpoint_source, to_onnx
    from fastpix.export.quantize import (
        HELD_OUT_SEED,
        evaluate_int8,
        quantize_int8,
        synthetic_scenes,
    )
    from fastpix.export.tensorrt import EngineError, build_engine
    from fastpix.infer import Predictor
    from fastpix.metrics import ConfusionMatrix

    out = Path(out_dir) / "deploy"
    out.mkdir(parents=True, exist_ok=True)
    lines = ["## Deployment: ONNX, TensorRT, INT8", ""]
    source = load_checkpoint_source(checkpoint)
    if source.kind == "photo_generator":
        return [*lines, "Skipped: the checkpoint's generator draws photos, not class maps.", ""]
    onnx_path = out / "model.onnx"
    export = to_onnx(source, onnx_path, head="classes")
    info = export.info
    lines += [
        f"- `fastpix-export --checkpoint {Path(checkpoint).name} --onnx deploy/model.onnx`: "
        f"{info.kind.replace('_', ' ')}, head `classes`, mode `{info.mode}`, input "
        f"{info.input_size[0]}×{info.input_size[1]} ({export.seconds:.1f} s); "
        f"{export.verification}",
    ]
    try:
        build = build_engine(onnx_path, out / "model.engine", backend=backend, batch=(1, 1, 4))
        record = build.record
        lines.append(
            f"- engine `deploy/model.engine`: {record['backend']} {record['tensorrt_version']}, "
            f"{record['precision']}, batch 1..4, compute capability "
            f"{', '.join(record['targets']['compute_capabilities']) or 'of the build GPU'}, "
            f"{record['engine_bytes'] / 1e6:.1f} MB in {build.seconds:.1f} s (sidecar "
            "`deploy/model.engine.json`)"
        )
    except EngineError as exc:
        lines.append(f"- engine not built: {str(exc).splitlines()[0]}")

    size = info.input_size
    calibration = [photo for photo, _ in synthetic_scenes(calibration_scenes, size)]
    int8_path = out / "model.int8.onnx"
    quantize_int8(onnx_path, int8_path, calibration, source="synthetic scenes")
    held_out = synthetic_scenes(scenes, size, HELD_OUT_SEED)
    trainids = info.label_set.name == "trainid"  # the scenes are labelled with trainIds
    labels = [label for _, label in held_out] if trainids else None
    scores = evaluate_int8(onnx_path, int8_path, [photo for photo, _ in held_out], labels)
    line = (
        f"- INT8 Q/DQ `deploy/model.int8.onnx` ({calibration_scenes} calibration scenes): "
        f"mIoU against FP32 {scores['miou_vs_fp32']:.4f}, pixel agreement "
        f"{scores['pixel_agreement']:.4f} on {scores['images']} held-out scenes"
    )
    if labels is not None:
        line += f" (mIoU against the labels: FP32 {scores['miou_fp32']:.4f}, INT8 {scores['miou_int8']:.4f})"
    lines += [line, ""]

    predictor = Predictor(onnx_path, providers=["CPUExecutionProvider"])
    matrix = ConfusionMatrix(predictor.num_classes, predictor.label_set.ignore_index)
    lines += ["| scene | photo | labels | prediction (ONNX) | overlay |", "|---|---|---|---|---|"]
    for index, (photo, label) in enumerate(held_out):
        classes = predictor.predict(photo)
        if trainids:
            matrix.update(classes, torch.from_numpy(label))
        names = {}
        for kind, pixels in (
            ("photo", photo),
            ("labels", predictor.colorize(label).numpy()),
            ("prediction", predictor.colorize(classes).numpy()),
            ("overlay", predictor.overlay(photo, classes).numpy()),
        ):
            names[kind] = f"deploy/scene{index}_{kind}.png"
            write_image(Path(out_dir) / names[kind], np.asarray(pixels))
        cells = " | ".join(f"![{kind}]({name})" for kind, name in names.items())
        lines.append(f"| {HELD_OUT_SEED + index} | {cells} |")
    lines.append("")
    if trainids:
        lines.append(
            f"ONNX predictions on {scenes} held-out scenes: mIoU {matrix.compute()['miou']:.4f}; "
            f"{predictor.timing.summary()} (onnxruntime, CPU)."
        )
    else:
        lines.append(f"{predictor.timing.summary()} (onnxruntime, CPU).")
    return [*lines, ""]
