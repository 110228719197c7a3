"""From ``benchmarks/spread.json`` to the reproducibility page and the notebooks' spread comments.

``python -m benchmarks.spread_report`` rewrites ``book/reproducibility.md`` and, above every
assert whose quantity moved between runs, a comment such as::

    # spread over 10 runs: test_gap = 0.0703 ± 0.0041, range [0.0641, 0.0772]

``--check`` changes nothing and exits 1 if either is out of date, if a comparison was
never measured, or if a measured quantity breaks the rule: every run passed every assert,
and a tolerance (a comparison with a nonzero number in it, ``x <= 0.14``) sits at least
:data:`RULE_SD` standard deviations beyond the runs' mean. A plain ordering (``a < b``,
``x > 0``) has no tolerance to set: it must hold in every run, and the page shows its margin.
The book build never re-runs the measurement; it renders the committed page.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import textwrap
from pathlib import Path

from benchmarks.assert_probe import notebook_sites
from benchmarks.spread import FAMILIES, ROOT, code_cells, load_summary, notebook_paths, summarise_notebook

PAGE = ROOT / "book" / "reproducibility.md"
#: A stochastic assert's bound must lie this many standard deviations beyond the runs' mean.
RULE_SD = 4.0
#: The longest line a notebook's code cell may have (the site's browser check enforces it).
COLUMNS = 88
_COMMENT = re.compile(r"^\s*# spread over \d+ runs:.*\n(?:\s*#   .*\n)*", re.MULTILINE)


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:.{digits}g}"
    return f"{value:.{digits - 2}e}"


def _label(site) -> str:
    tree = ast.parse(site.text, mode="eval").body
    operands = [tree.left, *tree.comparators]
    varying = [ast.unparse(o) for o, c in zip(operands, site.constant) if not c]
    if len(varying) == 1:
        return varying[0]
    return f"slack of ({site.text})"


def current_summaries() -> dict:
    """Per notebook (that was measured): ``(sites, summaries)`` judged with today's bounds."""
    summary = load_summary()
    out = {}
    for path in notebook_paths(ROOT):
        entry = summary["notebooks"].get(path.stem)
        sites = notebook_sites(code_cells(path))
        out[path.stem] = (sites, summarise_notebook(entry, sites) if entry else None, entry)
    return out


def problems(summaries: dict) -> list[str]:
    """Everything that makes the measurement incomplete or a tolerance unjustified."""
    found = []
    for name, (sites, judged, entry) in summaries.items():
        if judged is None:
            found.append(f"{name}: never measured")
            continue
        seeds = {r["seed"] for r in entry["runs"]}
        pairs = {(r["seed"], r["onednn"]) for r in entry["runs"]}
        if len(seeds) < 5 or pairs != {(seed, family) for seed in seeds for family in FAMILIES}:
            found.append(f"{name}: needs >= 5 seeds, each under both oneDNN settings; has {sorted(pairs)}")
        for run in entry["runs"]:
            for error in run["errors"]:
                if _rejudged(error):
                    continue
                where = f"assert {error['evalue']}" if error["cell"] is None else f"cell {error['cell']}"
                found.append(f"{name} seed {run['seed']} oneDNN {run['onednn']}: {error['ename']} "
                             f"({where}): {error['line'] or error['evalue']}")
            if run["stderr"]:
                found.append(f"{name} seed {run['seed']} oneDNN {run['onednn']}: stderr output")
        for site in sites:
            s = judged[site.key]
            if s is None:
                found.append(f"{name}: `{site.text}` was never measured (changed since the last run)")
            elif site.alternative:
                continue  # part of an `or`: the assert as a whole is judged from the runs' failures
            elif False in s["passed"] or None in s["passed"]:
                found.append(f"{name}: `{site.text}` fails in {s['passed'].count(False)} and is not reached in "
                             f"{s['passed'].count(None)} of {len(s['passed'])} runs")
            elif site.window and not site.spec and s["stochastic"] and s["slack_stats"]["mean"] is not None:
                mean, sd = s["slack_stats"]["mean"], s["slack_stats"]["sd"]
                if mean < RULE_SD * sd:
                    found.append(f"{name}: `{site.text}`: bound only {mean / sd:.1f} s.d. beyond the mean "
                                 f"(rule: {RULE_SD:g})")
    return found


