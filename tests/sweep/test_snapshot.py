import json
import os

import pytest

from ovis.sweep.snapshot import snapshot_code


@pytest.fixture
def tree(tmp_path):
    pkg = tmp_path / "src" / "ovis"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("V = 1\n")
    (pkg / "sub" / "m.py").write_text("")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "x.pyc").write_text("")
    proj = tmp_path / "proj"
    (proj / "tools").mkdir(parents=True)
    (proj / "run.py").write_text("print('run')\n")
    (proj / "manager.py").write_text("")
    (proj / "tools" / "other.py").write_text("")
    (proj / "unrelated.py").write_text("")
    return tmp_path, str(pkg), str(proj)


def test_snapshot_copies_package_entry_scripts_and_sweep_script(tree):
    tmp, pkg, proj = tree
    dest = snapshot_code(str(tmp / "snap"), proj, scripts=["tools/other.py", "/abs/elsewhere.py"], package_dir=pkg)
    files = sorted(os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs)
    assert files == ["MANIFEST.json", "manager.py", "ovis/__init__.py", "ovis/sub/m.py", "run.py",
                     "tools/other.py"]
    manifest = json.load(open(os.path.join(dest, "MANIFEST.json")))
    assert manifest["scripts"] == ["run.py", "manager.py", "tools/other.py"] and manifest["package"] == pkg


def test_update_replaces_the_snapshot_and_leaves_no_temporaries(tree):
    tmp, pkg, proj = tree
    snapshot_code(str(tmp / "snap"), proj, package_dir=pkg)
    with open(os.path.join(proj, "run.py"), "w") as f:
        f.write("print('new')\n")
    snapshot_code(str(tmp / "snap"), proj, package_dir=pkg)
    assert open(tmp / "snap" / "run.py").read() == "print('new')\n"
    assert sorted(os.listdir(tmp)) == ["proj", "snap", "src"]


def test_missing_sweep_script_is_an_error(tree):
    tmp, pkg, proj = tree
    with pytest.raises(FileNotFoundError, match=r"'nope.py' of the sweep not found in the project directory"):
        snapshot_code(str(tmp / "snap"), proj, scripts=["nope.py"], package_dir=pkg)
    assert not os.path.exists(tmp / "snap")


def test_default_package_is_the_imported_ovis(tmp_path):
    dest = snapshot_code(str(tmp_path / "snap"), str(tmp_path))
    assert os.path.isfile(os.path.join(dest, "ovis", "sweep", "queue.py"))


def test_an_entry_script_the_project_lacks_is_written_as_a_call_of_the_cli(tmp_path):
    """An installed ovis run from an empty folder: the sweep's run.py is a shim of ``ovis run``."""
    import subprocess
    import sys

    empty = tmp_path / "empty"
    empty.mkdir()
    dest = snapshot_code(str(tmp_path / "snap"), str(empty), scripts=["run.py"])
    assert sorted(os.listdir(dest)) == ["MANIFEST.json", "ovis", "run.py"]
    out = subprocess.run([sys.executable, os.path.join(dest, "run.py"), "--help"], cwd=str(empty),
                         env={**os.environ, "PYTHONPATH": dest}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: run.py")
    with pytest.raises(FileNotFoundError, match="other.py"):  # a script of the sweep's own is still required
        snapshot_code(str(tmp_path / "snap2"), str(empty), scripts=["other.py"])
