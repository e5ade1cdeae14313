"""``fastpix train`` and ``fastpix evaluate``.

fastpix train segmentation --preset demo --data data/synth --out runs/seg
fastpix train pix2pix --preset pix2pix-cityscapes --data cityscapes --out runs/p2p --amp bf16
fastpix train pix2pix --resume runs/p2p                      # continue where it stopped
fastpix train spade --preset demo-spade --data data/synth --out runs/spade
torchrun --nproc_per_node 4 -m fastpix train pix2pix ...     # DDP: one process per GPU
fastpix evaluate --checkpoint runs/seg/checkpoints/best.pt --data data/synth
"""

from __future__ import annotations

import argparse
import ast

TASKS = ("segmentation", "pix2pix", "spade")

# flag destination -> config field, for the flags every task has
COMMON_FIELDS = {
    "data": "data", "layout": "layout", "out": "out", "epochs": "epochs", "steps": "steps",
    "time_budget": "time_budget",
    "batch_size": "batch_size", "lr": "lr", "lr_policy": "lr_policy", "size": "size",
    "load_size": "load_size", "label_set": "label_set", "loader": "loader", "workers": "workers",
    "device": "device", "amp": "amp", "compile": "compile", "channels_last": "channels_last",
    "threads": "threads", "seed": "seed", "log_every": "log_every",
    "sample_every": "sample_every", "checkpoint_every": "checkpoint_every",
    "train_split": "train_split", "val_split": "val_split", "flip": "flip",
    "progress": "progress",
}  # fmt: skip
SEGMENTATION_FIELDS = {
    "model": "model", "binary": "binary", "loss": "loss", "region_weight": "region_weight",
    "class_weights": "class_weights", "ce_top_k": "ce_top_k",
}  # fmt: skip
PIX2PIX_FIELDS = {
    "generator": "generator", "discriminator": "discriminator", "direction": "direction",
    "gan_mode": "gan_mode", "lambda_l1": "lambda_l1", "n_epochs_decay": "n_epochs_decay",
    "segmenter": "segmenter", "inference_mode": "inference_mode",
}  # fmt: skip
SPADE_FIELDS = {
    "vgg_weights": "vgg_weights", "lambda_feat": "lambda_feat", "lambda_vgg": "lambda_vgg",
    "ttur": "ttur", "reuse_fake": "reuse_fake", "n_epochs_decay": "n_epochs_decay",
    "segmenter": "segmenter",
}  # fmt: skip
TASK_FIELDS = {"segmentation": SEGMENTATION_FIELDS, "pix2pix": PIX2PIX_FIELDS,
               "spade": SPADE_FIELDS}  # fmt: skip


def _common_flags() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("run")
    g.add_argument("--resume", metavar="RUN_OR_CKPT", help="continue a run folder or checkpoint")
    g.add_argument("--data", help="data folder")
    g.add_argument("--layout", choices=["kaggle", "aligned", "cityscapes"], help="data layout")
    g.add_argument("--out", help="run folder (default runs/train)")
    g.add_argument("--train-split", help="training split (default train)")
    g.add_argument("--val-split", help="validation split (default val; 'none' for no validation)")
    g.add_argument("--label-set", help="trainid, labelid, road or a registered label set")
    g.add_argument("--epochs", type=int, help="passes over the training split")
    g.add_argument("--steps", type=int, help="stop after this many steps")
    g.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="train this long: the step count is chosen from the speed of the first "
                   "steps, within --steps / --epochs (0: off)")  # fmt: skip
    g.add_argument("--batch-size", type=int, help="batch size per process")
    g.add_argument("--lr", type=float, help="Adam learning rate")
    g.add_argument("--lr-policy", choices=["constant", "linear", "step", "cosine"])
    g.add_argument("--size", type=int, help="training crop / validation size (square)")
    g.add_argument("--load-size", type=int, help="resize to this square before cropping")
    g.add_argument("--no-flip", dest="flip", action="store_const", const=False,
                   help="no random horizontal flip")  # fmt: skip
    g.add_argument("--seed", type=int)
    g.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE",
        help="any config field, e.g. --set weight_decay=1e-4 (repeatable)",
    )  # fmt: skip
    s = p.add_argument_group("speed")
    s.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    s.add_argument("--amp", choices=["auto", "bf16", "fp16", "off"], help="mixed precision")
    s.add_argument("--compile", action="store_const", const=True, help="torch.compile the nets")
    s.add_argument("--channels-last", dest="channels_last", action="store_const", const=True,
                   help="channels_last memory format (default: on for CUDA)")  # fmt: skip
    s.add_argument("--no-channels-last", dest="channels_last", action="store_const", const=False)
    s.add_argument("--loader", choices=["auto", "native", "pil"], help="native PairLoader or PIL")
    s.add_argument("--workers", type=int, help="decoder threads / DataLoader workers")
    s.add_argument("--threads", type=int, help="torch CPU threads")
    lg = p.add_argument_group("logging")
    lg.add_argument("--log-every", type=int, help="metrics.jsonl record every N steps")
    lg.add_argument("--sample-every", type=int, help="sample grid every N steps (0: off)")
    lg.add_argument("--checkpoint-every", type=int, help="last.pt every N steps")
    lg.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                    help="no progress bar")  # fmt: skip
    return p


