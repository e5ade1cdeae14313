"""``fastpix demo``: a quick end-to-end run, its report and JSON, and the command-line errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from fastpix.cli import main
from fastpix.demo import (
    CUDA_FULL,
    FULL,
    MARKER,
    QUICK,
    _check_batches,
    _prepare_folder,
    demo_plan,
    run_demo,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TRAINID_NAMES = [
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
]  # fmt: skip  (the Cityscapes trainId order, from the official label table)


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory) -> tuple[Path, dict, str]:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    out = tmp_path_factory.mktemp("demo")
    # A preset field given both ways (threads): the segmenter's override wins over --threads;
    # --time-budget reaches the segmenter.
    result = run_demo(
        out,
        quick=True,
        threads=2,
        time_budget=45.0,
        segmenter_overrides={"threads": 1},
        log=lambda message: None,
    )
    return out, result, (out / "report.md").read_text()


def _section(report: str, heading: str) -> str:
    start = report.index(heading)
    end = report.find("\n## ", start + len(heading))
    return report[start : end if end >= 0 else len(report)]


def _iou_rows(section: str) -> dict[str, float]:
    """Per-class IoU of the first ``| class | acc | IoU |`` table of a report section."""
    rows = {}
    for name, _acc, iou in re.findall(r"^\| ([a-z ]+) \| (\S+) \| (\S+) \|$", section, re.M):
        if name != "class":  # the header
            rows[name] = math.nan if iou == "—" else float(iou)
    return rows


def test_report_links_only_existing_pngs(quick_demo):
    out, _, report = quick_demo
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert len(links) == report.count("![")
    for prefix in ("data/train/", "segmenter/", "pix2pix/", "deploy/"):
        assert any(link.startswith(prefix) for link in links), prefix
    for link in links:
        assert not Path(link).is_absolute(), link
        data = (out / link).read_bytes()
        assert data[:8] == PNG_SIGNATURE, link
        assert data[12:16] == b"IHDR", link
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"


def test_report_figures_equal_the_json(quick_demo):
    out, result, report = quick_demo
    saved = json.loads((out / "demo.json").read_text())
    assert saved["total_seconds"] == result["total_seconds"]
    assert [s["stage"] for s in saved["stages"]] == [
        "synthesize", "train U-Net", "evaluate U-Net", "train pix2pix", "evaluate pix2pix",
        "deploy",
    ]  # fmt: skip
    for stage in saved["stages"]:
        assert f"| {stage['stage']} | {stage['seconds']:.1f} | {stage['figures']} |" in report
    assert saved["synthesize"]["splits"] == {"train": 7, "val": 1, "test": 2}

    for run, heading in (("segmenter", "## U-Net"), ("pix2pix", "## pix2pix")):
        test = saved[run]["test"]
        section = _section(report, heading)
        assert f"**mIoU {test['miou']:.4f}**" in section
        assert f"pixel accuracy {test['pixel_acc']:.4f}" in section
        rows = _iou_rows(section)
        assert list(rows) == TRAINID_NAMES
        for name, iou in zip(TRAINID_NAMES, test["iou"]):
            if iou is None:  # a class absent from the test scenes and never predicted
                assert math.isnan(rows[name]), name
            else:
                assert rows[name] == pytest.approx(iou, abs=5e-5), name
        present = [v for v in test["iou"] if v is not None]
        assert test["miou"] == pytest.approx(sum(present) / len(present))
        assert (out / saved[run]["checkpoint"]).is_file()


def test_flags_reach_the_trainings_and_segmenter_overrides_win(quick_demo):
    out, _, _ = quick_demo
    assert json.loads((out / "segmenter" / "config.json").read_text())["threads"] == 1
    assert json.loads((out / "segmenter" / "config.json").read_text())["time_budget"] == 45.0
    assert json.loads((out / "pix2pix" / "config.json").read_text())["threads"] == 2


def test_bad_flags_exit_2_with_a_clear_message(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "a"), "--scenes", "2"]) == 2
    assert "--scenes must be >= 4" in capsys.readouterr().err

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(foreign)]) == 2
    assert "no fastpix demo wrote" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"

    assert main(["demo", "--out", str(tmp_path / "b"), "--time-budget", "0"]) == 2
    assert "--time-budget must be > 0 seconds, got 0.0" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "b"), "--device", "tpu"]) == 2
    assert "--device 'tpu': expected auto, cpu, cuda or cuda:N" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["demo", "--out", str(tmp_path / "b"), "--device", "cuda"]) == 2
        assert "--device 'cuda': this torch build or machine has no CUDA device" in (
            capsys.readouterr().err
        )
    assert not (tmp_path / "b").exists()  # refused before anything was written

    with pytest.raises(SystemExit) as exc:
        main(["demo", "--sceens", "10"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --sceens" in capsys.readouterr().err


def test_rerun_replaces_only_what_the_demo_wrote(tmp_path):
    out = tmp_path / "demo"
    _prepare_folder(out)
    (out / "segmenter" / "checkpoints").mkdir(parents=True)
    (out / "segmenter" / "checkpoints" / "stale.pt").write_bytes(b"old")
    (out / "report.md").write_text("old report")
    (out / "keep.txt").write_text("user file")
    _prepare_folder(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "keep.txt"])


def test_full_plans_train_for_the_presets_time_budget():
    from fastpix.train.config import get_preset

    assert demo_plan(False, "cpu") is FULL and demo_plan(False, "cuda:1") is CUDA_FULL
    for plan, base_channels, batch_size in ((FULL, 8, 4), (CUDA_FULL, 32, 16)):
        _check_batches(plan)
        config = get_preset("demo", **plan.segmenter)
        config.check()
        assert config.time_budget == 330.0 and config.steps is None
        assert config.model_options["base_channels"] == base_channels
        assert config.batch_size == batch_size
        # the budget, not the epochs, must end the run of a fast machine: room for 100
        # steps/s
        train_scenes = plan.scenes - plan.val_scenes
        assert config.epochs * (train_scenes // batch_size) >= 100 * 330
    assert get_preset("demo", **QUICK.segmenter).time_budget == 0  # one step, not 330 s
