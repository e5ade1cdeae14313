"""``fastpix pipeline``: segmentation → synthesis → re-segmentation on a data folder.

    fastpix pipeline --segmenter runs/fcn/best.pt --generator runs/spade/best.pt \\
        --data data/synth --layout kaggle --split val --out pipeline_out
    fastpix pipeline --segmenter runs/fcn/best.pt --generator latest_net_G.pth \\
        --data my_photos --layout photos --size 256 512 --out pipeline_out

Writes ``metrics.json``, ``summary.md`` and ``strips/<name>.png`` (photo | labels |
synthesized | re-segmented) to ``--out`` and prints the summary.
"""

from __future__ import annotations

import argparse

LAYOUTS = ("kaggle", "aligned", "cityscapes", "photos")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "pipeline",
        help="segment, synthesize from the labels, re-segment; score the round trip",
        description="Seed 003's pipeline: photo → segmenter → labels → generator (SPADE or "
        "pix2pix labels → photo) → photo → segmenter → labels. Reports the feedback "
        "consistency (mIoU of the second labels against the first) and, when the data has "
        "labels, the segmenter's and the synthesized photos' scores against them (FCN-score); "
        "writes image strips.",
    )
    p.add_argument("--segmenter", required=True, help="fastpix segmentation checkpoint")
    p.add_argument(
        "--generator",
        required=True,
        help="fastpix spade checkpoint, labels → photo pix2pix checkpoint, or NVlabs' "
        "Cityscapes SPADE latest_net_G.pth",
    )
    p.add_argument("--data", required=True, help="data folder")
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="kaggle",
        help="kaggle, aligned or cityscapes pairs (with ground truth), or photos: a folder of "
        "images without labels (default kaggle)",
    )
    p.add_argument("--split", default="val", help="split folder of the pair layouts (val)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--size",
        type=int,
        nargs="+",
        metavar="N",
        default=None,
        help="resize photos to H [W] (default: the segmenter's training size)",
    )
    p.add_argument("--batch-size", type=int, default=8, help="images per batch (default 8)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--amp", action="store_true", help="autocast (fp16 on CUDA, bf16 on CPU)")
    p.add_argument("--strips", type=int, default=8, help="image strips to write (default 8)")
    p.add_argument("--limit", type=int, default=None, help="stop after this many images")
    p.set_defaults(func=run)


def _size(values: list[int] | None, default: tuple[int, int] | None) -> tuple[int, int] | None:
    from fastpix.cli import UsageError

    if values is None:
        return default
    if len(values) not in (1, 2) or min(values) < 1:
        raise UsageError(f"--size takes H or H W (positive), got {' '.join(map(str, values))}")
    return (values[0], values[-1])


def _photo_folder(root: str, size: tuple[int, int] | None, batch_size: int):
    """(names, batches of photos in [-1, 1]) of the images directly inside ``root``."""
    from pathlib import Path

    import torch
    from PIL import Image

    from fastpix.cli import UsageError
    from fastpix.data.imageio import read_image
    from fastpix.data.layouts import IMAGE_SUFFIXES
    from fastpix.data.transforms import image_to_tensor

    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: data folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")

    def batches():
        for start in range(0, len(files), batch_size):
            photos = []
            for path in files[start : start + batch_size]:
                image = read_image(path)
                if size is not None and image.size != (size[1], size[0]):
                    image = image.resize((size[1], size[0]), Image.Resampling.BICUBIC)
                elif photos and (image.size[1], image.size[0]) != tuple(photos[0].shape[1:]):
                    raise UsageError(f"{path}: images differ in size; pass --size H W")
                photos.append(image_to_tensor(image))
            yield torch.stack(photos)

    return [p.stem for p in files], batches()


def run(args: argparse.Namespace) -> int:
    import torch

    from fastpix.cli import UsageError
    from fastpix.data import PairLoader
    from fastpix.pipeline import load_segmenter, load_synthesizer, run_pipeline

    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1, got {args.limit}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    segmenter = load_segmenter(args.segmenter)
    generator = load_synthesizer(args.generator)
    size = _size(args.size, segmenter.size)
    if args.layout == "photos":
        names, data = _photo_folder(args.data, size, args.batch_size)
    else:
        loader = PairLoader(
            args.data,
            args.split,
            args.layout,
            batch_size=args.batch_size,
            device=device,
            shuffle=False,
            load_size=size,
            label_set=segmenter.label_set,
        )
        names = [loader.pairs[i].name for batch in loader.batch_indices(0) for i in batch]
        data = loader
    result = run_pipeline(
        data,
        segmenter,
        generator,
        device=device,
        amp=args.amp,
        max_strips=args.strips,
        names=names,
        limit=args.limit,
    )
    out = result.save(args.out)
    print(result.summary())
    print(f"metrics, summary and {len(result.strips)} strips written to {out}")
    return 0
