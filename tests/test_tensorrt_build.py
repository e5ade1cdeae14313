"""TensorRT engines: a real TensorRT-RTX build on the CPU (FP32, FP16, INT8 Q/DQ), the sidecar,
and the refusals of engines that cannot run here. Engine execution needs a GPU (cuda marker).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

import fastpix
import fastpix.models as fm
from fastpix.export import to_onnx
from fastpix.export.tensorrt import (
    CPU_ONLY_MESSAGE,
    EngineError,
    EngineRunner,
    build_engine,
    check_engine,
    make_profile,
    parse_range,
    read_sidecar,
    rtx_targets,
    select_backend,
    sidecar_path,
)
from fastpix.labels import get_label_set

trt_rtx = pytest.importorskip("tensorrt_rtx")
TRAINID = get_label_set("trainid")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    """A narrow U-Net exported as FP32 and FP16 (classes head, dynamic batch)."""
    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    model = fm.create("unet", num_classes=19, base_channels=4).eval()
    files = {}
    for precision in ("fp32", "fp16"):
        files[precision] = folder / f"unet_{precision}.onnx"
        to_onnx(model, files[precision], input_size=(64, 64), precision=precision, kind="segmenter")
    files["model"] = model
    return files


@pytest.fixture(scope="module")
def fp32_engine(onnx_files, tmp_path_factory):
    path = tmp_path_factory.mktemp("engine") / "unet.engine"
    return build_engine(onnx_files["fp32"], path, backend="tensorrt-rtx", batch=(1, 2, 4))


def test_fp32_engine_and_sidecar(fp32_engine, onnx_files):
    build = fp32_engine
    assert build.engine.stat().st_size > 100_000
    record = json.loads(sidecar_path(build.engine).read_text())
    assert record == build.record == read_sidecar(build.engine)
    assert record["engine_sha256"] == hashlib.sha256(build.engine.read_bytes()).hexdigest()
    assert record["onnx"] == "unet_fp32.onnx"
    assert record["backend"] == "tensorrt-rtx"
    assert record["tensorrt_version"] == trt_rtx.__version__
    assert record["fastpix_version"] == fastpix.__version__
    assert record["strongly_typed"] is True and record["precision"] == "fp32"
    assert record["profiles"] == [
        {"input": "image", "min": [1, 3, 64, 64], "opt": [2, 3, 64, 64], "max": [4, 3, 64, 64]}
    ]
    targets = record["targets"]
    assert targets["chosen_by"] == "TensorRT-RTX default"
    # its default portable set: Ampere and later, Turing (7.5) only on request
    assert "8.6" in targets["compute_capabilities"] and "7.5" not in targets["compute_capabilities"]
    assert record["label_set"] == "trainid"
    assert record["class_names"] == list(TRAINID.names)
    assert record["palette"][0] == [128, 64, 128]  # road, Cityscapes table
    assert record["normalization"]["mean"] == [0.5, 0.5, 0.5]
    assert record["input_size"] == [64, 64] and record["head"] == "classes"


def test_fp16_and_int8_engines(onnx_files, tmp_path):
    fp16 = build_engine(onnx_files["fp16"], tmp_path / "half.engine", backend="tensorrt-rtx")
    assert fp16.record["precision"] == "fp16"
    assert fp16.record["profiles"][0]["max"] == [8, 3, 64, 64]  # default batch 1:1:8

    from fastpix.export.quantize import quantize_int8

    rng = np.random.default_rng(0)
    calibration = [(rng.random((64, 64, 3)) * 255).astype(np.uint8) for _ in range(4)]
    int8_onnx = tmp_path / "int8.onnx"
    quantize_int8(onnx_files["fp32"], int8_onnx, calibration)
    int8 = build_engine(int8_onnx, tmp_path / "int8.engine", backend="tensorrt-rtx")
    assert int8.record["precision"] == "int8"
    assert any("weight-only-quantized GEMMs" in note for note in int8.notes)
    assert not any("GEMMs" in note for note in fp16.notes)
    assert int8.record["extra"]["calibration"] == {
        "method": "minmax",
        "images": 4,
        "source": "images",
        "float_layers": "first and last convolution",
    }


def test_targets_and_timing_cache(onnx_files, tmp_path):
    build = build_engine(
        onnx_files["fp32"],
        tmp_path / "sm86.engine",
        backend="tensorrt-rtx",
        target_cc=["8.6", "12.0"],
        timing_cache=tmp_path / "cache.bin",
    )
    assert build.record["targets"] == {
        "compute_capabilities": ["8.6", "12.0"],
        "chosen_by": "user",
        "device": None,
    }
    assert build.record["timing_cache"] is None and "not used" in build.notes[0]
    assert not (tmp_path / "cache.bin").exists()
    with pytest.raises(ValueError, match="cannot target compute capability 9.0"):
        build_engine(
            onnx_files["fp32"], tmp_path / "x.engine", backend="tensorrt-rtx", target_cc=["9.0"]
        )
    assert "12.0" in rtx_targets(trt_rtx) and not (tmp_path / "x.engine").exists()


def test_profiles():
    assert parse_range("1:4:8", "--batch") == (1, 4, 8) and parse_range("3", "--batch") == (3, 3, 3)
    for bad in ("0:1:2", "4:2:8", "1:2", "a:b:c"):
        with pytest.raises(ValueError, match="--batch"):
            parse_range(bad, "--batch")
    from fastpix.export import DeployInfo

    info = DeployInfo("segmenter", "classes", TRAINID, (64, 64))
    dynamic = make_profile(info, (-1, 3, -1, -1), (1, 2, 4), ((32, 32), (64, 64), (128, 256)))
    assert dynamic.min == (1, 3, 32, 32) and dynamic.max == (4, 3, 128, 256)
    assert dynamic.admits((3, 3, 64, 100)) and not dynamic.admits((5, 3, 64, 64))
    with pytest.raises(ValueError, match="fixed batch of 2"):
        make_profile(info, (2, 3, 64, 64), (1, 2, 4))
    with pytest.raises(ValueError, match="fixed size of 64×64"):
        make_profile(info, (-1, 3, 64, 64), None, ((32, 32), (64, 64), (64, 64)))


def test_backend_selection():
    assert select_backend("tensorrt-rtx").name == "tensorrt-rtx"
    assert select_backend("auto").name in ("tensorrt", "tensorrt-rtx")
    with pytest.raises(ValueError, match="unknown TensorRT backend 'trt'"):
        select_backend("trt")


def test_engines_that_cannot_run_here_are_refused(fp32_engine, tmp_path):
    record, engine = fp32_engine.record, fp32_engine.engine
    version = record["tensorrt_version"]
    check_engine(record, engine, version, ("NVIDIA RTX 4090", "8.9"))  # the one that fits
    with pytest.raises(
        EngineError, match=r"built with tensorrt-rtx .*this machine has 9\.9\.9.*rebuild"
    ):
        check_engine(record, engine, "9.9.9", ("NVIDIA RTX 4090", "8.9"))
    with pytest.raises(EngineError, match="not installed here"):
        check_engine(record, engine, None, ("NVIDIA RTX 4090", "8.9"))
    with pytest.raises(
        EngineError, match=r"this GPU \(NVIDIA H100, 9\.0\) is not one of them.*rebuild"
    ):
        check_engine(record, engine, version, ("NVIDIA H100", "9.0"))
    with pytest.raises(EngineError, match=CPU_ONLY_MESSAGE):
        check_engine(record, engine, version, None)

    # tampered sidecars, checked by the loader itself
    copy = tmp_path / "copy.engine"
    copy.write_bytes(engine.read_bytes())
    sidecar_path(copy).write_text(json.dumps({**record, "tensorrt_version": "0.1"}))
    with pytest.raises(
        EngineError,
        match=r"built with tensorrt-rtx 0\.1.*fastpix-export --onnx unet_fp32.onnx --engine",
    ):
        EngineRunner(copy)
    sidecar_path(copy).write_text(json.dumps(record))
    copy.write_bytes(engine.read_bytes()[:-10])
    with pytest.raises(EngineError, match="does not match its sidecar"):
        EngineRunner(copy)
    sidecar_path(copy).unlink()
    with pytest.raises(EngineError, match="no sidecar copy.engine.json"):
        EngineRunner(copy)
    with pytest.raises(FileNotFoundError, match="missing.engine"):
        EngineRunner(tmp_path / "missing.engine")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_engine_on_a_cpu_only_host(fp32_engine):
    with pytest.raises(EngineError, match=CPU_ONLY_MESSAGE):
        EngineRunner(fp32_engine.engine)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_engine_runs_like_onnxruntime(onnx_files, tmp_path):
    """On a GPU: build with the best backend for this GPU and compare with onnxruntime."""
    import onnxruntime as ort

    from fastpix.export.tensorrt import _cuda_device

    backend = select_backend("auto")
    if backend.name == "tensorrt-rtx" and _cuda_device()[1] not in rtx_targets(backend.trt):
        pytest.skip(f"TensorRT-RTX cannot target this GPU ({_cuda_device()}); install tensorrt")
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    for precision, agreement in (("fp32", 0.9999), ("fp16", 0.99)):
        build = build_engine(
            onnx_files[precision], tmp_path / f"{precision}.engine", batch=(1, 2, 4)
        )
        runner = EngineRunner(build.engine)
        ours = runner(x.cuda()).cpu().numpy()
        session = ort.InferenceSession(str(onnx_files["fp32"]), providers=["CPUExecutionProvider"])
        (expected,) = session.run(None, {"image": x.numpy()})
        assert ours.dtype == np.uint8 and ours.shape == expected.shape == (3, 64, 64)
        assert (ours == expected).mean() >= agreement
