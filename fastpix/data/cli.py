"""``fastpix data``: write synthetic data sets, prepare Cityscapes pairs, summarize a folder.

fastpix data synth --out data/synth --n 500 [--format kaggle|aligned|cityscapes]
fastpix data prepare-cityscapes --gtfine gtFine --leftimg leftImg8bit --out data/cs
fastpix data show data/synth
"""

from __future__ import annotations

import argparse


def _size(values: list[str]) -> tuple[int, int]:
    """``256``, ``256x512`` or ``256 512`` → (height, width)."""
    parts = [p for v in values for p in v.lower().replace("×", "x").split("x") if p]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2) or min(numbers, default=0) < 1:
        from fastpix.cli import UsageError

        raise UsageError(f"--size {' '.join(values)}: expected N, HxW or H W (positive ints)")
    return (numbers[0], numbers[-1])


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="synthetic street scenes, Cityscapes preparation, data folder summaries",
        description="Write synthetic data sets, prepare Cityscapes pix2pix pairs, or "
        "summarize a data folder.",
    )
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True

    synth = sub.add_parser(
        "synth",
        help="write a synthetic street-scene data set",
        description="Render procedural street scenes with Cityscapes labels and write them "
        "in one of the layouts fastpix reads. Scene k is make_scene(seed + k); the first "
        "scenes go to train, then val, then test.",
    )
    synth.add_argument("--out", required=True, help="output folder (new or empty)")
    synth.add_argument("--n", type=int, default=500, help="number of scenes (default 500)")
    synth.add_argument(
        "--format",
        choices=["kaggle", "aligned", "cityscapes"],
        default="kaggle",
        help="kaggle: train/val <n>.jpg photo|mask; aligned: pix2pix train/val/test A|B; "
        "cityscapes: leftImg8bit + gtFine PNGs (default kaggle)",
    )
    synth.add_argument(
        "--size", nargs="+", default=["256"], metavar="SIZE", help="N, HxW or H W (default 256)"
    )
    synth.add_argument("--seed", type=int, default=0, help="seed of the first scene (default 0)")
    synth.add_argument("--val-fraction", type=float, default=0.1, help="share for val (0.1)")
    synth.add_argument(
        "--test-fraction", type=float, default=0.0, help="share for test (aligned, cityscapes)"
    )
    synth.add_argument(
        "--png", action="store_true", help="lossless PNG pairs with exact masks instead of JPEG"
    )
    synth.add_argument(
        "--supersample", type=int, default=2, help="render at this multiple of the size (2)"
    )
    synth.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    synth.set_defaults(func=run_synth)

    prep = sub.add_parser(
        "prepare-cityscapes",
        help="make pix2pix pairs from the official Cityscapes files",
        description="Like pix2pix's prepare_cityscapes_dataset.py (photo | colour labels, "
        "train -> train, val -> test, <i>.jpg), but labels are resized with nearest neighbour "
        "and --png makes them exact.",
    )
    prep.add_argument("--gtfine", required=True, help="the gtFine folder (train/, val/)")
    prep.add_argument("--leftimg", required=True, help="the leftImg8bit folder")
    prep.add_argument("--out", required=True, help="output folder")
    prep.add_argument("--size", nargs="+", default=["256"], metavar="SIZE", help="N, HxW or H W")
    prep.add_argument("--png", action="store_true", help="lossless PNG (exact labels)")
    prep.add_argument(
        "--original-resize",
        action="store_true",
        help="resize labels bicubically like the pix2pix script (blended colours)",
    )
    prep.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    prep.set_defaults(func=run_prepare)

    show = sub.add_parser(
        "show",
        help="summarize a data folder",
        description="Print a data folder's layout, pairs per split, image sizes and the "
        "class histogram of a few pairs.",
    )
    show.add_argument("root", help="data folder")
    show.add_argument(
        "--layout", choices=["auto", "kaggle", "aligned", "cityscapes"], default="auto"
    )
    show.add_argument("--label-set", default="trainid", help="label set for the histogram")
    show.add_argument("--samples", type=int, default=8, help="pairs per split to histogram")
    show.set_defaults(func=run_show)


def run_synth(args: argparse.Namespace) -> int:
    from fastpix.data.writers import write_synthetic

    summary = write_synthetic(
        args.out,
        n=args.n,
        layout=args.format,
        size=_size(args.size),
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        png=args.png,
        supersample=args.supersample,
        workers=args.workers,
    )
    splits = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
    print(
        f"wrote {args.n} {args.format} scenes ({splits}) to {args.out} in "
        f"{summary['seconds']:.1f} s ({summary['ms_per_scene']:.1f} ms/scene)"
    )
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from fastpix.data.cityscapes import prepare_cityscapes

    counts = prepare_cityscapes(
        args.gtfine,
        args.leftimg,
        args.out,
        size=_size(args.size),
        png=args.png,
        original_resize=args.original_resize,
        workers=args.workers,
    )
    seconds = counts.pop("seconds")
    written = ", ".join(f"{k} {v}" for k, v in counts.items())
    print(f"wrote pairs ({written}) to {args.out} in {seconds:.1f} s")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from fastpix.data.summary import describe

    print(describe(args.root, args.layout, args.label_set, args.samples))
    return 0
