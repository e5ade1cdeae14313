"""``fastpix-export`` (and ``fastpix export``): checkpoint → ONNX → TensorRT engine.

fastpix-export --checkpoint best.pt --onnx seg.onnx --head classes
fastpix-export --checkpoint best.pt --onnx seg.onnx --engine seg.engine --batch 1:4:8
fastpix-export --checkpoint best.pt --onnx seg.int8.onnx --precision int8
fastpix-export --pix2pix-generator latest_net_G.pth --onnx g.onnx --netG unet_256
fastpix-export --onnx seg.onnx --engine seg.engine        # e.g. on a Jetson, with JetPack
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = (
    "Export a fastpix checkpoint (or an official pix2pix latest_net_G.pth) to ONNX with an "
    "output head and fastpix metadata, checked against torch with onnxruntime; optionally "
    "quantize it to INT8 (Q/DQ) and build a TensorRT engine with a sidecar JSON. With --onnx "
    "alone as input, build the engine from an existing fastpix ONNX file (how to build on a "
    "Jetson: engines are not portable, build them on the board)."
)


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``fastpix-export`` / ``fastpix export``."""
    src = p.add_argument_group("input (one of)")
    src.add_argument("--checkpoint", help="fastpix checkpoint (segmentation or pix2pix)")
    src.add_argument(
        "--pix2pix-generator", metavar="PTH", help="latest_net_G.pth of the official pix2pix code"
    )
    src.add_argument(
        "--onnx",
        help="ONNX file: written when exporting from a checkpoint, read when it is the input",
    )
    ref = p.add_argument_group("pix2pix reference generator options (--pix2pix-generator)")
    ref.add_argument(
        "--netG",
        default="unet_256",
        choices=("unet_128", "unet_256", "resnet_6blocks", "resnet_9blocks"),
    )
    ref.add_argument("--norm", default="batch", choices=("batch", "instance", "none"))
    ref.add_argument("--ngf", type=int, default=64)
    ref.add_argument("--no-dropout", action="store_true", help="trained with --no_dropout")
    ref.add_argument(
        "--pix2pix-output",
        default="color_mask",
        choices=("color_mask", "photo"),
        help="what the generator draws: photo→labels colour masks (AtoB) or photos (BtoA)",
    )
    ref.add_argument("--label-set", default="trainid", help="classes of the colour masks")

    onnx = p.add_argument_group("ONNX export")
    onnx.add_argument(
        "--head",
        choices=("logits", "classes", "color", "photo"),
        help="output: raw logits, uint8 classes (default), uint8 RGB colours; photo "
        "generators: uint8 RGB photo (default)",
    )
    onnx.add_argument(
        "--mode",
        default="auto",
        choices=("auto", "eval", "paper"),
        help="inference mode: eval (running stats), paper (pix2pix: instance stats, no "
        "dropout); auto = paper for pix2pix generators with batch norm, else eval",
    )
    onnx.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    onnx.add_argument("--size", metavar="HxW", help="input size (default: the training size)")
    onnx.add_argument("--dynamic-size", action="store_true", help="free height and width")
    onnx.add_argument(
        "--static-batch", type=int, metavar="N", help="a fixed batch of N instead of a free batch"
    )
    onnx.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    onnx.add_argument(
        "--max-distance",
        type=float,
        help="mask generators: pixels farther than this from every mask colour are ignore",
    )
    onnx.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")

    int8 = p.add_argument_group("INT8 (--precision int8)")
    int8.add_argument(
        "--calib-dir", help="folder of calibration images (default: synthetic street scenes)"
    )
    int8.add_argument("--calib-images", type=int, default=32, help="calibration images")
    int8.add_argument(
        "--eval-images", type=int, default=8, help="held-out synthetic scenes for INT8 vs FP32"
    )
    int8.add_argument(
        "--calib-method", default="minmax", choices=("minmax", "percentile", "entropy")
    )
    int8.add_argument(
        "--int8-all-layers",
        action="store_true",
        help="quantize the first and last convolution too (kept float by default)",
    )

    engine = p.add_argument_group("TensorRT engine")
    engine.add_argument("--engine", help="build a serialized engine here (+ ENGINE.json sidecar)")
    engine.add_argument("--backend", default="auto", choices=("auto", "tensorrt", "tensorrt-rtx"))
    engine.add_argument(
        "--batch", metavar="MIN:OPT:MAX", help="batch range of the profile (default 1:1:8)"
    )
    engine.add_argument(
        "--sizes",
        metavar="HxW:HxW:HxW",
        help="min:opt:max input sizes of the profile (with --dynamic-size exports)",
    )
    engine.add_argument("--timing-cache", metavar="FILE", help="TensorRT timing-cache file")
    engine.add_argument(
        "--target-cc",
        metavar="CC[,CC]",
        help="TensorRT-RTX compute capabilities, e.g. 8.6,8.9 or current (default: its set)",
    )
    engine.add_argument("--workspace-mb", type=int, help="builder workspace limit")
    p.add_argument("--verbose", action="store_true", help="print builder messages")
    p.set_defaults(func=run)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export to ONNX / TensorRT (as fastpix-export)", description=DESCRIPTION
    )
    configure(p)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fastpix-export", description=DESCRIPTION)
    configure(p)
    return p


