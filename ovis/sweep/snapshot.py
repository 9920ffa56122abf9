"""Freeze the code a sweep runs: ``<root>/<exp>/snapshot/``.

The snapshot holds a copy of the ``ovis`` package the manager imported, the
entry scripts found in the project directory (``run.py``, ``manager.py``,
``dbutils.py``, ``report.py``) plus the sweep's own script (an entry script the
project directory lacks, as when an installed ovis runs from any folder, is
written as a two-line call of ``ovis.cli``), and a
``MANIFEST.json`` (time, sources, git commit if any). Jobs run the script from
the snapshot with the snapshot first on ``PYTHONPATH``, so editing the working
tree during a sweep does not change what later jobs run. ``--update_lib``
replaces the snapshot (jobs already running keep the modules they loaded).

Example:
    >>> import os, tempfile
    >>> from ovis.sweep.snapshot import snapshot_code
    >>> project = tempfile.mkdtemp()
    >>> open(os.path.join(project, "run.py"), "w").close()
    >>> dest = snapshot_code(os.path.join(project, "runs", "mini", "snapshot"), project_dir=project,
    ...                      scripts=["run.py"])
    >>> sorted(os.listdir(dest))
    ['MANIFEST.json', 'ovis', 'run.py']
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import Iterable, List, Optional

from ..runs import atomic_replace

__all__ = ["snapshot_code", "ENTRY_SCRIPTS", "SNAPSHOT_NAME"]

SNAPSHOT_NAME = "snapshot"
ENTRY_SCRIPTS = ("run.py", "manager.py", "dbutils.py", "report.py")
#: the entry script written into a snapshot when the project directory has none (``ovis <command>``)
_ENTRY_SHIM = ('"""Written by the sweep snapshot: python {command}.py [flags] is ovis {command} [flags]."""\n'
               "import sys\n\nfrom ovis.cli import main\n\n"
               "if __name__ == \"__main__\":\n    sys.exit(main([\"{command}\", *sys.argv[1:]], prog=\"{command}.py\"))\n")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")


def _package_dir() -> str:
    import ovis
    return os.path.dirname(os.path.abspath(ovis.__file__))


def _git_commit(directory: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def snapshot_code(dest: str, project_dir: str, scripts: Iterable[str] = (),
                  package_dir: Optional[str] = None) -> str:
    """Write a fresh snapshot to ``dest`` (replacing any), return ``dest``.

    Arguments:
        dest: the snapshot directory.
        project_dir: where the entry scripts and the relative ``scripts`` are looked up.
        scripts: extra scripts (relative to ``project_dir``) that must be in the snapshot;
            a missing one is an error. Absolute paths are not copied (they run in place).
        package_dir: the package to copy (default: the imported ``ovis``).
    """
    dest = os.path.abspath(dest)
    project_dir = os.path.abspath(project_dir)
    package_dir = package_dir or _package_dir()
    required = [s for s in scripts if not os.path.isabs(s)]
    for script in required:
        if not os.path.isfile(os.path.join(project_dir, script)) and script not in ENTRY_SCRIPTS:
            raise FileNotFoundError(f"script {script!r} of the sweep not found in the project directory "
                                    f"{project_dir} (run the manager from the directory that holds it)")
    tmp = dest + f".tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    shutil.copytree(package_dir, os.path.join(tmp, os.path.basename(package_dir)), ignore=_IGNORE)
    copied: List[str] = []
    for script in dict.fromkeys(list(ENTRY_SCRIPTS) + required):
        src = os.path.join(project_dir, script)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(os.path.join(tmp, script)), exist_ok=True)
            shutil.copy2(src, os.path.join(tmp, script))
            copied.append(script)
        elif script in required:  # an entry script the folder lacks (an installed ovis, any folder)
            with open(os.path.join(tmp, script), "w", encoding="utf-8") as f:
                f.write(_ENTRY_SHIM.format(command=script[:-3]))
    manifest = {"created": time.time(), "package": package_dir, "project_dir": project_dir,
                "scripts": copied, "git_commit": _git_commit(project_dir)}
    with open(os.path.join(tmp, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    old = dest + f".old-{os.getpid()}"
    if os.path.exists(dest):
        atomic_replace(dest, old)
    atomic_replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest
