"""fastpix.infer.Predictor and ``fastpix predict``: every input form, single and batched, over
an ONNX file and a checkpoint of the same network; colours and overlays against hand-computed
values; errors for inputs and models it cannot use.

The oracle for class maps is written out here: PIL bicubic resize to the training size,
(x / 255 - mean) / std, the torch network, argmax, PIL nearest resize back.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import fastpix.models as fm
from fastpix.checkpoint import model_entry, save_checkpoint
from fastpix.export import load_checkpoint_source, to_onnx
from fastpix.infer import Predictor
from fastpix.labels import get_label_set, label_set_to_dict

SIZE = (64, 64)  # training size of the test network (H, W)
MEAN, STD = (0.45, 0.5, 0.55), (0.2, 0.25, 0.3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    network = fm.create("unet", num_classes=19, base_channels=4)
    network.train()
    with torch.no_grad():  # realistic batch-norm statistics
        network(torch.randn(4, 3, *SIZE))
    network.eval()
    checkpoint = save_checkpoint(
        folder / "seg.pt",
        {
            "task": "segmentation",
            "models": {
                "model": model_entry("unet", {"num_classes": 19, "base_channels": 4}, network)
            },
            "label_set": label_set_to_dict(get_label_set("trainid")),
            "data": {"size": list(SIZE), "mean": list(MEAN), "std": list(STD)},
        },
    )
    source = load_checkpoint_source(checkpoint)
    onnx_classes = folder / "seg.onnx"
    to_onnx(source, onnx_classes, head="classes")
    onnx_logits = folder / "seg_logits.onnx"
    to_onnx(source, onnx_logits, head="logits", dynamic_batch=False, batch_size=2)
    return {
        "network": network,
        "checkpoint": checkpoint,
        "onnx": onnx_classes,
        "logits": onnx_logits,
        "folder": folder,
    }


def photo(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def expected_classes(network, image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    resized = Image.fromarray(image).resize(SIZE[::-1], Image.Resampling.BICUBIC)
    x = torch.from_numpy(np.array(resized)).float().permute(2, 0, 1)[None] / 255.0
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        classes = network(x).argmax(1)[0].to(torch.uint8).numpy()
    back = Image.fromarray(classes).resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(back)


@pytest.mark.parametrize("which", ["onnx", "checkpoint"])
def test_every_input_form(models, which, tmp_path):
    predictor = Predictor(models[which])
    first, second = photo(50, 80, 1), photo(64, 64, 2)
    want1 = expected_classes(models["network"], first)
    want2 = expected_classes(models["network"], second)

    path = tmp_path / "first.png"
    Image.fromarray(first).save(path)
    chw = torch.from_numpy(first).permute(2, 0, 1)
    forms = {
        "path": str(path),
        "pathlib": path,
        "PIL": Image.fromarray(first),
        "numpy": first,
        "numpy float": first.astype(np.float32) / 255.0,
        "tensor uint8 CHW": chw,
        "tensor float CHW": chw.float() / 255.0,
    }
    for name, form in forms.items():
        got = predictor.predict(form)
        assert got.dtype == torch.uint8 and got.shape == (50, 80), name
        assert (got.numpy() == want1).mean() >= 0.9999, name

    listed = predictor.predict([first, Image.fromarray(second)])
    assert isinstance(listed, list) and [c.shape for c in listed] == [(50, 80), (64, 64)]
    assert (listed[1].numpy() == want2).mean() >= 0.9999
    stacked = predictor.predict(np.stack([second, second, second]))  # N×H×W×3
    assert stacked.shape == (3, 64, 64) and (stacked.numpy() == want2).mean() >= 0.9999
    nchw = predictor.predict(torch.from_numpy(np.stack([second] * 2)).permute(0, 3, 1, 2))
    assert nchw.shape == (2, 64, 64)
    small = predictor.predict(first, output_size="model")
    assert small.shape == SIZE
    assert predictor.timing.images == 7 + 2 + 3 + 2 + 1
    assert predictor.timing.inference_s > 0 and "images/s" in predictor.timing.summary()


def test_backends_agree_and_logits_are_decoded(models):
    images = [photo(64, 64, s) for s in range(3)]  # 3 images through a fixed batch of 2
    from_onnx = Predictor(models["onnx"]).predict(images)
    from_checkpoint = Predictor(models["checkpoint"], device="cpu").predict(images)
    logits = Predictor(models["logits"])
    assert logits.info.head == "logits" and not logits.info.dynamic_batch
    from_logits = logits.predict(images)
    for a, b, c in zip(from_onnx, from_checkpoint, from_logits):
        assert (a == b).float().mean() >= 0.9999 and (a == c).float().mean() >= 0.9999


def test_mask_generator_checkpoint(tmp_path):
    torch.manual_seed(0)
    generator = fm.create("unet_256", ngf=4)
    path = save_checkpoint(
        tmp_path / "p2p.pt",
        {
            "task": "pix2pix",
            "models": {"G": model_entry("unet_256", {"ngf": 4}, generator)},
            "data": {"output": "color_mask", "size": [256, 256]},
        },
    )
    predictor = Predictor(path, device="cpu")  # auto mode: paper (batch norm generator)
    assert predictor.info.mode == "paper" and predictor.info.kind == "mask_generator"
    image = photo(256, 256, 5)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    fm.set_inference_mode(generator, "paper")
    with torch.no_grad():
        expected = get_label_set("trainid").classes_from_mask(generator(x))[0]
    assert (predictor.predict(image) == expected).float().mean() >= 0.9999

    photo_path = save_checkpoint(
        tmp_path / "photo.pt",
        {
            "task": "pix2pix",
            "models": {"G": model_entry("unet_256", {"ngf": 4}, generator)},
            "data": {"output": "photo"},
        },
    )
    with pytest.raises(ValueError, match="photo generator draws photos"):
        Predictor(photo_path)


def test_colorize_and_overlay_by_hand(models):
    predictor = Predictor(models["onnx"])
    classes = torch.tensor([[0, 13], [255, 18]], dtype=torch.uint8)
    # road, car; ignore → black; bicycle (Cityscapes colours)
    expected = [[[128, 64, 128], [0, 0, 142]], [[0, 0, 0], [119, 11, 32]]]
    assert predictor.colorize(classes).tolist() == expected
    assert predictor.colorize(classes.numpy()).tolist() == expected

    image = np.array([[[100, 200, 50], [0, 0, 0]], [[10, 20, 30], [255, 255, 255]]], np.uint8)
    blended = predictor.overlay(image, classes, alpha=0.25)
    # 0.75 · pixel + 0.25 · colour, rounded half up; the ignore pixel keeps the photo
    assert blended.tolist() == [
        [[107, 166, 70], [0, 0, 36]],  # 69.5 → 70, 35.5 → 36
        [[10, 20, 30], [221, 194, 199]],  # 191.25+29.75 = 221, 191.25+2.75 = 194
    ]
    assert predictor.overlay(image, classes, alpha=0.0).tolist() == image.tolist()
    big = predictor.overlay(np.zeros((4, 4, 3), np.uint8), classes, alpha=1.0)  # classes resized
    assert big[0, 0].tolist() == [128, 64, 128] and big[3, 3].tolist() == [119, 11, 32]
    with pytest.raises(ValueError, match="alpha must lie in"):
        predictor.overlay(image, classes, alpha=1.5)


def test_bad_inputs_and_models(models, tmp_path):
    predictor = Predictor(models["onnx"])
    with pytest.raises(ValueError, match="nope.jpg: file not found"):
        predictor.predict(tmp_path / "nope.jpg")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(ValueError, match="corrupt.png: cannot decode image"):
        predictor.predict(corrupt)
    with pytest.raises(
        ValueError, match=r"expected an H×W×3 or 3×H×W image, got shape \(5, 6, 4\)"
    ):
        predictor.predict(np.zeros((5, 6, 4), np.uint8))
    with pytest.raises(ValueError, match=r"float images must hold values in \[0, 1\]"):
        predictor.predict(np.full((8, 8, 3), 2.0, np.float32))
    with pytest.raises(TypeError, match="got int"):
        predictor.predict(3)
    with pytest.raises(ValueError, match="no images"):
        predictor.predict([])
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        Predictor(tmp_path / "missing.onnx")
    color = tmp_path / "color.onnx"
    to_onnx(load_checkpoint_source(models["checkpoint"]), color, head="color", verify=False)
    with pytest.raises(ValueError, match="exported with the 'color' head"):
        Predictor(color)
    not_onnx = tmp_path / "junk.onnx"
    not_onnx.write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.onnx"):
        Predictor(not_onnx)


def test_predict_command_writes_images(models, tmp_path, capsys):
    from fastpix.cli import main

    inputs = tmp_path / "in"
    inputs.mkdir()
    images = {name: photo(40, 60, i) for i, name in enumerate(["a", "b", "c"])}
    for name, image in images.items():
        Image.fromarray(image).save(inputs / f"{name}.png")
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            "--model",
            str(models["onnx"]),
            "--input",
            str(inputs),
            "--out",
            str(out),
            "--batch-size",
            "2",
        ]
    )
    assert code == 0
    predictor = Predictor(models["onnx"])
    for name, image in images.items():
        classes = np.asarray(Image.open(out / f"{name}_classes.png"))
        assert classes.shape == (40, 60)
        assert (classes == predictor.predict(image).numpy()).all()
        color = np.asarray(Image.open(out / f"{name}_color.png"))
        assert (color == predictor.colorize(classes).numpy()).all()
        overlay = np.asarray(Image.open(out / f"{name}_overlay.png"))
        assert (overlay == predictor.overlay(image, classes).numpy()).all()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n}_{kind}.png" for n in images for kind in ("classes", "color", "overlay")
    )
    assert "wrote 9 images" in capsys.readouterr().out

    assert (
        main(
            [
                "predict",
                "--model",
                str(models["onnx"]),
                "--input",
                str(tmp_path / "none"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "none: no such file or folder" in capsys.readouterr().err
    assert (
        main(
            [
                "predict",
                "--model",
                str(models["onnx"]),
                "--input",
                str(inputs),
                "--out",
                str(out),
                "--alpha",
                "2",
            ]
        )
        == 2
    )
    assert "--alpha must lie in [0, 1]" in capsys.readouterr().err


def test_export_command_help_and_errors(models, tmp_path, capsys):
    from fastpix.export.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "--engine" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["--precision", "int4"])
    assert exit_info.value.code == 2
    assert main(["--onnx", str(models["onnx"])]) == 2
    assert "nothing to do" in capsys.readouterr().err
    assert main(["--checkpoint", str(models["checkpoint"])]) == 2
    assert "--onnx is required" in capsys.readouterr().err
    assert main(["--checkpoint", str(tmp_path / "x.pt"), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert "x.pt: checkpoint file not found" in capsys.readouterr().err
    out = tmp_path / "cli.onnx"
    assert (
        main(["--checkpoint", str(models["checkpoint"]), "--onnx", str(out), "--size", "32x48"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "onnxruntime vs torch, classes at batch 2: 100.0000 % equal" in printed
    assert Predictor(out).info.input_size == (32, 48)
    assert (
        main(["--checkpoint", str(models["checkpoint"]), "--onnx", str(out), "--size", "32"]) == 2
    )
    assert "--size must be HEIGHTxWIDTH" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_engine_predictor_on_a_cpu_only_host(models, tmp_path):
    pytest.importorskip("tensorrt_rtx")
    from fastpix.export.tensorrt import CPU_ONLY_MESSAGE, EngineError, build_engine

    engine = build_engine(models["onnx"], tmp_path / "seg.engine", backend="tensorrt-rtx").engine
    with pytest.raises(EngineError, match=CPU_ONLY_MESSAGE):
        Predictor(engine)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_engine_predictor_matches_onnx(models, tmp_path):
    from fastpix.export.tensorrt import _cuda_device, build_engine, rtx_targets, select_backend

    backend = select_backend("auto")
    if backend.name == "tensorrt-rtx" and _cuda_device()[1] not in rtx_targets(backend.trt):
        pytest.skip(f"TensorRT-RTX cannot target this GPU ({_cuda_device()}); install tensorrt")
    engine = build_engine(models["onnx"], tmp_path / "seg.engine").engine
    images = [photo(50, 80, s) for s in range(5)]
    on_gpu = Predictor(engine, batch_size=4)
    assert on_gpu.backend == backend.name
    reference = Predictor(models["onnx"], providers=["CPUExecutionProvider"])
    for a, b in zip(on_gpu.predict(images), reference.predict(images)):
        assert (a == b).float().mean() >= 0.9999
    print(on_gpu.timing.summary())


def test_deploy_stage_of_the_demo(models, tmp_path):
    """The stage that ends ``fastpix demo``: export, engine (where a backend is installed),
    INT8 against FP32, ONNX predictions on held-out synthetic scenes with images."""
    from fastpix.export.demo import deploy_stage
    from fastpix.export.quantize import HELD_OUT_SEED, synthetic_scenes

    lines = deploy_stage(models["checkpoint"], tmp_path, scenes=2, calibration_scenes=2)
    text = "\n".join(lines)
    assert "onnxruntime vs torch, classes at batch 2: 100.0000 % equal" in text
    assert "deploy/model.engine" in text or "engine not built" in text
    assert "INT8 Q/DQ `deploy/model.int8.onnx` (2 calibration scenes): mIoU against FP32" in text
    deploy = tmp_path / "deploy"
    for name in ("model.onnx", "model.int8.onnx"):
        assert (deploy / name).is_file()
    predictor = Predictor(deploy / "model.onnx")
    scenes = synthetic_scenes(2, SIZE, HELD_OUT_SEED)
    for index, (photo_pixels, labels) in enumerate(scenes):
        assert f"![overlay](deploy/scene{index}_overlay.png)" in text
        written = np.asarray(Image.open(deploy / f"scene{index}_prediction.png"))
        assert (written == predictor.colorize(predictor.predict(photo_pixels)).numpy()).all()
        truth = np.asarray(Image.open(deploy / f"scene{index}_labels.png"))
        assert (truth == predictor.colorize(labels).numpy()).all()
    assert "ONNX predictions on 2 held-out scenes: mIoU" in text
