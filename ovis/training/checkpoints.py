"""Atomic files and the training checkpoint.

Files are written to a temporary name in the same directory, flushed to disk, then moved over
the target with :func:`os.replace`, so a reader (or a resumed run) sees the old file or the new
one, never half of one, even if the process is killed mid-write.

The checkpoint holds everything that determines the rest of a run: model, estimator (e.g. a
neural baseline), optimizer and learning-rate scheduler states, the random states of torch
(CPU and CUDA), numpy and python, the data position (epoch, batch) and the step.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch

__all__ = ["atomic_write", "atomic_write_json", "read_json", "save_checkpoint", "load_checkpoint",
           "get_rng_states", "set_rng_states", "CHECKPOINT_VERSION"]

CHECKPOINT_VERSION = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str, write: Callable[[Any], None], binary: bool = False) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then replace ``path`` by it."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"))


def read_json(path: str) -> Optional[Any]:
    """The JSON content of ``path``, or ``None`` if it does not exist."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def get_rng_states() -> Dict[str, Any]:
    """The random states of python, numpy, torch and (if initialised) every CUDA device."""
    states: Dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                              "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Dict[str, Any]) -> None:
    """Restore what :func:`get_rng_states` returned."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    """``torch.save`` the state (with the random states added) atomically."""
    state = dict(state, rng=get_rng_states(), version=CHECKPOINT_VERSION)
    atomic_write(path, lambda f: torch.save(state, f), binary=True)


def load_checkpoint(path: str, map_location: Any = "cpu") -> Optional[Dict[str, Any]]:
    """The checkpoint at ``path`` (``None`` if there is none). Random states are *not* restored here:
    call :func:`set_rng_states` with ``state['rng']`` once everything else is built."""
    if not os.path.exists(path):
        return None
    # our own file: it holds numpy and python random states, which weights_only loading refuses
    state = torch.load(path, map_location=map_location, weights_only=False)
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint {path} has version {state.get('version')!r}; expected {CHECKPOINT_VERSION}")
    return state
