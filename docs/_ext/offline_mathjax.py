"""Math that renders without a network: MathJax is served from the site's own ``_static/mathjax``.

Sphinx's ``sphinx.ext.mathjax`` loads MathJax from a CDN by default, so formulas stay raw LaTeX offline (a laptop on
a train, a docs folder opened from disk). This extension copies MathJax 3 (its ``tex-chtml`` bundle, the fonts and
the components it loads on demand) from the ``sphinx-mathjax-offline`` package of the ``dev`` extra into the
build's ``_static/mathjax``; ``conf.py`` sets ``mathjax_path`` to ``mathjax/tex-chtml.js`` (relative paths are
under ``_static``). Files already copied and unchanged are not copied again.
"""

from __future__ import annotations

import filecmp
import shutil
from importlib import metadata
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

#: The package that ships MathJax 3 and the folder of MathJax inside it.
PACKAGE = "sphinx-mathjax-offline"
FOLDER = "sphinx-mathjax-offline/static/mathjax"
#: Where the copy goes, under the output's ``_static``, and the bundle pages load.
TARGET = "mathjax"
BUNDLE = "tex-chtml.js"


def mathjax_source() -> Path:
    """The installed MathJax folder (holding ``tex-chtml.js``)."""
    try:
        source = Path(str(metadata.distribution(PACKAGE).locate_file(FOLDER)))
    except metadata.PackageNotFoundError:
        raise ExtensionError(f"MathJax for the docs comes from the {PACKAGE} package: install the dev extra "
                             "(`make setup`) or `pip install sphinx-mathjax-offline`") from None
    if not (source / BUNDLE).is_file():
        raise ExtensionError(f"{source / BUNDLE} is missing: reinstall {PACKAGE}")
    return source


def copy_mathjax(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` file by file, skipping files that are already the same."""
    for path in source.rglob("*"):
        if path.is_file():
            dest = target / path.relative_to(source)
            if not (dest.is_file() and filecmp.cmp(path, dest)):
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)


def _builder_inited(app: Sphinx) -> None:
    if app.builder.format == "html":
        mathjax_source()  # fail at the start of a build, not after it, when MathJax is not installed
        if app.config.mathjax_path != f"{TARGET}/{BUNDLE}":
            raise ExtensionError(f"set mathjax_path = {TARGET + '/' + BUNDLE!r} in conf.py (the local copy)")


def _build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        copy_mathjax(mathjax_source(), Path(app.outdir) / "_static" / TARGET)


def setup(app: Sphinx) -> dict[str, bool]:
    """Serve MathJax from ``_static/mathjax`` (needs ``sphinx.ext.mathjax``)."""
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("builder-inited", _builder_inited)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
