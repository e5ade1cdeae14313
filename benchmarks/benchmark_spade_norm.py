"""Fused SPADE norm (batch norm, ·(1+γ)+β, LeakyReLU) against PyTorch eager and torch.compile,
forward and forward+backward, at the norms of SPADE's 256×512 Cityscapes generator.

    python benchmarks/benchmark_spade_norm.py [--quick] [--no-compile]

Rows are appended to benchmarks/results/kernels.{jsonl,csv}; see fastpix/bench/kernels.py.
"""

from __future__ import annotations

import sys

from fastpix.bench.kernels import script_main

if __name__ == "__main__":
    sys.exit(script_main("spade_norm", __doc__))
