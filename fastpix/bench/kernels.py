"""Benchmarks of the Triton kernels against PyTorch: ``fastpix bench kernels``.

Three cases, each at the real shapes it serves; every configuration is timed for each
provider in the same run, and rows go to ``<out>/kernels.jsonl`` / ``.csv``:

- ``norm_act``: every normalization of unet_256 (256×256 input) and of the basic PatchGAN,
  batch 1, 8 and 32, fp32 and bf16, forward and forward+backward, in training mode (batch
  statistics; dropout 0.5 where pix2pix's decoder has it). Providers: ``fastpix``
  (``BatchNormAct2d``; ``InstanceNormAct2d`` with ``--kinds instance``), ``torch``
  (``nn.BatchNorm2d`` then the activation and dropout modules, eager) and ``torch.compile``
  (those modules compiled).
- ``spade_norm``: SPADE's norms in the Cityscapes 256×512 generator (batch norm, LeakyReLU),
  batch 1 and 8; the same providers (torch: norm, ``x·(1+γ)+β``, LeakyReLU).
- ``palette``: ``palette_to_class`` on 256×512 masks, uint8 NHWC (the Cityscapes mask
  colours) and generator outputs in [-1, 1] (19 classes), and ``class_to_color``, batch 1, 8
  and 32. Providers: ``fastpix``, ``torch`` (cdist + argmin; indexing for the colours) and
  ``reference`` (fastpix's torch loop).

GB/s counts the bytes a pass must move at least, over the median time: norm_act forward
reads x and writes y, backward reads x and dy and writes dx (2 + 3 tensors); SPADE adds γ and
β in and dγ, dβ out (4 + 7); palette reads the image and writes the classes. Per-channel
parameters and statistics are left out. A ``memory_copy`` row (a large device-to-device copy,
read + write) gives the bandwidth the device reaches in practice; ``pct_of_copy`` relates
every row to it. ``vs_torch`` / ``vs_compile`` on fastpix rows are time ratios (> 1: fastpix
is faster).

On the CPU the ``fastpix`` provider runs the torch reference (the kernels are GPU-only; the
``impl`` column says which ran) and ``torch.compile`` is left out.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from fastpix.bench.harness import Timing, environment, markdown_table, measure, write_rows

# (channels, height, width, activation, dropout) of every norm of unet_256 at 256×256 (encoder:
# norm → the next block's LeakyReLU; decoder: norm [→ dropout], ReLU after the concatenation)
# and of the basic PatchGAN (norm → LeakyReLU).
UNET_256 = [
    (128, 64, 64, "leaky_relu", 0.0),
    (256, 32, 32, "leaky_relu", 0.0),
    (512, 16, 16, "leaky_relu", 0.0),
    (512, 8, 8, "leaky_relu", 0.0),
    (512, 4, 4, "leaky_relu", 0.0),
    (512, 2, 2, "leaky_relu", 0.0),
    (512, 2, 2, None, 0.0),
    (512, 4, 4, None, 0.5),
    (512, 8, 8, None, 0.5),
    (512, 16, 16, None, 0.5),
    (256, 32, 32, None, 0.0),
    (128, 64, 64, None, 0.0),
    (64, 128, 128, None, 0.0),
]
PATCHGAN = [
    (128, 64, 64, "leaky_relu", 0.0),
    (256, 32, 32, "leaky_relu", 0.0),
    (512, 31, 31, "leaky_relu", 0.0),
]
# (channels, height, width) of the norms in SPADE's 256×512 Cityscapes generator (ngf 64).
SPADE_256x512 = [
    (1024, 8, 16),
    (1024, 16, 32),
    (1024, 32, 64),
    (512, 32, 64),
    (512, 64, 128),
    (256, 64, 128),
    (256, 128, 256),
    (128, 128, 256),
    (128, 256, 512),
    (64, 256, 512),
]
QUICK_NORM_SHAPES = [(128, 64, 64, "leaky_relu", 0.0), (512, 4, 4, None, 0.5)]
QUICK_SPADE_SHAPES = [(256, 64, 128)]
MASK_SIZE = (256, 512)  # height, width of the palette cases: the Cityscapes pairs' halves
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
ACTIVATION_MODULES: dict[str | None, Callable[[], nn.Module]] = {
    None: nn.Identity,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
}
COLUMNS = [
    "case",
    "kind",
    "shape",
    "dtype",
    "variant",
    "pass",
    "provider",
    "impl",
    "median_ms",
    "gbps",
    "pct_of_copy",
    "vs_torch",
    "vs_compile",
]


@dataclass(frozen=True)
class Settings:
    device: torch.device
    quick: bool
    compile: bool  # time torch.compile as a provider
    kinds: tuple[str, ...]  # norms of the norm_act case
    warmup: int
    repeats: int


def settings_from(args: argparse.Namespace) -> Settings:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    quick = bool(args.quick)
    return Settings(
        device=device,
        quick=quick,
        # fastpix competes with Inductor's GPU code; its CPU code is slow to build and beside
        # the point (the CPU path is the reference).
        compile=getattr(args, "compile", True) and device.type == "cuda",
        kinds=tuple(getattr(args, "kinds", None) or ("batch",)),
        warmup=3 if quick else 5,
        repeats=10 if quick else 30,
    )


def _time(fn: Callable[[], object], s: Settings) -> Timing:
    return measure(fn, device=s.device, warmup=s.warmup, repeats=s.repeats, min_time_s=0.05)


def _impl(op: str, device: torch.device) -> str:
    from fastpix._dispatch import choose

    return choose(op, device.type)


def memory_copy_row(s: Settings) -> dict:
    """A 1 GiB (CPU: 256 MiB) device-to-device copy: the bandwidth reachable in practice."""
    src = torch.empty((1 << 28) if s.device.type == "cuda" else (1 << 26), device=s.device)
    dst = torch.empty_like(src)
    timing = _time(lambda: dst.copy_(src), s)
    gbps = 2 * src.numel() * src.element_size() / timing.median_s / 1e9
    return _row(
        "memory_copy", "", src.shape, "fp32", "", "forward", "torch.copy_", "torch", timing, gbps
    )


def _row(case, kind, shape, dtype, variant, pass_, provider, impl, timing, gbps) -> dict:
    return {
        "bench": "kernels",
        "case": case,
        "kind": kind,
        "shape": "x".join(map(str, shape)),
        "dtype": dtype,
        "variant": variant,
        "pass": pass_,
        "provider": provider,
        "impl": impl,
        "median_ms": timing.median_ms,
        "min_ms": timing.min_s * 1e3,
        "repeats": timing.repeats,
        "gbps": gbps,
    }


def _passes(module: nn.Module, inputs: list[torch.Tensor]) -> dict[str, Callable[[], object]]:
    """Forward (no autograd) and forward+backward (gradients of the inputs and parameters,
    returned rather than accumulated) of ``module(*inputs)``."""
    params = [p for p in module.parameters() if p.requires_grad]
    grad_out = torch.randn_like(inputs[0])

    def forward():
        with torch.no_grad():
            return module(*inputs)

    def forward_backward():
        return torch.autograd.grad(module(*inputs), [*inputs, *params], grad_out)

    return {"forward": forward, "forward+backward": forward_backward}


def _measure(
    config: dict,
    providers: dict[str, tuple[dict[str, Callable[[], object]], str]],
    nbytes: dict[str, int],
    s: Settings,
) -> list[dict]:
    """Time every pass of every provider of one configuration; ``config`` holds the case,
    kind, shape, dtype and variant columns, ``nbytes`` the bytes of each pass."""
    rows = []
    for provider, (passes, impl) in providers.items():
        for pass_, fn in passes.items():
            timing = _time(fn, s)
            gbps = nbytes[pass_] / timing.median_s / 1e9
            rows.append(
                _row(**config, pass_=pass_, provider=provider, impl=impl, timing=timing, gbps=gbps)
            )
            print(markdown_table(rows[-1:], COLUMNS).splitlines()[-1], flush=True)
    for row in rows:
        if row["provider"] != "fastpix":
            continue
        for other in rows:
            if other["pass"] == row["pass"] and other["provider"] in ("torch", "torch.compile"):
                column = "vs_torch" if other["provider"] == "torch" else "vs_compile"
                row[column] = other["median_ms"] / row["median_ms"]
    return rows


def _with_compile(module: nn.Module, inputs: list[torch.Tensor], s: Settings) -> dict:
    """``{"torch": ...}`` plus ``{"torch.compile": ...}`` when compiling is on."""
    providers = {"torch": (_passes(module, inputs), "torch")}
    if s.compile:
        torch._dynamo.reset()  # every shape compiles afresh; no recompile limit reached
        providers["torch.compile"] = (
            _passes(torch.compile(module, dynamic=False), inputs),
            "inductor",
        )
    return providers


def _finish(rows: list[dict], s: Settings, env: dict, out: str) -> list[dict]:
    rows = [memory_copy_row(s), *rows]
    for row in rows:
        row["pct_of_copy"] = 100.0 * row["gbps"] / rows[0]["gbps"]
    path = write_rows("kernels", rows, env, out)
    print(markdown_table(rows, COLUMNS))
    if s.device.type != "cuda":
        print("note: the Triton kernels are GPU-only; on the CPU fastpix runs its torch reference")
    print(f"results appended to {path}")
    return rows


# ----------------------------------------------------------------------------- cases


def _torch_norm_act(kind: str, channels: int, activation: str | None, dropout: float):
    norm = nn.BatchNorm2d(channels) if kind == "batch" else nn.InstanceNorm2d(channels, affine=True)
    layers = [norm, ACTIVATION_MODULES[activation]()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def norm_act_rows(s: Settings) -> list[dict]:
    from fastpix.nn import BatchNormAct2d, InstanceNormAct2d

    cases = [("unet_256", UNET_256), ("patchgan", PATCHGAN)]
    if s.quick:
        cases = [("unet_256", QUICK_NORM_SHAPES)]
    batches = (8,) if s.quick else (1, 8, 32)
    rows: list[dict] = []
    for case, shapes in cases:
        configs = itertools.product(shapes, s.kinds, batches, DTYPES.items())
        for (channels, h, w, activation, dropout), kind, batch, (dtype_name, dtype) in configs:
            torch.manual_seed(0)
            act = {"activation": activation, "dropout": dropout}
            if kind == "batch":
                ours = BatchNormAct2d(channels, **act)
            else:
                ours = InstanceNormAct2d(channels, affine=True, **act)
            theirs = _torch_norm_act(kind, channels, activation, dropout).to(s.device)
            x = torch.randn(batch, channels, h, w, device=s.device, dtype=dtype)
            x.requires_grad_()
            providers = {"fastpix": (_passes(ours.to(s.device), [x]), _impl("norm_act", s.device))}
            providers.update(_with_compile(theirs, [x], s))
            variant = (activation or "none") + (f"+dropout{dropout}" if dropout else "")
            config = {"case": case, "kind": kind, "shape": x.shape, "dtype": dtype_name,
                      "variant": variant}  # fmt: skip
            size = x.numel() * x.element_size()
            rows += _measure(
                config, providers, {"forward": 2 * size, "forward+backward": 5 * size}, s
            )
    return rows


class _TorchSpade(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.param_free_norm = nn.BatchNorm2d(channels, affine=False)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x, gamma, beta):
        return self.act(self.param_free_norm(x) * (1 + gamma) + beta)


def spade_norm_rows(s: Settings) -> list[dict]:
    from fastpix.nn import SpadeNormAct2d

    rows: list[dict] = []
    for channels, h, w in QUICK_SPADE_SHAPES if s.quick else SPADE_256x512:
        for batch in (1,) if s.quick else (1, 8):
            for dtype_name, dtype in DTYPES.items():
                torch.manual_seed(0)
                shape = (batch, channels, h, w)
                inputs = [torch.randn(shape, device=s.device, dtype=dtype) for _ in range(3)]
                inputs = [t.requires_grad_() for t in inputs]
                ours = SpadeNormAct2d(channels, "batch").to(s.device)
                providers = {"fastpix": (_passes(ours, inputs), _impl("spade_norm_act", s.device))}
                providers.update(_with_compile(_TorchSpade(channels).to(s.device), inputs, s))
                size = inputs[0].numel() * inputs[0].element_size()
                config = {
                    "case": "spade_256x512",
                    "kind": "batch",
                    "shape": inputs[0].shape,
                    "dtype": dtype_name,
                    "variant": "leaky_relu",
                }
                rows += _measure(
                    config, providers, {"forward": 4 * size, "forward+backward": 11 * size}, s
                )
    return rows


def palette_rows(s: Settings) -> list[dict]:
    from fastpix import class_to_color, palette_to_class
    from fastpix.labels import get_label_set
    from fastpix.palette import class_to_color_reference, palette_to_class_reference

    label_set = get_label_set("trainid")
    mask_palette = label_set.mask_palette.to(s.device)
    palette = label_set.palette.to(s.device)
    impl = _impl("palette_to_class", s.device)
    rows: list[dict] = []

    def by_cdist(rgb255: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
        flat = rgb255.reshape(-1, 3)
        return torch.cdist(flat, colors.float()).argmin(1).to(torch.uint8)

    for batch in (8,) if s.quick else (1, 8, 32):
        g = torch.Generator(device=s.device).manual_seed(0)
        h, w = MASK_SIZE
        classes = torch.randint(
            0, mask_palette.shape[0], (batch, h, w), generator=g, device=s.device
        )
        mask = mask_palette[classes]  # N×H×W×3 uint8, as decoded from files
        fake = torch.rand(batch, 3, h, w, generator=g, device=s.device) * 2 - 1
        pixels = batch * h * w
        cases = (
            (f"uint8_nhwc_{len(mask_palette)}_colours", mask, mask_palette, mask.float),
            (
                "fp32_nchw_19_classes",
                fake,
                palette,
                lambda f=fake: ((f + 1) * 127.5).permute(0, 2, 3, 1),
            ),
        )
        for variant, image, colors, rgb255 in cases:
            providers = {
                "fastpix": ({"forward": lambda i=image, c=colors: palette_to_class(i, c)}, impl),
                "torch": ({"forward": lambda c=colors, f=rgb255: by_cdist(f(), c)}, "torch"),
                "reference": (
                    {"forward": lambda i=image, c=colors: palette_to_class_reference(i, c)},
                    "torch",
                ),
            }
            config = {
                "case": "palette_to_class",
                "kind": "",
                "shape": tuple(image.shape),
                "dtype": str(image.dtype).replace("torch.", ""),
                "variant": variant,
            }
            nbytes = {"forward": image.numel() * image.element_size() + pixels}
            rows += _measure(config, providers, nbytes, s)
        table = torch.cat([palette, torch.zeros(1, 3, dtype=torch.uint8, device=s.device)])
        trainid = classes.clamp(max=18).to(torch.uint8)
        providers = {
            "fastpix": ({"forward": lambda c=trainid: class_to_color(c, palette)}, impl),
            "torch": ({"forward": lambda c=trainid, t=table: t[c.long()]}, "torch"),
            "reference": (
                {"forward": lambda c=trainid: class_to_color_reference(c, palette)},
                "torch",
            ),
        }
        config = {
            "case": "class_to_color",
            "kind": "",
            "shape": tuple(trainid.shape),
            "dtype": "uint8",
            "variant": "19_classes",
        }
        rows += _measure(config, providers, {"forward": 4 * pixels}, s)
    return rows


# ----------------------------------------------------------------------------- entry points

CASES: dict[str, Callable[[Settings], list[dict]]] = {
    "norm_act": norm_act_rows,
    "spade_norm": spade_norm_rows,
    "palette": palette_rows,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the benchmark scripts in ``benchmarks/``."""
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--out", default="benchmarks/results", help="results folder")
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    parser.add_argument(
        "--no-compile", dest="compile", action="store_false", help="leave out torch.compile"
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=("batch", "instance"),
        default=["batch"],
        help="norms of the norm_act case (default: batch, pix2pix's)",
    )


def script_main(case: str, description: str | None, argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/benchmark_<case>.py``."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    run(parser.parse_args(argv), cases=(case,))
    return 0


def run(args: argparse.Namespace, cases: tuple[str, ...] = tuple(CASES)) -> list[dict]:
    """``fastpix bench kernels``: the given cases (all by default), rows appended to
    ``<args.out>/kernels.jsonl`` and ``.csv``."""
    s = settings_from(args)
    env = environment(s.device)  # the revision the run started from
    print("\n".join(markdown_table([], COLUMNS).splitlines()[:2]), flush=True)
    rows: list[dict] = []
    for case in cases:
        rows += CASES[case](s)
    return _finish(rows, s, env, args.out)
