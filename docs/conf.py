"""Sphinx configuration of the patchflow documentation (MyST Markdown, furo theme)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import shutil  # noqa: E402

import patchflow  # noqa: E402  (the installed package documents itself)

# autosummary writes a page per module into api/generated; pages of modules that were renamed or removed since the
# last build would otherwise stay and fail the -W build, so the folder is made anew each time.
shutil.rmtree(DOCS / "api" / "generated", ignore_errors=True)

project = "patchflow"
author = "patchflow contributors"
copyright = "patchflow contributors"
release = patchflow.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "offline_mathjax",
    "folder_toctree",
    "cli_reference",
    "benchmark_table",
    "architecture_figure",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "**/_build", "Thumbs.db", ".DS_Store", "**/README.md"]

# MyST: $...$ math, ::: fences, {attrs}, and heading anchors for links like [x](page.md#section)
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist", "fieldlist", "attrs_inline"]
myst_heading_anchors = 3

# Docstrings of flows write the log-determinant as log-|det J| in prose; reST would read |det J| as a
# substitution, so define it as itself.
rst_prolog = r"""
.. |det J| replace:: \|det J\|
"""

# API reference from docstrings (Google style)
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
# Heavy engines some adapters load only when asked; documenting their modules must not need them installed.
autodoc_mock_imports = ["pedalboard", "ray"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_attr_annotations = True

# `sphinx-build -b doctest` runs the {doctest} blocks of the pages. Docstring examples run with their module's
# globals, which this builder does not give them; the test suite runs those separately (tests/test_docs.py).
doctest_test_doctest_blocks = ""
doctest_global_setup = "import numpy as np\nimport patchflow\n"

html_theme = "furo"
html_title = f"patchflow {release}"
html_static_path = ["_static"]
html_css_files = ["patchflow.css"]
# MathJax from the site itself (docs/_ext/offline_mathjax.py copies it into _static/mathjax), not from a CDN, so
# formulas render offline too. furo uses the system's fonts: no page loads anything from another host.
mathjax_path = "mathjax/tex-chtml.js"
nitpicky = False
# Relative references such as :mod:`.parameters` match a module of every adapter; the first match is a fine
# link target, so ambiguity is not treated as an error.
suppress_warnings = ["ref.python"]
