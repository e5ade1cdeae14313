"""Render benchmarks/results/*.jsonl into benchmarks/results/README.md and plots/*.png.

    python benchmarks/render_results.py [--out benchmarks/results] [--no-plots]

The same as ``fastpix bench report``; see fastpix/bench/report.py.
"""

from __future__ import annotations

import sys

from fastpix.bench.report import main

if __name__ == "__main__":
    sys.exit(main())
