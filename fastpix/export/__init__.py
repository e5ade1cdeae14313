"""Deployment: ONNX export with output heads and metadata, INT8 quantization, TensorRT engines.

>>> from fastpix.export import load_checkpoint_source, to_onnx, build_engine
>>> source = load_checkpoint_source("runs/seg/best.pt")              # doctest: +SKIP
>>> to_onnx(source, "seg.onnx", head="classes")                      # doctest: +SKIP
>>> build_engine("seg.onnx", "seg.engine", batch=(1, 1, 8))          # doctest: +SKIP
"""

from fastpix.export.heads import HEADS, KINDS, Deployed
from fastpix.export.metadata import DeployInfo, MetadataError, read_onnx_info
from fastpix.export.onnx import ExportResult, Verification, VerificationError, to_onnx
from fastpix.export.source import (
    ModelSource,
    load_checkpoint_source,
    load_pix2pix_source,
    source_from_model,
)

__all__ = [
    "HEADS",
    "KINDS",
    "DeployInfo",
    "Deployed",
    "ExportResult",
    "MetadataError",
    "ModelSource",
    "Verification",
    "VerificationError",
    "load_checkpoint_source",
    "load_pix2pix_source",
    "read_onnx_info",
    "source_from_model",
    "to_onnx",
]
