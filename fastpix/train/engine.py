"""Where and how training runs: device, processes, precision, memory format, compilation,
random states, learning-rate schedules and the guard against non-finite losses.

``Runtime.from_config`` reads the process layout that ``torchrun`` sets (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``) and initializes ``torch.distributed`` with NCCL on CUDA and
gloo on the CPU; a plain ``python`` run is a world of one. ``Runtime.prepare`` moves a network
to the device (channels_last on request), wraps it in DistributedDataParallel and compiles it.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from fastpix.train.config import TrainConfig

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class NonFiniteLossError(RuntimeError):
    """Training produced non-finite losses too many steps in a row."""


@dataclass
class Runtime:
    """The device, the process group and the speed features of one training process."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    amp_dtype: torch.dtype | None = None  # autocast dtype; None: full precision
    channels_last: bool = False
    compile: bool = False
    owns_group: bool = False  # this runtime initialized torch.distributed (and closes it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_config(cls, config: TrainConfig) -> Runtime:
        """Set up this process: torch.distributed under torchrun, device, threads, AMP."""
        rank, world_size, local_rank = _launch_env()
        device = pick_device(config.device, local_rank)
        owns_group = world_size > 1 and not dist.is_initialized()
        if owns_group:
            dist.init_process_group(
                "nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size
            )
        if device.type == "cuda":
            torch.cuda.set_device(device)
            torch.backends.cudnn.benchmark = True
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        channels_last = (
            device.type == "cuda" if config.channels_last is None else bool(config.channels_last)
        )
        return cls(device, rank, world_size, _amp_dtype(config.amp, device), channels_last,
                   config.compile, owns_group)  # fmt: skip

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward passes (a no-op in full precision)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled for fp16 only (bf16 and fp32 need none)."""
        enabled = self.amp_dtype == torch.float16
        if hasattr(torch.amp, "GradScaler"):
            return torch.amp.GradScaler(self.device.type, enabled=enabled)
        return torch.cuda.amp.GradScaler(enabled=enabled)  # torch < 2.3

    def prepare(self, model: nn.Module) -> nn.Module:
        """Device and memory format, then DistributedDataParallel, then ``torch.compile``."""
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if self.compile:
            model = torch.compile(model)
        return model

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """A batch tensor on the device (non-blocking from pinned memory), images in the
        network's memory format."""
        tensor = tensor.to(self.device, non_blocking=True)
        if self.channels_last and tensor.dim() == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(tensor)
        return tensor

    def sync_buffers(self, *modules: nn.Module) -> None:
        """Give every rank rank 0's buffers (batch-norm running statistics drift apart:
        each rank's forward passes update them with its own batches)."""
        if not self.distributed:
            return
        for module in modules:
            for buffer in unwrap(module).buffers():
                dist.broadcast(buffer, src=0)

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order."""
        if not self.distributed:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group if this runtime created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def _launch_env() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) otherwise."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ValueError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers: {exc}") from None
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= RANK < WORLD_SIZE, got RANK={rank}, WORLD_SIZE={world_size}")
    return rank, world_size, local_rank


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """The device a ``device`` setting names: auto (``cuda:local_rank`` when CUDA is present,
    else the CPU), cpu, cuda (``cuda:local_rank``) or cuda:N; ValueError naming the setting
    when it is malformed or asks for CUDA that is not there."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device {name!r}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: this torch build or machine has no CUDA device")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
    elif device.type != "cpu":
        raise ValueError(f"device {name!r}: expected auto, cpu, cuda or cuda:N")
    return device


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp fp16 needs a CUDA device; use --amp bf16 or off on the CPU")
    return AMP_DTYPES[amp]


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel and/or ``torch.compile`` wrapper."""
    model = getattr(model, "_orig_mod", model)
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def without_ddp(model: nn.Module) -> nn.Module:
    """``model`` minus its DistributedDataParallel wrapper: for forward passes whose gradients
    must not be synchronized (D in the generator's step, which only G learns from)."""
    inner = getattr(model, "_orig_mod", model)
    if isinstance(inner, nn.parallel.DistributedDataParallel):
        return inner.module
    return model


# -- random states ---------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """This process's generator states as tensors and plain data (weights-only loadable)."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, torch.tensor(mt, dtype=torch.int64), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in mt.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- learning rate ---------------------------------------------------------------------------


def lr_factor(
    config: TrainConfig, steps_per_epoch: int, total_steps: int
) -> Callable[[int], float]:
    """The learning-rate multiplier as a function of the optimizer steps taken.

    linear (pix2pix reference, stepped per epoch): 1 for the first ``epochs - n_epochs_decay``
    epochs, then ``1 - (e - n_epochs + 1) / (n_epochs_decay + 1)`` in epoch e (0-based);
    step (seed 000): ``lr_gamma ** (step // lr_step)``; cosine: linear warm-up, then half a
    cosine down to 0 at ``total_steps``; constant: 1.
    """
    policy = config.lr_policy
    if policy == "linear":
        constant_epochs = config.epochs - config.n_epochs_decay

        def linear(step: int) -> float:
            epoch = step // steps_per_epoch
            return 1.0 - max(0, epoch + 1 - constant_epochs) / float(config.n_epochs_decay + 1)

        return linear
    if policy == "step":
        return lambda step: config.lr_gamma ** (step // config.lr_step)
    if policy == "cosine":
        warmup = config.warmup_steps

        def cosine(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total_steps - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        return cosine
    return lambda step: 1.0


def adam(
    params, lr: float, betas: tuple[float, float], weight_decay: float = 0.0
) -> torch.optim.Adam:
    """Adam, as the fused implementation (one multi-tensor kernel per step) where this torch
    has it for the parameters' device (CUDA; CPU since torch 2.4), else the default one.
    Both follow the same update rule and share one state-dict format, so checkpoints move
    between them."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an older torch or an unsupported device
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam (``adam``) with the config's learning rate, betas and weight decay."""
    return adam(params, config.lr, tuple(config.betas), config.weight_decay)


def make_scheduler(
    optimizer: torch.optim.Optimizer, factor: Callable[[int], float]
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step schedule: after n ``step()`` calls the lr is ``lr · factor(n)``."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# -- non-finite losses -----------------------------------------------------------------------


class NonFiniteGuard:
    """Keeps non-finite losses from reaching the weights.

    Call ``snapshot(*modules)`` before the forward pass, then ``ok(loss)`` before
    ``optimizer.step()``. A non-finite loss (on any rank: the decision is all-reduced, so
    every rank skips together) restores the buffers the forward pass changed (batch-norm
    running statistics) and returns False: the caller skips the update. ``step_done`` counts
    steps; ``max_consecutive`` non-finite steps in a row raise NonFiniteLossError.
    """

    def __init__(self, max_consecutive: int, runtime: Runtime | None = None) -> None:
        self.max_consecutive = max_consecutive
        self.runtime = runtime
        self.consecutive = 0
        self.total = 0
        self._saved: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def snapshot(self, *modules: nn.Module) -> None:
        """Remember the buffers of ``modules`` as they are now (replacing earlier copies)."""
        for module in modules:
            self._saved[id(module)] = [(b, b.detach().clone()) for b in module.buffers()]

    def ok(self, loss: torch.Tensor) -> bool:
        """Whether ``loss`` is finite on every rank; if not, every snapshotted buffer is put
        back."""
        bad = (~torch.isfinite(loss.detach())).any().float().reshape(1)
        if self.runtime is not None:
            self.runtime.all_reduce_sum(bad)
        if bad.item() == 0:
            return True
        with torch.no_grad():
            for saved in self._saved.values():
                for buffer, copy in saved:
                    buffer.copy_(copy)
        return False

    def step_done(self, finite: bool, step: int, losses: dict[str, float]) -> None:
        """Count a finished step; raise after too many non-finite ones in a row."""
        if finite:
            self.consecutive = 0
            return
        self.consecutive += 1
        self.total += 1
        if self.consecutive >= self.max_consecutive:
            shown = ", ".join(f"{k}={v}" for k, v in losses.items())
            raise NonFiniteLossError(
                f"step {step}: non-finite loss ({shown}) for {self.consecutive} steps in a row; "
                "the weights are those before the first of them. Lower the learning rate, turn "
                "AMP off (--amp off) or check the data."
            )
