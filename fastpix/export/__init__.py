"""Deployment: ONNX export with output heads and metadata, INT8 quantization, TensorRT engines.

    >>> from fastpix.export import build_engine, load_checkpoint_source, to_onnx
    >>> source = load_checkpoint_source("runs/seg/best.pt")              # doctest: +SKIP
    >>> to_onnx(source, "seg.onnx", head="classes")                      # doctest: +SKIP
    >>> build_engine("seg.onnx", "seg.engine", batch=(1, 1, 8))          # doctest: +SKIP

The same as ``fastpix-export``; ``fastpix.infer.Predictor`` runs what these write.
"""

from fastpix.export.heads import HEADS, KINDS, Deployed
from fastpix.export.metadata import DeployInfo, MetadataError, read_onnx_info
from fastpix.export.onnx import ExportResult, Verification, VerificationError, to_onnx
from fastpix.export.quantize import evaluate_int8, quantize_int8
from fastpix.export.source import (
    ModelSource,
    load_checkpoint_source,
    load_pix2pix_source,
    source_from_model,
)
from fastpix.export.tensorrt import (
    EngineBuild,
    EngineError,
    EngineRunner,
    build_engine,
    read_sidecar,
    select_backend,
)

__all__ = [
    "HEADS",
    "KINDS",
    "DeployInfo",
    "Deployed",
    "EngineBuild",
    "EngineError",
    "EngineRunner",
    "ExportResult",
    "MetadataError",
    "ModelSource",
    "Verification",
    "VerificationError",
    "build_engine",
    "evaluate_int8",
    "load_checkpoint_source",
    "load_pix2pix_source",
    "quantize_int8",
    "read_onnx_info",
    "read_sidecar",
    "select_backend",
    "source_from_model",
    "to_onnx",
]
