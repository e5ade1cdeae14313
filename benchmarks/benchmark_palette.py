"""palette_to_class and class_to_color kernels against torch (cdist + argmin; indexing) and
fastpix's torch reference, on 256×512 masks and generator outputs, batch 1/8/32.

    python benchmarks/benchmark_palette.py [--quick]

Rows are appended to benchmarks/results/kernels.{jsonl,csv}; see fastpix/bench/kernels.py.
"""

from __future__ import annotations

import sys

from fastpix.bench.kernels import script_main

if __name__ == "__main__":
    sys.exit(script_main("palette", __doc__))
