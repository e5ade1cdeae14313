"""Fused norm + activation (BatchNormAct2d) against PyTorch eager and torch.compile, forward and
forward+backward, at every norm of unet_256 and the basic PatchGAN, batch 1/8/32, fp32/bf16.

    python benchmarks/benchmark_norm_act.py [--quick] [--kinds batch instance] [--no-compile]

Rows are appended to benchmarks/results/kernels.{jsonl,csv}; see fastpix/bench/kernels.py.
"""

from __future__ import annotations

import sys

from fastpix.bench.kernels import script_main

if __name__ == "__main__":
    sys.exit(script_main("norm_act", __doc__))