def _rejudged(error: dict) -> bool:
    """An assertion failure made only of comparisons: judged again, with today's bounds, per site."""
    if error["ename"] != "AssertionError":
        return False
    text = re.sub(r"^\s*\d*\s*assert\s+", "", error["line"] or "")
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return False
    parts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    return all(isinstance(part, ast.Compare) for part in parts)


def _comment(site, s, runs: int, indent: str = "") -> str:
    """The spread comment, in lines of at most :data:`COLUMNS` characters where it can be.

    One line when it fits; otherwise the label and the figures go on ``#   `` continuation lines.
    """
    q = s["quantity_stats"]
    head = f"# spread over {runs} runs:"
    label = _label(site)
    figures = f"= {_fmt(q['mean'])} ± {_fmt(q['sd'], 2)}, range [{_fmt(q['min'])}, {_fmt(q['max'])}]"
    one_line = f"{indent}{head} {label} {figures}"
    if len(one_line) <= COLUMNS:
        return one_line
    if len(f"{indent}{head} {label}") <= COLUMNS:
        lines = [f"{indent}{head} {label}"]
    else:
        width = COLUMNS - len(indent) - 4
        lines = [f"{indent}{head}", *(f"{indent}#   {part}" for part in textwrap.wrap(label, width))]
    return "\n".join([*lines, f"{indent}#   {figures}"])


def annotate(text: str, sites, judged, runs: int) -> str:
    """The notebook text with one spread comment above each stochastic comparison's assert."""
    text = _COMMENT.sub("", text)
    lines = text.splitlines(keepends=True)
    comments = {}  # line index -> comment lines
    index, n_assert = 0, 0
    while index < len(lines):
        if not lines[index].startswith("```{code-cell}"):
            index += 1
            continue
        start = index + 1
        if start < len(lines) and lines[start].strip() == "---":
            start = next(k for k in range(start + 1, len(lines)) if lines[k].strip() == "---") + 1
        end = next(k for k in range(start, len(lines)) if lines[k].rstrip("\n") == "```")
        tree = ast.parse("".join(lines[start:end]))
        for node in _asserts(tree):
            n_assert += 1
            for site in [p for p in sites if p.ordinal == n_assert]:
                s = judged.get(site.key) if judged else None
                if s and s["stochastic"]:
                    line = start + node.lineno - 1
                    indent = re.match(r"\s*", lines[line]).group(0)
                    comment = _comment(site, s, runs, indent) + "\n"
                    if comment not in comments.get(line, []) and comment not in comments.get(line - 1, []):
                        comments.setdefault(line, []).append(comment)
        index = end + 1
    return "".join("".join(comments.get(k, [])) + line for k, line in enumerate(lines))


def _asserts(tree):
    found = []

    class _Collect(ast.NodeVisitor):
        def visit_Assert(self, node):
            found.append(node)

    _Collect().visit(tree)
    return found


def _seed_range(entry) -> str:
    seeds = sorted({r["seed"] for r in entry["runs"]})
    return f"{seeds[0]}–{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))


