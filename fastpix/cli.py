"""The ``fastpix`` command: one subcommand per area, each defined beside its code.

Each module in ``COMMANDS`` exposes ``add_parser(subparsers)``, which adds its subcommand and
sets ``func`` to a callable taking the parsed arguments. Those modules import only argparse
at import time, so ``fastpix --help`` stays fast; the heavy imports happen inside ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from fastpix._version import __version__

# Subcommand modules, in the order `fastpix --help` lists them.
COMMANDS: list[str] = [
    "fastpix.data.cli",
    "fastpix.models.cli",
    "fastpix.io.cli",
    "fastpix.bench.cli",
    "fastpix.train.cli",
    "fastpix.export.cli",
    "fastpix.infer.cli",
    "fastpix.pipeline.cli",
    "fastpix.demo",
]


class UsageError(Exception):
    """Bad input from the command line or the files it names: printed, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastpix",
        description="Fast street-scene image-to-image segmentation (pix2pix, U-Net, FCN).",
    )
    parser.add_argument("--version", action="version", version=f"fastpix {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def run_command(args: argparse.Namespace, prog: str) -> int:
    """Call ``args.func(args)``: user errors are printed as ``prog: error: ...`` (status 2)."""
    try:
        result = args.func(args)
    except (UsageError, FileNotFoundError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(args, f"fastpix {args.command}")


if __name__ == "__main__":
    sys.exit(main())
