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


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from fastpix.cli import UsageError
    from fastpix.data.imageio import write_image
    from fastpix.infer import Predictor
    from fastpix.infer.preprocess import as_rgb, list_images

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
                write_image(out / f"{path.stem}_classes.png", classes.numpy())
                write_image(out / f"{path.stem}_color.png", predictor.colorize(classes).numpy())
                overlay = predictor.overlay(image, classes, args.alpha)
                write_image(out / f"{path.stem}_overlay.png", overlay.numpy())
                bar.update(1)
    print(predictor.timing.summary())
    print(f"wrote {3 * len(files)} images to {out}")
    return 0
