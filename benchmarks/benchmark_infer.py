"""Inference latency and throughput of unet_256 and the U-Net per runtime.

    python benchmarks/benchmark_infer.py            # batch 1 and 8, 256×256 and 256×512
    python benchmarks/benchmark_infer.py --quick    # 256×256 only, 3 repeats
    FASTPIX_BENCH_THREADS=2 python benchmarks/benchmark_infer.py --device cpu

On a CPU: torch eager FP32 against onnxruntime. On a GPU also torch FP16 channels_last,
torch.compile and TensorRT FP16 / INT8 engines. The same as ``fastpix bench infer``; see
fastpix/bench/infer.py. Results are appended to benchmarks/results/infer.{jsonl,csv}.
"""

from __future__ import annotations

import sys

from fastpix.bench.infer import main

if __name__ == "__main__":
    sys.exit(main())
