"""A TinyDB storage that never leaves a half-written file behind.

Every write goes through :func:`ovis.runs.atomic_write`: a temporary file in the
same directory, flushed and ``fsync``-ed, then moved over the database (atomic on
POSIX). A reader therefore sees either the previous or the next complete JSON
document, never a mix, which is why reads need no lock. After a power cut the
file holds one of the recent complete versions (the directory is not
``fsync``-ed after each rename: that would double the cost of a write for
durability of the very last change, which a rerun of a job repairs anyway).

A file that is not valid JSON (truncated, corrupted by hand, a disk error) is
never repaired or overwritten: :meth:`AtomicJSONStorage.read` raises
:class:`QueueCorruptError`, and since TinyDB reads before every write, nothing
is written either.

Example:
    >>> import os, tempfile
    >>> from tinydb import TinyDB
    >>> path = os.path.join(tempfile.mkdtemp(), "queue.json")
    >>> db = TinyDB(path, storage=AtomicJSONStorage)
    >>> db.insert({"id": 1, "state": "queued"})
    1
    >>> read_json_file(path)
    {'_default': {'1': {'id': 1, 'state': 'queued'}}}
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

from tinydb.storages import Storage

from ..runs import atomic_write

__all__ = ["AtomicJSONStorage", "QueueCorruptError", "read_json_file"]


class QueueCorruptError(RuntimeError):
    """The queue file exists but does not hold a TinyDB JSON document."""


def read_json_file(path: str) -> Optional[Dict[str, Any]]:
    """Parse a TinyDB file; ``None`` when it does not exist.

    Raises :class:`QueueCorruptError` naming the file and what is wrong.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    hint = ("The file was left untouched. Inspect or restore it, or delete the "
            "experiment with `manager.py --rf` to start over.")
    if not raw.strip():
        raise QueueCorruptError(f"queue file {path} is empty (expected a JSON object of tables). {hint}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise QueueCorruptError(
            f"queue file {path} is not valid JSON ({err}; {len(raw)} bytes, maybe truncated). {hint}") from None
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise QueueCorruptError(
            f"queue file {path} holds JSON but not a TinyDB document "
            f"(expected an object mapping table names to objects, got {type(data).__name__}). {hint}")
    return data


class AtomicJSONStorage(Storage):
    """TinyDB storage: JSON file, atomic replace on write, strict on read.

    Arguments:
        path: the database file; its directory is created on first write.
    """

    def __init__(self, path: str):
        super().__init__()
        self.path = os.path.abspath(path)

    def read(self) -> Optional[Dict[str, Dict[str, Any]]]:
        return read_json_file(self.path)

    def write(self, data: Dict[str, Dict[str, Any]]) -> None:
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        payload = json.dumps(data, separators=(",", ":"), sort_keys=False).encode()
        atomic_write(self.path, lambda f: f.write(payload), binary=True)

    def close(self) -> None:
        pass
