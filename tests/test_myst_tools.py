"""The helpers of the mystmd build and the PDF (book/_myst, book/_ext/cell_figures.py, tests/*_check.py).

These run without mystmd or a PDF: `make myst-check`, `make pdf` and `make pdf-check` run the
real builds and use the same functions.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(path.stem, module)
    spec.loader.exec_module(module)
    return module


execution_cache = _load(ROOT / "book/_myst/execution_cache.py")


def test_cache_key_is_mystmds():
    # Computed by mystmd 1.11's own buildCacheKey (myst-execute) for these three cells: non-ASCII,
    # a tab, a control character, backslashes, an empty cell and a raises-exception tag.
    cells = [('import numpy as np\nprint("héllo\\t→ ∂")', False), ("x = 1\t# tab\x01ctl\\\\back", True), ("", False)]
    assert execution_cache.mystmd_cache_key("python3", cells) == "31171c7c3a3ac9ba64c95d5f54086c91"


def test_cache_entry_keeps_outputs_in_order():
    import nbformat

    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")]),
        nbformat.v4.new_code_cell("skipped", metadata={"tags": ["skip-execution"]}),
        nbformat.v4.new_code_cell("1 / 0", metadata={"tags": ["raises-exception"]}),
    ]
    key, document = execution_cache.cache_entry(notebook, Path("notebooks/00_probe.md"))
    assert key == execution_cache.mystmd_cache_key("python3", [("print(1)", False), ("1 / 0", True)])
    assert [cell["metadata"]["mystResultType"] for cell in document["cells"]] == ["code", "code"]
    assert document["cells"][0]["outputs"][0]["text"] == "1\n"
    assert document["cells"][1]["outputs"] == []


def test_cell_figures_reads_label_and_caption():
    sys.path.insert(0, str(ROOT / "book/_ext"))
    try:
        cell_figures = _load(ROOT / "book/_ext/cell_figures.py")
    finally:
        sys.path.remove(str(ROOT / "book/_ext"))
    from myst_nb.core.config import NbParserConfig

    assert cell_figures.figure_options({"label": "fig-a", "caption": "A *caption*."}) == {
        "name": "fig-a", "caption": "A *caption*."}
    assert cell_figures.figure_options({"label": "fig-a"}) is None
    assert cell_figures.figure_options({"tags": ["remove-input"]}) is None

    cell_figures.setup(None)
    config = NbParserConfig()
    get = config.get_cell_level_config
    assert get("render_figure_options", {"label": "fig-a", "caption": "Cap."}, print) == {
        "name": "fig-a", "caption": "Cap."}
    # An explicit mystnb figure still wins, and other fields are untouched.
    explicit = {"label": "fig-a", "caption": "Cap.", "mystnb": {"figure": {"name": "fig-b", "caption": "B"}}}
    assert get("render_figure_options", explicit, print) == {"name": "fig-b", "caption": "B"}
    assert get("render_figure_options", {}, print) == {}
    cell_figures.setup(None)  # idempotent: patched once
    assert NbParserConfig.get_cell_level_config.__wrapped__.__name__ == "get_cell_level_config"


def test_myst_log_check():
    from tests.myst_check import log_problems

    clean = "🌎 Building MyST site\n📖 Built book/index.md in 1 s.\n📚 Built 13 pages for project in 5 s.\n"
    assert log_problems(clean) == []
    for bad in ["⚠️  book/index.md:10 unexpected argument provided for directive: div",
                "⛔️ book/api.md:121 unknown directive: eval-rst",
                "typst warning: unknown font family",
                "Template render error: (template.typ) [Line 2, Column 9]"]:
        assert log_problems(clean + bad + "\n") == [bad]
    cached = "💾 Adding cached notebook outputs (notebooks/00_a.md)\n"
    assert log_problems(cached * 2, cached=2) == []
    assert log_problems(cached, cached=2) == ["1 notebooks took cached outputs, expected 2"]
    executing = "💿 Executing notebook (notebooks/01_b.md) [no execution cache found]"
    assert executing in log_problems(cached * 2 + executing, cached=2)
    # the one known-harmless warning (a YAML list of tags; mystmd reads it) and only that one
    tags = '⚠️  notebooks/02_x.md:10 value is not a string for option "tags" (in code-cell)'
    assert log_problems(clean + tags + "\n") == []
    other = '⚠️  notebooks/02_x.md:10 value is not a string for option "label" (in code-cell)'
    assert log_problems(clean + other + "\n") == [other]


def test_pdf_check_reads_every_chapter_title():
    from tests.pdf_check import _plain, chapter_titles

    titles = chapter_titles(ROOT / "notebooks")
    assert len(titles) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.md")))
    assert titles[0] == "Change of variables: how a density moves under a map"
    assert all(not title.startswith("#") for title in titles)
    assert _plain("A *coupling*  flow with `x`") == "A coupling flow with x"


@pytest.mark.parametrize("page", ["book/index.md", "book/api.md", "book/bibliography.md"])
def test_sources_avoid_constructs_mystmd_rejects(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    assert "{doc}`" not in text and ":::{div}" not in text and "\n:all:" not in text


def test_notebooks_use_one_figure_syntax():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md")):
        text = path.read_text(encoding="utf-8")
        assert "mystnb:" not in text, f"{path}: use the code-cell options label/caption (book/_myst/README.md)"
