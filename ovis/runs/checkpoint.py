"""The checkpoint of a run: one ``torch.save`` file, written atomically, with the random states.

A checkpoint holds whatever the run's loop needs to go on exactly where it stopped (model,
optimizer, step, ...); :func:`save_checkpoint` adds the random states of python, numpy (when
installed), torch and every initialised CUDA device and a format version. torch is imported
when a function is called, so that importing :mod:`ovis.runs` stays cheap (the sweep manager
uses it without torch).

Example:
    >>> import os, tempfile, torch
    >>> from ovis.runs.checkpoint import load_checkpoint, save_checkpoint, set_rng_states
    >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.pt")
    >>> save_checkpoint(path, {"step": 3, "weights": torch.ones(2)})
    >>> expected = torch.rand(())
    >>> state = load_checkpoint(path)
    >>> state["step"], state["weights"].tolist()
    (3, [1.0, 1.0])
    >>> set_rng_states(state["rng"])   # the random stream as it was when the checkpoint was written
    >>> bool(torch.rand(()) == expected)
    True
    >>> load_checkpoint(path + ".missing") is None
    True
"""
from __future__ import annotations

import os
import random
from typing import Any, Dict, Optional

from .atomic import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "get_rng_states", "set_rng_states", "CHECKPOINT_VERSION"]

CHECKPOINT_VERSION = 1


def _numpy():
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is a dependency of ovis, not of this module
        return None
    return numpy


def get_rng_states() -> Dict[str, Any]:
    """The random states of python, numpy (if installed), torch and (if initialised) every CUDA device."""
    import torch

    states: Dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    np = _numpy()
    if np is not None:
        states["numpy"] = np.random.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Dict[str, Any]) -> None:
    """Restore what :func:`get_rng_states` returned."""
    import torch

    random.setstate(states["python"])
    torch.set_rng_state(states["torch"])
    if "numpy" in states:
        np = _numpy()
        if np is None:
            raise RuntimeError("the checkpoint holds a numpy random state but numpy is not installed")
        np.random.set_state(states["numpy"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    """``torch.save`` the ``state`` (with ``rng`` and ``version`` added) atomically to ``path``."""
    import torch

    state = dict(state, rng=get_rng_states(), version=CHECKPOINT_VERSION)
    atomic_write(path, lambda f: torch.save(state, f), binary=True)


def load_checkpoint(path: str, map_location: Any = "cpu") -> Optional[Dict[str, Any]]:
    """The checkpoint at ``path`` (``None`` if there is none).

    Random states are *not* restored here: call :func:`set_rng_states` with ``state['rng']``
    once everything else is built.

    Raises:
        ValueError: the file was written by another checkpoint format version.
    """
    import torch

    if not os.path.exists(path):
        return None
    # our own file: it holds numpy and python random states, which weights_only loading refuses
    state = torch.load(path, map_location=map_location, weights_only=False)
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint {path} has version {state.get('version')!r}; expected {CHECKPOINT_VERSION}")
    return state
