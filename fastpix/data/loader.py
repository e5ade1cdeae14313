"""PairLoader: ready training batches of (photo, target) pairs, decoded in native code.

    >>> from fastpix.data import PairLoader
    >>> loader = PairLoader("cityscapes_data", "train", layout="kaggle", batch_size=16,
    ...                     load_size=286, crop_size=256, flip=True, device="cuda")
    >>> for epoch in range(200):
    ...     loader.set_epoch(epoch)
    ...     for photo, mask in loader:  # float32 N×3×256×256 in [-1, 1], int64 N×256×256
    ...         ...

Per pair, in one native pass: decode (libjpeg-turbo/libpng, or nvJPEG on CUDA), split the
photo | mask halves (or read the separate label-id file), resize (photos bicubic or bilinear
like PIL's ``Image.resize``, masks nearest), crop and flip (decided in Python by
``fastpix.data.transforms.sample_jitter`` from (seed, epoch, index)), normalize the photo and
turn mask colours into class ids with the nearest-colour rule of ``LabelSet.classes_from_mask``
(label ids through ``LabelSet.id_lut`` for the cityscapes layout).

Backends: ``native`` (fastpix._C, a thread pool with the GIL released), ``nvjpeg``
(fastpix._C_cuda: nvJPEG batched decode and one fused CUDA kernel writing into the output
tensors; JPEG side-by-side files on a CUDA device) and ``pil``, the fallback when the native
module is missing: the same steps with PIL and numpy, one pair at a time. ``auto`` picks the
first that applies. All three give identical class ids and photos within JPEG decoder
tolerance (exactly equal with libjpeg-turbo on both sides).
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fastpix._native import have_cuda_decoder, native_module, numpy_view
from fastpix.data.layouts import PairFiles, list_pairs
from fastpix.data.transforms import Jitter, JitterConfig, pair_rng, sample_jitter
from fastpix.io.decode import (
    DEFAULT_MAX_PIXELS,
    DecodeError,
    image_size,
    is_native_format,
    open_pil,
)
from fastpix.labels import LabelSet, get_label_set

TARGETS = ("classes", "image")
BACKENDS = ("auto", "native", "nvjpeg", "pil")
RESAMPLE = ("bicubic", "bilinear")
ON_ERROR = ("raise", "skip")
PHOTO_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
CLASS_DTYPES = (torch.int64, torch.uint8)
JPEG_SUFFIXES = (".jpg", ".jpeg")


def normalize_table(
    mean: Sequence[float], std: Sequence[float], dtype: torch.dtype
) -> torch.Tensor:
    """3×256 table: channel value v → (v / 255 - mean[c]) / std[c] in ``dtype``."""
    values = np.arange(256, dtype=np.float64)[None, :] / 255.0
    mean_ = np.asarray(mean, np.float64)[:, None]
    std_ = np.asarray(std, np.float64)[:, None]
    return torch.from_numpy((values - mean_) / std_).to(dtype)


def _odd_width(path, width: int) -> DecodeError:
    return DecodeError(
        f"{path}: width {width} is odd: a side-by-side pair needs two halves of equal width"
    )


def _size_pair(size: int | Sequence[int] | None, name: str) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{name} must be an int or (height, width) of positive ints, got {size}")
    return size  # type: ignore[return-value]


def _choice(value, choices: Sequence, name: str):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class _Plan:
    """What every pair of this loader goes through, fixed at construction."""

    side_by_side: bool
    target: str  # "colors", "ids" or "image"
    jitter: JitterConfig
    resized: tuple[int, int]  # (H, W) each half is resized to
    require_size: bool  # no load_size: every pair must already have `resized` halves
    out: tuple[int, int]  # (H, W) written per pair


class PairLoader:
    """Iterates (photo, target) batches of a split in any ``fastpix.data.layouts`` layout.

    Args:
        root, split, layout: the data folder, split and layout (``kaggle``, ``aligned``,
            ``cityscapes``) as ``fastpix.data.list_pairs`` reads them.
        batch_size: pairs per batch.
        device: where the batches are returned (``cpu`` or ``cuda[:i]``).
        shuffle, seed: a new order each epoch from (seed, epoch); the crop and flip of a pair
            depend only on (seed, epoch, index), never on threads, ranks or batch size.
        num_threads: native decoder threads (default: the CPU cores this process may use).
        drop_last: drop the last incomplete batch and, with several ranks, the pairs that do not
            divide evenly (otherwise the first pairs are repeated so every rank gets as many).
        prefetch: batches decoded ahead in a background thread while the caller works on the
            current one (0 decodes in the caller's thread).
        pin_memory: decode into pinned memory before moving to CUDA (default: on for CUDA).
        dtype: photo dtype (float32, float16 or bfloat16).
        mask_dtype: class id dtype (int64 for ``cross_entropy``, or uint8).
        load_size, crop_size, flip: pix2pix jitter (``JitterConfig``): resize each half to
            load_size (int or (H, W)), take a random crop_size window, flip with p = 1/2.
            Without load_size every pair must have the size of the first.
        resample: ``bicubic`` (PIL's default, as pix2pix) or ``bilinear`` for photos and image
            targets; masks always use nearest.
        label_set, max_distance: how mask colours become class ids (``LabelSet
            .classes_from_mask``) or, for the cityscapes layout, label ids (``id_lut``).
        target: ``classes`` (N×H×W class ids) or ``image`` (the right half as an N×3×H×W
            image normalized like the photo: pix2pix A/B training, the photo→mask GAN).
        mean, std: photo normalization per channel (default: [-1, 1] as pix2pix).
        on_error: ``raise`` a DecodeError naming the file, or ``skip`` the pair (the batch is
            smaller; ``skipped`` counts them and ``errors`` keeps the messages).
        max_pixels: refuse images larger than this (decompression bombs).
        rank, world_size: DistributedSampler-style sharding (default: from torch.distributed).
        backend: ``auto``, ``native``, ``nvjpeg`` or ``pil`` (see the module docstring).
        jpeg_draft: decode JPEGs at 1/2, 1/4 or 1/8 scale in the DCT domain when load_size is at
            most that fraction of the file (Pillow's draft rule; faster, not identical to a
            full decode + resize, and masks are then classified from DCT-averaged colours).

    Yields:
        ``(photo, target)``: photo ``dtype`` N×3×H×W; target ``mask_dtype`` N×H×W class ids or
        ``dtype`` N×3×H×W for ``target="image"``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        layout: str = "kaggle",
        batch_size: int = 1,
        device: str | torch.device = "cpu",
        shuffle: bool = True,
        seed: int = 0,
        num_threads: int | None = None,
        *,
        drop_last: bool = False,
        prefetch: int = 2,
        pin_memory: bool | None = None,
        dtype: torch.dtype = torch.float32,
        mask_dtype: torch.dtype = torch.int64,
        load_size: int | Sequence[int] | None = None,
        crop_size: int | Sequence[int] | None = None,
        flip: bool = False,
        resample: str = "bicubic",
        label_set: str | LabelSet = "trainid",
        max_distance: float | None = None,
        target: str = "classes",
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        on_error: str = "raise",
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        rank: int | None = None,
        world_size: int | None = None,
        backend: str = "auto",
        jpeg_draft: bool = False,
    ) -> None:
        self.pairs: list[PairFiles] = list_pairs(root, split, layout)
        self.layout = layout
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        if dtype not in PHOTO_DTYPES:
            raise ValueError(f"dtype must be one of {PHOTO_DTYPES}, got {dtype}")
        if mask_dtype not in CLASS_DTYPES:
            raise ValueError(f"mask_dtype must be one of {CLASS_DTYPES}, got {mask_dtype}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values each, std > 0; got {mean}, {std}")
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.prefetch = int(prefetch)
        self.dtype = dtype
        self.mask_dtype = mask_dtype
        self.resample = _choice(resample, RESAMPLE, "resample")
        self.on_error = _choice(on_error, ON_ERROR, "on_error")
        self.max_pixels = 0 if max_pixels is None else int(max_pixels)
        self.jpeg_draft = bool(jpeg_draft)
        self.label_set = get_label_set(label_set)
        self.max_distance = max_distance
        self.num_threads = int(num_threads) if num_threads else _default_threads()
        self.pin_memory = (
            self.device.type == "cuda" if pin_memory is None else bool(pin_memory)
        ) and torch.cuda.is_available()
        self.rank, self.world_size = _shard(rank, world_size)
        self.epoch = 0
        self._start = 0  # batches of the next epoch to skip (set_epoch)
        self._stream = None  # the loader's CUDA stream, made on first use
        self.skipped = 0
        self.errors: list[str] = []

        _choice(target, TARGETS, "target")
        side_by_side = layout != "cityscapes"
        if target == "image" and not side_by_side:
            raise ValueError(
                "target='image' needs a side-by-side layout (kaggle, aligned); the cityscapes "
                "layout's label files hold label ids"
            )
        kind = "image" if target == "image" else ("colors" if side_by_side else "ids")
        jitter = JitterConfig(
            _size_pair(load_size, "load_size"), _size_pair(crop_size, "crop_size"), flip
        )
        resized = jitter.load_size or self._first_pair_size(side_by_side)
        self.plan = _Plan(
            side_by_side=side_by_side,
            target=kind,
            jitter=jitter,
            resized=resized,
            require_size=jitter.load_size is None,
            out=jitter.output_size(resized),
        )
        self._photo_table = normalize_table(mean, std, dtype)
        self.backend = self._pick_backend(_choice(backend, BACKENDS, "backend"))
        self._decoder = self._make_decoder()

    # -- set-up -----------------------------------------------------------------------------

    def _first_pair_size(self, side_by_side: bool) -> tuple[int, int]:
        """(H, W) of the first readable pair's halves (or photo), from its header."""
        failures = []
        for pair in self.pairs:
            path = pair.combined if side_by_side else pair.photo
            try:
                height, width = image_size(path, self.max_pixels or None)
            except DecodeError as exc:
                if self.on_error == "raise":
                    raise
                failures.append(str(exc))
                continue
            if side_by_side:
                if width % 2:
                    if self.on_error == "raise":
                        raise _odd_width(path, width)
                    failures.append(str(_odd_width(path, width)))
                    continue
                width //= 2
            return height, width
        raise DecodeError(f"no readable pair in {len(self.pairs)} files: {failures[:3]}")

    def _pick_backend(self, backend: str) -> str:
        if backend == "pil":
            return backend
        if backend in ("auto", "nvjpeg") and self._nvjpeg_applies():
            return "nvjpeg"
        if backend == "nvjpeg":
            raise ValueError(
                "backend='nvjpeg' needs a CUDA device, the fastpix._C_cuda module and a "
                "side-by-side layout of JPEG files"
            )
        if native_module() is not None:
            return "native"
        if backend == "native":
            raise ImportError("backend='native' but fastpix._C is not available")
        return "pil"

    def _nvjpeg_applies(self) -> bool:
        return (
            self.device.type == "cuda"
            and self.plan.side_by_side
            and not self.jpeg_draft
            and all(p.combined.suffix.lower() in JPEG_SUFFIXES for p in self.pairs)
            and have_cuda_decoder()
        )

    def _native_arguments(self) -> dict:
        plan = self.plan
        ls = self.label_set
        colors = plan.target == "colors"
        max_distance_sq = -1.0
        if self.max_distance is not None:
            # palette_to_class_reference compares float32 distances with max_distance ** 2.
            max_distance_sq = float(np.float32(float(self.max_distance) ** 2))
        return dict(
            side_by_side=plan.side_by_side,
            target=plan.target,
            filter=self.resample,
            load_size=plan.resized,
            require_load_size=plan.require_size,
            out_size=plan.out,
            photo_lut=numpy_view(self._photo_table),
            class_itemsize=torch.empty((), dtype=self.mask_dtype).element_size(),
            palette=ls.mask_palette.numpy() if colors else None,
            mask_lut=ls.mask_lut.numpy(),
            ignore_index=ls.ignore_index,
            max_distance_sq=max_distance_sq,
            id_lut=ls.id_lut,
            max_pixels=self.max_pixels,
            jpeg_draft=self.jpeg_draft,
        )

    def _make_decoder(self):
        if self.backend == "native":
            return native_module().PairDecoder(
                **self._native_arguments(), num_threads=self.num_threads
            )
        if self.backend == "nvjpeg":
            from fastpix.data.cuda_decoder import CudaPairDecoder

            return CudaPairDecoder(self._native_arguments(), self.device, self.num_threads)
        return None

    # -- epochs, sharding, batches ----------------------------------------------------------

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Use ``epoch`` for the next iteration (order and jitter); iterations advance it.
        ``start`` skips the epoch's first batches without decoding them (resuming a run)."""
        if not 0 <= start <= len(self):
            raise ValueError(f"start must lie in 0..{len(self)} (batches per epoch), got {start}")
        self.epoch = int(epoch)
        self._start = int(start)

    def _rank_indices(self, epoch: int) -> np.ndarray:
        n = len(self.pairs)
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(n)
        else:
            order = np.arange(n)
        if self.world_size > 1:
            if self.drop_last:
                order = order[: (n // self.world_size) * self.world_size]
            else:
                order = np.resize(order, math.ceil(n / self.world_size) * self.world_size)
            order = order[self.rank :: self.world_size]
        return order

    def _per_rank(self) -> int:
        n = len(self.pairs)
        if self.world_size == 1:
            return n
        return n // self.world_size if self.drop_last else math.ceil(n / self.world_size)

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        per_rank = self._per_rank()
        if self.drop_last:
            return per_rank // self.batch_size
        return math.ceil(per_rank / self.batch_size)

    def batch_indices(self, epoch: int | None = None) -> list[list[int]]:
        """The pair indices of each batch this rank loads in ``epoch`` (default: the next)."""
        order = self._rank_indices(self.epoch if epoch is None else epoch).tolist()
        return [order[i * self.batch_size : (i + 1) * self.batch_size] for i in range(len(self))]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, start = self.epoch, self._start
        self.epoch += 1
        self._start = 0
        batches = self.batch_indices(epoch)[start:]

        def load(indices: list[int]):
            return self._load(indices, epoch)

        if self.prefetch == 0:
            loaded = map(load, batches)
        else:
            loaded = _prefetched(load, batches, self.prefetch)
        for batch in loaded:
            if batch is not None:
                yield self._hand_over(batch)

    # -- one batch --------------------------------------------------------------------------

    def jitter(self, index: int, epoch: int) -> Jitter:
        """The crop corner and flip of pair ``index`` in ``epoch``."""
        config = self.plan.jitter
        if config.crop_size is None and not config.flip:
            return Jitter(0, 0, False)  # nothing random: skip seeding a generator per pair
        return sample_jitter(config, self.plan.resized, pair_rng(self.seed, epoch, index))

    def load_batch(self, indices: Sequence[int], epoch: int = 0):
        """The batch of pairs ``indices`` in ``epoch`` as ``(photo, target)`` on the loader's
        device; None when ``on_error="skip"`` dropped all of them."""
        batch = self._load(list(indices), epoch)
        return None if batch is None else self._hand_over(batch)

    def _load(self, indices: list[int], epoch: int):
        """(photo, target, event) on the loader's device, or None. CUDA work runs on the
        loader's own stream (it may run in the prefetch thread); ``event`` marks its end."""
        jitters = [self.jitter(i, epoch) for i in indices]
        pairs = [self.pairs[i] for i in indices]
        if self.device.type != "cuda":
            batch = self._decode(pairs, jitters)
            return None if batch is None else (*batch, None)
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        with torch.cuda.device(self.device), torch.cuda.stream(self._stream):
            batch = self._decode(pairs, jitters)
            if batch is None:
                return None
            event = torch.cuda.Event()
            event.record(self._stream)
        return (*batch, event)

    def _hand_over(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Make the caller's CUDA stream wait for a batch made on the loader's stream."""
        photo, target, event = batch
        if event is not None:
            stream = torch.cuda.current_stream(self.device)
            stream.wait_event(event)
            photo.record_stream(stream)
            target.record_stream(stream)
        return photo, target

    def _decode(self, pairs: list[PairFiles], jitters: list[Jitter]):
        if self.backend == "pil":
            photo, target, failed = self._load_pil(pairs, jitters)
        else:
            photo, target, failed = self._load_native(pairs, jitters)
        if failed:  # rows of the decoded batch to drop (on_error="skip")
            keep = torch.tensor(
                [row for row in range(photo.shape[0]) if row not in failed], dtype=torch.long
            )
            photo = photo.index_select(0, keep.to(photo.device))
            target = target.index_select(0, keep.to(target.device))
        if photo.shape[0] == 0:
            return None
        if photo.device != self.device:
            photo = photo.to(self.device, non_blocking=self.pin_memory)
            target = target.to(self.device, non_blocking=self.pin_memory)
        return photo, target

    def _outputs(self, n: int, device: torch.device | None = None):
        """Uninitialized (photo, target) for n pairs: pinned host memory (when set) or
        ``device``."""
        h, w = self.plan.out
        pin = self.pin_memory and device is None
        where = dict(device=device or "cpu", pin_memory=pin)
        photo = torch.empty((n, 3, h, w), dtype=self.dtype, **where)
        if self.plan.target == "image":
            target = torch.empty((n, 3, h, w), dtype=self.dtype, **where)
        else:
            target = torch.empty((n, h, w), dtype=self.mask_dtype, **where)
        return photo, target

    def _fail(self, failed: set[int], index: int, message: str) -> None:
        if self.on_error == "raise":
            raise DecodeError(message)
        failed.add(index)
        self.skipped += 1
        self.errors.append(message)

    def _native_source(self, path, mode: str, failed: set[int], index: int):
        """A path for the native decoder, or the pixels PIL decoded for other formats."""
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            return os.fspath(path)
        try:
            with open(path, "rb") as f:
                if is_native_format(f.read(8)):
                    return os.fspath(path)
            pixels = np.asarray(open_pil(path, mode, self.max_pixels))
        except (DecodeError, OSError) as exc:
            self._fail(
                failed, index, str(exc) if isinstance(exc, DecodeError) else f"{path}: {exc}"
            )
            return None
        return pixels if pixels.ndim == 3 else pixels[:, :, None]

    def _load_native(self, pairs: list[PairFiles], jitters: list[Jitter]):
        failed: set[int] = set()
        side_by_side = self.plan.side_by_side
        first, second = [], None if side_by_side else []
        for i, pair in enumerate(pairs):
            first.append(
                self._native_source(pair.combined if side_by_side else pair.photo, "RGB", failed, i)
            )
            if second is not None:
                second.append(self._native_source(pair.label, "unchanged", failed, i))
        # Pairs that already failed in Python are not decoded.
        live = [i for i in range(len(pairs)) if i not in failed]
        args = (
            [first[i] for i in live],
            None if second is None else [second[i] for i in live],
            [jitters[i].top for i in live],
            [jitters[i].left for i in live],
            [jitters[i].flip for i in live],
        )
        if self.backend == "native":
            photo, target = self._outputs(len(live))
            errors = self._decoder.decode(*args, numpy_view(photo), numpy_view(target))
        else:  # nvjpeg: straight into device memory
            photo, target = self._outputs(len(live), self.device)
            errors = self._decoder.decode(*args, photo, target)
        for position, source, reason in errors:
            pair = pairs[live[position]]
            path = (pair.combined if side_by_side else pair.photo) if source == 0 else pair.label
            self._fail(failed, live[position], f"{path}: {reason}")
        failed_rows = {row for row, i in enumerate(live) if i in failed}
        return photo, target, failed_rows

    def _load_pil(self, pairs: list[PairFiles], jitters: list[Jitter]):
        photo, target = self._outputs(len(pairs))
        failed: set[int] = set()
        table = self._photo_table
        for i, (pair, jitter) in enumerate(zip(pairs, jitters)):
            try:
                photo_u8, target_u8 = _pil_pair(pair, jitter, self)
            except DecodeError as exc:
                self._fail(failed, i, str(exc))
                continue
            photo[i] = _apply_table(table, photo_u8)
            if self.plan.target == "image":
                target[i] = _apply_table(table, target_u8)
            else:
                target[i] = torch.from_numpy(target_u8).to(self.mask_dtype)
        return photo, target, failed

    def __repr__(self) -> str:
        return (
            f"PairLoader({len(self.pairs)} pairs, layout={self.layout!r}, batch_size="
            f"{self.batch_size}, backend={self.backend!r}, device={str(self.device)!r}, "
            f"out={self.plan.out}, target={self.plan.target!r})"
        )


def _shard(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None or world_size is None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            rank = dist.get_rank() if rank is None else rank
            world_size = dist.get_world_size() if world_size is None else world_size
    rank = 0 if rank is None else int(rank)
    world_size = 1 if world_size is None else int(world_size)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    return rank, world_size


def _apply_table(table: torch.Tensor, pixels: np.ndarray) -> torch.Tensor:
    """uint8 H×W×3 → 3×H×W through the per-channel normalization table."""
    index = torch.from_numpy(np.array(pixels)).long().permute(2, 0, 1)
    return torch.stack([table[c][index[c]] for c in range(3)])


def _pil_pair(pair: PairFiles, jitter: Jitter, loader: PairLoader):
    """The PIL + numpy path of one pair: (photo uint8 H×W×3, target uint8 H×W class ids or
    H×W×3 image). The fallback and the reference the native decoders are tested against."""
    from PIL import Image

    plan = loader.plan
    height, width = plan.resized
    limit = loader.max_pixels
    if plan.side_by_side:
        draft = (2 * width, height) if loader.jpeg_draft and not plan.require_size else None
        both = open_pil(pair.combined, "RGB", limit, draft=draft)
        w, h = both.size
        if w % 2:
            raise _odd_width(pair.combined, w)
        photo, target = both.crop((0, 0, w // 2, h)), both.crop((w // 2, 0, w, h))
        names = (pair.combined, pair.combined)
    else:
        draft = (width, height) if loader.jpeg_draft and not plan.require_size else None
        photo = open_pil(pair.photo, "RGB", limit, draft=draft)
        target = open_pil(pair.label, "unchanged", limit)
        if target.mode not in ("L", "P"):
            raise DecodeError(
                f"{pair.label}: a label-id map must have one channel (8-bit grey or palette "
                f"indices), got mode {target.mode}"
            )
        names = (pair.photo, pair.label)
    if plan.require_size:
        for image, name in zip((photo, target), names):
            if image.size != (width, height):
                kind = "halves are" if plan.side_by_side else "image is"
                raise DecodeError(
                    f"{name}: {kind} {image.size[0]}x{image.size[1]}, expected {width}x{height} "
                    "like the first pair (give load_size to resize every pair)"
                )
    smooth = Image.Resampling.BICUBIC if loader.resample == "bicubic" else Image.Resampling.BILINEAR
    photo = photo.resize((width, height), smooth)
    mask_filter = smooth if plan.target == "image" else Image.Resampling.NEAREST
    target = target.resize((width, height), mask_filter)
    out_h, out_w = plan.out
    box = (jitter.left, jitter.top, jitter.left + out_w, jitter.top + out_h)
    photo, target = photo.crop(box), target.crop(box)
    if jitter.flip:
        photo = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        target = target.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    photo_u8 = np.asarray(photo)
    target_u8 = np.asarray(target)
    if plan.target == "colors":
        classes = loader.label_set.classes_from_mask(
            torch.from_numpy(np.array(target_u8)), max_distance=loader.max_distance
        )
        target_u8 = classes.numpy()
    elif plan.target == "ids":
        target_u8 = loader.label_set.id_lut[target_u8]
    return photo_u8, target_u8


class _End:
    pass


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _prefetched(load, batches: list, depth: int) -> Iterator:
    """Yields load(b) for each batch, computed up to ``depth`` batches ahead in a thread."""
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for indices in batches:
                if stop.is_set() or not put(load(indices)):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failure(exc))
            return
        put(_End())

    worker = threading.Thread(target=produce, name="fastpix-pair-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = results.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.exc
            if item is not None:
                yield item
    finally:
        stop.set()
        worker.join()
