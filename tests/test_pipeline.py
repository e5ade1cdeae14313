"""The segmentation → synthesis → re-segmentation pipeline on a few synthetic scenes.

Small untrained networks (seed 003's ResNet-34 FCN, a narrow SPADE generator, a small pix2pix
U-Net): the structure of every output is checked, and the scores against an independent
computation (per-class IoU counted with numpy; ``fastpix.metrics.fcn_score`` running the
segmenter again on the synthesized photos).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import fastpix.models as fm
from fastpix.checkpoint import CheckpointError, model_entry, save_checkpoint
from fastpix.cli import main
from fastpix.data import write_synthetic
from fastpix.data.synthetic import make_scene
from fastpix.labels import LABELS, get_label_set, label_set_to_dict
from fastpix.metrics import fcn_score
from fastpix.models.spade import SPADEGenerator, one_hot_labels
from fastpix.pipeline import (
    PipelineResult,
    Segmenter,
    class_mapping,
    load_segmenter,
    load_synthesizer,
    run_pipeline,
)

HEIGHT, WIDTH = 32, 64
TRAINID = get_label_set("trainid")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def scenes() -> tuple[torch.Tensor, torch.Tensor]:
    """Four synthetic scenes: photos in [-1, 1] and trainId labels (255 for the bonnet)."""
    photos, labels = zip(*(make_scene(seed, HEIGHT, WIDTH) for seed in range(4)))
    photos_t = torch.stack([torch.from_numpy(p).permute(2, 0, 1) for p in photos])
    return photos_t.float() / 127.5 - 1, torch.stack([torch.from_numpy(x) for x in labels]).long()


@pytest.fixture(scope="module")
def networks() -> tuple[torch.nn.Module, SPADEGenerator]:
    torch.manual_seed(0)
    segmenter = fm.create("fcn_resnet34", num_classes=19).eval()
    generator = SPADEGenerator(label_nc=19, ngf=4, spade_hidden=16).eval()
    return segmenter, generator


def numpy_miou(reference: np.ndarray, predicted: np.ndarray, k: int, ignore: int = 255) -> float:
    """Mean over the classes in either map of |both| / |either|, ``ignore`` pixels left out."""
    valid = reference != ignore
    ious = []
    for c in range(k):
        a, b = (reference == c) & valid, (predicted == c) & valid
        union = (a | b).sum()
        if union:
            ious.append((a & b).sum() / union)
    return float(np.mean(ious))


# --------------------------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------------------------


def test_pipeline_scores_equal_an_independent_computation(scenes, networks):
    photos, labels = scenes
    segmenter, generator = networks
    batches = [(photos[:3], labels[:3]), (photos[3:], labels[3:])]
    result = run_pipeline(batches, segmenter, generator, max_strips=3, device="cpu")

    with torch.no_grad():
        first = segmenter(photos).argmax(1)
        synthesized = generator(one_hot_labels(first, 19))
        second = segmenter(synthesized).argmax(1)
    m = result.metrics
    assert m["images"] == 4 and m["size"] == [HEIGHT, WIDTH] and m["generator"] == "spade"
    assert m["images_per_second"] > 0 and m["device"] == "cpu" and not m["amp"]
    assert m["feedback"]["miou"] == pytest.approx(numpy_miou(first.numpy(), second.numpy(), 19))
    assert m["segmentation"]["miou"] == pytest.approx(numpy_miou(labels.numpy(), first.numpy(), 19))  # fmt: skip
    assert m["feedback"]["pixel_acc"] == pytest.approx(float((first == second).float().mean()))
    expected_fcn = fcn_score(segmenter, [(synthesized, labels)], 19)
    for key in ("miou", "pixel_acc", "class_acc"):
        assert m["fcn_score"][key] == pytest.approx(expected_fcn[key])

    assert len(result.strips) == 3 and result.names == ["000000", "000001", "000002"]
    strip = result.strips[1]
    assert strip.shape == (HEIGHT, 4 * WIDTH, 3) and strip.dtype == torch.uint8
    panels = strip.split(WIDTH, dim=1)
    photo = ((photos[1] + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0)
    assert torch.equal(panels[0], photo)
    assert torch.equal(panels[1], TRAINID.colorize(first[1]))
    assert (panels[2].float() - (synthesized[1].permute(1, 2, 0) + 1) * 127.5).abs().max() <= 0.5
    assert torch.equal(panels[3], TRAINID.colorize(second[1]))


def test_photos_without_labels_give_feedback_only(scenes, networks):
    photos, _ = scenes
    result = run_pipeline(photos, *networks, batch_size=3, max_strips=0, device="cpu")
    assert result.metrics["images"] == 4 and result.strips == []
    assert result.metrics["segmentation"] is None and result.metrics["fcn_score"] is None
    assert 0 <= result.metrics["feedback"]["miou"] <= 1
    assert "fcn_score" not in result.summary() and "feedback" in result.summary()


def test_limit_names_and_saved_files(tmp_path, scenes, networks):
    photos, labels = scenes
    names = ["a", "b", "c", "d"]
    result = run_pipeline([(photos, labels)], *networks, names=names, limit=2, device="cpu")
    assert result.metrics["images"] == 2 and result.names == ["a", "b"]
    result.save(tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["classes"] == list(TRAINID.names) and saved["images"] == 2
    assert saved["feedback"]["miou"] == pytest.approx(result.metrics["feedback"]["miou"])
    assert sorted(p.name for p in (tmp_path / "out" / "strips").iterdir()) == ["a.png", "b.png"]
    assert (tmp_path / "out" / "summary.md").read_text().startswith("2 images of 32×64")
    assert not [p for p in (tmp_path / "out").rglob(".*")]  # no temporary files left


def test_pix2pix_generator_is_fed_colour_masks(scenes, networks):
    photos, _ = scenes
    segmenter, _ = networks
    torch.manual_seed(0)
    generator = fm.UnetGenerator(3, 3, num_downs=5, ngf=4).eval()
    seen = []
    generator.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    result = run_pipeline(photos[:2], segmenter, generator, device="cpu")
    assert result.metrics["generator"] == "pix2pix"
    with torch.no_grad():
        first = segmenter(photos[:2]).argmax(1)
    expected = TRAINID.colorize(first).permute(0, 3, 1, 2).float() / 127.5 - 1
    torch.testing.assert_close(seen[0], expected)


def test_segmenter_normalization_is_applied(scenes):
    photos, _ = scenes
    seen = []
    net = fm.create("unet", num_classes=19, base_channels=4).eval()
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    Segmenter(net, TRAINID, mean, std)(photos[:1])
    expected = ((photos[:1] + 1) / 2 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)  # fmt: skip
    torch.testing.assert_close(seen[0], expected)
    binary = fm.create("unet", num_classes=1, base_channels=4).eval()
    classes = Segmenter(binary, get_label_set("road"))(photos[:1])
    with torch.no_grad():
        assert torch.equal(classes, (binary(photos[:1])[:, 0] > 0).long())


# --------------------------------------------------------------------------------------------
# Label sets
# --------------------------------------------------------------------------------------------


def test_class_mapping_trainid_to_label_ids_follows_the_cityscapes_table():
    table = class_mapping(TRAINID, get_label_set("labelid"))
    first_id = {}
    for label in LABELS:  # the first label with a train id, as cityscapesScripts
        if 0 <= label.train_id < 255 and label.train_id not in first_id:
            first_id[label.train_id] = label.id
    assert table[:19].tolist() == [first_id[t] for t in range(19)]
    assert table[255] == 255 and class_mapping(TRAINID, TRAINID)[:19].tolist() == list(range(19))
    with pytest.raises(ValueError, match="has no class for background"):
        class_mapping(get_label_set("road"), TRAINID)


def test_a_label_id_generator_gets_the_mapped_classes(scenes, networks):
    photos, _ = scenes
    segmenter, _ = networks
    torch.manual_seed(0)
    generator = SPADEGenerator(label_nc=35, ngf=4, use_instance=True, spade_hidden=8).eval()
    seen = []
    generator.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    run_pipeline(photos[:1], segmenter, generator, generator_label_set="labelid", device="cpu")
    with torch.no_grad():
        first = segmenter(photos[:1]).argmax(1)
    ids = class_mapping(TRAINID, get_label_set("labelid"))[first]
    assert torch.equal(seen[0][:, :35].argmax(1), ids)
    assert seen[0].shape == (1, 36, HEIGHT, WIDTH)


# --------------------------------------------------------------------------------------------
# Checkpoints and the command line
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, networks) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("checkpoints")
    segmenter, generator = networks
    label_set = label_set_to_dict(TRAINID)
    seg = save_checkpoint(folder / "fcn.pt", {
        "task": "segmentation", "label_set": label_set,
        "models": {"model": model_entry("fcn_resnet34", {"num_classes": 19}, segmenter)},
        "data": {"size": [HEIGHT, WIDTH], "mean": [0.5] * 3, "std": [0.5] * 3},
    })  # fmt: skip
    options = {"label_nc": 19, "ngf": 4, "spade_hidden": 16}
    gen = save_checkpoint(folder / "spade.pt", {
        "task": "spade", "label_set": label_set,
        "models": {"G": model_entry("spade", options, generator)},
    })  # fmt: skip
    mask = save_checkpoint(folder / "mask_g.pt", {
        "task": "pix2pix", "label_set": label_set, "data": {"output": "color_mask"},
        "models": {"G": model_entry("unet_128", {"ngf": 4}, fm.create("unet_128", ngf=4))},
    })  # fmt: skip
    data = folder / "data"
    write_synthetic(data, n=5, size=(HEIGHT, WIDTH), val_fraction=0.6, workers=1, png=True)
    return {"segmenter": str(seg), "generator": str(gen), "mask": str(mask), "data": str(data)}


def test_checkpoints_load_into_the_stages(checkpoints, networks):
    segmenter = load_segmenter(checkpoints["segmenter"])
    assert segmenter.size == (HEIGHT, WIDTH) and segmenter.label_set == TRAINID
    synthesizer = load_synthesizer(checkpoints["generator"])
    assert synthesizer.kind == "spade" and isinstance(synthesizer.network, SPADEGenerator)
    assert not synthesizer.network.use_spectral_norm  # folded for inference
    classes = torch.randint(0, 19, (1, HEIGHT, WIDTH))
    with torch.no_grad():
        expected = networks[1].eval()(one_hot_labels(classes, 19))
        torch.testing.assert_close(synthesizer(classes), expected, atol=1e-5, rtol=0)
    with pytest.raises(CheckpointError, match="draws 'color_mask'.*labels → photo"):
        load_synthesizer(checkpoints["mask"])
    with pytest.raises(CheckpointError, match="a 'spade' checkpoint; the segmenter comes from"):
        load_segmenter(checkpoints["generator"])


def test_nvlabs_generator_file_is_recognized(tmp_path, monkeypatch, scenes, networks):
    from fastpix.compat import spade as compat

    small = {**compat.CITYSCAPES, "ngf": 4, "num_upsampling_layers": "normal"}
    monkeypatch.setattr(compat, "CITYSCAPES", small)  # the real one has 93 M parameters
    torch.manual_seed(0)
    compat.export_generator(SPADEGenerator(**small), tmp_path / "latest_net_G.pth")
    synthesizer = load_synthesizer(tmp_path / "latest_net_G.pth")
    assert synthesizer.label_set.name == "labelid" and not synthesizer.network.use_spectral_norm
    result = run_pipeline(scenes[0][:1], networks[0], synthesizer, device="cpu")
    assert result.metrics["images"] == 1


def test_cli_writes_metrics_and_strips(tmp_path, checkpoints, capsys):
    out = tmp_path / "out"
    argv = ["pipeline", "--segmenter", checkpoints["segmenter"], "--generator",
            checkpoints["generator"], "--data", checkpoints["data"], "--layout", "kaggle",
            "--split", "val", "--out", str(out), "--batch-size", "2", "--strips", "2"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| feedback |" in printed and "| fcn_score |" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 3 and metrics["size"] == [HEIGHT, WIDTH]
    assert not math.isnan(metrics["segmentation"]["pixel_acc"])
    assert sorted(p.name for p in (out / "strips").iterdir()) == ["1.png", "2.png"]


def test_cli_on_a_folder_of_photos(tmp_path, checkpoints, scenes):
    from fastpix.data.imageio import write_image
    from fastpix.pipeline.run import photo_to_uint8

    photos = tmp_path / "photos"
    for i, photo in enumerate(photo_to_uint8(scenes[0][:2])):
        write_image(photos / f"street_{i}.png", photo.numpy())
    out = tmp_path / "out"
    argv = ["pipeline", "--segmenter", checkpoints["segmenter"], "--generator",
            checkpoints["generator"], "--data", str(photos), "--layout", "photos",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 2 and metrics["fcn_score"] is None
    assert sorted(p.name for p in (out / "strips").iterdir()) == ["street_0.png", "street_1.png"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "0"], "--size takes H or H W"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--swap"], "a 'spade' checkpoint; the segmenter comes from"),
        (["--data-missing"], "data folder not found"),
    ],
    ids=["size", "batch-size", "wrong-checkpoint", "missing-data"],
)
def test_cli_errors_exit_2_with_a_message(tmp_path, checkpoints, capsys, extra, message):
    segmenter, data = checkpoints["segmenter"], checkpoints["data"]
    if extra == ["--swap"]:
        segmenter, extra = checkpoints["generator"], []
    if extra == ["--data-missing"]:
        data, extra = str(tmp_path / "nowhere"), []
    argv = ["pipeline", "--segmenter", segmenter, "--generator", checkpoints["generator"],
            "--data", data, "--out", str(tmp_path / "out"), *extra]  # fmt: skip
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_inputs_are_named(networks):
    with pytest.raises(ValueError, match=r"photos must be float N×3×H×W"):
        run_pipeline(torch.zeros(2, 1, 32, 32), *networks, device="cpu")
    with pytest.raises(ValueError, match=r"labels of shape \(2, 16, 16\) do not fit"):
        run_pipeline([(torch.zeros(2, 3, 32, 32), torch.zeros(2, 16, 16))], *networks, device="cpu")  # fmt: skip
    with pytest.raises(ValueError, match="got no images"):
        run_pipeline([], *networks, device="cpu")
    with pytest.raises(TypeError, match="photo batches or"):
        run_pipeline([{"photo": 1}], *networks, device="cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pipeline_on_cuda_with_amp(scenes, networks):
    photos, labels = scenes
    cpu = run_pipeline([(photos, labels)], *networks, device="cpu")
    gpu = run_pipeline([(photos, labels)], *networks, device="cuda", amp=True)
    assert isinstance(gpu, PipelineResult) and gpu.metrics["device"].startswith("cuda")
    assert gpu.metrics["images"] == 4
    # half precision may flip a few arg-max decisions, not the picture
    assert abs(gpu.metrics["segmentation"]["pixel_acc"] - cpu.metrics["segmentation"]["pixel_acc"]) < 0.05  # fmt: skip
