"""TensorRT engines from fastpix ONNX files: backend choice, build, sidecar, loading and running.

Two backends share one builder API: ``tensorrt`` (x86 GPU hosts, JetPack on Jetson; builds on
the GPU it will run on) and ``tensorrt_rtx`` (``pip install tensorrt-rtx-cu13``; builds ahead
of time on the CPU for a set of compute capabilities). ``select_backend("auto")`` takes
``tensorrt`` where it imports and TensorRT-RTX otherwise.

Networks are created strongly typed where the API has the flag (TensorRT >= 10 and
TensorRT-RTX): the precision is the ONNX graph's (FP32, FP16 types, INT8 Q/DQ). Older
TensorRT builds FP16/INT8 through builder flags instead.

Every engine gets a sidecar, ``<engine>.json``: fastpix and TensorRT versions, backend,
compute-capability targets, optimization profile, precision and the ``DeployInfo`` (label
set, palette, normalization, head). ``EngineRunner`` checks the sidecar before it loads the
engine: an engine built by another TensorRT version or for another GPU is refused with an
error that says to rebuild it from the ONNX (engines are not portable; on a Jetson, build on
the board). It runs on torch CUDA tensors: ``set_tensor_address`` + ``execute_async_v3`` on
torch's current stream.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from fastpix.data.imageio import atomic_write, write_text
from fastpix.export.files import sha256_of
from fastpix.export.metadata import DeployInfo, read_onnx_info

BACKENDS = {"tensorrt": "tensorrt", "tensorrt-rtx": "tensorrt_rtx"}
INSTALL = {
    "tensorrt": "JetPack ships it on Jetson; on x86 GPU hosts: pip install tensorrt",
    "tensorrt-rtx": "pip install tensorrt-rtx-cu13 (x86-64)",
}
SIDECAR_FORMAT = "fastpix-engine"
SIDECAR_VERSION = 1
CPU_ONLY_MESSAGE = "TensorRT engines run on NVIDIA GPUs; use the .onnx model on this machine"
# TensorRT-RTX compute capabilities that must be asked for explicitly (its docs: Turing is
# not in the default portable set).
RTX_OPT_IN_TARGETS = ("7.5",)


class EngineError(ValueError):
    """An engine cannot be built, or cannot run here; the message says what to do."""


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """One importable TensorRT flavour: ``name`` is ``tensorrt`` or ``tensorrt-rtx``."""

    name: str
    trt: ModuleType

    @property
    def version(self) -> str:
        return str(self.trt.__version__)

    @property
    def strongly_typed(self) -> bool:
        return hasattr(self.trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")

    @property
    def ahead_of_time(self) -> bool:
        """Builds for compute-capability targets without a GPU (TensorRT-RTX)."""
        return hasattr(self.trt, "ComputeCapability")


def _import_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"unknown TensorRT backend {name!r}; expected auto, {', '.join(BACKENDS)}")
    try:
        module = importlib.import_module(BACKENDS[name])
    except Exception as exc:  # missing wheel, or CUDA libraries it cannot load
        raise EngineError(
            f"TensorRT backend {name!r} is not usable here ({type(exc).__name__}: {exc}); "
            f"install it: {INSTALL[name]}"
        ) from None
    return Backend(name, module)


def select_backend(name: str = "auto") -> Backend:
    """``tensorrt`` or ``tensorrt-rtx`` by name; ``auto`` takes TensorRT where it imports,
    TensorRT-RTX otherwise."""
    if name != "auto":
        return _import_backend(name)
    reasons = []
    for candidate in BACKENDS:
        try:
            return _import_backend(candidate)
        except EngineError as exc:
            reasons.append(str(exc))
    raise EngineError("no TensorRT backend is installed:\n  " + "\n  ".join(reasons))


def _make_logger(trt: ModuleType, verbose: bool):
    """A TensorRT logger that keeps warnings and errors (for error messages) and prints them
    when ``verbose``."""

    class CollectingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: list[str] = []

        def log(self, severity, msg: str) -> None:
            important = severity in (
                trt.ILogger.Severity.INTERNAL_ERROR,
                trt.ILogger.Severity.ERROR,
                trt.ILogger.Severity.WARNING,
            )
            if important:
                self.messages.append(msg)
            if verbose and (important or severity == trt.ILogger.Severity.INFO):
                print(f"[{trt.__name__}] {msg}", flush=True)

        def errors(self) -> str:
            return "\n    ".join(self.messages[-8:]) or "(no message)"

    return CollectingLogger()


# --------------------------------------------------------------------------------------------
# Optimization profiles and targets
# --------------------------------------------------------------------------------------------

Range = tuple[int, int, int]


@dataclass(frozen=True)
class Profile:
    """Input shapes an engine accepts: ``min`` <= shape <= ``max``, tuned for ``opt``."""

    input: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "min": list(self.min),
            "opt": list(self.opt),
            "max": list(self.max),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        return cls(data["input"], tuple(data["min"]), tuple(data["opt"]), tuple(data["max"]))

    def admits(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.min) and all(
            lo <= v <= hi for lo, v, hi in zip(self.min, shape, self.max)
        )


def parse_range(text: str, what: str) -> Range:
    """``"1:4:8"`` → (1, 4, 8); ``"4"`` → (4, 4, 4)."""
    parts = text.split(":")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"{what} must be N or MIN:OPT:MAX with integers, got {text!r}") from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or not 1 <= values[0] <= values[1] <= values[2]:
        raise ValueError(
            f"{what} must be N or MIN:OPT:MAX with 1 <= MIN <= OPT <= MAX, got {text!r}"
        )
    return values[0], values[1], values[2]


def make_profile(
    info: DeployInfo,
    onnx_shape: tuple[int, ...],
    batch: Range | None = None,
    sizes: tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None = None,
) -> Profile:
    """The profile for an input of ONNX shape ``onnx_shape`` (-1 for free dimensions).

    ``batch`` is needed for a free batch (default 1:1:8); ``sizes`` ((H, W) min, opt, max) for
    free height/width (default: the model's input size). Fixed dimensions cannot be changed.
    """
    if len(onnx_shape) != 4:
        raise EngineError(f"expected an N×3×H×W input, the ONNX input has shape {onnx_shape}")
    n, c, h, w = onnx_shape
    if n == -1:
        batch = batch or (1, 1, 8)
    elif batch is not None and batch != (n, n, n):
        raise ValueError(
            f"the ONNX model has a fixed batch of {n}; re-export it with a dynamic batch to "
            f"build for batch {batch[0]}:{batch[1]}:{batch[2]}"
        )
    else:
        batch = (n, n, n)
    if h == -1 or w == -1:
        sizes = sizes or (info.input_size, info.input_size, info.input_size)
    elif sizes is not None and any(tuple(s) != (h, w) for s in sizes):
        raise ValueError(
            f"the ONNX model has a fixed size of {h}×{w}; re-export it with dynamic height and "
            "width (--dynamic-size) to build for other sizes"
        )
    else:
        sizes = ((h, w), (h, w), (h, w))
    for lo, hi in zip(sizes[0], sizes[2]):
        if lo > hi:
            raise ValueError(f"size range {sizes} has min > max")
    shapes = [(b, c, *hw) for b, hw in zip(batch, sizes)]
    return Profile(info.input_name, *shapes)


def _capability_name(value: str) -> str:
    """ "8.6" → "SM86", "12.0" → "SM120"."""
    major, _, minor = value.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"compute capability must look like 8.6, got {value!r}")
    return f"SM{major}{minor}"


def _capability_value(name: str) -> str:
    digits = name[2:]
    return f"{digits[:-1]}.{digits[-1]}"


def rtx_targets(trt: ModuleType) -> list[str]:
    """Compute capabilities the installed TensorRT-RTX can target (e.g. 7.5 … 12.1)."""
    members = trt.ComputeCapability.__members__
    return [_capability_value(name) for name in members if name.startswith("SM")]


def _set_targets(backend: Backend, config, targets: list[str] | None) -> dict[str, Any]:
    """Apply compute-capability targets; returns what the sidecar records."""
    if not backend.ahead_of_time:
        if targets:
            raise ValueError(
                "TensorRT builds for the GPU it runs on; --target-cc applies to TensorRT-RTX"
            )
        device = _cuda_device()
        return {
            "compute_capabilities": [device[1]] if device else [],
            "chosen_by": "build GPU",
            "device": device[0] if device else None,
        }
    available = rtx_targets(backend.trt)
    if not targets:
        default = [t for t in available if t not in RTX_OPT_IN_TARGETS]
        return {
            "compute_capabilities": default,
            "chosen_by": "TensorRT-RTX default",
            "device": None,
        }
    chosen = []
    for target in targets:
        if target == "current":
            device = _cuda_device()
            if device is None:
                raise EngineError("--target-cc current needs a CUDA GPU on the build machine")
            target = device[1]
        if target not in available:
            raise ValueError(
                f"TensorRT-RTX {backend.version} cannot target compute capability {target}; "
                f"it targets {', '.join(available)}"
            )
        chosen.append(target)
    config.num_compute_capabilities = len(chosen)
    for index, target in enumerate(chosen):
        config.set_compute_capability(
            getattr(backend.trt.ComputeCapability, _capability_name(target)), index
        )
    return {"compute_capabilities": chosen, "chosen_by": "user", "device": None}


def _cuda_device(device: Any = None) -> tuple[str, str] | None:
    """(name, "major.minor") of the CUDA device torch sees, or None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    index = torch.device(device or "cuda").index or 0
    major, minor = torch.cuda.get_device_capability(index)
    return torch.cuda.get_device_name(index), f"{major}.{minor}"


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(engine_path)}.json")