def add_parser(subparsers) -> None:
    from fastpix.train.config import PRESETS, TASK_OF  # dataclasses only: cheap

    common = _common_flags()
    presets = {task: [n for n, make in PRESETS.items() if TASK_OF[type(make())] == task]
               for task in TASKS}  # fmt: skip
    train = subparsers.add_parser(
        "train",
        help="train a segmenter, a pix2pix GAN or SPADE",
        description="Train a segmenter (U-Net, ResNet-34 FCN), a pix2pix / CGAN generator or a "
        "SPADE generator (class map → photo). "
        "A run folder gets checkpoints/last.pt and best.pt, metrics.jsonl, loss_curves.png, "
        "samples/ and progress.gif. Run under torchrun for several GPUs (or CPU processes).",
    )
    tasks = train.add_subparsers(dest="task", metavar="TASK")
    tasks.required = True
    seg = tasks.add_parser(
        "segmentation", parents=[common], help="photo → class map",
        description="Cross-entropy (or BCE with --binary) segmentation training.",
    )  # fmt: skip
    seg.add_argument("--preset", choices=presets["segmentation"], help="start from a preset")
    m = seg.add_argument_group("model")
    m.add_argument("--model", help="a fastpix.models segmenter: unet, fcn_resnet34")
    m.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="model option, e.g. --option base_channels=16 (repeatable)")  # fmt: skip
    m.add_argument("--binary", action="store_const", const=True,
                   help="one logit + BCE (2-class label set, e.g. road)")  # fmt: skip
    o = seg.add_argument_group("objective")
    o.add_argument("--loss", choices=["ce", "ce+dice", "ce+lovasz"],
                   help="cross-entropy, plus soft Dice or Lovász-softmax (default ce)")  # fmt: skip
    o.add_argument("--region-weight", type=float, help="weight of the region loss (default 1)")
    o.add_argument("--class-weights", choices=["none", "median_freq", "sqrt_inv"],
                   help="cross-entropy class weights from the train split's label frequencies")  # fmt: skip
    o.add_argument("--ce-top-k", type=float,
                   help="cross-entropy over this fraction of the hardest pixels (default 1)")  # fmt: skip
    seg.set_defaults(func=run_train)
    p2p = tasks.add_parser(
        "pix2pix", parents=[common], help="photo ↔ colour mask with a conditional GAN",
        description="pix2pix / CGAN training: G(A) judged by D(cat(A, ·)) plus λ·L1.",
    )  # fmt: skip
    p2p.add_argument("--preset", choices=presets["pix2pix"], help="start from a preset")
    m = p2p.add_argument_group("model")
    m.add_argument("--generator", help="unet_256, unet_128, resnet_9blocks, cgan_g, ...")
    m.add_argument("--discriminator", help="patchgan, pixelgan, cgan_d")
    m.add_argument("--g-option", action="append", default=[], metavar="KEY=VALUE")
    m.add_argument("--d-option", action="append", default=[], metavar="KEY=VALUE")
    m.add_argument("--direction", choices=["AtoB", "BtoA"], help="AtoB: left half → right")
    m.add_argument("--gan-mode", choices=["vanilla", "lsgan"])
    m.add_argument("--lambda-l1", type=float, help="weight of the L1 term (default 100)")
    m.add_argument("--n-epochs-decay", type=int, help="linear policy: epochs of decay")
    m.add_argument("--segmenter", help="segmentation checkpoint for the FCN-score (mask → photo)")
    m.add_argument("--inference-mode", choices=["paper", "eval"], help="G mode when scoring")
    p2p.set_defaults(func=run_train)
    spade = tasks.add_parser(
        "spade", parents=[common], help="class map → photo with SPADE",
        description="SPADE training: hinge GAN loss against a multi-scale PatchGAN, feature "
        "matching and (with --vgg-weights) a VGG-19 perceptual loss; Adam with TTUR.",
    )  # fmt: skip
    spade.add_argument("--preset", choices=presets["spade"], help="start from a preset")
    m = spade.add_argument_group("model")
    m.add_argument("--g-option", action="append", default=[], metavar="KEY=VALUE",
                   help="SPADEGenerator option, e.g. --g-option ngf=32 (repeatable)")  # fmt: skip
    m.add_argument("--d-option", action="append", default=[], metavar="KEY=VALUE",
                   help="MultiscaleDiscriminator option, e.g. --d-option num_D=2")  # fmt: skip
    m.add_argument("--vgg-weights", metavar="FILE",
                   help="torchvision vgg19 .pth: adds the VGG loss (default: off)")  # fmt: skip
    m.add_argument("--lambda-feat", type=float, help="feature-matching weight (default 10)")
    m.add_argument("--lambda-vgg", type=float, help="VGG loss weight (default 10)")
    m.add_argument("--no-ttur", dest="ttur", action="store_const", const=False,
                   help="G and D both at --lr (NVlabs --no_TTUR; set betas with --set)")  # fmt: skip
    m.add_argument("--reuse-fake", action="store_const", const=True,
                   help="D's step scores G's fake instead of regenerating it")  # fmt: skip
    m.add_argument("--n-epochs-decay", type=int, help="linear policy: epochs of decay")
    m.add_argument("--segmenter", help="segmentation checkpoint for the validation FCN-score")
    spade.set_defaults(func=run_train)

    ev = subparsers.add_parser(
        "evaluate",
        help="score a checkpoint on a data split",
        description="Segmenters: mIoU table. pix2pix photo → mask: palette → class mIoU. "
        "pix2pix mask → photo and SPADE: FCN-score with --segmenter.",
    )
    ev.add_argument("--checkpoint", required=True, help="a fastpix checkpoint (.pt)")
    ev.add_argument("--data", required=True, help="data folder")
    ev.add_argument("--split", default="val", help="split to score (default val)")
    ev.add_argument("--layout", choices=["kaggle", "aligned", "cityscapes"],
                    help="data layout (default: the checkpoint's)")  # fmt: skip
    ev.add_argument("--segmenter", help="segmentation checkpoint for the FCN-score")
    ev.add_argument("--batch-size", type=int, default=8)
    ev.add_argument("--device", default="auto")
    ev.add_argument("--mode", choices=["paper", "eval"], help="pix2pix generator inference mode")
    ev.add_argument("--loader", choices=["auto", "native", "pil"], default="auto")
    ev.add_argument("--json", help="write the scores to this JSON file")
    ev.set_defaults(func=run_evaluate)


