"""Pipeline throughput: FCN ResNet-34 → SPADE → FCN ResNet-34 on synthetic street scenes, each
stage alone and the whole ``run_pipeline`` call, in images/s.

    python benchmarks/benchmark_pipeline.py            # CUDA when present, else the CPU case
    python benchmarks/benchmark_pipeline.py --quick    # fewer repeats

The same as ``fastpix bench pipeline``; see fastpix/bench/pipeline.py. Results are appended to
benchmarks/results/pipeline.{jsonl,csv}.
"""

from __future__ import annotations

import sys

from fastpix.bench.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
