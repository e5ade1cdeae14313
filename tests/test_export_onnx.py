"""fastpix.export.to_onnx: onnxruntime against torch for every model family and head,
dynamic shapes, inference modes, metadata, sources and errors.

References are computed here with plain torch and the library's reference functions (argmax,
``LabelSet.classes_from_mask`` / ``colorize``, ``set_inference_mode``), not with the export
heads. Networks are narrow (U-Net base 4, unet_256 ngf 4) and inputs small, except the
ResNet-34 FCN, whose width is fixed (run at 64×64).
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import fastpix
import fastpix.models as fm
from fastpix.checkpoint import CheckpointError, model_entry, save_checkpoint
from fastpix.compat.pix2pix import export_generator
from fastpix.export import (
    DeployInfo,
    MetadataError,
    VerificationError,
    load_checkpoint_source,
    load_pix2pix_source,
    read_onnx_info,
    to_onnx,
)
from fastpix.export import onnx as export_onnx
from fastpix.labels import get_label_set, label_set_to_dict

TRAINID = get_label_set("trainid")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def settle_batch_norm(model: torch.nn.Module, shape, steps: int = 3) -> torch.nn.Module:
    """Give batch norms running statistics of real activations (as training would), so that
    eval-mode outputs are not dominated by the initial mean 0 / variance 1."""
    generator = torch.Generator().manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(torch.rand(shape, generator=generator) * 2 - 1)
    return model.eval()


def images(n: int, size: tuple[int, int], seed: int = 7) -> torch.Tensor:
    return torch.rand((n, 3, *size), generator=torch.Generator().manual_seed(seed)) * 2 - 1


def run_onnx(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"image": x.numpy()})
    return out


@pytest.fixture(scope="module")
def families():
    """(model, kind, input size) per family; weights seeded, batch norms settled."""
    torch.manual_seed(0)
    unet = settle_batch_norm(fm.create("unet", num_classes=19, base_channels=4), (2, 3, 64, 64))
    generator = fm.create("unet_256", ngf=4).eval()
    fcn = settle_batch_norm(fm.create("fcn_resnet34", num_classes=19), (2, 3, 64, 64))
    return {
        "unet": (unet, "segmenter", (64, 64)),
        "unet_256": (generator, "mask_generator", (256, 256)),
        "fcn_resnet34": (fcn, "segmenter", (64, 64)),
    }


def reference_output(model, kind: str, head: str, x: torch.Tensor, mode: str) -> np.ndarray:
    """The head's output computed with torch and the label set's reference functions."""
    if mode == "paper":
        model = fm.set_inference_mode(model, "paper")
    with torch.no_grad():
        out = torch.cat([model(x[i : i + 1]) for i in range(len(x))])  # paper: per image
    fm.set_inference_mode(model, "eval")
    if head == "logits":
        return out.numpy()
    classes = out.argmax(1) if kind == "segmenter" else TRAINID.classes_from_mask(out)
    if head == "classes":
        return classes.to(torch.uint8).numpy()
    return TRAINID.colorize(classes).numpy()


# Every family, every head where it computes something different: argmax (segmenters) or the
# nearest-colour decode (mask generators) for classes, and the palette gather for colours.
# unet_256 logits are covered in both inference modes below.
CASES = [
    ("unet", "logits"),
    ("unet", "classes"),
    ("unet", "color"),
    ("unet_256", "classes"),
    ("unet_256", "color"),
    ("fcn_resnet34", "logits"),
    ("fcn_resnet34", "classes"),
]


@pytest.mark.parametrize(("family", "head"), CASES)
def test_onnxruntime_equals_torch(families, family, head, tmp_path):
    model, kind, size = families[family]
    path = tmp_path / f"{family}.onnx"
    # the built-in check is exercised by the tests below; here the reference is our own
    result = to_onnx(model, path, head=head, input_size=size, kind=kind, verify=False)
    mode = "paper" if kind == "mask_generator" else "eval"  # auto: generators with BN → paper
    assert result.info.mode == mode and result.verification is None
    x = images(2, size)
    ours = run_onnx(path, x)
    expected = reference_output(model, kind, head, x, mode)
    assert ours.shape == expected.shape
    if head == "logits":
        assert ours.dtype == np.float32
        assert np.abs(ours - expected).max() <= 1e-4 * max(1.0, float(np.abs(expected).max()))
    else:
        assert ours.dtype == np.uint8
        equal = (ours == expected) if head == "classes" else (ours == expected).all(-1)
        assert equal.mean() >= 0.9999
    if head == "color":
        assert ours.shape == (2, *size, 3)


def test_photo_generator_head_gives_uint8_pixels(tmp_path):
    torch.manual_seed(0)
    model = fm.create("unet_256", ngf=4, norm="instance").eval()
    path = tmp_path / "photo.onnx"
    result = to_onnx(model, path, kind="photo_generator")  # default head: photo
    assert result.info.head == "photo" and result.info.mode == "eval"  # no BN: eval
    assert result.verification.passed and result.verification.agreement >= 0.9999
    x = images(1, (256, 256))
    with torch.no_grad():
        out = model(x)
    expected = ((out + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    ours = run_onnx(path, x)
    assert ours.dtype == np.uint8 and ours.shape == (1, 256, 256, 3)
    assert (np.abs(ours.astype(int) - expected.numpy().astype(int)) <= 1).all()
    assert (ours == expected.numpy()).mean() >= 0.9999


def test_dynamic_batch_and_size(families, tmp_path):
    model, kind, _ = families["unet"]
    path = tmp_path / "dyn.onnx"
    to_onnx(model, path, head="classes", input_size=(64, 64), dynamic_size=True, kind=kind)
    graph_input = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in graph_input] == ["batch", 3, "height", "width"]
    x = images(3, (96, 128))  # traced at batch 1, 64×64
    expected = reference_output(model, kind, "classes", x, "eval")
    assert (run_onnx(path, x) == expected).mean() >= 0.9999


def test_fixed_batch(families, tmp_path):
    model, kind, _ = families["unet"]
    path = tmp_path / "fixed.onnx"
    to_onnx(model, path, input_size=(64, 64), dynamic_batch=False, batch_size=2, kind=kind)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [2, 3, 64, 64]
    assert not read_onnx_info(path).dynamic_batch


def test_eval_and_paper_modes_of_a_batch_norm_generator(tmp_path):
    torch.manual_seed(0)
    model = settle_batch_norm(fm.create("unet_256", ngf=4), (2, 3, 256, 256))
    x = images(2, (256, 256))
    for mode, norm_op in (("eval", "BatchNormalization"), ("paper", "InstanceNormalization")):
        path = tmp_path / f"{mode}.onnx"
        to_onnx(model, path, head="logits", mode=mode)
        ops = {node.op_type for node in onnx.load(str(path)).graph.node}
        assert norm_op in ops and "Dropout" not in ops
        expected = reference_output(model, "mask_generator", "logits", x, mode)
        assert np.abs(run_onnx(path, x) - expected).max() <= 1e-4
    # the two modes really differ on this network (running stats ≠ per-image stats)
    assert (
        np.abs(run_onnx(tmp_path / "eval.onnx", x) - run_onnx(tmp_path / "paper.onnx", x)).max()
        > 1e-2
    )


def test_fp16_export_carries_half_types(families, tmp_path):
    model, kind, size = families["unet"]
    path = tmp_path / "half.onnx"
    result = to_onnx(model, path, head="logits", precision="fp16", input_size=size, kind=kind)
    graph = onnx.load(str(path)).graph
    float_weights = {i.data_type for i in graph.initializer if i.data_type in (1, 10)}
    assert float_weights == {onnx.TensorProto.FLOAT16}
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    x = images(2, size)
    expected = reference_output(model, kind, "logits", x, "eval")
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(run_onnx(path, x) - expected).max() <= 1e-2 * scale
    assert result.info.precision == "fp16"
    check = result.verification  # the built-in check: torch FP32 against the FP16 graph
    assert check.passed and 0 < check.max_abs <= check.limit == 1e-2 * max(1.0, check.reference_max)


def test_metadata_round_trip(families, tmp_path):
    model, kind, _ = families["unet"]
    path = tmp_path / "meta.onnx"
    result = to_onnx(
        model,
        path,
        head="color",
        input_size=(64, 64),
        kind=kind,
        mean=(0.4, 0.5, 0.6),
        std=(0.2, 0.25, 0.3),
    )
    info = read_onnx_info(path)
    assert info == result.info
    props = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
    assert props["label_set"] == "trainid"
    assert props["class_names"][:3] == ["road", "sidewalk", "building"]
    assert props["palette"][13] == [0, 0, 142]  # car, Cityscapes table
    assert props["input_size"] == [64, 64]
    assert props["normalization"]["mean"] == [0.4, 0.5, 0.6]
    assert props["normalization"]["std"] == [0.2, 0.25, 0.3]
    assert props["head"] == "color" and props["output_name"] == "color"
    assert props["fastpix_version"] == fastpix.__version__
    assert DeployInfo.from_dict(info.to_dict()) == info
    from fastpix.export.metadata import FIELDS

    assert set(props) == FIELDS
    # entries other tools add (onnxruntime's quantizer writes plain strings) are left alone
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = "onnx.quant.pre_process", "onnxruntime.quant"
    onnx.save(model, str(path))
    assert read_onnx_info(path) == info


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's legacy exporter says so
def test_plain_onnx_without_metadata_is_refused(tmp_path):
    path = tmp_path / "plain.onnx"
    torch.onnx.export(torch.nn.Conv2d(3, 2, 1), (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False)
    with pytest.raises(MetadataError, match="no fastpix metadata"):
        read_onnx_info(path)
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(b"not an onnx file at all")
    with pytest.raises(MetadataError, match="damaged.onnx"):
        read_onnx_info(damaged)


def test_checkpoint_sources(tmp_path):
    torch.manual_seed(0)
    seg = fm.create("unet", num_classes=2, base_channels=4)
    road = get_label_set("road")
    ck = save_checkpoint(
        tmp_path / "road.pt",
        {
            "task": "segmentation",
            "models": {"model": model_entry("unet", {"num_classes": 2, "base_channels": 4}, seg)},
            "label_set": label_set_to_dict(road),
            "data": {"size": [32, 48], "mean": [0.5] * 3, "std": [0.5] * 3},
        },
    )
    source = load_checkpoint_source(ck)
    assert source.kind == "segmenter" and source.label_set.name == "road"
    assert source.input_size == (32, 48) and source.origin == "road.pt"
    result = to_onnx(source, tmp_path / "road.onnx")
    assert result.info.input_size == (32, 48) and result.info.model["name"] == "unet"

    gen = fm.create("unet_256", ngf=4)
    entry = {"G": model_entry("unet_256", {"ngf": 4}, gen)}
    for output, kind in (("color_mask", "mask_generator"), ("photo", "photo_generator")):
        path = save_checkpoint(
            tmp_path / f"{output}.pt",
            {"task": "pix2pix", "models": entry, "data": {"output": output, "size": [256, 256]}},
        )
        assert load_checkpoint_source(path).kind == kind
    no_output = save_checkpoint(tmp_path / "x.pt", {"task": "pix2pix", "models": entry})
    with pytest.raises(CheckpointError, match="data.output"):
        load_checkpoint_source(no_output)
    spade = save_checkpoint(tmp_path / "s.pt", {"task": "spade", "models": entry})
    with pytest.raises(CheckpointError, match="'spade' checkpoint"):
        load_checkpoint_source(spade)
    wrong = save_checkpoint(
        tmp_path / "w.pt",
        {
            "task": "segmentation",
            "models": {
                "model": model_entry(
                    "unet",
                    {"num_classes": 5, "base_channels": 4},
                    fm.create("unet", num_classes=5, base_channels=4),
                )
            },
        },
    )
    with pytest.raises(ValueError, match="predicts 5 classes but label set 'trainid' has 19"):
        load_checkpoint_source(wrong)


def test_pix2pix_reference_generator(tmp_path):
    torch.manual_seed(0)
    model = fm.create("unet_256", ngf=4, use_dropout=True)
    export_generator(model, tmp_path / "latest_net_G.pth")
    source = load_pix2pix_source(tmp_path / "latest_net_G.pth", netG="unet_256", ngf=4)
    path = tmp_path / "ref.onnx"
    to_onnx(source, path, head="classes")
    x = images(1, (256, 256))
    expected = reference_output(model.eval(), "mask_generator", "classes", x, "paper")
    assert (run_onnx(path, x) == expected).mean() >= 0.9999
    with pytest.raises(ValueError, match="ngf=4"):
        load_pix2pix_source(tmp_path / "latest_net_G.pth", netG="unet_256", ngf=8)


def test_failed_verification_writes_nothing(families, tmp_path, monkeypatch):
    model, kind, size = families["unet"]
    path = tmp_path / "strict.onnx"
    # impossible limits: max |Δ| <= -1 · scale, and more than 100 % equal pixels
    monkeypatch.setitem(export_onnx.TOLERANCES, "fp32", (-1.0, 1.01))
    with pytest.raises(VerificationError, match=r"not written: .*logits at batch 2: max \|Δ\|"):
        to_onnx(model, path, head="logits", input_size=size, kind=kind)
    with pytest.raises(VerificationError, match=r"classes at batch 2: 100.0000 % equal"):
        to_onnx(model, path, head="classes", input_size=size, kind=kind)
    assert list(tmp_path.iterdir()) == []  # no target, no temporary file


def test_bad_arguments(families, tmp_path):
    model, kind, size = families["unet"]
    out = tmp_path / "x.onnx"
    with pytest.raises(ValueError, match="head 'photo' does not apply to a segmenter"):
        to_onnx(model, out, head="photo", kind=kind)
    with pytest.raises(ValueError, match="opset must be >= 17"):
        to_onnx(model, out, opset=13, kind=kind)
    with pytest.raises(ValueError, match="INT8: export FP32"):
        to_onnx(model, out, precision="int8", kind=kind)
    with pytest.raises(ValueError, match="unknown mode"):
        to_onnx(model, out, mode="train", kind=kind)
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        to_onnx(model, tmp_path / "missing" / "x.onnx", input_size=size, kind=kind)
    with pytest.raises(ValueError, match="cannot tell what a Conv2d outputs"):
        to_onnx(torch.nn.Conv2d(3, 3, 1), out)
    assert not out.exists()


def test_int8_qdq_graph(families, tmp_path):
    """Symmetric int8: per-channel weight scales (axis 0 for Conv, 1 for ConvTranspose),
    per-tensor activation scales, zero points 0; first and last convolutions stay float."""
    from onnx import numpy_helper

    from fastpix.export.quantize import evaluate_int8, quantize_int8

    model, kind, size = families["unet"]
    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    to_onnx(model, fp32, input_size=size, kind=kind, verify=False)
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(6)]
    quantize_int8(fp32, int8, pictures[:4], source="random pixels")
    info = read_onnx_info(int8)
    assert info.precision == "int8" and info.extra["calibration"]["images"] == 4

    graph = onnx.load(str(int8)).graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    convs = [n for n in graph.node if n.op_type in ("Conv", "ConvTranspose")]
    quantized = []
    for conv in convs:
        weight_source = producer.get(conv.input[1])
        if weight_source is None or weight_source.op_type != "DequantizeLinear":
            continue
        quantized.append(conv.name)
        axis = {a.name: a.i for a in weight_source.attribute}["axis"]
        assert axis == (1 if conv.op_type == "ConvTranspose" else 0)
        weights = constants[weight_source.input[0]]
        scale, zero = constants[weight_source.input[1]], constants[weight_source.input[2]]
        assert weights.dtype == np.int8 and (zero == 0).all()
        assert scale.shape == (weights.shape[axis],)  # one scale per output channel
        activation = producer[conv.input[0]]
        assert activation.op_type == "DequantizeLinear"
        assert constants[activation.input[1]].shape == () and constants[activation.input[2]] == 0
    assert quantized == [c.name for c in convs[1:-1]]  # all but the first and the last
    assert {n.op_type for n in graph.node} >= {"QuantizeLinear", "ArgMax"}

    # evaluate_int8 against a direct comparison of the two graphs on the same inputs
    held_out = pictures[4:]
    scores = evaluate_int8(fp32, int8, held_out)
    x = torch.stack([torch.from_numpy(p).permute(2, 0, 1).float() / 127.5 - 1 for p in held_out])
    agree = (run_onnx(fp32, x) == run_onnx(int8, x)).mean()
    assert scores["pixel_agreement"] == pytest.approx(agree, abs=1e-9)

    everything = tmp_path / "all.onnx"
    quantize_int8(fp32, everything, pictures[:4], float_ends=False)
    graph = onnx.load(str(everything)).graph
    producer = {out: node for node in graph.node for out in node.output}
    assert all(
        producer[c.input[1]].op_type == "DequantizeLinear"
        for c in graph.node
        if c.op_type in ("Conv", "ConvTranspose")
    )
