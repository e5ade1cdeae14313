"""The ``nvjpeg`` backend of ``PairLoader``: nvJPEG batched decode plus one fused CUDA kernel
(fastpix._C_cuda) writing straight into the output tensors on the current CUDA stream.

A batch nvJPEG cannot take (a CMYK or corrupt file, an odd width, a size mismatch) goes through
the CPU decoder instead, which reports bad files exactly as the ``native`` backend does, and
is copied to the device; ``cpu_batches`` counts those batches.
"""

from __future__ import annotations

import torch

from fastpix._native import cuda_module, native_module, numpy_view


class CudaPairDecoder:
    """Decodes batches of side-by-side JPEG pairs on a CUDA device.

    Args:
        native_args: the ``fastpix._C.PairDecoder`` arguments of the loader (side-by-side,
            target ``colors`` or ``image``).
        device: the CUDA device.
        num_threads: host threads that read the files (and run the CPU fallback).
    """

    def __init__(self, native_args: dict, device: torch.device, num_threads: int) -> None:
        index = device.index if device.index is not None else torch.cuda.current_device()
        self.device = torch.device("cuda", index)
        self._gpu = cuda_module().CudaPairDecoder(
            device=index, **native_args, num_threads=num_threads
        )
        self._cpu = native_module().PairDecoder(**native_args, num_threads=num_threads)
        self.has_hardware_decoder = bool(self._gpu.has_hardware_decoder)
        self.cpu_batches = 0

    def decode(
        self,
        first: list,
        second: None,
        tops: list[int],
        lefts: list[int],
        flips: list[bool],
        photo: torch.Tensor,
        target: torch.Tensor,
    ) -> list[tuple[int, int, str]]:
        """Fill the device tensors ``photo`` (N×3×H×W) and ``target`` on the current stream;
        returns the failed pairs as ``(index, source, reason)`` (CPU fallback only)."""
        stream = torch.cuda.current_stream(self.device).cuda_stream
        reason = self._gpu.decode(
            first, tops, lefts, flips, photo.data_ptr(), target.data_ptr(), stream
        )
        if not reason:
            return []
        self.cpu_batches += 1
        pin = torch.cuda.is_available()
        photo_cpu = torch.empty(photo.shape, dtype=photo.dtype, pin_memory=pin)
        target_cpu = torch.empty(target.shape, dtype=target.dtype, pin_memory=pin)
        errors = self._cpu.decode(
            first, second, tops, lefts, flips, numpy_view(photo_cpu), numpy_view(target_cpu)
        )
        photo.copy_(photo_cpu, non_blocking=pin)
        target.copy_(target_cpu, non_blocking=pin)
        return errors
