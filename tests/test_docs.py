"""The documentation builds with warnings as errors, its examples run, and every plugin hook is documented."""

from __future__ import annotations

import doctest
import json
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from patchflow import hookspecs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SPHINX_BUILD = [sys.executable, "-m", "sphinx"]
HOOKS = sorted(name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_"))


def _sphinx(builder: str, out: Path, doctrees: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*SPHINX_BUILD, "-W", "--keep-going", "-q", "-b", builder, "-d", str(doctrees),
                           str(DOCS), str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory) -> tuple[Path, Path]:
    """Build the HTML docs once (warnings are errors); returns (html folder, doctrees folder)."""
    tmp = tmp_path_factory.mktemp("docs")
    html, doctrees = tmp / "html", tmp / "doctrees"
    result = _sphinx("html", html, doctrees)
    assert result.returncode == 0, f"sphinx-build -W failed:\n{result.stderr}\n{result.stdout[-3000:]}"
    return html, doctrees


def test_the_docs_build_with_warnings_as_errors(built_docs):
    html, _ = built_docs
    for page in ("index", "quickstart", "concepts", "guide/index", "adapters", "plugins/index", "plugins/hooks",
                 "tutorials/adapter", "tutorials/preset-parser", "benchmarks", "cli", "api/index", "changelog"):
        assert (html / f"{page}.html").is_file(), page
    api = (html / "api" / "generated" / "patchflow.parameters.html").read_text(encoding="utf-8")
    assert "ParameterSpec" in api and "to_normalised" in api
    cli = (html / "cli.html").read_text(encoding="utf-8")
    assert "patchflow new-adapter" in cli and "--display-name" in cli
    # plain text: no box drawing (it was clipped at the page's edge), options as code (no "--" turned into a dash)
    assert not re.search("[\u2500-\u257f]", cli), "the CLI reference draws boxes again"
    assert "–" not in cli and "<span class=\"pre\">--synth</span>" in cli


def test_the_doctest_blocks_of_the_pages_pass(built_docs, tmp_path):
    _, doctrees = built_docs
    result = _sphinx("doctest", tmp_path / "doctest", doctrees)
    report = (tmp_path / "doctest" / "output.txt").read_text(encoding="utf-8")
    assert result.returncode == 0, report
    summary = report[report.rindex("Doctest summary"):]
    assert int(re.search(r"(\d+) tests", summary).group(1)) >= 3, report
    assert re.search(r"\b0 failures in tests", summary), report


def _public_modules() -> list[str]:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    names: set[str] = set()
    for package in [*packages, "patchflow_dexed", "patchflow_vst3", "patchflow_diva"]:
        names.add(package)
        try:  # a module that fails to import fails its own test below, not the collection of this file
            module = importlib.import_module(package)
        except Exception:
            continue
        if hasattr(module, "__path__"):
            names.update(info.name for info in pkgutil.walk_packages(module.__path__, package + ".",
                                                                      onerror=names.add))
    return sorted(n for n in names if not n.startswith("patchflow.cli") and not re.search(r"\._", n))


@pytest.mark.parametrize("module_name", _public_modules())
def test_docstring_examples_run(module_name):
    """Examples in docstrings appear in the API reference, so they run, with their module's globals."""
    module = importlib.import_module(module_name)
    finder, runner = doctest.DocTestFinder(exclude_empty=True), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, module_name, globs=dict(vars(module))):
        if test.examples and (test.filename or "").startswith(str(Path(module.__file__).parent)):
            runner.run(test)
    summary = runner.summarize(verbose=False)
    assert summary.failed == 0, f"{summary.failed} of {summary.attempted} docstring examples failed in {module_name}"


def test_the_api_reference_lists_every_package():
    listed = set(re.findall(r"^\s+(patchflow[\w.]*)\s*$", (DOCS / "api" / "index.rst").read_text(), re.M))
    packages = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    missing = packages - listed - {"patchflow", "patchflow.cli"}
    assert not missing, f"add these packages to docs/api/index.rst: {sorted(missing)}"


def test_hooks_exist():
    assert {"register_synths", "register_preset_parsers"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook, built_docs):
    """Each hook has a docstring, a section of its own in plugins/hooks.md, and its spec rendered there."""
    assert inspect.getdoc(getattr(hookspecs, hook)), f"{hook} has no docstring in core/hookspecs.py"
    page = (DOCS / "plugins" / "hooks.md").read_text(encoding="utf-8")
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"\n## {hook}({params})\n" in page, f"plugins/hooks.md lacks a section '## {hook}({params})'"
    section = page.split(f"\n## {hook}(", 1)[1].split("\n## ", 1)[0]
    assert f"autofunction:: patchflow.hookspecs.{hook}" in section
    assert "Example" in section
    html, _ = built_docs
    assert f'id="patchflow.hookspecs.{hook}"' in (html / "plugins" / "hooks.html").read_text(encoding="utf-8")