def page(summaries: dict, meta: dict) -> str:
    out = [
        "# Reproducibility",
        "",
        "Every chapter checks its claims with `assert` statements, and many of the checked numbers come",
        "from training or sampling. They move when the seed changes, and also with the CPU: TensorFlow",
        "picks one of two families of float kernels (oneDNN on or off, `TF_ENABLE_ONEDNN_OPTS=1` or `0`),",
        "and their rounding differs in the last bits, which a long training run amplifies. This page shows,",
        "for every asserted quantity that is not identical in every run, how much it moved when each chapter",
        "was re-executed with at least five seeds (`GAUSSIANIZATION_SEED`), each under both kernel families,",
        f"on {', '.join(meta['cpus'])} with TensorFlow {meta['tensorflow']} and Keras {meta['keras']}",
        f"({', '.join(map(str, meta['threads']))} intra-op thread(s) per run). The book itself is built with seed 0.",
        "Your machine should land inside these ranges, give or take the same spread.",
        "",
        "Each tolerance in the notebooks (a comparison with a number in it, such as `test_gap <= 0.14`) is",
        "set from these measurements: no run may fail it, and it lies at least "
        f"{RULE_SD:g} standard deviations",
        "beyond the mean of the runs (column *margin*, in standard deviations of the asserted difference).",
        "A plain ordering (`a < b`, `x > 0`) has no tolerance to set; it held in every run measured, and",
        "where its margin is below "
        f"{RULE_SD:g} standard deviations (marked *ordering*) the chapter words it as an",
        "observation about these runs, not as a law. The quantity is the asserted number itself, or, when",
        "both sides of a comparison vary, the slack: how far the comparison is from failing. In a loop,",
        "each run contributes its worst case. Bounds marked *SPEC target* are requirements of the product",
        "specification (the float32 round-trip targets), not tolerances we chose; their margin is shown as",
        "measured. The same figures appear as `# spread over ...` comments",
        "above the asserts in the notebooks.",
        "",
        "The page is generated from `benchmarks/spread.json` by `python -m benchmarks.spread_report`;",
        "`make spread` re-measures everything (about an hour on two cores). Building the book does not",
        "re-run anything.",
        "",
    ]
    for name, (sites, judged, entry) in summaries.items():
        path = ROOT / "notebooks" / f"{name}.md"
        title = next(line[2:].strip() for line in path.read_text().splitlines() if line.startswith("# "))
        out += [f"## {name[:2]} · {title}", ""]
        if judged is None:
            out += ["Not measured.", ""]
            continue
        runs = entry["runs"]
        failed = sum(bool(r["errors"]) for r in runs)
        seconds = [r["seconds"] for r in runs]
        stochastic = [site for site in sites if judged[site.key] and judged[site.key]["stochastic"]]
        fixed = [site for site in sites if judged[site.key] and not judged[site.key]["stochastic"]]
        out.append(f"{len(runs)} runs (seeds {_seed_range(entry)}, oneDNN on and off), "
                   f"{len(runs) - failed} with every assert passing; "
                   f"{_fmt(min(seconds))} to {_fmt(max(seconds))} s per run. "
                   f"{len(fixed)} compared quantities were identical in every run (counts, exact "
                   f"identities, deterministic computations); {len(stochastic)} varied:")
        out.append("")
        if stochastic:
            out += ["| asserted | quantity | mean ± s.d. | range | margin |", "|:--|:--|--:|--:|--:|"]
            for site in stochastic:
                s = judged[site.key]
                q, sl = s["quantity_stats"], s["slack_stats"]
                margin = "∞" if not sl["sd"] else f"{sl['mean'] / sl['sd']:.1f}"
                if not site.window and sl["sd"] and sl["mean"] < RULE_SD * sl["sd"]:
                    margin += " (ordering)"
                elif site.spec:
                    margin += " (SPEC target)"
                if site.alternative:
                    margin = "– (one side of an `or`)"
                text = site.text.replace("|", "\\|")
                label = _label(site).replace("|", "\\|")
                out.append(f"| `{text}` | `{label}` | {_fmt(q['mean'])} ± {_fmt(q['sd'], 2)} "
                           f"| [{_fmt(q['min'])}, {_fmt(q['max'])}] | {margin} |")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on any problem")
    args = parser.parse_args(argv)
    meta = load_summary()["meta"]
    summaries = current_summaries()
    stale = []
    for path in notebook_paths(ROOT):
        sites, judged, entry = summaries[path.stem]
        text = path.read_text()
        new = annotate(text, sites, judged, len(entry["runs"])) if judged else _COMMENT.sub("", text)
        if new != text:
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.write_text(new)
    new_page = page(summaries, meta)
    if not PAGE.exists() or PAGE.read_text() != new_page:
        stale.append(str(PAGE.relative_to(ROOT)))
        if not args.check:
            PAGE.write_text(new_page)
    found = problems(summaries)
    for line in found:
        print("problem:", line)
    if args.check:
        for name in stale:
            print("out of date:", name)
        return 1 if (found or stale) else 0
    print("updated:", ", ".join(stale) or "nothing")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
