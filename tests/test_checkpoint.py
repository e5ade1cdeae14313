import pickle
import random
from pathlib import Path

import pytest
import torch

from fastpix.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_with_trainer_state(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    payload = {
        "task": "segmentation",
        "models": {"model": {"name": "x", "options": {}, "state_dict": model.state_dict()}},
        "optimizers": {"model": opt.state_dict()},
        "rng": {"torch": torch.get_rng_state()},
        "step": 7,
    }
    path = save_checkpoint(tmp_path / "ck.pt", payload)
    data = load_checkpoint(path, task="segmentation")
    assert data["step"] == 7 and data["format_version"] == 1
    assert torch.equal(data["models"]["model"]["state_dict"]["weight"], model.weight)
    assert torch.equal(data["rng"]["torch"], torch.get_rng_state())
    opt2 = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    opt2.load_state_dict(data["optimizers"]["model"])
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_crash_during_write_keeps_old_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ck.pt", {"task": "segmentation", "step": 1})
    before = path.read_bytes()

    def exploding_save(obj, f):
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"task": "segmentation", "step": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pt.*empty"):
        load_checkpoint(empty)
    rng = random.Random(0)
    for i in range(50):  # random bytes hit different failure paths inside torch.load
        garbage = tmp_path / f"garbage{i}.pt"
        garbage.write_bytes(rng.randbytes(rng.randint(1, 512)))
        with pytest.raises(CheckpointError, match=f"garbage{i}.pt"):
            load_checkpoint(garbage)
    good = save_checkpoint(tmp_path / "good.pt", {"task": "segmentation"})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"truncated.pt.*(damaged|truncated)"):
        load_checkpoint(truncated)


def test_foreign_files_rejected(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"model.model.0.weight": torch.zeros(1)}, plain)
    with pytest.raises(CheckpointError, match="official pix2pix"):
        load_checkpoint(plain)
    with pytest.raises(CheckpointError, match="expected 'pix2pix'"):
        load_checkpoint(
            save_checkpoint(tmp_path / "s.pt", {"task": "segmentation"}), task="pix2pix"
        )


class _Evil:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/fastpix-should-not-exist"),))


def test_code_in_file_is_never_run(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        torch.save({"format": "fastpix-checkpoint", "payload": _Evil()}, f, pickle_module=pickle)
    marker = Path("/tmp/fastpix-should-not-exist")
    marker.unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()