@dataclass(frozen=True)
class EngineBuild:
    engine: Path
    sidecar: Path
    record: dict[str, Any]
    seconds: float
    notes: tuple[str, ...] = ()


def _network_flags(backend: Backend) -> int:
    flags = backend.trt.NetworkDefinitionCreationFlag
    if backend.strongly_typed:
        return 1 << int(flags.STRONGLY_TYPED)
    return 1 << int(flags.EXPLICIT_BATCH)  # TensorRT 8.x: implicit batch is the default there


def _precision_hint(backend: Backend, precision: str) -> str:
    if precision == "int8" and backend.name == "tensorrt-rtx":
        return (
            " TensorRT-RTX lists INT8 only for weight-only-quantized GEMMs in its support "
            "matrix; build the FP16 ONNX instead, or build this INT8 ONNX with TensorRT on the "
            "target GPU (JetPack, or pip install tensorrt)."
        )
    if precision in ("fp16", "int8"):
        return f" The target GPU may lack fast {precision.upper()} support; try FP32."
    return ""


def _target_notes(backend: Backend, precision: str, targets: dict[str, Any]) -> list[str]:
    """What the user should know about where this engine will (not) run."""
    notes = []
    if backend.name == "tensorrt-rtx" and precision == "int8":
        notes.append(
            "TensorRT-RTX builds this Q/DQ graph, but its support matrix lists INT8 only for "
            "weight-only-quantized GEMMs: convolutions may run dequantized in FP16/FP32; "
            "measure on the target GPU, or build INT8 with TensorRT"
        )
    device = _cuda_device() if backend.ahead_of_time else None
    if (
        device
        and targets["compute_capabilities"]
        and device[1] not in targets["compute_capabilities"]
    ):
        notes.append(
            f"this machine's GPU ({device[0]}, {device[1]}) is not among the engine's targets "
            f"({', '.join(targets['compute_capabilities'])}); to run here, build with TensorRT "
            f"({INSTALL['tensorrt']})"
        )
    return notes


