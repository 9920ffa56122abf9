"""ovis.runs.checkpoint: atomic checkpoints that carry the random states."""
import random

import numpy as np
import pytest
import torch

from ovis.runs.checkpoint import CHECKPOINT_VERSION, get_rng_states, load_checkpoint, save_checkpoint, set_rng_states


def test_random_states_round_trip(tmp_path):
    save_checkpoint(str(tmp_path / "c.pt"), {"step": 3, "w": torch.arange(3.0)})
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
    random.random(), np.random.rand(), torch.rand(())
    state = load_checkpoint(str(tmp_path / "c.pt"))
    assert state["step"] == 3 and state["w"].tolist() == [0.0, 1.0, 2.0] and state["version"] == CHECKPOINT_VERSION
    set_rng_states(state["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected


def test_missing_and_foreign_checkpoints(tmp_path):
    assert load_checkpoint(str(tmp_path / "missing.pt")) is None
    torch.save({"version": 99}, str(tmp_path / "old.pt"))
    with pytest.raises(ValueError, match="version 99; expected 1"):
        load_checkpoint(str(tmp_path / "old.pt"))


def test_states_hold_python_numpy_and_torch():
    assert {"python", "numpy", "torch"} <= set(get_rng_states())


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path):
    path = str(tmp_path / "c.pt")
    save_checkpoint(path, {"step": 1})
    with pytest.raises(Exception):
        save_checkpoint(path, {"step": 2, "bad": lambda: None})  # a lambda cannot be pickled
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]
