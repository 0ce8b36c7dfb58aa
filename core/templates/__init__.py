"""File templates, such as the adapter skeleton written by ``patchflow new-adapter``.

A template is a folder of files ending in ``.tmpl``. Placeholders ``{{ name }}`` in file contents and in file or
folder names are replaced by the template's variables; the ``.tmpl`` suffix is dropped. A placeholder with no
value is an error, so a template cannot silently write half-filled files.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from ..errors import PatchflowError

SUFFIX = ".tmpl"
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_SYNTH_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class TemplateError(PatchflowError):
    """A template cannot be written: bad name, missing variable, or the target already exists."""


@dataclass(frozen=True)
class AdapterNames:
    """The names an adapter for one synth uses, all derived from its synth id.

    Attributes:
        synth_id: The synth's id on the command line and in stores (``toysynth``).
        module: The Python package (``patchflow_toysynth``).
        dist: The distribution name for pip (``patchflow-toysynth``).
        class_name: The :class:`patchflow.Synth` subclass (``ToysynthSynth``).
        display_name: Human-readable name (``Toysynth``).
        patchflow_version: The lowest patchflow release the adapter declares it needs.
    """

    synth_id: str
    module: str
    dist: str
    class_name: str
    display_name: str
    patchflow_version: str

    @classmethod
    def from_synth_id(cls, synth_id: str, display_name: str | None = None) -> "AdapterNames":
        """Derive every name from ``synth_id``.

        Raises:
            TemplateError: ``synth_id`` is not a lowercase identifier (letters, digits, underscores; 1-40 long,
                starting with a letter).
        """
        if not _SYNTH_ID.match(synth_id):
            raise TemplateError(f"invalid synth name {synth_id!r}: use lowercase letters, digits and underscores, "
                                "starting with a letter (e.g. 'mysynth')")
        words = synth_id.split("_")
        title = "".join(w.capitalize() for w in words)
        from .. import __version__

        return cls(
            synth_id=synth_id,
            module=f"patchflow_{synth_id}",
            dist=f"patchflow-{synth_id.replace('_', '-')}",
            class_name=f"{title}Synth",
            display_name=display_name or " ".join(w.capitalize() for w in words if w),
            patchflow_version=".".join(__version__.split(".")[:2]),
        )


def template_root(name: str) -> Traversable:
    """The folder of the template called ``name`` (``adapter``) inside the installed package.

    Raises:
        TemplateError: There is no such template.
    """
    root = resources.files(__name__) / name
    if not root.is_dir():
        raise TemplateError(f"no template named {name!r}")
    return root


def fill(text: str, variables: dict[str, str], where: str = "template") -> str:
    """Replace every ``{{ name }}`` in ``text``.

    Raises:
        TemplateError: A placeholder has no value in ``variables``; the message names ``where`` it is.
    """

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in variables:
            raise TemplateError(f"{where}: placeholder {{{{{key}}}}} has no value")
        return variables[key]

    return _PLACEHOLDER.sub(substitute, text)


def _walk(folder: Traversable, relative: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Traversable]]:
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found.extend(_walk(entry, relative + (entry.name,)))
        elif entry.name.endswith(SUFFIX):
            found.append((relative + (entry.name,), entry))
    return found


def render_template(name: str, destination: str | Path, variables: dict[str, str], *,
                    overwrite: bool = False) -> list[Path]:
    """Write the template ``name`` into ``destination`` with ``variables`` filled in.

    Args:
        name: Template folder name (``adapter``).
        destination: Folder to write into; created if missing.
        variables: Values of the placeholders.
        overwrite: Replace files that already exist instead of refusing.

    Returns:
        The files written, in a stable order.

    Raises:
        TemplateError: A placeholder has no value, or ``destination`` already holds a file the template would
            write (and ``overwrite`` is false). Nothing is written in either case.
    """
    destination = Path(destination)
    planned: list[tuple[Path, str]] = []
    for parts, entry in _walk(template_root(name)):
        where = "/".join(parts)
        relative = [fill(part, variables, where) for part in parts]
        relative[-1] = relative[-1][: -len(SUFFIX)]
        planned.append((destination.joinpath(*relative), fill(entry.read_text(encoding="utf-8"), variables, where)))
    clashes = [str(path) for path, _ in planned if path.exists()]
    if clashes and not overwrite:
        raise TemplateError(f"{destination}: would overwrite {len(clashes)} existing file(s), e.g. {clashes[0]}; "
                            "choose another folder or pass --force")
    for path, text in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in planned]


def write_adapter(synth_id: str, destination: str | Path | None = None, *, display_name: str | None = None,
                  overwrite: bool = False) -> list[Path]:
    """Write a pip-installable adapter skeleton for a new synth.

    The skeleton is a working adapter: a small numpy synth, a JSON preset format with a reader and a writer, the
    ``patchflow`` entry point and tests that pass as generated. See the "Write an adapter" tutorial.

    Args:
        synth_id: The new synth's id (``mysynth``); the package becomes ``patchflow_mysynth``.
        destination: Folder to create; defaults to ``./patchflow-mysynth``.
        display_name: Human-readable synth name; defaults to the id, capitalised.
        overwrite: Replace existing files.

    Returns:
        The files written.

    Raises:
        TemplateError: Invalid id, or the destination holds files the skeleton would overwrite.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     files = write_adapter("mysynth", Path(tmp) / "patchflow-mysynth")
        ...     sorted(str(f.relative_to(tmp)) for f in files)[:2]
        ['patchflow-mysynth/README.md', 'patchflow-mysynth/patchflow_mysynth/__init__.py']
    """
    names = AdapterNames.from_synth_id(synth_id, display_name)
    target = Path(destination) if destination is not None else Path.cwd() / names.dist
    return render_template("adapter", target, asdict(names), overwrite=overwrite)


__all__ = ["AdapterNames", "TemplateError", "fill", "render_template", "template_root", "write_adapter"]
