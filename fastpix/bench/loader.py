"""Loader benchmark: pairs/s of PairLoader's decoders on Kaggle-style 256×512 JPEG pairs.

Providers, all doing the same work per pair (decode, split, resize/crop/flip, normalize the
photo, classify the mask), timed with ``fastpix.bench.harness`` at 1 and 2 threads in batches of 32, the providers taking
turns round after round (best and median round reported; ratios use the best):

- ``native``: fastpix._C through ``PairLoader.load_batch``;
- ``pil_numpy``: the PIL + numpy path of the same loader (``backend="pil"``), the way a
  PIL-based Dataset does it; with 2 threads the batch is split over two Python threads;
- ``decode_floor``: libjpeg decoding of the same files alone (no other work), the floor;
- ``nvjpeg`` (CUDA only): nvJPEG batched decode + the fused kernel, into device memory.

Configs: ``plain`` (256×256 halves as they are) and ``pix2pix`` (resize to 286, random
256 crop and flip). Results go to ``benchmarks/results/loader.{jsonl,csv}``.

    fastpix bench loader [--quick] [--device cuda]
    python benchmarks/benchmark_loader.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch

from fastpix.bench.harness import (
    environment,
    interleaved,
    load_average,
    markdown_table,
    script_main,
    write_rows,
)

# name -> PairLoader jitter options.
CONFIGS = {
    "plain": {},
    "pix2pix": {"load_size": 286, "crop_size": 256, "flip": True},
}
PAIR_SIZE = (256, 256)  # each half, as in the Kaggle / pix2pix Cityscapes pairs
BATCH = 32


def write_pairs(root: Path, count: int, seed: int = 0) -> None:
    """Kaggle-like pairs: a textured photo beside a colour mask of Cityscapes regions, saved as
    pix2pix's prepare_cityscapes_dataset.py saves them (JPEG q=100, 4:4:4)."""
    from PIL import Image

    from fastpix.labels import get_label_set

    rng = np.random.default_rng(seed)
    colors = get_label_set("trainid").mask_palette.numpy()
    height, width = PAIR_SIZE
    folder = root / "train"
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:height, 0:width]
    for i in range(count):
        # Regions: nearest of a few random centres (Voronoi cells), like a street-scene mask.
        centres = rng.integers(0, [height, width], (24, 2))
        nearest = np.argmin(
            (y[..., None] - centres[:, 0]) ** 2 + (x[..., None] - centres[:, 1]) ** 2, axis=-1
        )
        mask = colors[rng.integers(0, len(colors), 24)][nearest]
        photo = (mask.astype(np.int64) // 2 + rng.integers(0, 128, mask.shape)).astype(np.uint8)
        Image.fromarray(np.concatenate([photo, mask], axis=1)).save(
            folder / f"{i}.jpg", quality=100, subsampling=0
        )


def _split_over_threads(load, indices: list[int], threads: int) -> None:
    if threads == 1:
        load(indices)
        return
    parts = [indices[t::threads] for t in range(threads)]
    workers = [threading.Thread(target=load, args=(part,)) for part in parts]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def run(args: argparse.Namespace) -> list[dict]:
    """Run the benchmark; returns the result rows (also written to ``args.out``)."""
    from fastpix._native import HAVE_NATIVE, have_cuda_decoder
    from fastpix.data import PairLoader

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    env = environment(device)  # the revision the run started from
    count = 64 if args.quick else 256
    rounds = 3 if args.quick else 7
    rows = []
    with tempfile.TemporaryDirectory(prefix="fastpix-bench-loader-") as tmp:
        root = Path(tmp)
        write_pairs(root, count)
        batches = [list(range(i, min(i + BATCH, count))) for i in range(0, count, BATCH)]
        torch_threads = torch.get_num_threads()
        for config, jitter in CONFIGS.items():
            for threads in (1, 2):
                torch.set_num_threads(threads)
                providers = _cpu_providers(root, jitter, threads, batches, HAVE_NATIVE)
                for provider, timing in _interleaved(providers, rounds).items():
                    rows.append(_row(config, provider, threads, count, timing))
        torch.set_num_threads(torch_threads)
        if device.type == "cuda" and HAVE_NATIVE and have_cuda_decoder():
            for config, jitter in CONFIGS.items():
                gpu = PairLoader(root, batch_size=BATCH, backend="nvjpeg", device=device, **jitter)

                def load_all(gpu=gpu) -> None:
                    for indices in batches:
                        gpu.load_batch(indices)

                timing = _interleaved({"nvjpeg": load_all}, rounds, device)["nvjpeg"]
                row = _row(config, "nvjpeg", gpu.num_threads, count, timing)
                row["hardware_decoder"] = gpu._decoder.has_hardware_decoder
                rows.append(row)
    _add_ratios(rows)
    write_rows("loader", rows, env, args.out)
    print(markdown_table(rows, ["config", "provider", "threads", "pairs_per_s",
                                "pairs_per_s_median", "vs_pil", "vs_floor"]))  # fmt: skip
    return rows


def _cpu_providers(root: Path, jitter: dict, threads: int, batches: list, native: bool) -> dict:
    """provider name -> a function that loads every batch once."""
    from fastpix.data import PairLoader

    pil = PairLoader(root, batch_size=BATCH, backend="pil", **jitter)
    providers = {
        "pil_numpy": lambda: [_split_over_threads(pil.load_batch, b, threads) for b in batches]
    }
    if native:
        loader = PairLoader(root, batch_size=BATCH, backend="native", num_threads=threads, **jitter)
        paths = [[str(loader.pairs[i].combined) for i in b] for b in batches]

        def load_all() -> None:
            # Each batch is dropped once loaded, as in a training loop (and as pil_numpy does):
            # keeping all of them alive would time page faults of fresh memory instead.
            for indices in batches:
                loader.load_batch(indices)

        providers["native"] = load_all
        providers["decode_floor"] = lambda: [loader._decoder.decode_only(p) for p in paths]
    return providers


def _interleaved(providers: dict, rounds: int, device: str | torch.device = "cpu") -> dict:
    """provider -> (best, median) seconds over ``rounds`` turns (``harness.interleaved``)."""
    timings = interleaved(providers, rounds, device)
    return {name: (t.min_s, t.median_s) for name, t in timings.items()}


def _row(config: str, provider: str, threads: int, pairs: int, timing) -> dict:
    best, median = timing
    return {
        "target": "loader",
        "config": config,
        "provider": provider,
        "threads": threads,
        "pairs": pairs,
        "batch_size": BATCH,
        "pair_size": f"{PAIR_SIZE[0]}x{2 * PAIR_SIZE[1]}",
        "best_s": best,
        "median_s": median,
        "pairs_per_s": pairs / best,
        "pairs_per_s_median": pairs / median,
        # Other processes on the machine when this provider finished (shared machines).
        "load_average_1m": load_average(),
    }


def _add_ratios(rows: list[dict]) -> None:
    """native: speed-up over PIL at the same thread count, and time relative to the floor."""
    by_key = {(r["config"], r["provider"], r["threads"]): r for r in rows}
    for row in rows:
        if row["provider"] != "native":
            continue
        pil = by_key.get((row["config"], "pil_numpy", row["threads"]))
        floor = by_key.get((row["config"], "decode_floor", row["threads"]))
        if pil:
            row["vs_pil"] = row["pairs_per_s"] / pil["pairs_per_s"]
        if floor:
            row["vs_floor"] = row["best_s"] / floor["best_s"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/benchmark_loader.py``."""
    return script_main(run, "PairLoader throughput (pairs/s).", "fewer pairs and repeats", argv)
