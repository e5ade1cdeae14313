"""``Predictor``: one class for segmentation with a checkpoint, an ONNX file or an engine.

Shaped like jetson-inference's segNet: construct it from a model file, ``predict`` images into
class maps, ``colorize`` and ``overlay`` them, read ``timing``.

    >>> from fastpix.infer import Predictor
    >>> net = Predictor("seg.onnx")                      # or "seg.engine", "runs/x/best.pt"
    >>> classes = net.predict("street.jpg")              # doctest: +SKIP
    >>> net.overlay("street.jpg", classes, alpha=0.5)    # doctest: +SKIP

Backends by file: ``.engine`` → TensorRT runtime on a GPU (``fastpix.export.tensorrt``),
``.onnx`` → onnxruntime (CUDA provider when available, else CPU), anything else → a fastpix
checkpoint run by torch with the same output head as the exported graphs. Inputs go through
the training preprocessing (``fastpix.infer.preprocess``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from fastpix.export.heads import ArgmaxClasses, Deployed, PaletteClasses
from fastpix.export.metadata import DeployInfo, info_from_onnx_metadata
from fastpix.infer.preprocess import as_rgb, split_batch, to_model_input


@dataclass
class PredictorTiming:
    """Accumulated wall time per stage, over ``images`` images."""

    images: int = 0
    preprocess_s: float = 0.0
    inference_s: float = 0.0
    postprocess_s: float = 0.0
    last: dict[str, float] = field(default_factory=dict)

    def add(self, images: int, preprocess: float, inference: float, postprocess: float) -> None:
        self.images += images
        self.preprocess_s += preprocess
        self.inference_s += inference
        self.postprocess_s += postprocess
        self.last = {
            "images": images,
            "preprocess_ms": preprocess * 1e3,
            "inference_ms": inference * 1e3,
            "postprocess_ms": postprocess * 1e3,
        }

    def summary(self) -> str:
        if not self.images:
            return "no images predicted yet"
        per = 1e3 / self.images
        total = self.preprocess_s + self.inference_s + self.postprocess_s
        return (
            f"{self.images} images: preprocess {self.preprocess_s * per:.2f} ms, inference "
            f"{self.inference_s * per:.2f} ms, postprocess {self.postprocess_s * per:.2f} ms "
            f"per image ({self.images / total:.1f} images/s)"
        )


# --------------------------------------------------------------------------------------------
# Runners: float32 N×3×H×W normalized CPU tensor → the head's output as a CPU tensor
# --------------------------------------------------------------------------------------------


class _TorchRunner:
    name = "torch"

    def __init__(self, path: Path, device, mode: str) -> None:
        from fastpix.export.source import inference_network, load_checkpoint_source, resolve_mode

        source = load_checkpoint_source(path)
        if source.kind == "photo_generator":
            raise ValueError(f"{path}: {_PHOTO_MESSAGE}")
        mode = resolve_mode(source, mode)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        network = inference_network(source, mode)
        self.module = Deployed(network, source.kind, "classes", source.label_set)
        self.module.eval().to(self.device)
        self.info = DeployInfo(
            kind=source.kind,
            head="classes",
            label_set=source.label_set,
            input_size=source.input_size,
            mean=source.mean,
            std=source.std,
            mode=mode,
            model=source.model,
            source=source.origin,
        )
        self.batch_limits = (1, None)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.module(images.to(self.device)).cpu()


class _OnnxRunner:
    name = "onnxruntime"

    def __init__(self, path: Path, providers: list[str] | None) -> None:
        import onnxruntime as ort

        if providers is None:
            available = ort.get_available_providers()
            providers = [
                p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
            ]
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"{path}: onnxruntime cannot load it: {exc}") from None
        props = self.session.get_modelmeta().custom_metadata_map
        self.info = info_from_onnx_metadata(dict(props), str(path))
        batch = self.session.get_inputs()[0].shape[0]
        self.batch_limits = (batch, batch) if isinstance(batch, int) else (1, None)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        (out,) = self.session.run(None, {self.info.input_name: images.numpy()})
        return torch.from_numpy(out)


class _EngineRunner:
    name = "tensorrt"

    def __init__(self, path: Path, device) -> None:
        from fastpix.export.tensorrt import EngineRunner

        self.engine = EngineRunner(path, device)
        self.info = self.engine.info
        self.name = self.engine.record["backend"]
        self.batch_limits = (self.engine.profile.min[0], self.engine.profile.max[0])

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.engine(images).cpu()


_PHOTO_MESSAGE = "a photo generator draws photos, not class maps; Predictor predicts class maps"


def _class_decoder(info: DeployInfo, where: str) -> nn.Module | None:
    """How to turn the model's output into classes (None: it outputs classes)."""
    if info.kind == "photo_generator":
        raise ValueError(f"{where}: {_PHOTO_MESSAGE}")
    if info.head == "classes":
        return None
    if info.head == "logits":
        if info.kind == "segmenter":
            return ArgmaxClasses()
        return PaletteClasses(info.label_set, info.extra.get("max_distance"))
    raise ValueError(
        f"{where} was exported with the {info.head!r} head; Predictor reads class maps: "
        "export it with --head classes (or logits)"
    )


# --------------------------------------------------------------------------------------------
# Predictor
# --------------------------------------------------------------------------------------------


