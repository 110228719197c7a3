"""The spread measurement behind every stochastic assert: probe semantics and the committed data."""

from __future__ import annotations

import ast

import pytest

from benchmarks import spread_report
from benchmarks.assert_probe import (FAILED, RECORDER, ProbeTransformer, evaluate, make_failure_log,
                                     make_recorder, notebook_sites, slack)


def _run_probed(source: str, namespace: dict):
    registry, log = {}, []
    tree = ProbeTransformer(registry).visit(ast.parse(source))
    namespace[RECORDER] = make_recorder(registry, log)
    namespace[FAILED] = make_failure_log(log)
    exec(compile(tree, "<cell>", "exec"), namespace)  # noqa: S102 - test code
    return registry, log


def test_probe_records_operands_and_keeps_the_result():
    _, log = _run_probed("x = 1.5\nassert 0 < x <= 2 and x != 3\nassert x > -1", {})
    assert [entry["values"] for entry in log] == [[0.0, 1.5, 2.0], [1.5, 3.0], [1.5, -1.0]]
    assert all(entry["passed"] for entry in log)


def test_a_measured_assert_logs_each_failing_part_and_goes_on():
    namespace = {}
    _, log = _run_probed("x = 5\nassert x < 1 and x > 0 and undefined_name > 0\ny = 2 * x", namespace)
    assert namespace["y"] == 10  # execution went on
    assert [e["failed"] for e in log if "failed" in e] == ["x < 1", "undefined_name > 0"]
    assert [e["passed"] for e in log if "passed" in e] == [False, True]


def test_site_keys_ignore_bounds_but_not_what_is_compared():
    (a,), (b,), (c,) = (notebook_sites([src]) for src in ("assert gap <= 0.1", "assert gap <= 0.25", "assert 2 * gap <= 0.1"))
    assert a.key == b.key != c.key
    assert b.bounds == (None, 0.25)


def test_evaluate_judges_a_recording_with_the_current_bound():
    site = notebook_sites(["assert gap <= 0.25"])[0]
    assert evaluate(site, [0.2, 0.1]) == (True, pytest.approx(0.05), 0.2)  # recorded against 0.1
    assert slack((">=",), [3.0, 1.0]) == 2.0 and slack(("==",), [1.0, 1.5]) == -0.5
    assert slack(("in",), [1.0, 2.0]) is None


def test_spread_covers_every_assert_and_every_tolerance_is_justified():
    found = spread_report.problems(spread_report.current_summaries())
    assert found == [], "\n".join(found)


def test_reproducibility_page_and_notebook_comments_are_up_to_date(capsys):
    assert spread_report.main(["--check"]) == 0, capsys.readouterr().out
