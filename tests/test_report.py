"""The performance page generator (benchmarks/report.py) and the benchmark's XLA check.

The page is read by people: a five-line takeaway, one table of at most six columns, every figure
with a caption, everything long folded. It is generated from the committed JSON, so the committed
page must be exactly what the generator writes.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks import report
from benchmarks.common import XLA_REL, xla_disagreement

ROOT = Path(__file__).resolve().parent.parent
RESULTS = json.loads((ROOT / "benchmarks" / "results.json").read_text())


@pytest.fixture(scope="module")
def page() -> str:
    return report.page(RESULTS, [], report.load_check())


def _section(page: str, title: str) -> str:
    body = page.split(f"\n## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


def _unfolded(page: str) -> str:
    """The page without the folded admonitions (their bodies)."""
    return re.sub(r"^::::\{admonition\}.*?\n:class: dropdown\n.*?^::::$", "", page, flags=re.S | re.M)


def _tables(text: str) -> list[list[str]]:
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def test_committed_page_is_what_the_generator_writes(page):
    assert (ROOT / "book" / "performance.md").read_text() == page
    assert report.page(RESULTS, [], report.load_check()) == page  # deterministic


def test_takeaway_is_five_lines_at_the_top(page):
    assert page.index("## In short") < page.index("## Key numbers") < page.index(":::{figure}")
    lines = [ln for ln in _section(page, "In short").strip().splitlines() if ln]
    assert len(lines) == 5 and all(ln.startswith("- **") for ln in lines)


def test_takeaway_states_ties_and_losses():
    lines = report.takeaway(RESULTS, report.load_check())
    text = " ".join(lines)
    # the stored run: best of ours and zuko's best NSF tie on moons; IG makes the coupling flow worse
    assert "moons — a tie" in lines[0]
    assert "the coupling flow worse" in text
    assert "slower" in lines[3]


def test_one_small_table_with_short_headers(page):
    unfolded = _unfolded(page)
    tables = _tables(unfolded)
    assert len(tables) == 1, [t[0] for t in tables]
    header = [c.strip() for c in tables[0][0].strip("|").split("|")]
    assert len(header) <= 6
    assert all(len(h) <= 12 for h in header), header
    assert tables[0] == _tables(_section(page, "Key numbers"))[0]


def test_every_figure_has_a_caption_and_no_bare_images(page):
    assert "![" not in page
    figures = re.findall(r"^:::\{figure\} (\S+)\n((?::\w+:[^\n]*\n)*)\n(.*?)\n:::$", page, flags=re.M | re.S)
    assert len(figures) == page.count(":::{figure}") >= 2
    for image, options, caption in figures:
        assert (ROOT / "book" / image).exists()
        assert ":name: fig-" in options and ":alt: " in options
        assert len(caption.split()) >= 8, image


def test_details_are_folded(page):
    folded = re.findall(r"^::::\{admonition\} (.+)\n:class: dropdown\n", page, flags=re.M)
    assert len(folded) >= 6
    unfolded = _unfolded(page)
    for jargon in ("xla_fallback", "seed coupling flow", "Linux-", "jit_compile", "tensorflow 2."):
        assert jargon not in unfolded, jargon
    assert "xla_fallback" not in page and "seed coupling flow" not in page


def test_odd_timings_are_explained_from_the_data(page):
    assert report.mixed_paths(RESULTS)
    odd = report.odd_timings(RESULTS, None)
    assert any("K = 4 → 8" in line and "Two code paths" in line for line in odd)
    assert any("K = 8 → 16" in line and "Noise" in line for line in odd)
    assert "(odd-timings)=" in page and "[why](#odd-timings)" in page


def test_no_odd_timings_section_when_every_row_ran_under_xla():
    fixed = copy.deepcopy(RESULTS)
    for kind in ("dim", "K"):
        for r in fixed["scaling"][kind]:
            if "xla" in r:
                r["xla"], r["xla_fallback"] = True, None
    assert not report.mixed_paths(fixed)
    assert report.timing_section(fixed, None) == ""
    text = report.page(fixed, [], None)
    assert "odd-timings" not in text


def test_compare_calls_a_difference_within_one_sd_a_tie():
    a = {"mean": 0.017, "sd": 0.002}
    assert report.compare(a, {"mean": 0.016, "sd": 0.001}) == "tie"
    assert report.compare(a, {"mean": 0.030, "sd": 0.001}) == "lower"
    assert report.compare({"mean": 0.053, "sd": 0.001}, {"mean": 0.037, "sd": 0.005}) == "higher"


def test_xla_check_accepts_float32_rounding_and_rejects_lost_points():
    ref = np.array([-1.2, -41.6, -4158.704, -827027.5625, -1.56049e8])
    # the differences measured at initialisation (benchmarks/timing_check.json): rounding, not a fault
    fast = ref + np.array([1e-6, 6.1e-5, 0.0029, 0.8125, 144.0])
    assert xla_disagreement(fast, ref) is None
    lost = fast.copy()
    lost[0] = np.nan
    assert "non-finite only under XLA" in xla_disagreement(lost, ref)
    wrong = fast.copy()
    wrong[1] += 2 * XLA_REL * 41.6
    assert "max |diff|" in xla_disagreement(wrong, ref)


def test_a_run_without_mixed_paths_does_not_cite_the_old_check():
    fixed = copy.deepcopy(RESULTS)
    for kind in ("dim", "K"):
        for r in fixed["scaling"][kind]:
            if "xla" in r:
                r["xla"] = True
    text = report.page(fixed, [], report.load_check())
    assert "timing_check" not in text and "three rounds" not in text
