"""What an exported model is, as stored in its ONNX file and in an engine's sidecar JSON.

``DeployInfo`` holds what a deployment needs to feed a model and read its output: the kind of
network, the head, the label set (names and palette), the input size and normalization, the
inference mode and precision. ``to_dict`` / ``from_dict`` give its JSON form. In an ONNX file
every field is one ``metadata_props`` entry whose value is JSON (``onnx_metadata``), so any
ONNX tool can read them; ``read_onnx_info`` reads them back.

Preprocessing the fields describe (as training does): resize the RGB image to ``input_size``
(H, W) with bicubic interpolation, scale to [0, 1], subtract ``mean`` and divide by ``std``
per channel, lay out as N×3×H×W float32.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from fastpix.export.heads import check_head
from fastpix.labels import LabelSet, label_set_from_dict

PRECISIONS = ("fp32", "fp16", "int8")
MODES = ("eval", "paper")


class MetadataError(ValueError):
    """A model file carries no fastpix metadata, or metadata this fastpix cannot read."""


@dataclass(frozen=True)
class DeployInfo:
    """How to feed an exported model and what its output means.

    Attributes:
        kind: ``segmenter``, ``mask_generator`` (pix2pix photo → colour mask) or
            ``photo_generator`` (pix2pix labels → photo).
        head: the output head (``fastpix.export.heads.HEADS``).
        label_set: the classes (names, palette) the output refers to.
        input_size: (H, W) the model was trained at; inputs are resized to it.
        mean, std: per-channel normalization of images scaled to [0, 1].
        mode: ``eval`` (running statistics) or ``paper`` (pix2pix test-time normalization:
            instance statistics, no dropout).
        precision: ``fp32``, ``fp16`` or ``int8`` (explicit Q/DQ).
        dynamic_batch, dynamic_size: whether the batch / height and width are free.
        input_name, output_name: the graph's tensor names.
        model: ``{"name", "options"}`` of ``fastpix.models.create`` when known.
        source: the file the weights came from.
        fastpix_version: the version that exported it.
        extra: anything else worth recording (INT8 calibration, ...).
    """

    kind: str
    head: str
    label_set: LabelSet = field(repr=False)
    input_size: tuple[int, int]
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    mode: str = "eval"
    precision: str = "fp32"
    dynamic_batch: bool = True
    dynamic_size: bool = False
    input_name: str = "image"
    output_name: str = "classes"
    model: dict[str, Any] | None = None
    source: str | None = None
    fastpix_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_head(self.kind, self.head)
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; expected one of: {', '.join(MODES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"unknown precision {self.precision!r}; expected one of: {', '.join(PRECISIONS)}"
            )
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise ValueError(f"input_size must be (height, width), got {self.input_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 values (std > 0): {self.mean}, {self.std}")
        if not self.fastpix_version:
            from fastpix._version import __version__

            object.__setattr__(self, "fastpix_version", __version__)

    @property
    def predicts_classes(self) -> bool:
        """Whether class maps can be read from the output (everything but photo generators)."""
        return self.kind != "photo_generator"

    def with_changes(self, **changes: Any) -> DeployInfo:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the label set as name, class names, palette and ignore index)."""
        data = asdict(self)
        ls = self.label_set
        data["label_set"] = ls.name
        data["class_names"] = list(ls.names)
        data["palette"] = [list(c) for c in ls.colors]
        data["ignore_index"] = ls.ignore_index
        data["input_size"] = list(self.input_size)
        data["normalization"] = {
            "mean": list(self.mean),
            "std": list(self.std),
            "scale": "pixel / 255",
            "resize": "bicubic",
            "layout": "NCHW RGB float32",
        }
        del data["mean"], data["std"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "metadata") -> DeployInfo:
        try:
            label_set = label_set_from_dict(
                {
                    "name": data["label_set"],
                    "names": data["class_names"],
                    "colors": data["palette"],
                }
            )
            norm = data["normalization"]
            return cls(
                kind=data["kind"],
                head=data["head"],
                label_set=label_set,
                input_size=tuple(int(v) for v in data["input_size"]),  # type: ignore[arg-type]
                mean=tuple(float(v) for v in norm["mean"]),
                std=tuple(float(v) for v in norm["std"]),
                mode=data.get("mode", "eval"),
                precision=data.get("precision", "fp32"),
                dynamic_batch=bool(data.get("dynamic_batch", True)),
                dynamic_size=bool(data.get("dynamic_size", False)),
                input_name=data.get("input_name", "image"),
                output_name=data["output_name"],
                model=data.get("model"),
                source=data.get("source"),
                fastpix_version=data.get("fastpix_version", ""),
                extra=dict(data.get("extra") or {}),
            )
        except KeyError as exc:
            raise MetadataError(f"{where}: fastpix metadata lacks the field {exc}") from None
        except (TypeError, ValueError) as exc:
            raise MetadataError(f"{where}: fastpix metadata is not valid: {exc}") from None


# the metadata_props keys fastpix writes (DeployInfo.to_dict's keys)
FIELDS = frozenset(
    {f.name for f in fields(DeployInfo)} - {"mean", "std"}
    | {"class_names", "palette", "ignore_index", "normalization"}
)


def onnx_metadata(info: DeployInfo) -> dict[str, str]:
    """``metadata_props`` entries: one per field, each value JSON."""
    return {key: json.dumps(value) for key, value in info.to_dict().items()}


def info_from_onnx_metadata(props: dict[str, str], where: str) -> DeployInfo:
    if "fastpix_version" not in props:
        raise MetadataError(
            f"{where}: no fastpix metadata in this ONNX file; export it with fastpix-export "
            "(or fastpix.export.to_onnx) so that its input size, normalization and classes "
            "are known"
        )
    data = {}
    for key in FIELDS & set(props):  # other tools add entries of their own: leave them
        try:
            data[key] = json.loads(props[key])
        except json.JSONDecodeError as exc:
            raise MetadataError(f"{where}: fastpix metadata {key!r} is not JSON: {exc}") from None
    return DeployInfo.from_dict(data, where)


def write_onnx_info(path: str | os.PathLike, info: DeployInfo) -> None:
    """Replace the ``metadata_props`` of the ONNX file at ``path`` with ``info``'s."""
    import onnx

    model = onnx.load(os.fspath(path))
    del model.metadata_props[:]
    for key, value in onnx_metadata(info).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = f"fastpix {info.kind} with {info.head} head ({info.precision}, {info.mode})"
    onnx.save(model, os.fspath(path))


def read_onnx_info(path: str | os.PathLike) -> DeployInfo:
    """The ``DeployInfo`` stored in an ONNX file exported by fastpix."""
    import onnx

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: ONNX file not found")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others on damaged files
        raise MetadataError(f"{path}: not a readable ONNX file: {exc}") from None
    return info_from_onnx_metadata({p.key: p.value for p in model.metadata_props}, path)


__all__ = [
    "MODES",
    "PRECISIONS",
    "DeployInfo",
    "MetadataError",
    "info_from_onnx_metadata",
    "onnx_metadata",
    "read_onnx_info",
    "write_onnx_info",
]
