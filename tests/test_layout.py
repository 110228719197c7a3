"""The package layout documented in the README and the API page matches the code."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gaussianization"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def tree_entries(text: str) -> set[str]:
    """Paths named by the ```text tree of a page, relative to ``gaussianization/``."""
    block = re.search(r"```text\ngaussianization/\n(.*?)```", text, re.S)
    assert block, "no ```text tree of gaussianization/ found"
    stack, paths = [], set()
    for line in block.group(1).splitlines():
        match = re.match(r"^([│ ]*)[├└]── (\S+)", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4
        stack[depth:] = [match.group(2).rstrip("/")]
        paths.add("/".join(stack))
    return paths


@pytest.mark.parametrize("page", ["README.md", "book/api.md"])
def test_tree_names_every_module_and_nothing_else(page):
    named = tree_entries((ROOT / page).read_text())
    modules = {str(p.relative_to(PACKAGE)) for p in MODULES}
    packages = {str(p.parent.relative_to(PACKAGE)) for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE}
    assert modules - named == set(), f"{page} does not list {sorted(modules - named)}"
    stale = {n for n in named if n not in modules | packages and not n.endswith("__init__.py")}
    assert stale == set(), f"{page} lists modules that do not exist: {sorted(stale)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_300_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 300, f"{path.relative_to(ROOT)} has {lines} lines"
