"""Training and validation batches for the trainers, from the native ``PairLoader`` or the PIL
datasets, sharded over the processes of a distributed run.

- ``TrainBatches``: the jittered, shuffled training batches of this rank, one epoch at a time,
  starting at any batch of the epoch (exact resume). Full batches only.
- ``EvalBatches``: a split without jitter, in file order, each rank taking every
  ``world_size``-th pair (no padding, so all-reduced metrics equal a single process's).

Both yield ``(input, target)`` on the runtime's device: for ``target="classes"`` a float32
N×3×H×W photo in [-1, 1] and int64 N×H×W class ids; for ``target="image"`` two float32
N×3×H×W images in [-1, 1], the input half first (``direction`` already applied).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from fastpix.train.config import TrainConfig
from fastpix.train.engine import Runtime

Batch = tuple[torch.Tensor, torch.Tensor]


def _use_native(config: TrainConfig, target: str) -> bool:
    """PairLoader unless the PIL datasets were asked for, or the pairs are Cityscapes label-id
    files that pix2pix needs drawn as colour images (only the PIL dataset draws them)."""
    if config.loader == "pil":
        return False
    needs_pil = target == "image" and config.layout == "cityscapes"
    if needs_pil and config.loader == "native":
        raise ValueError(
            "loader 'native' cannot read the cityscapes layout as images for pix2pix; use "
            "--loader pil (or auto)"
        )
    return not needs_pil


class _Source:
    """One split through one loader: batches of pair indices in, tensors out."""

    def __init__(
        self,
        config: TrainConfig,
        runtime: Runtime,
        split: str,
        target: str,
        direction: str,
        train: bool,
    ) -> None:
        if config.data is None:
            raise ValueError("no data folder given (config.data / --data)")
        self.config, self.runtime, self.target = config, runtime, target
        self.swap = direction == "BtoA"
        self.native = _use_native(config, target)
        size = config.size
        load = (config.load_size or size) if train else size
        crop = size if train and load > size else None
        flip = config.flip and train
        if self.native:
            from fastpix.data import PairLoader

            self.loader = PairLoader(
                config.data, split, config.layout, config.batch_size, runtime.device,
                shuffle=train, seed=config.seed, num_threads=config.workers, drop_last=train,
                load_size=load, crop_size=crop, flip=flip, label_set=config.label_set,
                max_distance=config.max_distance, target=target,
                rank=runtime.rank if train else 0, world_size=runtime.world_size if train else 1,
            )  # fmt: skip
            self.num_pairs = len(self.loader.pairs)
        else:
            self.dataset = _pil_dataset(config, split, target, direction, load, crop, flip)
            self.num_pairs = len(self.dataset)

    def load(self, batches: list[list[int]], epoch: int) -> Iterator[Batch]:
        """The batches of pair indices ``batches`` with the jitter of ``epoch``."""
        if self.native:
            for indices in batches:
                yield self.to_batch(self.loader.load_batch(indices, epoch))
            return
        self.dataset.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=batches,
            num_workers=self.config.workers,
            pin_memory=self.runtime.device.type == "cuda",
        )
        for batch in loader:
            yield self.to_batch(batch)

    def to_batch(self, batch: Any) -> Batch:
        if isinstance(batch, dict):  # AlignedDataset: direction already applied
            first, second = batch["A"], batch["B"]
        else:
            first, second = batch
            if self.native and self.swap:
                first, second = second, first
        return self.runtime.to_device(first), self.runtime.to_device(second)


def _pil_dataset(
    config: TrainConfig,
    split: str,
    target: str,
    direction: str,
    load: int,
    crop: int | None,
    flip: bool,
):
    from fastpix.data.datasets import AlignedDataset, SegmentationDataset
    from fastpix.data.transforms import JitterConfig

    jitter = JitterConfig((load, load), (crop, crop) if crop else None, flip)
    if target == "classes":
        return SegmentationDataset(
            config.data, split, config.layout, config.label_set, jitter=jitter,
            seed=config.seed, max_distance=config.max_distance,
        )  # fmt: skip
    return AlignedDataset(
        config.data, split, config.layout, direction, jitter=jitter, seed=config.seed
    )


class TrainBatches:
    """The training batches of this rank: shuffled per epoch, jittered, full batches only.

    The order and jitter depend only on (seed, epoch, pair index), so a run resumed at
    (epoch, start) sees exactly the batches the uninterrupted run saw.
    """

    def __init__(
        self, config: TrainConfig, runtime: Runtime, target: str, direction: str = "AtoB"
    ) -> None:
        self.source = _Source(config, runtime, config.train_split, target, direction, train=True)
        self.runtime = runtime
        self.batch_size = config.batch_size
        if self.source.native:
            self.batches_per_epoch = len(self.source.loader)
        else:
            per_rank = self.source.num_pairs // runtime.world_size
            self.batches_per_epoch = per_rank // config.batch_size
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"split {config.train_split!r} of {config.data} has {self.source.num_pairs} "
                f"pairs: fewer than one batch of {config.batch_size} per process "
                f"({runtime.world_size} processes)"
            )

    def __len__(self) -> int:
        return self.batches_per_epoch

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Batches ``start``, ``start + 1``, … of ``epoch``."""
        if self.source.native:
            loader = self.source.loader
            loader.set_epoch(epoch, start)
            for batch in loader:  # decoded ahead in the loader's background thread
                yield self.source.to_batch(batch)
            return
        sampler = torch.utils.data.DistributedSampler(
            self.source.dataset,
            num_replicas=self.runtime.world_size,
            rank=self.runtime.rank,
            shuffle=True,
            seed=self.source.config.seed,
            drop_last=True,
        )
        sampler.set_epoch(epoch)
        order = list(sampler)
        size = self.batch_size
        batches = [order[i * size : (i + 1) * size] for i in range(self.batches_per_epoch)]
        yield from self.source.load(batches[start:], epoch)


class EvalBatches:
    """A split without jitter, in file order; this rank's share is pairs rank, rank + world,
    … so that summing over ranks counts every pair exactly once."""

    def __init__(
        self,
        config: TrainConfig,
        runtime: Runtime,
        split: str,
        target: str,
        direction: str = "AtoB",
        batch_size: int | None = None,
    ) -> None:
        self.source = _Source(config, runtime, split, target, direction, train=False)
        self.split = split
        self.batch_size = batch_size or config.batch_size
        shard = list(range(runtime.rank, self.source.num_pairs, runtime.world_size))
        size = self.batch_size
        self.batches = [shard[i : i + size] for i in range(0, len(shard), size)]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        return self.source.load(self.batches, 0)

    def first(self, count: int) -> Batch:
        """The split's first ``count`` pairs (whatever the rank): the fixed sample pairs."""
        count = min(count, self.source.num_pairs)
        return next(self.source.load([list(range(count))], 0))