def _value(text: str):
    """A flag value as a Python literal when it reads as one (numbers, True, None, lists)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _pairs(items: list[str], flag: str) -> dict:
    from fastpix.cli import UsageError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip().replace("-", "_")] = _value(value.strip())
    return out


def _flag_overrides(args: argparse.Namespace) -> dict:
    """Config field → value for every field flag given on the command line."""
    fields = dict(COMMON_FIELDS)
    fields.update(TASK_FIELDS[args.task])
    overrides = {
        field: getattr(args, dest) for dest, field in fields.items()
        if getattr(args, dest, None) is not None
    }  # fmt: skip
    if "val_split" in overrides and overrides["val_split"].lower() == "none":
        overrides["val_split"] = None
    return overrides


def build_config(args: argparse.Namespace):
    """The config the flags describe: the preset (or the task's defaults), then the flags."""
    from fastpix.cli import UsageError
    from fastpix.train.config import CONFIG_OF, get_preset, replace

    if args.preset:
        config = get_preset(args.preset)
        if config.to_dict()["task"] != args.task:
            raise UsageError(
                f"preset {args.preset!r} trains {config.to_dict()['task']}, not {args.task}"
            )
    else:
        config = CONFIG_OF[args.task]()
    overrides = _flag_overrides(args)
    if args.task == "segmentation" and args.option:
        overrides["model_options"] = {**config.model_options, **_pairs(args.option, "--option")}
    if args.task in ("pix2pix", "spade"):
        if args.g_option:
            options = _pairs(args.g_option, "--g-option")
            overrides["generator_options"] = {**config.generator_options, **options}
        if args.d_option:
            options = _pairs(args.d_option, "--d-option")
            overrides["discriminator_options"] = {**config.discriminator_options, **options}
    overrides.update(_pairs(args.set, "--set"))
    config = replace(config, **overrides)
    config.check()
    if config.data is None:
        raise UsageError("--data is required (the data folder)")
    return config


def run_train(args: argparse.Namespace) -> int:
    import json

    import fastpix.train as ft
    from fastpix.train.engine import NonFiniteLossError

    try:
        if args.resume:
            overrides = _flag_overrides(args)
            overrides.update(_pairs(args.set, "--set"))
            summary = ft.resume(args.resume, task=args.task, **overrides)
        else:
            summary = ft.train(build_config(args))
    except NonFiniteLossError as exc:
        print(f"fastpix train: {exc}")
        return 1
    shown = {k: summary[k] for k in ("out", "step", "epoch", "finished", "steps_per_s", "best",
                                     "budget", "best_checkpoint", "last_checkpoint")}  # fmt: skip
    print(json.dumps(shown, indent=1, default=str))
    return 0 if summary["finished"] else 130


def run_evaluate(args: argparse.Namespace) -> int:
    from fastpix.train.evaluate import evaluate_checkpoint, write_scores

    result = evaluate_checkpoint(
        args.checkpoint, args.data, split=args.split, layout=args.layout,
        segmenter=args.segmenter, batch_size=args.batch_size, device=args.device,
        mode=args.mode, loader=args.loader,
    )  # fmt: skip
    scores = result["scores"]
    if result["table"]:
        print(result["table"])
    summary = {k: v for k, v in scores.items() if isinstance(v, float)}
    print(", ".join(f"{k} {v:.4f}" for k, v in summary.items()))
    if args.json:
        print(f"scores written to {write_scores(result, args.json)}")
    return 0
