"""``fastpix predict``: class maps, colour masks and overlays for a folder of images."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="segment images with a .engine, .onnx or checkpoint file",
        description="Segment images with fastpix.infer.Predictor and write, for each input "
        "image NAME: NAME_classes.png (class indices), NAME_color.png (the classes in the "
        "label set's colours) and NAME_overlay.png (colours blended over the photo).",
    )
    p.add_argument("--model", required=True, help=".engine, .onnx or fastpix checkpoint")
    p.add_argument("--input", required=True, nargs="+", help="image files and/or folders of images")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity of the colours")
    p.add_argument("--device", default=None, help="torch device for checkpoints and engines")
    p.add_argument(
        "--mode",
        default="auto",
        choices=("auto", "eval", "paper"),
        help="checkpoints: inference mode (auto: paper for pix2pix generators with batch norm)",
    )
    p.set_defaults(func=run)


def list_images(inputs: list[str]) -> list:
    """The image files named by ``inputs`` (files, or folders listed in natural order)."""
    from pathlib import Path

    from fastpix.data.layouts import IMAGE_SUFFIXES, _natural_key

    files = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found = sorted(
                (f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES),
                key=_natural_key,
            )
            if not found:
                raise FileNotFoundError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    stems = [f.stem for f in files]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise ValueError(
            f"several inputs are named {', '.join(clashes)}; their outputs would overwrite "
            "each other (predict them into separate --out folders)"
        )
    return files


def save_png(path, pixels) -> None:
    """Write a uint8 H×W or H×W×3 array as PNG through a temporary file."""
    import numpy as np
    from PIL import Image

    from fastpix.export.files import temporary_output

    with temporary_output(path) as tmp:
        Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(tmp, format="PNG")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from fastpix.cli import UsageError
    from fastpix.infer import Predictor
    from fastpix.infer.preprocess import as_rgb

    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not 0.0 <= args.alpha <= 1.0:
        raise UsageError(f"--alpha must lie in [0, 1], got {args.alpha}")
    files = list_images(args.input)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    predictor = Predictor(
        args.model, device=args.device, mode=args.mode, batch_size=args.batch_size
    )
    print(predictor)
    with tqdm(total=len(files), unit="image", desc="predict") as bar:
        for start in range(0, len(files), args.batch_size):
            chunk = files[start : start + args.batch_size]
            images = [as_rgb(path) for path in chunk]
            for path, image, classes in zip(chunk, images, predictor.predict(images)):
                save_png(out / f"{path.stem}_classes.png", classes.numpy())
                save_png(out / f"{path.stem}_color.png", predictor.colorize(classes).numpy())
                overlay = predictor.overlay(image, classes, args.alpha)
                save_png(out / f"{path.stem}_overlay.png", overlay.numpy())
                bar.update(1)
    print(predictor.timing.summary())
    print(f"wrote {3 * len(files)} images to {out}")
    return 0
