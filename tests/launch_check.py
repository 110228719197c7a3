"""Check that the built site's "Try it" links lead to executed notebooks that Colab and Binder can run.

Usage::

    python -m tests.launch_check _build/html [--jupyter-cache _build/.jupyter_cache]

For every chapter (``notebooks/NN_*.md`` of the repository) it reads the built page
``notebooks/NN_*.html`` and asserts:

* **Colab** -- a link ``<colab_url>/github/<org>/<repo>/blob/<launch_branch>/<path>`` and
  **Binder** -- a link ``<binderhub_url>/v2/gh/<org>/<repo>/<launch_branch>?labpath=<path>``, with
  the services, repository and branch of ``_config.yml``. On that branch the repository holds the
  built site, so ``<path>`` must be a file of the site: an ``.ipynb`` (Colab opens nothing else);
* **download** -- the page's ``.ipynb`` download button names a file of the site, the same file;
* every one of these notebooks is valid nbformat, starts with the install note and the install cell
  of ``book/_ext/executed_notebooks.py``, and has at least as many code cells with outputs as the
  chapter's executed copy in the book's execution cache (``book/_myst/execution_cache.py`` reads it);
* no ``.ipynb`` anywhere in the site lacks outputs, and the site has ``.nojekyll`` (GitHub Pages
  would hide ``_static/`` otherwise) and the Binder environment ``.binder/requirements.txt``, which
  installs the package from the repository of ``_config.yml``.

It prints one line per chapter and exits non-zero if any check failed. Nothing is fetched: the
links are only parsed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "book/_ext/executed_notebooks.py"
EXECUTION_CACHE = ROOT / "book/_myst/execution_cache.py"
DOWNLOAD_CLASS = "btn-download-notebook-button"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


extension = _load(EXTENSION)


@dataclass(frozen=True)
class Launch:
    """What the links must look like, from ``_config.yml``."""

    repository_url: str
    colab_prefix: str
    binder_prefix: str

    @classmethod
    def from_config(cls, path: Path = ROOT / "_config.yml") -> Launch:
        import yaml

        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        url = config["repository"]["url"]
        buttons = config["launch_buttons"]
        branch = config["sphinx"]["config"]["launch_branch"]
        org, repo = extension.github_parts(url)
        return cls(url, f"{buttons['colab_url'].rstrip('/')}/github/{org}/{repo}/blob/{branch}/",
                   f"{buttons['binderhub_url'].rstrip('/')}/v2/gh/{org}/{repo}/{branch}?labpath=")


class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.anchors: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.anchors.append({key: value or "" for key, value in attrs})


def anchors(html: str) -> list[dict[str, str]]:
    parser = _Anchors()
    parser.feed(html)
    return parser.anchors


def notebook_problems(path: Path, install_source: str, min_outputs: int) -> list[str]:
    """What is wrong with the notebook at ``path`` (empty if nothing)."""
    import nbformat

    if path.suffix != ".ipynb":
        return [f"{path.name} is not an .ipynb"]
    if not path.is_file():
        return [f"{path} does not exist"]
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # noqa: BLE001 - any reading or validation error is the finding
        return [f"{path.name} is not a valid notebook: {str(error).splitlines()[0]}"]
    problems = []
    cells = notebook.cells
    if len(cells) < 2 or cells[0].cell_type != "markdown" or cells[0].source != extension.INSTALL_NOTE:
        problems.append(f"{path.name}: the first cell is not the install note")
    code = [cell for cell in cells if cell.cell_type == "code"]
    if not code or code[0].source != install_source or cells.index(code[0]) != 1:
        problems.append(f"{path.name}: the first code cell (second cell) is not the install cell")
    with_outputs = sum(1 for cell in code if cell.outputs)
    if with_outputs < max(min_outputs, 1):
        problems.append(f"{path.name}: {with_outputs} code cells with outputs, "
                        f"the execution cache has {min_outputs}")
    return problems


def site_file(site: Path, relative: str) -> Path | None:
    """The file of the site a path relative to its root names (None if it leaves the site)."""
    target = (site / unquote(relative)).resolve()
    return target if target.is_relative_to(site.resolve()) else None


def page_problems(site: Path, page: str, launch: Launch, min_outputs: int) -> list[str]:
    """What is wrong with the launch and download links of the chapter page ``page`` (``notebooks/x.html``)."""
    path = site / page
    if not path.is_file():
        return [f"{page} does not exist"]
    links = anchors(path.read_text(encoding="utf-8"))
    install = extension.install_cell_source(launch.repository_url)
    problems, notebooks = [], {}
    for service, prefix in (("Colab", launch.colab_prefix), ("Binder", launch.binder_prefix)):
        found = [a["href"] for a in links if a.get("href", "").startswith(prefix)]
        if not found:
            others = [a["href"] for a in links if service.lower() in a.get("href", "").lower()]
            problems.append(f"no {service} link starting {prefix}" + (f" (found {others})" if others else ""))
            continue
        target = site_file(site, found[0][len(prefix):])
        if target is None:
            problems.append(f"{service} link {found[0]} leaves the site")
        else:
            notebooks[f"{service} link {found[0]}"] = target
    downloads = [a["href"] for a in links if DOWNLOAD_CLASS in a.get("class", "").split()]
    if not downloads:
        problems.append("no .ipynb download button")
    else:
        href = urlsplit(urljoin(f"http://site/{page}", downloads[0])).path.lstrip("/")
        target = site_file(site, href)
        if target is None:
            problems.append(f"download link {downloads[0]} leaves the site")
        else:
            notebooks[f"download link {downloads[0]}"] = target
    if len(set(notebooks.values())) > 1:
        problems.append("the Colab, Binder and download links name different files: "
                        + ", ".join(sorted({str(t.relative_to(site.resolve())) for t in notebooks.values()})))
    for what, target in notebooks.items():
        problems += [f"{what}: {problem}" for problem in notebook_problems(target, install, min_outputs)]
    return problems


def site_problems(site: Path, launch: Launch) -> list[str]:
    """Site-wide checks: .nojekyll, the Binder environment, no notebook without outputs."""
    import nbformat

    problems = []
    if not (site / ".nojekyll").is_file():
        problems.append(".nojekyll is missing (GitHub Pages would not serve _static/, _images/)")
    requirements = site / ".binder/requirements.txt"
    if not requirements.is_file():
        problems.append(".binder/requirements.txt is missing (Binder would find no environment)")
    elif f"@ git+{launch.repository_url}" not in requirements.read_text(encoding="utf-8"):
        problems.append(f".binder/requirements.txt does not install from {launch.repository_url}")
    for path in sorted(site.rglob("*.ipynb")):
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception as error:  # noqa: BLE001
            problems.append(f"{path.relative_to(site)} cannot be read: {error}")
            continue
        if not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"):
            problems.append(f"{path.relative_to(site)} has no outputs")
    return problems


def cached_outputs(chapter: Path, jupyter_cache: Path) -> int:
    """How many code cells of the chapter's executed copy in the execution cache have outputs."""
    notebook = _load(EXECUTION_CACHE).executed_notebook(chapter, jupyter_cache)
    return sum(1 for cell in notebook.cells if cell.cell_type == "code" and cell.get("outputs"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--jupyter-cache", type=Path, default=None,
                        help="the book's execution cache (default: .jupyter_cache next to the site)")
    args = parser.parse_args(argv)
    cache = args.jupyter_cache or args.site.parent / ".jupyter_cache"
    launch = Launch.from_config()
    failed = 0
    for chapter in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md")):
        page = f"notebooks/{chapter.stem}.html"
        try:
            expected = cached_outputs(chapter, cache)
        except KeyError:
            expected, problems = None, [f"no executed copy of {chapter.name} in {cache}"]
        else:
            problems = page_problems(args.site, page, launch, expected)
        failed += bool(problems)
        counted = f" ({expected} code cells with outputs in the cache)" if expected is not None else ""
        print(f"{'ok  ' if not problems else 'FAIL'} {page}{counted}" + "".join(f"\n     {p}" for p in problems))
    problems = site_problems(args.site, launch)
    failed += bool(problems)
    print(f"{'ok  ' if not problems else 'FAIL'} site" + "".join(f"\n     {p}" for p in problems))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
