"""Give mystmd the notebooks' outputs from the Jupyter Book 1 build, so that nothing runs twice.

``make pdf`` runs ``myst build --typst --execute``: mystmd executes a page's code cells unless
its execution cache (``_build/execute/<key>.ipynb``) already holds their outputs. This script
writes that cache from the execution cache of the Jupyter Book 1 build
(``_build/.jupyter_cache``, filled by ``make book`` or ``make notebooks``), so the PDF shows the
very outputs, figures and numbers of the site, and mystmd never starts a kernel.

For each notebook the script reads the MyST source the way the book build does (myst-nb's
reader), looks up its executed copy in the Jupyter cache (keyed on the code and its metadata,
so a stale copy is never found), and writes the outputs of its code cells in order under
mystmd's key: the MD5 of the kernel name followed by the JSON of the list of
``{"kind": "block", "content": <code>, "raisesException": <bool>}`` of the executable cells
(mystmd 1.11, ``myst-execute``'s ``buildCacheKey``). Consecutive writes to one stream become one
output, as the book build renders them (``nb_merge_streams``: myst-nb's own ``coalesce_streams``). mystmd then logs "Adding cached
notebook outputs" for every notebook; should a key ever differ, it would try to execute instead,
and ``make pdf`` fails on that line (``tests/myst_check.py``).

Usage: ``python book/_myst/execution_cache.py [--jupyter-cache DIR] [--out DIR] NOTEBOOK.md ...``
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path

RAISES = "raises-exception"
SKIP = "skip-execution"


def mystmd_cache_key(kernel_name: str, codes: list[tuple[str, bool]]) -> str:
    """mystmd's execution-cache key of a page whose executable cells are ``codes``."""
    items = [{"kind": "block", "content": code, "raisesException": raises} for code, raises in codes]
    # JSON.stringify: no spaces, non-ASCII kept, the same escapes as json.dumps for str.
    text = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    return hashlib.md5(kernel_name.encode() + text.encode()).hexdigest()


def executed_notebook(path: Path, jupyter_cache: Path):
    """The book build's executed copy of the MyST notebook ``path`` (KeyError if it has none)."""
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook

    notebook = read_myst_markdown_notebook(path.read_text(encoding="utf-8"), add_source_map=True, path=path)
    _, merged = get_cache(str(jupyter_cache)).merge_match_into_notebook(notebook)
    return merged


def cache_entry(notebook, source: Path) -> tuple[str, dict]:
    """mystmd's cache key and cache notebook for an executed notebook."""
    from myst_nb.core.utils import coalesce_streams

    kernelspec = dict(notebook.metadata.get("kernelspec", {}))
    cells = [cell for cell in notebook.cells
             if cell.cell_type == "code" and SKIP not in cell.metadata.get("tags", [])]
    key = mystmd_cache_key(kernelspec.get("name", ""),
                           [(cell.source, RAISES in cell.metadata.get("tags", [])) for cell in cells])
    document = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"mystContext": {"kernelspec": kernelspec, "path": source.name,
                                     "source": "Jupyter Book 1 execution cache"}},
        "cells": [
            {"cell_type": "code", "source": [], "metadata": {"mystResultType": "code"},
             "outputs": coalesce_streams(copy.deepcopy(cell.get("outputs", []))), "execution_count": index}
            for index, cell in enumerate(cells)
        ],
    }
    return key, document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jupyter-cache", type=Path, default=Path("_build/.jupyter_cache"))
    parser.add_argument("--out", type=Path, default=Path("_build/execute"))
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    missing = []
    for path in args.notebooks:
        try:
            notebook = executed_notebook(path, args.jupyter_cache)
        except KeyError:
            missing.append(path)
            continue
        key, document = cache_entry(notebook, path)
        target = args.out / f"{key}.ipynb"
        target.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        figures = sum(1 for cell in document["cells"] for out in cell["outputs"]
                      if "image/png" in out.get("data", {}))
        print(f"{path}: {len(document['cells'])} cells, {figures} images -> {target}")
    if missing:
        print("no executed copy in the book's execution cache (run `make book` first) for: "
              + ", ".join(map(str, missing)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
