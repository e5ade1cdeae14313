"""fastpix checkpoints: one file per training state, written atomically, read safely.

A checkpoint is a dict saved with ``torch.save``::

    {
        "format": "fastpix-checkpoint", "format_version": 1, "fastpix_version": "0.1.0",
        "task": "segmentation" | "pix2pix" | "spade",
        "models": {KEY: {"name": "unet", "options": {...}, "state_dict": {...}}, ...},
        "label_set": {...},          # fastpix.labels.label_set_to_dict
        "data": {...},               # see below
        ...                          # trainer state: optimizers, schedulers, scaler, rng, step
    }

Model keys: ``"model"`` for a segmenter; ``"G"`` and ``"D"`` for pix2pix and SPADE. ``name``
and ``options`` are what ``fastpix.models.create(name, **options)`` takes.

``data`` says how inputs are prepared and what the output means, so that export and
inference prepare images exactly as training did: ``size`` ([H, W] the model was trained
at), ``mean`` and ``std`` (per channel, applied to images scaled to [0, 1]; [0.5]*3 and
[0.5]*3 map to [-1, 1]), ``layout``, and for pix2pix ``direction`` ("AtoB"/"BtoA") and
``output`` ("color_mask": the generator draws a colour mask, decoded with the label set's
palette; "photo": the generator draws a photo); for spade ``input`` "classes" (the
generator takes the one-hot class map) and ``output`` "photo".

Only plain containers, numbers, strings and tensors go in, so ``torch.load(weights_only=True)``
reads it: loading a checkpoint never runs code from the file. Writes go to a temporary file
in the same folder, are flushed and fsync'ed, then renamed over the target, so a crash leaves
either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "fastpix-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file is missing, damaged, or not the kind of checkpoint asked for."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` (plus the format header) to ``path``."""
    from fastpix._version import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastpix_version": __version__}
    data.update(payload)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# torch.save writes a zip archive (PyTorch >= 1.6) or, with the legacy serializer, a pickle
# (protocol 2+ opcode PROTO, 0x80).
TORCH_SAVE_HEADERS = (b"PK\x03\x04", b"\x80")


def check_torch_save_header(path: str | os.PathLike) -> None:
    """Raise CheckpointError naming ``path`` when its first bytes are not torch.save's."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith(TORCH_SAVE_HEADERS):
        raise CheckpointError(
            f"{os.fspath(path)}: not a torch checkpoint: expected a file written by torch.save "
            f"(a zip archive, or a legacy pickle), found bytes {head!r} at the start"
        )


def read_state_file(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with errors that name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: file is empty (an interrupted copy?)")
    check_torch_save_header(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load: it holds objects other than tensors and plain data "
            f"(only weights-only files are read) — {str(exc).splitlines()[0]}"
        ) from exc
    except Exception as exc:  # torch.load raises many types on damaged bytes
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint (damaged or truncated?): "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", task: str | None = None
) -> dict[str, Any]:
    """Read a fastpix checkpoint; ``task`` (if given) must match the checkpoint's task."""
    data = read_state_file(path, map_location)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        hint = ""
        if isinstance(data, dict) and any(str(k).startswith("model.") for k in data):
            hint = (
                " It looks like a state dict saved by the official pix2pix code: load it with "
                "fastpix.compat.pix2pix.load_generator / load_discriminator."
            )
        raise CheckpointError(f"{path}: not a fastpix checkpoint.{hint}")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is newer than this fastpix reads "
            f"({FORMAT_VERSION}); upgrade fastpix"
        )
    if task is not None and data.get("task") != task:
        raise CheckpointError(f"{path}: a {data.get('task')!r} checkpoint, expected {task!r}")
    return data


def model_entry(model_name: str, options: dict[str, Any], model: torch.nn.Module) -> dict[str, Any]:
    """The ``models[...]`` entry for ``model``: what ``fastpix.models.create`` needs, and weights."""
    module = getattr(model, "module", model)  # DDP
    module = getattr(module, "_orig_mod", module)  # torch.compile
    return {
        "name": model_name,
        "options": dict(options),
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
    }


def build_model(checkpoint: dict[str, Any], key: str = "model") -> torch.nn.Module:
    """Recreate ``checkpoint["models"][key]`` with ``fastpix.models.create`` and load its
    weights strictly."""
    from fastpix.models import create

    models = checkpoint.get("models", {})
    if key not in models:
        raise CheckpointError(
            f"checkpoint has no model {key!r}; it holds: {', '.join(models) or 'none'}"
        )
    entry = models[key]
    model = create(entry["name"], **entry.get("options", {}))
    missing, unexpected = model.load_state_dict(entry["state_dict"], strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"weights of {key!r} do not fit a {entry['name']} model with options "
            f"{entry.get('options')}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model
