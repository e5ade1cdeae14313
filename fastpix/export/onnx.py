"""Export to ONNX: the network in its inference mode, an output head, fastpix metadata, and a
check against torch.

``to_onnx`` traces ``Deployed(network, head)`` with torch's TorchScript-based exporter (opset
17 by default; a few seconds even for unet_256, where the dynamo exporter takes minutes on a
CPU), with a dynamic batch and optionally dynamic height and width. FP16 exports trace the
network in half precision, so the precision is carried by the graph's types (what strongly
typed TensorRT networks build from); inputs and ``logits`` outputs stay float32. The file is
checked with ``onnx.checker`` and run with onnxruntime against the float32 torch network on
the same inputs before it is renamed into place:

- float outputs: max |Δ| <= 1e-4 · max(1, max |torch|) in FP32 (1e-2 · … in FP16);
- uint8 outputs (classes, colours, photo pixels): >= 99.99 % equal in FP32 (99 % in FP16).
"""

from __future__ import annotations

import inspect
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fastpix.export.files import temporary_output
from fastpix.export.heads import Deployed, check_head
from fastpix.export.metadata import DeployInfo, write_onnx_info
from fastpix.export.source import ModelSource, inference_network, resolve_mode, source_from_model

MIN_OPSET = 17
# (float outputs: max |Δ| relative to max(1, max |torch|); uint8 outputs: fraction equal)
TOLERANCES = {"fp32": (1e-4, 0.9999), "fp16": (1e-2, 0.99)}
VERIFY_SEED = 1234


class VerificationError(ValueError):
    """onnxruntime's output differs from torch's by more than the tolerance."""


@dataclass(frozen=True)
class Verification:
    """onnxruntime against torch on the same inputs."""

    output: str
    batch: int
    max_abs: float | None = None  # float outputs
    reference_max: float | None = None
    agreement: float | None = None  # uint8 outputs: fraction of equal pixels
    limit: float = 0.0
    passed: bool = False

    def __str__(self) -> str:
        if self.max_abs is not None:
            figure = (
                f"max |Δ| = {self.max_abs:.3g} (torch max |x| = {self.reference_max:.3g}, "
                f"limit {self.limit:.3g})"
            )
        else:
            figure = f"{100 * self.agreement:.4f} % equal (limit {100 * self.limit:.2f} %)"
        verdict = "ok" if self.passed else "FAILED"
        return f"onnxruntime vs torch, {self.output} at batch {self.batch}: {figure} — {verdict}"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    info: DeployInfo
    verification: Verification | None
    seconds: float


def default_head(kind: str) -> str:
    return "photo" if kind == "photo_generator" else "classes"


def _output_axes(head: str, dynamic_batch: bool, dynamic_size: bool) -> dict[int, str]:
    # logits: N×C×H×W; classes: N×H×W; color / photo: N×H×W×3
    height_dim = {"logits": 2, "classes": 1, "color": 1, "photo": 1}[head]
    axes = {0: "batch"} if dynamic_batch else {}
    if dynamic_size:
        axes.update({height_dim: "height", height_dim + 1: "width"})
    return axes


def _trace_to_onnx(
    module: nn.Module,
    example: torch.Tensor,
    path: Path,
    info: DeployInfo,
    opset: int,
) -> None:
    input_axes = {0: "batch"} if info.dynamic_batch else {}
    if info.dynamic_size:
        input_axes.update({2: "height", 3: "width"})
    kwargs = {
        "input_names": [info.input_name],
        "output_names": [info.output_name],
        "dynamic_axes": {
            info.input_name: input_axes,
            info.output_name: _output_axes(info.head, info.dynamic_batch, info.dynamic_size),
        },
        "opset_version": opset,
        "do_constant_folding": True,
    }
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # torch >= 2.5 defaults to the slower dynamo exporter
    with warnings.catch_warnings():
        # Shape checks in forward() become trace-time constants (TracerWarning); instance
        # norm is exported with input statistics, which is what paper mode means.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*instance_norm.*train=True.*")
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        with torch.no_grad():
            torch.onnx.export(module, (example,), str(path), **kwargs)


def verification_images(
    batch: int, size: tuple[int, int], mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """Seeded random pixels, normalized as the model's inputs: float32 batch×3×H×W."""
    generator = torch.Generator().manual_seed(VERIFY_SEED)
    pixels = torch.randint(0, 256, (batch, 3, *size), generator=generator).float() / 255.0
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)
    return (pixels - mean_t) / std_t


def compare_outputs(
    ours: np.ndarray, reference: np.ndarray, output: str, precision: str
) -> Verification:
    """Compare an output with its torch reference under ``TOLERANCES[precision]``."""
    if ours.shape != reference.shape:
        raise VerificationError(
            f"{output}: onnxruntime returned shape {ours.shape}, torch {reference.shape}"
        )
    relative, fraction = TOLERANCES[precision]
    batch = int(reference.shape[0])
    if np.issubdtype(reference.dtype, np.floating):
        max_abs = float(np.abs(ours.astype(np.float64) - reference).max())
        reference_max = float(np.abs(reference).max())
        limit = relative * max(1.0, reference_max)
        return Verification(output, batch, max_abs, reference_max, None, limit, max_abs <= limit)
    equal = ours == reference
    if output in ("color", "photo"):  # N×H×W×3: a pixel is equal when all channels are
        equal = equal.all(-1)
    agreement = float(equal.mean())
    return Verification(output, batch, None, None, agreement, fraction, agreement >= fraction)


