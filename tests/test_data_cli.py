"""``fastpix data``: help everywhere, a synth run, a folder summary, and clean errors (exit 2)."""

import pytest

from fastpix.cli import main


@pytest.mark.parametrize(
    "argv",
    [["data", "--help"], ["data", "synth", "--help"], ["data", "prepare-cityscapes", "--help"],
     ["data", "show", "--help"]],
)  # fmt: skip
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: fastpix data" in capsys.readouterr().out


def test_synth_then_show(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["data", "synth", "--out", str(out), "--n", "3", "--size", "24x40", "--format",
            "aligned", "--val-fraction", "0", "--test-fraction", "0.34", "--png", "--workers", "1"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "wrote 3 aligned scenes (train 2, test 1)" in printed
    assert sorted(p.name for p in (out / "train").iterdir()) == ["0.png", "1.png"]
    assert main(["data", "show", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "aligned layout" in summary
    assert "train: 2 .png pairs of two 40×24 halves" in summary and "road" in summary


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "synth", "--out", "{tmp}/a", "--size", "big"], "--size big: expected"),
        (["data", "synth", "--out", "{tmp}/a", "--n", "0"], "n must be >= 1"),
        (["data", "show", "{tmp}/missing"], "missing: data folder not found"),
        (["data", "prepare-cityscapes", "--gtfine", "{tmp}/g", "--leftimg", "{tmp}/l", "--out",
          "{tmp}/o"], "folder not found"),
    ],
)  # fmt: skip
def test_errors_exit_2_with_a_message(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastpix data: error:") and message in err


def test_bad_flag_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "synth", "--out", "x", "--format", "voc"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'voc'" in capsys.readouterr().err
