"""Training throughput: fastpix's pix2pix trainer vs the reference recipe in plain PyTorch.

    python benchmarks/benchmark_train.py            # CUDA when present, else the CPU sizes
    python benchmarks/benchmark_train.py --quick    # smaller networks, fewer steps

The same as ``fastpix bench train``; see fastpix/bench/train.py. Results are appended to
benchmarks/results/train.{jsonl,csv}.
"""

from __future__ import annotations

import sys

from fastpix.bench.train import main

if __name__ == "__main__":
    sys.exit(main())