def verify_onnx(
    path: str | os.PathLike,
    reference: nn.Module,
    images: torch.Tensor,
    info: DeployInfo,
    providers: list[str] | None = None,
) -> Verification:
    """Run ``path`` with onnxruntime and ``reference`` with torch on ``images`` and compare."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=providers or ["CPUExecutionProvider"])
    (ours,) = session.run(None, {info.input_name: images.numpy()})
    with torch.no_grad():
        expected = reference(images).numpy()
    return compare_outputs(ours, expected, info.output_name, info.precision)


def to_onnx(
    model: nn.Module | ModelSource,
    path: str | os.PathLike,
    *,
    head: str | None = None,
    mode: str = "auto",
    precision: str = "fp32",
    input_size: tuple[int, int] | None = None,
    dynamic_batch: bool = True,
    dynamic_size: bool = False,
    batch_size: int = 1,
    opset: int = MIN_OPSET,
    verify: bool = True,
    verify_images: torch.Tensor | None = None,
    max_distance: float | None = None,
    verbose: bool = False,
    **describe,
) -> ExportResult:
    """Export a network with an output head to ``path`` (written atomically).

    Args:
        model: a ``ModelSource`` (``load_checkpoint_source`` / ``load_pix2pix_source``) or a
            network; for a bare network ``describe`` takes ``source_from_model``'s arguments
            (``kind``, ``label_set``, ``input_size``, ``mean``, ``std``).
        head: ``logits``, ``classes`` or ``color`` (``photo`` for photo generators); default
            ``classes`` (``photo``).
        mode: ``eval``, ``paper`` (pix2pix test-time normalization, no dropout) or ``auto``
            (paper for pix2pix generators with batch norm, eval otherwise).
        precision: ``fp32`` or ``fp16`` (INT8: ``fastpix.export.quantize_int8`` on the FP32
            file).
        input_size: (H, W) to export at; default the training size.
        dynamic_batch, dynamic_size: free batch / free height and width in the graph.
        batch_size: the batch traced (the fixed batch when ``dynamic_batch`` is False).
        opset: ONNX opset, >= 17.
        verify: check with onnx.checker and onnxruntime against torch (see module doc);
            ``verify_images`` (float32 N×3×H×W, normalized) replaces the seeded random ones.
        max_distance: mask generators: pixels farther than this from every mask colour
            become ``ignore_index`` (``LabelSet.classes_from_mask``).

    The graph takes float32 N×3×H×W normalized images (input ``image``) and returns the head's
    output (named after the head). Raises ``VerificationError`` (and writes nothing) when
    onnxruntime disagrees with torch.
    """
    import onnx

    start = time.perf_counter()
    source = model if isinstance(model, ModelSource) else source_from_model(model, **describe)
    if precision not in TOLERANCES:
        raise ValueError(
            f"precision {precision!r} cannot be exported directly; expected fp32 or fp16 "
            "(INT8: export FP32, then fastpix.export.quantize_int8)"
        )
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    head = check_head(source.kind, head or default_head(source.kind))
    mode = resolve_mode(source, mode)
    size = tuple(input_size or source.input_size)
    info = DeployInfo(
        kind=source.kind,
        head=head,
        label_set=source.label_set,
        input_size=size,  # type: ignore[arg-type]
        mean=source.mean,
        std=source.std,
        mode=mode,
        precision=precision,
        dynamic_batch=dynamic_batch,
        dynamic_size=dynamic_size,
        output_name=head,
        model=source.model,
        source=source.origin,
        extra={"max_distance": max_distance} if max_distance is not None else {},
    )
    network = inference_network(source, mode)
    reference = Deployed(network, source.kind, head, source.label_set, max_distance=max_distance)
    reference.eval()
    if precision == "fp16":
        import copy

        half = copy.deepcopy(network).half()
        exported = Deployed(half, source.kind, head, source.label_set, torch.float16, max_distance)
    else:
        exported = reference
    exported.eval()
    example = verification_images(batch_size, size, source.mean, source.std)

    verification = None
    with temporary_output(path) as tmp:
        _trace_to_onnx(exported, example, tmp, info, opset)
        write_onnx_info(tmp, info)
        onnx.checker.check_model(str(tmp))
        if verify:
            if verify_images is None:
                batch = 2 if dynamic_batch else batch_size
                verify_images = verification_images(batch, size, source.mean, source.std)
            verification = verify_onnx(tmp, reference, verify_images, info)
            if verbose:
                print(verification, flush=True)
            if not verification.passed:
                raise VerificationError(f"{path}: not written: {verification}")
    return ExportResult(Path(path), info, verification, time.perf_counter() - start)


__all__ = [
    "MIN_OPSET",
    "TOLERANCES",
    "ExportResult",
    "Verification",
    "VerificationError",
    "compare_outputs",
    "default_head",
    "to_onnx",
    "verification_images",
    "verify_onnx",
]
