"""Checkpoint files: atomic, keep-last-N, weights_only-loadable, RNG states restored."""

import random

import numpy as np
import pytest
import torch

from vjepa_ac.train import checkpoint as ckpt


def _state(step):
    return {
        "step": step,
        "model": {"w": torch.full((2,), float(step))},
        "rng": ckpt.rng_state(),
        "config": {"a": [1]},
    }


def test_save_keeps_last_n_and_loads_weights_only(tmp_path):
    for step in (1, 2, 10, 11):
        ckpt.save_checkpoint(_state(step), tmp_path, keep_last=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000010.pt", "step_00000011.pt"]
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))  # weights_only=True inside
    assert state["step"] == 11 and state["format"] == ckpt.CHECKPOINT_FORMAT
    assert not list(tmp_path.glob("*.tmp"))


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = ckpt.save_checkpoint(_state(5), tmp_path, keep_last=3)

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.atomic_torch_save(_state(5), path)
    monkeypatch.undo()
    assert ckpt.load_checkpoint(path)["step"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_rng_roundtrip():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = ckpt.rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    ckpt.set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_rejects_foreign_files(tmp_path):
    torch.save({"predictor": {}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a vjepa_ac training checkpoint"):
        ckpt.load_checkpoint(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError):
        ckpt.load_checkpoint(tmp_path / "missing.pt")


def test_truncation_drops_later_rows_and_rows_cut_by_a_kill(tmp_path):
    from vjepa_ac.train.logging import CsvLog, read_csv

    path = tmp_path / "metrics.csv"
    log = CsvLog(path)
    for step in (1, 2, 3):
        log.write({"step": step, "loss": 0.5})
    with open(path, "a") as f:
        f.write("1")  # a kill in the middle of writing the row of step 12
    CsvLog(path).truncate_after(2)
    assert read_csv(path) == [{"step": "1", "loss": "0.5"}, {"step": "2", "loss": "0.5"}]
    CsvLog(path).truncate_after(-1)  # a run that starts over from step 0 keeps nothing
    assert read_csv(path) == [] and path.read_text().startswith("step,loss")