def build_engine(
    onnx_path: str | os.PathLike,
    engine_path: str | os.PathLike,
    *,
    backend: str = "auto",
    batch: Range | None = None,
    sizes: tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None = None,
    timing_cache: str | os.PathLike | None = None,
    target_cc: list[str] | None = None,
    workspace_mb: int | None = None,
    verbose: bool = False,
) -> EngineBuild:
    """Build a serialized engine from a fastpix ONNX file, with its sidecar JSON.

    Args:
        onnx_path: an ONNX file written by ``to_onnx`` / ``quantize_int8`` (its metadata gives
            precision, label set and preprocessing).
        engine_path: where to write the engine; the sidecar goes to ``<engine_path>.json``.
        backend: ``auto``, ``tensorrt`` or ``tensorrt-rtx``.
        batch: (min, opt, max) batch of the profile for a dynamic-batch ONNX (default 1:1:8).
        sizes: ((H, W) min, opt, max) for an ONNX with dynamic height and width.
        timing_cache: TensorRT: a timing-cache file read before and written after the build.
            TensorRT-RTX has no autotuning and ignores it (it would force a GPU query).
        target_cc: TensorRT-RTX compute capabilities (``["8.6", "12.0"]``, ``"current"``);
            default its portable set. TensorRT builds for the GPU it runs on.
        workspace_mb: cap on the builder's workspace memory.
    """
    start = time.perf_counter()
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    info = read_onnx_info(onnx_path)
    chosen = select_backend(backend)
    trt = chosen.trt
    logger = _make_logger(trt, verbose)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(chosen))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "\n    ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"{onnx_path}: the {chosen.name} ONNX parser rejected it:\n    {errors}")
    graph_input = network.get_input(0)
    profile = make_profile(info, tuple(graph_input.shape), batch, sizes)

    config = builder.create_builder_config()
    optimization_profile = builder.create_optimization_profile()
    optimization_profile.set_shape(profile.input, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(optimization_profile)
    if not chosen.strongly_typed and info.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
        if info.precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
    if workspace_mb is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    targets = _set_targets(chosen, config, target_cc)
    notes = _target_notes(chosen, info.precision, targets)
    cache = None
    if timing_cache is not None and chosen.ahead_of_time:
        notes.append(
            f"timing cache {timing_cache} not used: TensorRT-RTX does no autotuning and a "
            "timing cache would force a GPU query"
        )
    elif timing_cache is not None:
        blob = Path(timing_cache).read_bytes() if Path(timing_cache).is_file() else b""
        cache = config.create_timing_cache(blob)
        config.set_timing_cache(cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(
            f"{onnx_path}: {chosen.name} {chosen.version} could not build a "
            f"{info.precision.upper()} engine:\n    {logger.errors()}\n"
            + _precision_hint(chosen, info.precision).strip()
        )
    with atomic_write(engine_path) as f:
        f.write(bytes(serialized))
    if cache is not None:
        with atomic_write(timing_cache) as f:
            f.write(bytes(config.get_timing_cache().serialize()))
    seconds = time.perf_counter() - start
    record = {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "engine": engine_path.name,
        "engine_sha256": sha256_of(engine_path),
        "engine_bytes": engine_path.stat().st_size,
        "onnx": onnx_path.name,
        "onnx_sha256": sha256_of(onnx_path),
        "backend": chosen.name,
        "tensorrt_version": chosen.version,
        "strongly_typed": chosen.strongly_typed,
        "targets": targets,
        "profiles": [profile.to_dict()],
        "timing_cache": None if cache is None else os.fspath(timing_cache),
        "built_on": {"machine": platform.machine(), "gpu": (_cuda_device() or (None,))[0]},
        "build_seconds": round(seconds, 3),
        **info.to_dict(),
    }
    sidecar = write_text(sidecar_path(engine_path), json.dumps(record, indent=2) + "\n")
    return EngineBuild(engine_path, sidecar, record, seconds, tuple(notes))


# --------------------------------------------------------------------------------------------
# Loading and running
# --------------------------------------------------------------------------------------------


def read_sidecar(engine_path: str | os.PathLike) -> dict[str, Any]:
    engine_path = Path(engine_path)
    if not engine_path.is_file():
        raise FileNotFoundError(f"{engine_path}: engine file not found")
    sidecar = sidecar_path(engine_path)
    rebuild = f"rebuild it: fastpix-export --onnx MODEL.onnx --engine {engine_path}"
    if not sidecar.is_file():
        raise EngineError(
            f"{engine_path}: no sidecar {sidecar.name} beside it, so its TensorRT version, "
            f"targets and preprocessing are unknown; {rebuild}"
        )
    try:
        record = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineError(f"{sidecar}: unreadable sidecar ({exc}); {rebuild}") from None
    if not isinstance(record, dict) or record.get("format") != SIDECAR_FORMAT:
        raise EngineError(f"{sidecar}: not a fastpix engine sidecar; {rebuild}")
    return record


def check_engine(
    record: dict[str, Any],
    engine_path: str | os.PathLike,
    installed_version: str | None,
    device: tuple[str, str] | None,
) -> None:
    """Refuse an engine that cannot run here, saying why and to rebuild.

    ``installed_version`` is the version of the sidecar's backend on this machine (None when
    it is not installed); ``device`` the (name, "major.minor") of the GPU, None without one.
    """
    engine_path = Path(engine_path)
    backend, built = record.get("backend"), record.get("tensorrt_version")
    onnx = record.get("onnx", "MODEL.onnx")
    rebuild = (
        f"engines are not portable: rebuild it on this machine from the ONNX: "
        f"fastpix-export --onnx {onnx} --engine {engine_path}"
    )
    if sha256_of(engine_path) != record.get("engine_sha256"):
        raise EngineError(
            f"{engine_path}: the engine does not match its sidecar (it was replaced or "
            f"damaged); {rebuild}"
        )
    if installed_version is None:
        raise EngineError(
            f"{engine_path}: built with {backend} {built}, which is not installed here "
            f"({INSTALL.get(backend, backend)}); or {rebuild}"
        )
    if installed_version != built:
        raise EngineError(
            f"{engine_path}: built with {backend} {built}, this machine has {installed_version}; "
            f"{rebuild}"
        )
    if device is None:
        raise EngineError(f"{engine_path}: {CPU_ONLY_MESSAGE}")
    targets = record.get("targets", {}).get("compute_capabilities") or []
    if targets and device[1] not in targets:
        raise EngineError(
            f"{engine_path}: built for compute capability {', '.join(targets)}; this GPU "
            f"({device[0]}, {device[1]}) is not one of them; {rebuild} (on a Jetson, build "
            "it on the board itself)"
        )


def _torch_dtype(trt: ModuleType, dtype):
    import torch

    table = {
        trt.float32: torch.float32,
        trt.float16: torch.float16,
        trt.int8: torch.int8,
        trt.int32: torch.int32,
        trt.bool: torch.bool,
        trt.uint8: torch.uint8,
    }
    if hasattr(trt, "int64"):
        table[trt.int64] = torch.int64
    return table[dtype]


class EngineRunner:
    """A fastpix engine loaded on a GPU: ``runner(images)`` → the head's output.

    Inputs are float32 N×3×H×W CUDA tensors (normalized); outputs are torch CUDA tensors on
    the same device, computed on torch's current stream.
    """

    def __init__(self, engine_path: str | os.PathLike, device: Any = None) -> None:
        import torch

        self.path = Path(engine_path)
        record = read_sidecar(self.path)
        self.record = record
        self.info = DeployInfo.from_dict(record, str(sidecar_path(self.path)))
        self.profile = Profile.from_dict(record["profiles"][0])
        try:
            backend: Backend | None = _import_backend(record.get("backend", ""))
        except (EngineError, ValueError):
            backend = None
        self.device = torch.device(device or "cuda")
        cuda = _cuda_device(self.device) if self.device.type == "cuda" else None
        check_engine(record, self.path, backend.version if backend else None, cuda)
        trt = backend.trt
        self._trt = trt
        self._logger = _make_logger(trt, verbose=False)
        self._runtime = trt.Runtime(self._logger)
        blob = self.path.read_bytes()
        with torch.cuda.device(self.device):
            if hasattr(self._runtime, "get_engine_validity"):
                validity, diagnostics = self._runtime.get_engine_validity(blob)
                if validity == trt.EngineValidity.INVALID:
                    raise EngineError(
                        f"{self.path}: {backend.name} says this engine is not valid on this "
                        f"system (diagnostics {diagnostics:#x}); rebuild it here from the ONNX"
                    )
            self._engine = self._runtime.deserialize_cuda_engine(blob)
            if self._engine is None:
                raise EngineError(
                    f"{self.path}: {backend.name} could not load the engine: "
                    f"{self._logger.errors()}; rebuild it here from the ONNX"
                )
            self._context = self._engine.create_execution_context()
        self._output_dtype = _torch_dtype(trt, self._engine.get_tensor_dtype(self.info.output_name))

    def __call__(self, images):
        import torch

        shape = tuple(images.shape)
        if not self.profile.admits(shape):
            raise ValueError(
                f"{self.path}: input shape {shape} is outside the engine's profile "
                f"{self.profile.min}..{self.profile.max}; rebuild with a wider --batch/--sizes"
            )
        x = images.to(self.device, torch.float32).contiguous()
        name_in, name_out = self.info.input_name, self.info.output_name
        self._context.set_input_shape(name_in, shape)
        out = torch.empty(
            tuple(self._context.get_tensor_shape(name_out)),
            dtype=self._output_dtype,
            device=self.device,
        )
        self._context.set_tensor_address(name_in, x.data_ptr())
        self._context.set_tensor_address(name_out, out.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise EngineError(f"{self.path}: execution failed: {self._logger.errors()}")
        return out


__all__ = [
    "BACKENDS",
    "CPU_ONLY_MESSAGE",
    "Backend",
    "EngineBuild",
    "EngineError",
    "EngineRunner",
    "Profile",
    "build_engine",
    "check_engine",
    "make_profile",
    "parse_range",
    "read_sidecar",
    "rtx_targets",
    "select_backend",
    "sidecar_path",
]
