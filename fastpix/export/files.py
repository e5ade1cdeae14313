"""Export artifacts on disk: written through a temporary path, identified by their hash.

ONNX files are written by libraries that take a path (torch.onnx, onnx, onnxruntime's
quantizer), so ``temporary_output`` hands out a temporary path beside the target and renames
it over the target only when the block succeeds; on any error the temporary file is removed
and the target is untouched. (Writers that take a file object use
``fastpix.data.imageio.atomic_write``.)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def temporary_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it to ``path`` on success."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: output folder does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
