"""Which devices the workers use: free GPUs found with ``torch.cuda``, else the CPU.

A GPU is free when its memory in use is at most ``max_memory`` (a fraction)
and its utilisation at most ``max_load`` (a fraction; needs ``pynvml``, and is
ignored with a note when unavailable). At most ``max_gpus`` GPUs are taken
(``-1``: all, ``0``: CPU only, which also skips importing torch). Each device
gets ``processes`` worker slots; a GPU slot pins its worker with
``CUDA_VISIBLE_DEVICES``.

Example:
    >>> from ovis.sweep.devices import worker_slots
    >>> for slot in worker_slots(processes=2, max_gpus=0):
    ...     print(slot.device, slot.env)
    cpu {'CUDA_VISIBLE_DEVICES': '', 'OMP_NUM_THREADS': '1'}
    cpu {'CUDA_VISIBLE_DEVICES': '', 'OMP_NUM_THREADS': '1'}
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = ["Slot", "free_gpus", "worker_slots"]


@dataclass(frozen=True)
class Slot:
    """One worker's device and the environment variables that pin it there."""
    device: str
    env: Dict[str, str] = field(default_factory=dict)


def free_gpus(max_gpus: int = -1, max_load: float = 0.5, max_memory: float = 0.5,
              cuda: Optional[Any] = None) -> List[int]:
    """Indices of usable GPUs (``cuda``: a ``torch.cuda``-like module, for tests)."""
    if max_gpus == 0:
        return []
    if cuda is None:
        try:
            import torch
        except ImportError:
            return []
        cuda = torch.cuda
    if not cuda.is_available():
        return []
    chosen: List[int] = []
    load_note = False
    for i in range(cuda.device_count()):
        free, total = cuda.mem_get_info(i)
        if total and (total - free) / total > max_memory:
            continue
        try:
            load = cuda.utilization(i) / 100.0
        except Exception:  # pynvml missing or NVML unavailable
            load, load_note = 0.0, True
        if load > max_load:
            continue
        chosen.append(i)
        if 0 < max_gpus <= len(chosen):
            break
    if load_note:
        print("note: GPU utilisation unknown (pip install pynvml), --max_load not applied", file=sys.stderr)
    if not chosen:
        print(f"note: none of the {cuda.device_count()} GPUs is free (--max_load {max_load}, "
              f"--max_memory {max_memory}); the workers use the CPU", file=sys.stderr)
    return chosen


def worker_slots(processes: int = 1, max_gpus: int = -1, max_load: float = 0.5, max_memory: float = 0.5,
                 cuda: Optional[Any] = None) -> List[Slot]:
    """``processes`` slots per free GPU, or ``processes`` CPU slots when no GPU is free."""
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    gpus = free_gpus(max_gpus, max_load, max_memory, cuda=cuda)
    if gpus:
        return [Slot(f"cuda:{g}", {"CUDA_VISIBLE_DEVICES": str(g)}) for g in gpus for _ in range(processes)]
    env = {"CUDA_VISIBLE_DEVICES": ""}
    if "OMP_NUM_THREADS" not in os.environ:  # share the cores instead of oversubscribing them
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // processes))
    return [Slot("cpu", env) for _ in range(processes)]