def test_the_hooks_page_documents_no_hook_that_does_not_exist():
    page = (DOCS / "plugins" / "hooks.md").read_text(encoding="utf-8")
    assert sorted(re.findall(r"^## (\w+)\(", page, re.M)) == HOOKS


BENCHMARK_FILE = '''
from patchflow_dexed import DX7_PARAMETERS
from patchflow import ParameterTable

TABLE = ParameterTable(DX7_PARAMETERS)


def test_normalise_dx7_defaults(benchmark):
    benchmark.extra_info["parameters"] = len(TABLE)
    benchmark(TABLE.to_normalised, TABLE.defaults())
'''


def test_a_real_benchmark_report_renders_as_a_table_with_its_machine(tmp_path):
    (tmp_path / "test_tiny_benchmark.py").write_text(BENCHMARK_FILE, encoding="utf-8")
    report_path = tmp_path / "latest.json"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-only",
                             "--benchmark-max-time=0.05", "--benchmark-warmup=off", f"--benchmark-json={report_path}", str(tmp_path)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from benchmark_table import report_lines
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    lines = report_lines(json.loads(report_path.read_text()), "benchmarks/latest.json")
    assert lines[0].startswith("**Machine**") and "logical cores" in lines[0]
    (row,) = [line for line in lines if line.startswith("| `test_normalise_dx7_defaults`")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 5, cells  # few columns, so that the table fits the text width
    mean, _, stddev = cells[1].partition(" ± ")
    assert all(v.endswith(("s", "ms", "µs", "ns")) for v in (mean, stddev, cells[2]))
    assert int(cells[3]) > 0 and cells[4] == "parameters=145"


# ---- what the built site shows: images, nothing loaded from other hosts, and the pages in a real browser ----

#: Markdown images ![alt](path) and the image/figure directives of MyST and reST.
IMAGE_REFERENCE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)|^(?:```\{|\.\. )(?:image|figure)\}?:*\s+(\S+)", re.M)


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes, and the text of its inline <style> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def _tags(page: Path) -> _Tags:
    parser = _Tags()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)


def _local_file(page: Path, url: str) -> Path:
    return (page.parent / unquote(urlsplit(url).path)).resolve()


def _images_of(page: Path) -> list[Path]:
    return [_local_file(page, attrs["src"]) for tag, attrs in _tags(page).tags if tag == "img" and "src" in attrs]


def _referenced_images() -> dict[str, list[Path]]:
    """The image files each source page references, by docname."""
    found: dict[str, list[Path]] = {}
    for source in sorted([*DOCS.rglob("*.md"), *DOCS.rglob("*.rst")]):
        if "_build" in source.parts or source.name == "README.md":
            continue
        text = source.read_text(encoding="utf-8")
        refs = [a or b for a, b in IMAGE_REFERENCE.findall(text)]
        refs = [r for r in refs if not r.startswith(("http:", "https:", "data:"))]
        if refs:
            docname = source.relative_to(DOCS).with_suffix("").as_posix()
            found[docname] = [(DOCS / r.lstrip("/")) if r.startswith("/") else (source.parent / r) for r in refs]
    return found


def test_every_image_the_docs_reference_is_on_the_built_site(built_docs):
    html, _ = built_docs
    for page in _pages(html):
        for image in _images_of(page):
            assert image.is_file(), f"{page.relative_to(html)} shows {image}, which is not in the build"
    referenced = _referenced_images()
    assert {"index", "guide/matching", "architecture"} <= set(referenced), referenced
    for docname, files in referenced.items():
        shown = [p.read_bytes() for p in _images_of(html / f"{docname}.html")]
        for file in files:
            assert file.is_file(), f"docs/{docname} references {file}, which does not exist"
            assert file.read_bytes() in shown, f"docs/{docname}: {file.name} is not shown on the built page"
    # the README's pictures are on the site too (the matching guide and the front page show the match figure)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    on_site = {p.read_bytes() for p in (html / "_images").iterdir()}
    for ref in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", readme):
        assert (ROOT / ref).is_file(), f"README.md shows {ref}, which does not exist"
        assert (ROOT / ref).read_bytes() in on_site, f"README.md shows {ref}; no page of the docs does"


def _third_party(url: str) -> bool:
    """A URL that leaves the site: any scheme and host (``https://``, protocol-relative ``//``)."""
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme not in ("", "data", "file")


#: Tags and the attribute through which they make the browser fetch something.
_FETCHING = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "video": "src",
             "audio": "src", "embed": "src", "object": "data", "track": "src", "input": "src"}
_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")


def _css_urls(css: str) -> list[str]:
    return _CSS_URL.findall(re.sub(r"/\*.*?\*/", "", css, flags=re.S))


def test_the_built_site_loads_nothing_from_other_hosts(built_docs):
    """No script, stylesheet, font or image comes from a CDN or any other host: the site works offline."""
    html, _ = built_docs
    fetched: list[str] = []
    for page in _pages(html):
        parsed = _tags(page)
        for tag, attrs in parsed.tags:
            urls = [attrs.get(_FETCHING[tag], "")] if tag in _FETCHING else []
            urls += [u.split()[0] for u in attrs.get("srcset", "").split(",") if u.strip()]
            urls += _css_urls(attrs.get("style", ""))
            fetched += [f"{page.relative_to(html)}: <{tag}> {u}" for u in urls if u and _third_party(u)]
        fetched += [f"{page.relative_to(html)}: <style> {u}" for css in parsed.styles for u in _css_urls(css)
                    if _third_party(u)]
    for css in (html / "_static").rglob("*.css"):
        fetched += [f"{css.relative_to(html)}: {u}" for u in _css_urls(css.read_text(encoding="utf-8"))
                    if _third_party(u)]
    assert not fetched, "the site loads from other hosts:\n" + "\n".join(sorted(set(fetched))[:30])
    # math comes from the site's own copy of MathJax
    concepts = _tags(html / "concepts.html").tags
    scripts = [a["src"] for t, a in concepts if t == "script" and "mathjax" in a.get("src", "")]
    assert scripts and all(_local_file(html / "concepts.html", s).is_file() for s in scripts), scripts


#: Pages screenshotted (the front page, the matching guide, the CLI reference) and checked in a browser.
SCREENSHOT_PAGES = ("index", "guide/matching", "cli")
#: Where the screenshots are saved (git-ignored, like the rest of docs/_build).
SCREENSHOTS = DOCS / "_build" / "screenshots"


def _open(browser, html: Path, page_name: str, outside: list[str]):
    """A 1280 x 900 page showing ``page_name`` of the built site; requests that leave the site fail and are noted."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            outside.append(f"{page_name}: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.goto((html / f"{page_name}.html").as_uri(), wait_until="load")
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    return page


def test_key_pages_in_a_browser(built_docs, browser):
    """The pages as a person sees them: images load, math is typeset, nothing is cut at the right edge, nothing
    comes from another host. Screenshots of the key pages are saved under docs/_build/screenshots/."""
    html, _ = built_docs
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    for name in (*SCREENSHOT_PAGES, "concepts", "benchmarks"):
        page = _open(browser, html, name, outside)
        try:
            broken = page.evaluate("() => [...document.images].filter(i => !i.complete || !i.naturalWidth)"
                                   ".map(i => i.src)")
            assert not broken, f"{name}: images that do not load: {broken}"
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 1280, f"{name}: the page is {width} px wide at a 1280 px window"
            if name in SCREENSHOT_PAGES:
                target = SCREENSHOTS / f"{name.replace('/', '-')}.png"
                page.screenshot(path=str(target), full_page=True)
                assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            if name in ("index", "guide/matching"):
                shown = page.evaluate("() => [...document.images].map(i => i.src.split('/').pop())")
                assert "match-example.png" in shown, f"{name} shows {shown}"
            if name == "cli":
                clipped = page.evaluate("() => [...document.querySelectorAll('article pre')]"
                                        ".filter(p => p.scrollWidth > p.clientWidth).map(p => p.textContent)")
                assert not clipped, f"CLI reference lines wider than the page: {clipped[:3]}"
            if name == "concepts":
                typeset = page.evaluate("() => document.querySelectorAll('mjx-container').length")
                raw = page.evaluate("() => [...document.querySelectorAll('.math')].filter(e => "
                                    "!e.querySelector('mjx-container')).length")
                assert typeset > 10 and raw == 0, f"math not typeset offline: {typeset} typeset, {raw} raw"
            if name == "benchmarks" and page.query_selector(".benchmark-report table"):
                fits = page.evaluate("() => { const t = document.querySelector('.benchmark-report table');"
                                     " return t.getBoundingClientRect().right <= "
                                     "t.parentElement.getBoundingClientRect().right + 1"
                                     " && t.parentElement.scrollWidth <= t.parentElement.clientWidth; }")
                assert fits, "the benchmark table is wider than the text"
        finally:
            page.close()
    assert not outside, f"pages requested files from other hosts: {outside}"