class Predictor:
    """Segment images with a ``.engine``, ``.onnx`` or fastpix checkpoint file.

    Args:
        path: the model file.
        device: torch device for checkpoints and engines (default: CUDA when present).
        providers: onnxruntime execution providers (default: CUDA, then CPU).
        mode: checkpoints only: ``auto``, ``eval`` or ``paper`` (see ``fastpix.export``).
        batch_size: images per forward pass (within the model's batch limits).

    Attributes:
        info: the ``DeployInfo`` (label set, input size, normalization, head, precision).
        timing: ``PredictorTiming`` of every ``predict`` call so far.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        device: str | torch.device | None = None,
        providers: list[str] | None = None,
        mode: str = "auto",
        batch_size: int = 8,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: model file not found")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        suffix = self.path.suffix.lower()
        if suffix == ".engine":
            self._runner = _EngineRunner(self.path, device)
        elif suffix == ".onnx":
            self._runner = _OnnxRunner(self.path, providers)
        else:
            self._runner = _TorchRunner(self.path, device, mode)
        self.info: DeployInfo = self._runner.info
        self._decoder = _class_decoder(self.info, str(self.path))
        low, high = self._runner.batch_limits
        self._chunk = max(low, min(batch_size, high or batch_size))
        self._min_batch = low
        self.timing = PredictorTiming()

    @property
    def backend(self) -> str:
        return self._runner.name

    @property
    def label_set(self):
        return self.info.label_set

    @property
    def num_classes(self) -> int:
        return self.info.label_set.num_classes

    def _classes(self, batch: torch.Tensor) -> torch.Tensor:
        """float32 N×3×H×W → uint8 N×H×W at the model's size, in chunks the model accepts."""
        outputs = []
        for start in range(0, batch.shape[0], self._chunk):
            chunk = batch[start : start + self._chunk]
            real = chunk.shape[0]
            if real < self._min_batch:  # fixed-batch models: pad, then drop the padding
                pad = chunk[-1:].expand(self._min_batch - real, *chunk.shape[1:])
                chunk = torch.cat([chunk, pad])
            out = self._runner(chunk.contiguous())[:real]
            if self._decoder is not None:
                out = self._decoder(out).to(torch.uint8)
            outputs.append(out)
        return torch.cat(outputs)

    def predict(self, images, output_size: str = "input"):
        """Class maps of one image or a batch.

        Args:
            images: a file path, PIL image, numpy array (H×W×3 uint8 RGB, or float in [0, 1])
                or tensor (3×H×W uint8, or float in [0, 1]); or a list of those, or a 4-D
                array/tensor (N×H×W×3 or N×3×H×W) for a batch.
            output_size: ``input`` (each map at its image's size, nearest neighbour) or
                ``model`` (at the model's input size).

        Returns:
            uint8 H×W tensor of class indices for one image; for a list, a list of them; for
            a 4-D array/tensor, an N×H×W tensor.
        """
        if output_size not in ("input", "model"):
            raise ValueError(f"output_size must be 'input' or 'model', got {output_size!r}")
        items, batched = split_batch(images)
        if not items:
            raise ValueError("no images to predict")
        t0 = time.perf_counter()
        rgb = [as_rgb(item, f"image {i}") for i, item in enumerate(items)]
        batch = to_model_input(rgb, self.info.input_size, self.info.mean, self.info.std)
        t1 = time.perf_counter()
        classes = self._classes(batch)
        t2 = time.perf_counter()
        maps = []
        for image, cls in zip(rgb, classes):
            if output_size == "input" and image.size != (cls.shape[1], cls.shape[0]):
                cls = _resize_nearest(cls, image.size[::-1])
            maps.append(cls)
        self.timing.add(len(items), t1 - t0, t2 - t1, time.perf_counter() - t2)
        if not batched:
            return maps[0]
        if isinstance(images, (list, tuple)):
            return maps
        return torch.stack(maps)

    def colorize(self, classes) -> torch.Tensor:
        """Class map(s) (…×H×W, tensor or array) → uint8 …×H×W×3 colours of the label set;
        classes outside the set (ignore) are black."""
        return self.label_set.colorize(_class_tensor(classes))

    def overlay(self, image, classes, alpha: float = 0.5) -> torch.Tensor:
        """Blend the class colours over ``image``: ``(1 - alpha) · image + alpha · colour``
        (rounded), image pixels kept where the class is ignore/void. The class map is resized
        to the image (nearest) when their sizes differ. Returns uint8 H×W×3."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        rgb = np.asarray(as_rgb(image), dtype=np.float32)
        cls = _class_tensor(classes)
        if cls.dim() != 2:
            raise ValueError(f"classes must be one H×W map, got shape {tuple(cls.shape)}")
        if tuple(cls.shape) != rgb.shape[:2]:
            cls = _resize_nearest(cls.to(torch.uint8), rgb.shape[:2])
        colors = self.colorize(cls).numpy().astype(np.float32)
        valid = ((cls >= 0) & (cls < self.num_classes)).numpy()[..., None]
        blended = np.where(valid, (1.0 - alpha) * rgb + alpha * colors, rgb)
        return torch.from_numpy((blended + 0.5).astype(np.uint8))

    def __repr__(self) -> str:
        info = self.info
        return (
            f"Predictor({str(self.path)!r}, backend={self.backend}, kind={info.kind}, "
            f"head={info.head}, precision={info.precision}, label_set={info.label_set.name}, "
            f"input_size={info.input_size[0]}x{info.input_size[1]})"
        )


def _class_tensor(classes) -> torch.Tensor:
    """A CPU tensor of a class map given as a tensor or an array (PIL's read-only ones too)."""
    if isinstance(classes, torch.Tensor):
        return classes.cpu()
    return torch.from_numpy(np.array(classes))


def _resize_nearest(classes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 h×w class map → H×W with PIL's nearest neighbour (as label maps are resized)."""
    image = Image.fromarray(classes.numpy().astype(np.uint8))
    resized = image.resize((size[1], size[0]), Image.Resampling.NEAREST)
    return torch.from_numpy(np.asarray(resized).copy())


__all__ = ["Predictor", "PredictorTiming"]
