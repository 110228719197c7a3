"""Check a mystmd build: a clean log, and the content the book needs.

Usage::

    python -m tests.myst_check log LOG [--cached N]   # `make myst-check`, `make pdf`
    python -m tests.myst_check content _build/site    # `make myst-check`

``log`` fails on any line mystmd marks as a warning or error (⚠️, ⛔, or the words warning or
error, as in a Typst diagnostic or a template error), except one known to be harmless
(:data:`TAGS_AS_LIST`), and with ``--cached N`` unless exactly N
notebooks took their outputs from the execution cache and none was executed (``make pdf``
must show the outputs of the book build, never run the notebooks again).

``content`` reads the site content mystmd wrote (``config.json``, ``content/*.json``): every
page of myst.yml's table of contents is there, every code cell that the notebooks label
``fig-...`` became a numbered figure with a caption under that label, so a ``{numref}`` to it
resolves under mystmd as it does under Sphinx, and the code of every cell tagged ``hide-input``
is hidden (``visibility: hide``) in mystmd's content too.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

PROBLEM = re.compile(r"⚠|⛔|\bwarn(ing)?s?\b|\berrors?\b", re.IGNORECASE)
CACHED = "Adding cached notebook outputs"
EXECUTING = re.compile(r"Executing notebook|no execution cache found|Jupyter session manager")
FIGURE_LABEL = re.compile(r"^label:\s*(fig-[\w-]+)\s*$", re.MULTILINE)
HIDE_INPUT = re.compile(r"^tags:\s*\[[^\]]*\bhide-input\b[^\]]*\]\s*$", re.MULTILINE)
#: mystmd 1.11 types a code cell's ``tags`` option as a string and warns on the YAML list that
#: Jupyter Book 1 and nbformat require (a string is not a valid notebook tag list); it then reads
#: the list anyway (``String(list)``, split at commas). ``content`` checks that the tags take effect.
TAGS_AS_LIST = re.compile(r'value is not a string for option "tags" \(in code-cell\)')


def log_problems(text: str, cached: int | None = None) -> list[str]:
    """The problems a mystmd log shows (empty when it is clean)."""
    problems = [line for line in text.splitlines()
                if PROBLEM.search(line) and not TAGS_AS_LIST.search(line)]
    if cached is not None:
        problems += [line for line in text.splitlines() if EXECUTING.search(line)]
        hits = sum(CACHED in line for line in text.splitlines())
        if hits != cached:
            problems.append(f"{hits} notebooks took cached outputs, expected {cached}")
    return problems


def _walk(node):
    yield node
    for child in node.get("children", []) or []:
        yield from _walk(child)


def content_problems(site: Path, notebooks: list[Path]) -> list[str]:
    """What is missing from mystmd's site content for the book."""
    problems = []
    config = json.loads((site / "config.json").read_text(encoding="utf-8"))
    pages = [page for project in config.get("projects", []) for page in project.get("pages", [])
             if page.get("slug")]
    if not pages:
        return [f"{site / 'config.json'} lists no pages"]
    figures: dict[str, dict] = {}
    hidden = 0
    for page in pages:
        path = site / "content" / f"{page['slug']}.json"
        if not path.exists():
            problems.append(f"page {page['slug']} has no content file {path}")
            continue
        tree = json.loads(path.read_text(encoding="utf-8"))["mdast"]
        for node in _walk(tree):
            if node.get("type") == "container" and node.get("kind") == "figure" and node.get("identifier"):
                figures[node["identifier"]] = node
            if node.get("type") == "code" and node.get("visibility") == "hide":
                hidden += 1  # mystmd turns a hide-input tag into the cell's code hidden
    for notebook in notebooks:
        for label in FIGURE_LABEL.findall(notebook.read_text(encoding="utf-8")):
            node = figures.get(label)
            if node is None:
                problems.append(f"{notebook}: {label} is not a figure in mystmd's content")
            elif not node.get("enumerator") or not any(c.get("type") == "caption" for c in node["children"]):
                problems.append(f"{notebook}: figure {label} has no number or no caption")
    tagged = sum(len(HIDE_INPUT.findall(notebook.read_text(encoding="utf-8"))) for notebook in notebooks)
    if hidden != tagged:
        problems.append(f"{tagged} code cells are tagged hide-input, mystmd's content has {hidden}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    log = sub.add_parser("log")
    log.add_argument("log", type=Path)
    log.add_argument("--cached", type=int, default=None)
    content = sub.add_parser("content")
    content.add_argument("site", type=Path)
    content.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    args = parser.parse_args(argv)
    if args.what == "log":
        problems = log_problems(args.log.read_text(encoding="utf-8"), args.cached)
        where = str(args.log)
    else:
        notebooks = sorted(args.notebooks.glob("[0-9][0-9]_*.md"))
        problems = content_problems(args.site, notebooks)
        where = str(args.site)
    for problem in problems:
        print(f"{where}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{where}: clean")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
