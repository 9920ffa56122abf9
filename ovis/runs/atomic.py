"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file the package writes in place (checkpoints, ``config.json``, ``status.json``, the job
queue, downloaded data files, sweep snapshots) goes through :func:`atomic_write` (or
:func:`atomic_replace` for a whole directory): the content is written to a temporary name in
the same directory, flushed and ``fsync``-ed, then moved over the target in one rename,
atomic on POSIX, even if the process is killed mid-write. The directory is
not ``fsync``-ed after the rename: after a power cut the file holds one of its recent complete
versions.

Example:
    >>> import json, os, tempfile
    >>> from ovis.runs.atomic import atomic_write, atomic_write_json, read_json
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "status.json")
    >>> atomic_write_json(path, {"status": "running"})
    >>> read_json(path)
    {'status': 'running'}
    >>> def broken(f):
    ...     f.write('{"status": "succ')
    ...     raise OSError("disk full")
    >>> atomic_write(path, broken)
    Traceback (most recent call last):
        ...
    OSError: disk full
    >>> read_json(path), os.listdir(folder)   # the old file, and no temporary file left
    ({'status': 'running'}, ['status.json'])
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import IO, Any, Callable, Optional

__all__ = ["atomic_write", "atomic_write_json", "atomic_copy", "atomic_replace", "read_json"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_replace(source: str, target: str) -> None:
    """Move ``source`` over ``target`` in one atomic step (files, or directories when ``target``
    does not exist or is an empty directory).

    This is the package's only rename of a file or directory over another (``grep`` finds one);
    both paths must be on the same file system (write ``source`` next to ``target``).
    """
    os.replace(source, target)


def atomic_write(path: str, write: Callable[[IO[Any]], None], binary: bool = False) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then replace ``path`` by it.

    Arguments:
        path: the file to (over)write; its directory must exist.
        write: writes the whole content to the open file it is given.
        binary: open the temporary file in ``"wb"`` mode instead of text (UTF-8).

    If ``write`` raises, ``path`` is untouched, the temporary file is removed and the error
    propagates. The new file gets the usual permissions (``0o666`` less the umask).
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        atomic_replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: str, obj: Any, indent: Optional[int] = 2, sort_keys: bool = True) -> None:
    """Write ``obj`` as JSON (indented, keys sorted, unknown types as ``str``), atomically.

    ``indent=None`` writes one compact line (``separators=(",", ":")``).
    """
    separators = (",", ":") if indent is None else None
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, default=str, separators=separators)
    atomic_write(path, lambda f: f.write(text + ("\n" if indent is not None else "")))


def atomic_copy(source: str, target: str) -> None:
    """Copy the content of the file ``source`` to ``target``, atomically."""
    with open(source, "rb") as src:
        atomic_write(target, lambda f: shutil.copyfileobj(src, f), binary=True)


def read_json(path: str) -> Optional[Any]:
    """The JSON content of ``path``, or ``None`` if it does not exist.

    Raises:
        ValueError: the file is not valid JSON (:class:`json.JSONDecodeError`).
    """
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
