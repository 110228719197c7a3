"""The chapters' MyST sources: every code cell is seen as one, and every chapter has the teaching frame.

A chapter opens with an "In this chapter" box (goals and prerequisites) and closes with a
"What we saw" summary followed by 2-4 exercises, each with a solution that folds away
(sphinx-exercise's gated ``solution-start``/``solution-end``, also read by mystmd).
"""

from __future__ import annotations

import pathlib
import re

import jupytext
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))


def _ids(path):
    return path.stem


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids)
def test_every_code_cell_fence_is_read_as_a_code_cell(path):
    # A directive whose fence Markdown cannot parse (a backtick in a backtick fence's title,
    # for one) swallows the cells after it: they silently vanish from nbval and the spread.
    text = path.read_text()
    fences = sum(line.startswith("```{code-cell}") for line in text.splitlines())
    cells = [c for c in jupytext.reads(text, fmt="md:myst").cells if c.cell_type == "code"]
    assert len(cells) == fences


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids)
def test_chapter_opens_with_goals_and_closes_with_summary_and_exercises(path):
    text = path.read_text()
    title = text.index("\n# ")
    first_section = text.index("\n## ", title)
    box = text.find("```{admonition} In this chapter", title)
    assert title < box < first_section, "the goals box comes before the first section"
    assert "**Goals.**" in text[box:first_section] and "**Prerequisites.**" in text[box:first_section]
    summary, exercises = text.find("\n## What we saw\n"), text.find("\n## Exercises\n")
    assert 0 < summary < exercises, "a summary, then the exercises, at the end"
    assert "\n## " not in text[exercises + 1:], "nothing after the exercises"
    labels = re.findall(r"^```\{exercise\}.*\n:label: (\S+)$", text, flags=re.M)
    assert 2 <= len(labels) <= 4
    solutions = re.findall(r"^```\{solution-start\} (\S+)\n:class: dropdown$", text, flags=re.M)
    assert solutions == labels, "one folded solution per exercise, in order"
    assert text.count("```{solution-end}") == len(labels)


def test_exercise_labels_are_unique_across_the_book():
    labels = [label for path in CHAPTERS
              for label in re.findall(r"^:label: (ex-\S+)$", path.read_text(), flags=re.M)]
    assert len(labels) == len(set(labels))


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids)
def test_every_code_cell_compiles_without_a_warning(path):
    # e.g. "\m" in a non-raw string: IPython shows its DeprecationWarning on stderr.
    import warnings

    for cell in jupytext.read(path).cells:
        if cell.cell_type == "code":
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                compile(cell.source, path.name, "exec")