def main(argv: list[str] | None = None) -> int:
    from fastpix.cli import run_command

    args = build_parser().parse_args(argv)
    return run_command(args, "fastpix-export")


def parse_size(text: str, what: str) -> tuple[int, int]:
    """``"256x512"`` → (256, 512)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"{what} must be HEIGHTxWIDTH like 256x512, got {text!r}")
    return int(parts[0]), int(parts[1])


def _load_source(args: argparse.Namespace):
    from fastpix.export import load_checkpoint_source, load_pix2pix_source

    if args.checkpoint:
        return load_checkpoint_source(args.checkpoint)
    return load_pix2pix_source(
        args.pix2pix_generator,
        output=args.pix2pix_output,
        label_set=args.label_set,
        netG=args.netG,
        norm=args.norm,
        ngf=args.ngf,
        use_dropout=not args.no_dropout,
    )


def _calibration(args: argparse.Namespace, size: tuple[int, int]):
    """(calibration images, source text, held-out images, held-out labels or None)."""
    from fastpix.export.quantize import HELD_OUT_SEED, synthetic_scenes
    from fastpix.infer.preprocess import list_images

    if args.calib_dir:  # held out: the images after the calibration ones
        files = list_images([args.calib_dir])[: args.calib_images + args.eval_images]
        calibration, held_out = files[: args.calib_images], files[args.calib_images :]
        return calibration, f"images of {args.calib_dir}", held_out, None
    scenes = synthetic_scenes(args.calib_images, size)
    held_out = synthetic_scenes(args.eval_images, size, HELD_OUT_SEED)
    return (
        [photo for photo, _ in scenes],
        f"synthetic scenes 0..{args.calib_images - 1}",
        [photo for photo, _ in held_out],
        [labels for _, labels in held_out],
    )


def _export(args: argparse.Namespace) -> None:
    import tempfile
    from pathlib import Path

    from fastpix.export import to_onnx
    from fastpix.export.quantize import evaluate_int8, quantize_int8

    source = _load_source(args)
    int8 = args.precision == "int8"
    size = parse_size(args.size, "--size") if args.size else None
    print(
        f"exporting {source.origin}: {source.kind.replace('_', ' ')}, label set "
        f"{source.label_set.name}, input {size or source.input_size}"
    )
    with tempfile.TemporaryDirectory() as work:
        fp32_path = Path(work) / "fp32.onnx" if int8 else Path(args.onnx)
        result = to_onnx(
            source,
            fp32_path,
            head=args.head,
            mode=args.mode,
            precision="fp32" if int8 else args.precision,
            input_size=size,
            dynamic_batch=args.static_batch is None,
            dynamic_size=args.dynamic_size,
            batch_size=args.static_batch or 1,
            opset=args.opset,
            verify=not args.no_verify,
            max_distance=args.max_distance,
            verbose=True,
        )
        info = result.info
        precision = "fp32 (quantized next)" if int8 else args.precision
        print(
            f"ONNX: head {info.head}, mode {info.mode}, {precision}, opset {args.opset}, "
            f"{'dynamic' if info.dynamic_batch else 'fixed'} batch"
            f"{', dynamic size' if info.dynamic_size else ''} ({result.seconds:.1f} s)"
        )
        if not int8:
            print(f"wrote {args.onnx}")
            return
        images, what, held_out, labels = _calibration(args, info.input_size)
        quantized = quantize_int8(
            fp32_path,
            args.onnx,
            images,
            method=args.calib_method,
            float_ends=not args.int8_all_layers,
            source=what,
        )
        print(
            f"INT8 Q/DQ from {len(images)} {what} ({args.calib_method}, {quantized.seconds:.1f} s)"
        )
        if not held_out:
            print("INT8 accuracy not measured: no held-out images left in --calib-dir")
        elif info.predicts_classes and info.head in ("classes", "logits"):
            scores = evaluate_int8(fp32_path, args.onnx, held_out, labels)
            line = (
                f"INT8 vs FP32 on {scores['images']} held-out images (onnxruntime, CPU): mIoU {scores['miou_vs_fp32']:.4f}, pixel agreement "
                f"{scores['pixel_agreement']:.4f}"
            )
            if "miou_fp32" in scores:
                line += (
                    f"; mIoU against the scenes' labels: FP32 {scores['miou_fp32']:.4f}, "
                    f"INT8 {scores['miou_int8']:.4f}"
                )
            print(line)
        else:
            print(
                f"INT8 accuracy not measured: the {info.head} head gives no class maps to compare"
            )
        print(f"wrote {args.onnx}")


def _build(args: argparse.Namespace) -> None:
    from fastpix.export.tensorrt import build_engine, parse_range

    sizes = None
    if args.sizes:
        parts = args.sizes.split(":")
        if len(parts) != 3:
            raise ValueError("--sizes must be MIN:OPT:MAX sizes like 256x256:256x512:512x1024")
        sizes = tuple(parse_size(part, "--sizes") for part in parts)
    build = build_engine(
        args.onnx,
        args.engine,
        backend=args.backend,
        batch=parse_range(args.batch, "--batch") if args.batch else None,
        sizes=sizes,
        timing_cache=args.timing_cache,
        target_cc=args.target_cc.split(",") if args.target_cc else None,
        workspace_mb=args.workspace_mb,
        verbose=args.verbose,
    )
    record = build.record
    profile = record["profiles"][0]
    targets = record["targets"]
    for note in build.notes:
        print(f"note: {note}")
    print(
        f"engine: {record['backend']} {record['tensorrt_version']}, {record['precision']}, "
        f"profile {profile['min']}..{profile['max']} (opt {profile['opt']}), compute capability "
        f"{', '.join(targets['compute_capabilities']) or 'of the build GPU'} "
        f"({targets['chosen_by']}), {record['engine_bytes'] / 1e6:.1f} MB in {build.seconds:.1f} s"
    )
    print(f"wrote {build.engine} and {build.sidecar}")


def run(args: argparse.Namespace) -> int:
    from fastpix.cli import UsageError

    sources = [s for s in (args.checkpoint, args.pix2pix_generator) if s]
    if len(sources) > 1:
        raise UsageError("give one of --checkpoint and --pix2pix-generator, not both")
    if not args.onnx:
        raise UsageError("--onnx is required (the ONNX file to write, or to build from)")
    if sources:
        _export(args)
    elif not args.engine:
        raise UsageError(
            "nothing to do: give --checkpoint or --pix2pix-generator to export, and/or "
            "--engine to build an engine from --onnx"
        )
    elif args.precision != "fp32" or args.head or args.size:
        raise UsageError(
            "--precision, --head and --size apply when exporting; an existing ONNX file is "
            "built as it was exported"
        )
    if args.engine:
        _build(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
