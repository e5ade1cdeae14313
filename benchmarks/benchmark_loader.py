"""PairLoader throughput: the native decoder vs a PIL + numpy loader and the libjpeg floor.

    python benchmarks/benchmark_loader.py            # 128 pairs, CPU (and CUDA when present)
    python benchmarks/benchmark_loader.py --quick    # 32 pairs, 3 repeats

The same as ``fastpix bench loader``; see fastpix/bench/loader.py. Results are appended to
benchmarks/results/loader.{jsonl,csv}.
"""

from __future__ import annotations

import sys

from fastpix.bench.loader import main

if __name__ == "__main__":
    sys.exit(main())
