"""A short fuzz run in CI: mutated JPEG/PNG files through the normal native build, in-process.

Every file must either decode or raise DecodeError, through both single-image decoding and the
batch pair decoder; a crash fails the whole test run. The long run (>= 10,000 files under
AddressSanitizer + UBSan, leaks included) is ``python benchmarks/fuzz_decode.py``, which owns
the mutations used here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from fastpix._native import HAVE_NATIVE, native_module
from fastpix.io import DecodeError, decode_image

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_NATIVE, reason="fastpix._C not built"),
]

FUZZ_SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz_decode.py"


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("fuzz_decode", FUZZ_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mutated_files_decode_or_raise_decode_error(tmp_path):
    files = list(_fuzz_module().mutated_files(1000, seed=2024))
    outcomes = {"decoded": 0, "errors": 0}
    paths = []
    for i, data in enumerate(files):
        for mode in ("RGB", "L", "unchanged"):
            try:
                image = decode_image(data, mode, max_pixels=1 << 22)
            except DecodeError:
                outcomes["errors"] += 1
            else:
                assert image.dtype == np.uint8 and image.size > 0
                outcomes["decoded"] += 1
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(data)
        paths.append(str(path))
    # Both outcomes occur: the corpus is neither all-valid nor all-garbage.
    assert outcomes["decoded"] > 50 and outcomes["errors"] > 50, outcomes

    decoder = native_module().PairDecoder(
        side_by_side=True, target="colors", filter="bicubic", load_size=(13, 17),
        require_load_size=False, out_size=(11, 16),
        photo_lut=np.zeros((3, 256), np.float32), class_itemsize=8,
        palette=np.array([[0, 0, 0], [128, 64, 128]], np.uint8),
        mask_lut=np.arange(256, dtype=np.uint8), ignore_index=255, max_distance_sq=-1.0,
        id_lut=np.zeros(256, np.uint8), max_pixels=1 << 22, jpeg_draft=True, num_threads=2,
    )  # fmt: skip
    n = len(paths)
    photo = np.empty((n, 3, 11, 16), np.float32)
    classes = np.empty((n, 11, 16), np.int64)
    errors = decoder.decode(paths, None, [1] * n, [1] * n, [True] * n, photo, classes)
    failed = {index for index, _, _ in errors}
    assert 0 < len(failed) < n
    assert all(source == 0 and reason for _, source, reason in errors)
