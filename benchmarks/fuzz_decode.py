"""Fuzz the native decoders under AddressSanitizer + UBSan.

    python benchmarks/fuzz_decode.py                  # 10,000 mutated files (a few minutes)
    python benchmarks/fuzz_decode.py --count 50000 --seed 7 --keep /tmp/fuzz

Builds the standalone driver csrc/fuzz/fuzz_decode.cpp with ``FASTPIX_ASAN=ON`` into a
temporary folder, writes ``--count`` mutated JPEG/PNG files (bit flips, truncations, header
garbage, random bytes, spliced and duplicated ranges of valid seed files made with PIL), and
runs every file through every native entry point: decode in each mode, the header probe and
the pair pipeline (side by side, as a label map, with JPEG draft scaling). Passes when no run
crashes and the sanitizers report nothing; leaks are checked too (LeakSanitizer).

The short CI version (tests/test_fuzz_decode.py) feeds a few hundred of the same mutations to
the normal build in-process.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FILES_PER_RUN = 400  # files per driver process (argument list length, fresh heap)
PNG_SIGNATURE = b"\x89PNG"


def seed_files() -> list[bytes]:
    """Small valid files of every flavour the decoders handle."""
    from PIL import Image

    rng = np.random.default_rng(1234)
    y, x = np.mgrid[0:24, 0:40]
    smooth = np.stack([x * 6, y * 10, (x + y) * 4], -1).astype(np.uint8)
    noisy = (smooth + rng.integers(0, 60, smooth.shape)).clip(0, 255).astype(np.uint8)
    rgb = Image.fromarray(noisy)
    seeds = []

    def save(image, fmt, **options) -> None:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        seeds.append(buffer.getvalue())

    save(rgb, "JPEG", quality=90)
    save(rgb, "JPEG", quality=100, subsampling=0)
    save(rgb, "JPEG", quality=75, progressive=True)
    save(rgb, "JPEG", quality=80, restart_marker_blocks=1)
    save(rgb.convert("L"), "JPEG")
    save(rgb.convert("CMYK"), "JPEG")
    save(rgb, "PNG")
    save(rgb.convert("RGBA"), "PNG")
    save(rgb.convert("LA"), "PNG")
    save(rgb.convert("L"), "PNG", optimize=True)
    save(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG")
    save(rgb.convert("1"), "PNG")
    save(Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257), "PNG")
    return seeds


def mutate(data: bytes, rng: np.random.Generator, seeds: list[bytes]) -> bytes:
    """One random corruption of a valid file."""
    buf = bytearray(data)
    n = len(buf)
    if n == 0:  # an earlier truncation left nothing: a few random bytes
        return bytes(rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8))
    kind = int(rng.integers(0, 9))
    if kind == 0:  # flip a few bits anywhere
        for _ in range(int(rng.integers(1, 17))):
            i = int(rng.integers(0, n))
            buf[i] ^= 1 << int(rng.integers(0, 8))
    elif kind == 1:  # overwrite bytes with random values
        for _ in range(int(rng.integers(1, 9))):
            buf[int(rng.integers(0, n))] = int(rng.integers(0, 256))
    elif kind == 2:  # truncate
        buf = buf[: int(rng.integers(0, n))]
    elif kind == 3:  # garbage in the header region
        for _ in range(int(rng.integers(1, 9))):
            buf[int(rng.integers(0, min(n, 96)))] = int(rng.integers(0, 256))
    elif kind == 4:  # random bytes after a valid signature
        buf = buf[:8] + bytearray(rng.integers(0, 256, int(rng.integers(0, 2048)), dtype=np.uint8))
    elif kind == 5:  # delete a range
        i = int(rng.integers(0, n))
        buf = buf[:i] + buf[i + int(rng.integers(1, 64)) :]
    elif kind == 6:  # duplicate a range
        i = int(rng.integers(0, n))
        buf = buf[:i] + buf[i : i + int(rng.integers(1, 256))] + buf[i:]
    elif kind == 7:  # splice two files
        other = seeds[int(rng.integers(0, len(seeds)))]
        buf = buf[: int(rng.integers(0, n))] + other[int(rng.integers(0, len(other))) :]
    else:  # sizes in the header set to extremes
        for _ in range(2):
            i = int(rng.integers(0, min(n, 40)))
            buf[i : i + 2] = bytes([0xFF, 0xFF]) if rng.random() < 0.5 else bytes([0, 0])
    return bytes(buf)


def mutated_files(count: int, seed: int = 0) -> Iterator[bytes]:
    """``count`` corrupted files, deterministic for a seed (one to three mutations each)."""
    rng = np.random.default_rng(seed)
    seeds = seed_files()
    for _ in range(count):
        data = seeds[int(rng.integers(0, len(seeds)))]
        for _ in range(int(rng.integers(1, 4))):
            data = mutate(data, rng, seeds)
        yield data


def build_driver(build_dir: Path) -> Path:
    """Configure and build the ASan driver; returns its path."""
    import pybind11

    tool_dir = Path(sys.executable).parent
    cmake = shutil.which("cmake", path=f"{tool_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    ninja = shutil.which("ninja", path=f"{tool_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    if cmake is None:
        sys.exit("cmake not found (pip install cmake ninja)")
    configure = [
        cmake, "-S", str(ROOT), "-B", str(build_dir), "-DFASTPIX_ASAN=ON",
        f"-DFASTPIX_OUTPUT_DIR={build_dir / 'modules'}", f"-DPython_EXECUTABLE={sys.executable}",
        f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
    ]  # fmt: skip
    if ninja:
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    subprocess.run(configure, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [cmake, "--build", str(build_dir), "--target", "fastpix_fuzz_decode", "-j", "2"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return build_dir / "fastpix_fuzz_decode"


def run(count: int, seed: int, keep: Path | None) -> int:
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="fastpix-fuzz-"))
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(mutated_files(count, seed)):
        suffix = "png" if data.startswith(PNG_SIGNATURE) else "jpg"
        path = corpus / f"{i:06d}.{suffix}"
        path.write_bytes(data)
        paths.append(str(path))
    start = time.time()
    driver = build_driver(work / "build")
    print(f"built {driver} in {time.time() - start:.0f} s")
    env = dict(
        os.environ,
        ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
    )
    totals = {"files": 0, "decoded": 0, "errors": 0}
    failures = []
    start = time.time()
    for first in range(0, len(paths), FILES_PER_RUN):
        chunk = paths[first : first + FILES_PER_RUN]
        result = subprocess.run([str(driver), *chunk], capture_output=True, text=True, env=env)
        report = result.stderr
        if result.returncode != 0 or "Sanitizer" in report or "runtime error" in report:
            failures.append((chunk[0], chunk[-1], result.returncode, report[-4000:]))
            continue
        for field in result.stdout.split():
            key, value = field.split("=")
            totals[key] += int(value)
    elapsed = time.time() - start
    print(
        f"{totals['files']} files in {elapsed:.0f} s: {totals['decoded']} clean decodes, "
        f"{totals['errors']} DecodeErrors, {len(failures)} crashing runs / sanitizer reports"
    )
    for first_file, last_file, code, report in failures:
        print(f"FAILED (exit {code}) on {first_file} .. {last_file}:\n{report}")
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="mutated files (10000)")
    parser.add_argument("--seed", type=int, default=0, help="mutation seed (0)")
    parser.add_argument("--keep", type=Path, default=None, help="keep build and corpus here")
    args = parser.parse_args(argv)
    return run(args.count, args.seed, args.keep)


if __name__ == "__main__":
    sys.exit(main())
