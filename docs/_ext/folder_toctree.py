"""A ``folder-toctree`` directive: a toctree of the pages that exist in a folder, in a preferred order.

Pages of some folders (``guide/``, ``benchmarks/``) are written independently of the page that lists them. A
plain glob toctree warns when a folder is still empty, which fails a ``-W`` build; this directive lists what is
there (preferred names first, the rest alphabetically) and says so in a sentence when nothing is.

Usage in MyST::

    ```{folder-toctree} guide
    :order: datasets training
    :exclude: dexed diva
    ```
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def _names(text: str | None) -> list[str]:
    return (text or "").split()


class FolderToctree(SphinxDirective):
    """List the documents of one folder in a toctree."""

    required_arguments = 1
    option_spec = {
        "order": directives.unchanged,
        "include": directives.unchanged,
        "exclude": directives.unchanged,
        "maxdepth": directives.positive_int,
        "caption": directives.unchanged,
        "empty": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        folder = self.arguments[0].strip("/")
        current = self.env.current_document.docname
        # the list depends on which files exist, so this page is re-read on every build
        self.env.note_reread()
        found = {d.removeprefix(folder + "/") for d in self.env.found_docs
                 if d.startswith(folder + "/") and d != current and "/" not in d.removeprefix(folder + "/")}
        found.discard("index")
        include, exclude = _names(self.options.get("include")), set(_names(self.options.get("exclude")))
        if include:
            found &= set(include)
        found -= exclude
        order = _names(self.options.get("order")) or include
        names = [n for n in order if n in found] + sorted(found - set(order))
        if not names:
            text = self.options.get("empty", "No pages yet.")
            return [nodes.paragraph(text=text)] if text else []
        lines = ["```{toctree}", f":maxdepth: {self.options.get('maxdepth', 1)}"]
        if "caption" in self.options:
            lines.append(f":caption: {self.options['caption']}")
        lines += [""] + [f"/{folder}/{name}" for name in names] + ["```"]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.env.doc2path(current)), self.content_offset, container)
        return list(container.children)


def setup(app: Sphinx) -> dict:
    """Register the directive."""
    app.add_directive("folder-toctree", FolderToctree)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
