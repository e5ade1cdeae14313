"""The demo's U-Net: held-out mIoU, steps/s and the whole demo's wall time on synthetic scenes.

    python benchmarks/benchmark_demo.py                    # the demo as `make demo` runs it
    python benchmarks/benchmark_demo.py --set steps=300    # another configuration of the preset
    python benchmarks/benchmark_demo.py --keep demo_out    # keep the demo folder and report

The same as ``fastpix bench demo``; see fastpix/bench/demo.py. Results are appended to
benchmarks/results/demo_miou.{jsonl,csv}.
"""

from __future__ import annotations

import sys

from fastpix.bench.demo import main

if __name__ == "__main__":
    sys.exit(main())
