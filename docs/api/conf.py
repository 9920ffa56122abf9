"""Sphinx configuration of the API reference (built from the docstrings; no network at build time).

Build: ``python -m sphinx -W -b html docs/api docs/api/_build`` (``tests/test_docs_api.py`` runs it
and fails on any warning).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

project = "ovis"
author = "The ovis developers"
copyright = "2026, The ovis developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
# the docstrings use Google-style sections: "Arguments:", "Returns:", "Raises:", "Example:", "References:"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("References", "notes_style")]
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signatures show the annotations; no cross-reference targets needed
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]  # same-named classes re-exported by several modules
