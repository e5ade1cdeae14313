"""``fastpix models``: list the model zoo; inspect a pix2pix reference checkpoint."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the model zoo or inspect a pix2pix checkpoint",
        description="The fastpix model zoo (fastpix.models.create) and pix2pix checkpoints.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser(
        "list",
        help="model names, parameter counts and options",
        description="Every name fastpix.models.create accepts, its parameter count with the "
        "default options and the options with their defaults.",
    )
    listing.set_defaults(func=run_list)
    inspect = actions.add_parser(
        "inspect",
        help="what a pix2pix latest_net_G/D.pth holds and how to load it",
        description="Recognize a checkpoint saved by the official pix2pix code and print the "
        "fastpix.compat.pix2pix call that loads it.",
    )
    inspect.add_argument("checkpoint", help="path to a latest_net_G.pth / latest_net_D.pth")
    inspect.set_defaults(func=run_inspect)


def run_list(args: argparse.Namespace) -> int:
    import torch

    import fastpix.models as fm

    for name in fm.list_models():
        options = fm.model_options(name)
        build = {k: v for k, v in options.items() if k != "pretrained_backbone"}
        with torch.device("meta"):  # no memory, no init cost
            params = sum(p.numel() for p in fm.create(name, **build).parameters())
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
        print(f"{name:<15} {params / 1e6:8.3f} M  {shown}")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from fastpix.compat.pix2pix import describe_checkpoint

    found = describe_checkpoint(args.checkpoint)
    print(", ".join(f"{k}={v}" for k, v in found.items()))
    if found["kind"] == "generator":
        keys = ("netG", "norm", "ngf", "input_nc", "output_nc")
        if found.get("use_dropout") is not None:
            keys += ("use_dropout",)
        call = "load_generator"
    else:
        keys = ("netD", "n_layers", "norm", "ndf", "input_nc")
        call = "load_discriminator"
    arguments = ", ".join(f"{k}={found[k]!r}" for k in keys if k in found)
    print(f"fastpix.compat.pix2pix.{call}({args.checkpoint!r}, {arguments})")
    return 0
