"""ovis.runs.atomic: the one write-then-rename of the package."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ovis.runs.atomic import atomic_copy, atomic_replace, atomic_write, atomic_write_json, read_json

ROOT = Path(__file__).resolve().parents[2]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "f.json"
    atomic_write_json(str(path), {"a": 1})

    def broken(f):
        f.write("{partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(str(path), broken)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_text_binary_json_and_copy(tmp_path):
    atomic_write(str(tmp_path / "t.txt"), lambda f: f.write("héllo"))
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    atomic_write(str(tmp_path / "b.bin"), lambda f: f.write(b"\x00\x01"), binary=True)
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    atomic_write_json(str(tmp_path / "j.json"), {"b": 2, "a": float("nan"), "p": Path("x")})
    assert (tmp_path / "j.json").read_text() == '{\n  "a": NaN,\n  "b": 2,\n  "p": "x"\n}\n'
    atomic_write_json(str(tmp_path / "c.json"), {"b": [1, 2]}, indent=None, sort_keys=False)
    assert (tmp_path / "c.json").read_text() == '{"b":[1,2]}'
    atomic_copy(str(tmp_path / "b.bin"), str(tmp_path / "copy.bin"))
    assert (tmp_path / "copy.bin").read_bytes() == b"\x00\x01"
    assert read_json(str(tmp_path / "c.json")) == {"b": [1, 2]} and read_json(str(tmp_path / "none")) is None
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError):
        read_json(str(tmp_path / "bad.json"))


def test_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write(str(tmp_path / "f"), lambda f: f.write("x"))
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_atomic_replace_moves_directories(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a").write_text("1")
    atomic_replace(str(tmp_path / "new"), str(tmp_path / "dest"))
    assert (tmp_path / "dest" / "a").read_text() == "1" and not (tmp_path / "new").exists()


def test_a_reader_never_sees_half_a_file(tmp_path):
    """A writer process rewrites a large file while this process reads it: every read is complete."""
    path = tmp_path / "big.json"
    atomic_write_json(str(path), {"v": 0, "pad": "x" * 200_000})
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys; from ovis.runs.atomic import atomic_write_json\n"
        "for i in range(1, 150): atomic_write_json(sys.argv[1], {'v': i, 'pad': 'x' * 200_000})\n"), str(path)],
        cwd=ROOT)
    seen = set()
    try:
        while writer.poll() is None:
            seen.add(json.loads(path.read_text())["v"])
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0 and json.loads(path.read_text())["v"] == 149
    assert seen  # every read parsed (a torn file would raise above)
