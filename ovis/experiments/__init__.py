"""The sweep files shipped with ovis (``ovis/experiments/*.json``), and where a sweep name is
looked up.

``ovis manager --exp mini`` reads ``mini.json`` from the first of these folders that has it:

1. the local ``experiments/`` folder of the current directory (or the folder given by
   ``--experiments``), so a project's own sweeps, or an edited copy of a shipped one, win;
2. this package's folder, installed with ovis, so the shipped sweeps work from any folder.

``ovis sweeps`` lists the sweeps of both folders with their descriptions. This module reads
JSON only: it imports nothing heavy (the manager does not pay for torch).

Example:
    >>> from ovis.experiments import find_sweep, list_sweeps
    >>> sorted(list_sweeps(local="no-such-folder"))[:2]
    ['asymptotic-variance', 'asymptotic-variance-mini']
    >>> find_sweep("mini", local="no-such-folder").endswith("mini.json")
    True
    >>> find_sweep("no-such-sweep", local="no-such-folder") is None
    True
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

__all__ = ["PACKAGE_DIR", "LOCAL_DIR", "sweep_folders", "find_sweep", "list_sweeps", "describe_sweeps"]

#: the folder of the sweep files installed with the package
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
#: the local folder looked up first (relative to the current directory)
LOCAL_DIR = "experiments"


def sweep_folders(local: str = LOCAL_DIR) -> List[str]:
    """The folders searched for a sweep name, first match wins: ``local``, then the package's.

    Arguments:
        local: the local folder of sweep files (need not exist).

    Returns:
        The folders, ``local`` first; the package's folder is not repeated when ``local`` is it.
    """
    folders = [local]
    if os.path.abspath(local) != PACKAGE_DIR:
        folders.append(PACKAGE_DIR)
    return folders


def _names(folder: str) -> List[str]:
    if not os.path.isdir(folder):
        return []
    return sorted(n[:-5] for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))


def list_sweeps(local: str = LOCAL_DIR) -> Dict[str, str]:
    """Every known sweep name -> the path of its file (a local file shadows a shipped one).

    Arguments:
        local: the local folder of sweep files (need not exist).

    Returns:
        A dict ordered by name.
    """
    found: Dict[str, str] = {}
    for folder in sweep_folders(local):
        for name in _names(folder):
            found.setdefault(name, os.path.join(folder, name + ".json"))
    return dict(sorted(found.items()))


def find_sweep(name: str, local: str = LOCAL_DIR) -> Optional[str]:
    """The path of sweep ``name`` (``local/<name>.json``, else the shipped one), or ``None``.

    Arguments:
        name: a sweep name without ``.json``.
        local: the local folder of sweep files (need not exist).
    """
    for folder in sweep_folders(local):
        path = os.path.join(folder, name + ".json")
        if os.path.isfile(path):
            return path
    return None


def describe_sweeps(local: str = LOCAL_DIR) -> List[str]:
    """One line per known sweep: name, where it comes from (local or shipped) and its description.

    Arguments:
        local: the local folder of sweep files (need not exist).
    """
    sweeps = list_sweeps(local)
    width = max(map(len, sweeps), default=0)
    lines = []
    for name, path in sweeps.items():
        try:
            with open(path, "r", encoding="utf-8") as f:
                description = json.load(f).get("description", "")
        except (OSError, ValueError, AttributeError) as err:
            description = f"(unreadable: {err})"
        origin = "shipped" if os.path.dirname(os.path.abspath(path)) == PACKAGE_DIR else "local"
        lines.append(f"{name:<{width}}  [{origin}]  {description}")
    return lines


# ---------------------------------------------------------------------- the ``ovis sweeps`` command
DESCRIPTION = """List the known sweeps (``ovis manager --exp <name>`` runs one): the local
``experiments/`` folder first, then the sweeps shipped with ovis."""


def add_arguments(parser) -> None:  # argparse.ArgumentParser
    """The flags of ``ovis sweeps``."""
    parser.add_argument("--experiments", default=LOCAL_DIR,
                        help="local folder of sweep files, looked up before the shipped ones (default: %(default)s)")


def main(args) -> int:  # argparse.Namespace
    """Print one line per sweep; return 0."""
    for line in describe_sweeps(args.experiments):
        print(line)
    return 0
