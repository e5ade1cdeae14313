"""The one place that imports fastpix's compiled modules.

``fastpix._C`` (CPU decoder) is imported once, here; when it is missing (a source checkout
without a build, ``FASTPIX_NATIVE=0``, a platform without libjpeg/libpng) ``HAVE_NATIVE`` is
False and fastpix warns once, then uses its PIL paths. ``fastpix._C_cuda`` (nvJPEG + fused
kernel) is imported only when a CUDA loader asks for it, through ``cuda_module()``.
"""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import torch

try:
    from fastpix import _C
except ImportError as exc:  # the extension was not built or cannot load its libraries
    _C = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

HAVE_NATIVE = _C is not None
_warned = False
_cuda: ModuleType | None = None
_cuda_error: ImportError | None = None


def native_module() -> ModuleType | None:
    """``fastpix._C``, or None (after one warning per process) when it is not available."""
    global _warned
    if _C is None and not _warned:
        _warned = True
        warnings.warn(
            f"fastpix's native decoder (fastpix._C) is not available ({_IMPORT_ERROR}); "
            "decoding falls back to PIL, which is several times slower. Reinstall with "
            "`pip install --no-build-isolation -e .` on a machine with libjpeg-dev and "
            "libpng-dev to build it.",
            RuntimeWarning,
            stacklevel=3,
        )
    return _C


def cuda_module() -> ModuleType:
    """``fastpix._C_cuda``; ImportError saying why when it was not built or cannot load."""
    global _cuda, _cuda_error
    if _cuda is None and _cuda_error is None:
        try:
            from fastpix import _C_cuda

            _cuda = _C_cuda
        except ImportError as exc:
            _cuda_error = exc
    if _cuda is None:
        raise ImportError(
            f"fastpix's CUDA decoder (fastpix._C_cuda) is not available ({_cuda_error}); it is "
            "built when nvcc and nvJPEG (pip install nvidia-nvjpeg) are present at install "
            "time (FASTPIX_CUDA=on makes that a requirement)"
        )
    return _cuda


def have_cuda_decoder() -> bool:
    try:
        cuda_module()
    except ImportError:
        return False
    return True


def numpy_view(tensor: torch.Tensor) -> np.ndarray:
    """A numpy array sharing a contiguous CPU tensor's memory, as the native decoders take their
    output buffers. 2-byte floats are viewed as int16 (numpy has no bfloat16; the native code
    only needs the element size)."""
    if tensor.dtype in (torch.float16, torch.bfloat16):
        return tensor.view(torch.int16).numpy()
    return tensor.numpy()
