"""The API reference (docs/api, Sphinx autodoc + napoleon) builds from the docstrings without a
single warning (``-W``); skipped where Sphinx is not installed (it is in the ``test`` extra)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                          "-d", str(tmp_path / "doctrees"), str(ROOT / "docs" / "api"), str(tmp_path / "html")],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    page = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    for name in ("parse_estimator_id", "TemplateModel", "get_gradients_statistics", "check_run", "FFJORDTransform",
                 "ScaleMatvecTriL", "fit_density", "GMMVI", "make_figure"):
        assert name in page
