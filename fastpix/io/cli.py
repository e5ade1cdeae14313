"""``fastpix io``: decode every pair of a data set with the loader and list the files that fail.

    fastpix io data/cityscapes_data --layout kaggle --split train
    fastpix io data/cityscapes --layout cityscapes --split val --load-size 256 512

Exit status 0 when every pair decodes, 1 when some do not (each named with the reason).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "io",
        help="check that every pair of a data set decodes; list the files that do not",
        description="Decode every pair of a split with PairLoader (native decoder when built) "
        "and report bad files (corrupt, truncated, odd width, wrong size, too large).",
    )
    p.add_argument("root", help="data folder")
    p.add_argument("--split", default="train", help="split folder (default: train)")
    p.add_argument(
        "--layout", default="kaggle", help="kaggle, aligned or cityscapes (default: kaggle)"
    )
    p.add_argument(
        "--load-size",
        type=int,
        nargs="+",
        metavar="N",
        default=None,
        help="resize every pair to H [W] (needed when pairs differ in size)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="pairs per batch (default: 32)")
    p.add_argument("--threads", type=int, default=None, help="decoder threads (default: all)")
    p.add_argument(
        "--max-pixels", type=int, default=None, help="refuse larger images (default: Pillow's)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from fastpix.cli import UsageError
    from fastpix.data import PairLoader
    from fastpix.io.decode import DEFAULT_MAX_PIXELS

    if args.load_size is not None and len(args.load_size) not in (1, 2):
        raise UsageError(f"--load-size takes H or H W, got {args.load_size}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    loader = PairLoader(
        args.root,
        args.split,
        args.layout,
        batch_size=args.batch_size,
        shuffle=False,
        num_threads=args.threads,
        load_size=args.load_size,
        on_error="skip",
        max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS,
    )
    start = time.perf_counter()
    decoded = sum(photo.shape[0] for photo, _ in loader)
    seconds = max(time.perf_counter() - start, 1e-9)
    print(
        f"{decoded} of {len(loader.pairs)} pairs decoded by the {loader.backend} decoder in "
        f"{seconds:.1f} s ({decoded / seconds:.0f} pairs/s)"
    )
    for message in loader.errors:
        print(f"bad: {message}")
    return 1 if loader.errors else 0
