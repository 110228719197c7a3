"""Turn ``benchmarks/results.json`` into ``book/performance.md`` and ``book/images/bench_*.png``.

``python -m benchmarks.report [results.json]``. Reads the JSON only (and, where they exist,
``benchmarks/timing_check.json``, ``speed.json`` and ``profile.json``): nothing is re-run, and the
book page is plain markdown (no executed cells), the same bytes for the same JSON.

The page is written for a reader: five takeaway lines, one table of the key numbers, figures with
captions; every long table, per-seed number, version and compile detail sits in a folded
admonition (``:class: dropdown``: sphinx-togglebutton under Jupyter Book 1, a ``<details>`` under
mystmd; ``book/_myst/book-plugin.mjs`` makes it a note for the Typst export of the PDF).
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

from .distributed import distributed_section
from .speed_report import speed_sections

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
IMAGES = BOOK / "images"
HERE = Path(__file__).resolve().parent
TIMING_CHECK = HERE / "timing_check.json"

#: What each model of results.json is, in plain words (the exact calls are in a folded section).
MODEL_WORDS = {
    "diagonal": "our Gaussianization flow: 8 blocks, each a learned rotation followed by a map of every "
                "coordinate through the CDF of a mixture of K = 8 Gaussians; started at the data's quantiles",
    "diagonal+IG": "the same flow, started from iterative Gaussianization (IG)",
    "coupling": "our coupling flow: 4 blocks in which a small network (two layers of 64) reading one "
                "coordinate sets the mixture map (K = 8) of the other",
    "coupling+IG": "the same coupling flow, started from IG",
    "spline": "our coupling flow with a rational-quadratic spline (8 bins) in place of the mixture; no IG start "
              "exists for splines",
    "coupling+IG, careful": "a smaller coupling flow (2 blocks, networks of 32 and 32), started from IG and "
                            "trained with the careful recipe",
    "zuko NSF": "zuko's neural spline flow (PyTorch): 3 transforms, 8 bins, networks of 64 and 64",
    "zuko GF": "zuko's Gaussianization flow: 3 transforms of 8 components",
    "zuko NSF, careful": "the same zuko NSF, trained with the careful recipe",
}
CH03 = "../notebooks/03_iterative_gaussianization.md"
CH04 = "../notebooks/04_coupling_flow.md"


# ---- formatting ------------------------------------------------------------------------------

def _pm(s: dict, digits: int = 3) -> str:
    """``mean ± s.d.`` over runs; runs with a non-finite value are counted and named, never hidden."""
    m, sd, n, total = s["mean"], s["sd"], s["n"], len(s["values"])
    if not math.isfinite(m):
        return "non-finite"
    text = f"{m:.{digits}f}" if n < 2 else f"{m:.{digits}f} ± {sd:.{digits}f}"
    return text if n == total else f"{text} (only {n} of {total} runs finite)"


def _f(x, digits=2):
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _int_or_sci(x: float) -> str:
    """-4158.7 -> "−4,159"; -1.56e8 -> "−1.6e8" (a typographic minus)."""
    text = f"{x:,.0f}" if abs(x) < 1e6 else f"{x:.1e}".replace("e+0", "e").replace("e+", "e")
    return text.replace("-", "−")


def _sig(x: float) -> str:
    """Two significant figures below 10 (plain notation from 1e-3 on), whole numbers above."""
    if abs(x) >= 10:
        return f"{x:,.0f}"
    return _sci(x) if abs(x) < 1e-3 else f"{float(f'{x:.2g}'):g}"


def _sci(x: float) -> str:
    """1.4464e-4 -> "1.4e-4"."""
    return f"{x:.1e}".replace("e-0", "e-").replace("e+0", "e")


def _sci0(x: float) -> str:
    """5.88e-05 -> "6e-5"."""
    return f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _kl(results, data: str, name: str) -> dict:
    return results["quality"][data][name]["summary"]["kl_gap"]


def compare(a: dict, b: dict) -> str:
    """``"tie"``, ``"lower"`` or ``"higher"``: mean of ``a`` against ``b``; a tie when the means differ
    by no more than the larger of the two seed s.d.s."""
    diff = a["mean"] - b["mean"]
    if abs(diff) <= max(a["sd"], b["sd"]):
        return "tie"
    return "lower" if diff < 0 else "higher"


def _within_noise(models: dict, a: str, b: str) -> str:
    """A remark when two models' mean KL gaps differ by less than one seed s.d."""
    sa, sb = models[a]["summary"]["kl_gap"], models[b]["summary"]["kl_gap"]
    diff, sd = sa["mean"] - sb["mean"], max(sa["sd"], sb["sd"])
    return (f" (the difference, {diff:+.4f} nats, is within one seed s.d., {sd:.4f}: a tie)"
            if abs(diff) <= sd else "")


def _admonition(title: str, body: str, folded: bool = True) -> str:
    """A (folded) admonition; four colons so that a ``:::{figure}`` fits inside."""
    cls = "\n:class: dropdown" if folded else ""
    return f"::::{{admonition}} {title}{cls}\n\n{body.strip()}\n::::"


def _figure(image: str, name: str, alt: str, caption: str) -> str:
    """A captioned figure shown at its design width: the PNG is drawn at 2x (``_save``)."""
    width = _png_width(IMAGES / image) // 2 if (IMAGES / image).is_file() else None
    size = f"\n:width: {width}px" if width else ""
    return f":::{{figure}} images/{image}\n:name: {name}\n:alt: {alt}{size}\n\n{caption.strip()}\n:::"


def _png_width(path: Path) -> int:
    """The pixel width of a PNG, from its header."""
    header = path.read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return int.from_bytes(header[16:20], "big")


# ---- tables ----------------------------------------------------------------------------------

def _ours(results) -> list[str]:
    return [n for n, m in results["models"].items() if m["library"] != "zuko"]


def _step_ms(results, name: str):
    """Mean over the data sets of the mean ms per training step, or None."""
    vals = [models[name]["summary"]["step_ms"]["mean"] for models in results["quality"].values() if name in models]
    vals = [v for v in vals if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def key_table(results) -> str:
    """The page's one main table: model, params, final KL gap per data set, ms per step (≤ 6 columns)."""
    datas = list(results["quality"])
    lines = ["| model | params | " + " | ".join(datas) + " | ms / step |",
             "|---|--:|" + "--:|" * len(datas) + "--:|"]
    best = {}
    for d in datas:
        gaps = {n: m["summary"]["kl_gap"] for n, m in results["quality"][d].items()
                if m["summary"]["kl_gap"]["n"] == len(m["summary"]["kl_gap"]["values"])}
        low = min(gaps, key=lambda n: gaps[n]["mean"])
        best[d] = {n for n in gaps if compare(gaps[n], gaps[low]) == "tie"} | {low}
    for name in results["models"]:
        cells = []
        for d in datas:
            m = results["quality"][d].get(name)
            text = _pm(m["summary"]["kl_gap"]) if m else "–"
            cells.append(f"**{text}**" if m and name in best[d] else text)
        params = next(results["quality"][d][name]["summary"]["params"] for d in datas if name in results["quality"][d])
        lines.append(f"| {name} | {params:,} | " + " | ".join(cells) + f" | {_f(_step_ms(results, name), 1)} |")
    return "\n".join(lines)


def quality_table(results) -> str:
    """KL gap at every checkpoint and its standard error (one row per data set and model)."""
    cps = results["meta"]["config"]["checkpoints"]
    head = "| data | model | " + " | ".join(f"@ {c:,}" for c in cps) + f" | s.e. @ {cps[-1]:,} |"
    lines = [head, "|---|---|" + "--:|" * (len(cps) + 1)]
    for dname, models in results["quality"].items():
        for name, m in models.items():
            s = m["summary"]
            gaps = " | ".join(_pm(s["kl_gap_at"][str(c)]) for c in cps)
            lines.append(f"| {dname} | {name} | {gaps} | {s['kl_se']['mean']:.4f} |")
    return "\n".join(lines)


def facts_table(results) -> str:
    """Start, recipe, test NLL and time per step of every run."""
    lines = ["| data | model | IG start | recipe | test NLL | ms / step |", "|---|---|---|---|--:|--:|"]
    for dname, models in results["quality"].items():
        for name, m in models.items():
            s, info = m["summary"], results["models"][name]
            ig = "yes" if info["ig_init"] else ("–" if info["library"] == "zuko" or info["arch"] == "spline" else "no")
            lines.append(f"| {dname} | {name} | {ig} | {info.get('recipe', 'plain')} | {_pm(s['test_nll'])} | "
                         f"{_pm(s['step_ms'], 1)} |")
    return "\n".join(lines)


def per_seed_table(results) -> str:
    """Final KL gap of every seed."""
    seeds = results["meta"]["config"]["seeds"]
    lines = ["| data | model | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|---|" + "--:|" * len(seeds)]
    for dname, models in results["quality"].items():
        for name, m in models.items():
            by_seed = {r["seed"]: r["kl_gap"] for r in m["runs"]}
            lines.append(f"| {dname} | {name} | " + " | ".join(_f(by_seed.get(s), 3) for s in seeds) + " |")
    return "\n".join(lines)


def ratio_table(results) -> str:
    lines = ["| data | ours / peer | KL-gap ratio | step-time ratio |", "|---|---|--:|--:|"]
    for dname, r in results.get("ratios", {}).items():
        for pair, v in r["pairs"].items():
            star = " (best of ours)" if pair.startswith(r["best_ours"] + " /") else ""
            lines.append(f"| {dname} | {pair}{star} | {_f(v['kl_gap_ratio'])} | {_f(v['step_time_ratio'])} |")
    return "\n".join(lines)


def sampling_table(results) -> str:
    s = results.get("sampling", {})
    lines = ["| model | 100,000 samples (s) | samples / s | round trip, max (median) |", "|---|--:|--:|--:|"]
    if "ours_s" in s:
        rt = s["ours_round_trip"]
        lines.append(f"| ours: coupling | {s['ours_s']:.3f} | {s['ours_samples_per_s']:,.0f} | "
                     f"{rt['max']:.2e} ({rt['median']:.2e}) |")
    if "peer_s" in s:
        rt = s["peer_round_trip"]
        lines.append(f"| zuko NSF | {s['peer_s']:.3f} | {s['peer_samples_per_s']:,.0f} | "
                     f"{rt['max']:.2e} ({rt['median']:.2e}) |")
    if "time_ratio_ours_over_peer" in s:
        lines.append(f"\nSampling time ratio ours / zuko NSF: **{s['time_ratio_ours_over_peer']:.2f}×** "
                     f"(our first call, which includes tracing the graph: {s['ours_first_call_s']:.1f} s).")
    return "\n".join(lines)


def _path(row) -> str:
    if "xla" not in row:
        return "PyTorch eager"
    return "XLA" if row["xla"] else "plain graph"


def scaling_table(results) -> str:
    sc = results.get("scaling")
    if not sc:
        return ""
    lines = ["| sweep | model | d | K | params | compiled | ms / step | ms / 10k log_prob |",
             "|---|---|--:|--:|--:|---|--:|--:|"]
    for kind in ("dim", "K"):
        for r in sc[kind]:
            lines.append(f"| {kind} | {r['arch']} | {r['d']} | {r['K'] if r['K'] is not None else '–'} | "
                         f"{r['params']:,} | {_path(r)} | {r['step_ms']:.1f} | {r['log_prob_10k_ms']:.1f} |")
    lines += ["", "| n (IG start) | seconds |", "|--:|--:|"]
    lines += [f"| {r['n']:,} | {r['seconds']:.2f} |" for r in sc["ig"]]
    return "\n".join(lines)


def markdown_table(results) -> str:
    """``benchmarks/results.md``: every table of the run, unfolded."""
    return "\n\n".join(t for t in (key_table(results), quality_table(results), facts_table(results),
                                   ratio_table(results), sampling_table(results), scaling_table(results)) if t)


# ---- the odd timings of the scaling sweep ----------------------------------------------------

_DIFF = re.compile(r"max \|diff\| ([0-9.eE+-]+) nats")


def _sweep_rows(results, kind: str) -> dict[str, list[dict]]:
    out = {}
    for r in results.get("scaling", {}).get(kind, []):
        if "xla" in r:  # ours (the peer has no compile path)
            out.setdefault(r["arch"], []).append(r)
    return {a: sorted(rows, key=lambda r: r["K" if kind == "K" else "d"]) for a, rows in out.items()}


def mixed_paths(results) -> bool:
    """True when our rows of the scaling sweeps were timed on both XLA and the plain graph."""
    paths = {r["xla"] for rows in (*_sweep_rows(results, "dim").values(), *_sweep_rows(results, "K").values())
             for r in rows}
    return len(paths) > 1


def odd_timings(results, check: dict | None) -> list[str]:
    """Consecutive rows of the K sweep that cannot be read as an effect of K, with the reason."""
    out = []
    for arch, rows in _sweep_rows(results, "K").items():
        for a, b in zip(rows, rows[1:]):
            ta, tb = a["step_ms"], b["step_ms"]
            pair = f"{arch}, K = {a['K']} → {b['K']}: {ta:.1f} → {tb:.1f} ms"
            if a["xla"] != b["xla"]:
                out.append(f"{pair}. Two code paths ({_path(a)}, then {_path(b)}), not the cost of K.")
            elif tb < ta:
                out.append(f"{pair}: slower at the smaller K, both on the {_path(a)}. Noise: one median of "
                           f"{results['scaling']['steps_timed']} steps on a shared machine"
                           + (f" (in the re-measurement below {_noise_note(check)})" if _noise_note(check) else "") + ".")
    return out


def _noise_note(check: dict | None) -> str:
    if not check:
        return ""
    spreads = [max(r[k]) / min(r[k]) for r in check["rows"] for k in ("xla_round_medians_ms", "plain_round_medians_ms")
               if k in r]
    return f"the medians of three rounds of the same step differed by up to {max(spreads):.1f}×" if spreads else ""


def check_table(check: dict) -> str:
    lines = ["| K | XLA − plain at init | old rule | ms / step, XLA | ms / step, plain |", "|--:|---|---|--:|--:|"]
    for r in check["rows"]:
        diff = (f"{_sig(r['max_abs_diff'])} nats at log p = {_int_or_sci(r['log_p_there'])} "
                f"({_sci(r['max_rel_diff'])} of it)")
        old = "falls back" if r["old_rule_falls_back"] else "XLA"
        xla = f"{r['xla_step_ms']:.1f}" if "xla_step_ms" in r else "–"
        plain = f"{r['plain_step_ms']:.1f}" if "plain_step_ms" in r else "–"
        lines.append(f"| {r['K']} | {diff} | {old} | {xla} | {plain} |")
    return "\n".join(lines)


def _plain_vs_xla(results, rows) -> str:
    """The same flows (d = 2, K = 8) under XLA in the quality runs and on the plain graph in the sweep."""
    xla = results["meta"].get("xla", {})
    said = []
    for arch in ("coupling", "diagonal"):
        plain = [r for r in rows if r["arch"] == arch and r["d"] == 2 and r["K"] == 8 and not r["xla"]]
        if not plain or not xla.get(f"{arch} (plain)", {}).get("jit_compile"):
            continue
        ms = [m[arch]["summary"]["step_ms"]["mean"] for m in results["quality"].values() if arch in m]
        said.append((arch, sum(ms) / len(ms), plain[0]["step_ms"]))
    if not said:
        return ""
    return (" In this run the same flows (d = 2, K = 8) trained under XLA in the quality runs at "
            + " and ".join(f"{q:.1f} ms ({a})" for a, q, _ in said) + " per step, against "
            + " and ".join(f"{p:.1f} ms" for _, _, p in said) + " on the plain graph in the sweep ("
            + " and ".join(f"{p / q:.1f}×" for _, q, p in said) + ").")


def _loads(check) -> list[float]:
    """The one-minute load averages recorded by the re-measurement (start, every row, end)."""
    seen = [check.get("load_average_at_start"), *(r.get("load_average") for r in check["rows"]),
            check.get("load_average_at_end")]
    return [x[0] for x in seen if x]


def _check_times(check, results, rows) -> str:
    timed = [r for r in check["rows"] if "xla_step_ms" in r and "plain_step_ms" in r]
    if not timed:
        return ""
    loads = _loads(check)
    if all(r["xla_step_ms"] < r["plain_step_ms"] for r in timed):
        ratios = [r["plain_step_ms"] / r["xla_step_ms"] for r in timed]
        return (f"The plain graph took {min(ratios):.1f}–{max(ratios):.1f}× as long per step as XLA "
                f"at load average {min(loads):.1f}–{max(loads):.1f}.")
    return (f"At this load (average {min(loads):.1f}–{max(loads):.1f} on {check['cpu_count']} CPUs) the times do not "
            f"separate the two paths: {_noise_note(check)}, more than XLA or K moved them. The comparison inside "
            "the stored run, above, is the cleaner one; a run on a quiet machine (`make bench`) settles it.")


def timing_section(results, check: dict | None) -> str:
    """The explanation of the odd rows of the scaling sweep, from the data; empty when there are none."""
    sc = results.get("scaling")
    if not sc or not mixed_paths(results):
        return ""
    rows = [r for rows in (*_sweep_rows(results, "dim").values(), *_sweep_rows(results, "K").values()) for r in rows]
    seen, uniq = set(), []
    for r in rows:
        key = (r["arch"], r["d"], r["K"])
        if key not in seen:
            seen.add(key)
            uniq.append(r)
    xla = [f"{r['arch']} d = {r['d']}, K = {r['K']}" for r in uniq if r["xla"]]
    diffs = sorted(float(m.group(1)) for r in uniq if not r["xla"] for m in [_DIFF.search(r.get("xla_fallback") or "")] if m)
    slower = _plain_vs_xla(results, uniq)
    fell = [r for r in (check or {}).get("rows", []) if r["old_rule_falls_back"]]
    tails = (f"log p of {_int_or_sci(max(r['log_p_there'] for r in fell))} and below" if fell
             else "very negative log p")
    bullets = "\n".join(f"- {line}" for line in odd_timings(results, check))
    smooth = [f"{arch}: " + ", ".join(f"{r['log_prob_10k_ms']:.0f}" for r in rows) + " ms"
              for arch, rows in _sweep_rows(results, "K").items()
              if all(b["log_prob_10k_ms"] > a["log_prob_10k_ms"] for a, b in zip(rows, rows[1:]))]
    if smooth:
        ks = ", ".join(str(r["K"]) for r in next(iter(_sweep_rows(results, "K").values())))
        bullets += (f"\n- The log_prob times of the same rows, all taken on the plain graph, grow steadily with "
                    f"K = {ks} ({'; '.join(smooth)}).")
    text = f"""(odd-timings)=
### Why K = 4 looks faster than K = 8

**Found: a different code path, then noise.** Only {len(xla)} of our {len(uniq)} rows ({'; '.join(xla)})
were timed under XLA; the other {len(uniq) - len(xla)} fell back to TensorFlow's plain graph (open markers in
[the figure](#fig-bench-scaling)), which is slower.{slower} The benchmark falls back when XLA's `log_prob` disagrees
with the plain graph's at initialisation, and it asked for agreement within 1e-3 nats: an untrained flow
gives points in the data's tails {tails}, where float32 rounding alone is larger than that (the
fallbacks recorded differences of {_sig(diffs[0])} to {_sig(diffs[-1])} nats).

{bullets}

**Fixed in the benchmark** (`benchmarks/common.py`, for the next `make bench`): the check allows a
difference of 1e-3 of max(1, |log p|) and still rejects points that are non-finite only under XLA (the
fault it was written for), so these rows run under XLA{' (checked below for the coupling flow, K = ' + ', '.join(str(r['K']) for r in check['rows']) + ')' if check else ''}; each time is the smallest of three round medians
after three untimed steps, and every row keeps its load average. The numbers on this page are from the run
before the fix."""
    if check:
        loads = _loads(check)
        text += "\n\n" + _admonition(
            f"The re-measurement: coupling flow, d = 2, K = {', '.join(str(r['K']) for r in check['rows'])}",
            f"""`{check['command']}` ({check['date'][:10]}, {check['cpu_count']} CPUs shared with other jobs, load
average {min(loads):.1f}–{max(loads):.1f}, one thread): `{check['flow']}` on the sweep's data. "Old rule": the
check of the stored run (agreement within 1e-3 nats). Times: the smallest of {check['rounds']} round medians of
{check['steps']} steps, on each path. {'Every row passes the new check.' if not any(r['new_rule_falls_back'] for r in check['rows']) else 'Rows marked falls back fail the new check too.'}

{check_table(check)}

The differences grow with |log p| and are {_sci(min(r['max_rel_diff'] for r in check['rows']))} to
{_sci(max(r['max_rel_diff'] for r in check['rows']))} of it: float32 rounding of sums that XLA fuses and reorders. {_check_times(check, results, uniq)}""")
    return text


# ---- figures ---------------------------------------------------------------------------------

def _line_style(name: str, ours: list[str]) -> tuple[str, str]:
    """Colour and line style of a model: ours solid in the book's palette, peers black/grey dashed."""
    from gaussianization import plotting

    if name.startswith("zuko"):
        return ("#7f7f7f", "--") if "GF" in name else (plotting.REFERENCE, ":" if "careful" in name else "--")
    return plotting.PALETTE[ours.index(name) % (len(plotting.PALETTE) - 1)], "-"


def _sweep_plot(ax, rows, x, key, marker, ls, color, label):
    """A line; filled markers where the time was taken under XLA (or in PyTorch, which has no such
    choice), open where on TensorFlow's plain graph: the training step of a row that fell back,
    and our ``log_prob`` always (the benchmark evaluates on the plain graph)."""
    ax.plot([r[x] for r in rows], [r[key] for r in rows], ls=ls, color=color, label=label)
    for r in rows:
        plain = "xla" in r and (key != "step_ms" or not r["xla"])
        face = "white" if plain else color
        ax.plot([r[x]], [r[key]], marker=marker, ms=5, color=color, markerfacecolor=face, ls="none")


def plots(results) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from gaussianization import plotting

    import warnings

    plotting.setup()
    warnings.filterwarnings("ignore", message="The figure layout has changed")
    IMAGES.mkdir(parents=True, exist_ok=True)
    made = []
    cps = [0, *results["meta"]["config"]["checkpoints"]]
    fig, axes = plt.subplots(1, len(results["quality"]), figsize=(6.8, 3.6), sharey=True)
    for ax, (dname, models) in zip(list(getattr(axes, "flat", [axes])), results["quality"].items()):
        ours = [n for n in models if not n.startswith("zuko")]
        for name, m in models.items():
            at = m["summary"]["kl_gap_at"]
            y = [max(at[str(c)]["mean"], 1e-3) for c in cps]
            e = [at[str(c)]["sd"] for c in cps]
            color, ls = _line_style(name, ours)
            ax.errorbar(cps, y, yerr=e, marker="o", ms=3, ls=ls, color=color, capsize=2, label=name)
        ax.set_yscale("log")
        ax.set_title(dname)
        ax.set_xlabel("Adam steps (batch 512)")
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel("KL gap to the exact density (nats)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8.5, frameon=False)
    fig.tight_layout(rect=(0, 0.22, 1, 1))
    fig.savefig(IMAGES / "bench_quality.png", dpi=2 * plotting.DPI)
    plt.close(fig)
    made.append("bench_quality.png")

    sc = results.get("scaling")
    if sc:
        fig, grid = plt.subplots(2, 2, figsize=(6.8, 6.4))
        axes = [grid[0, 0], grid[0, 1], grid[1, 0]]
        archs = sorted({r["arch"] for r in sc["dim"]})
        for i, arch in enumerate(archs):
            rows = [r for r in sc["dim"] if r["arch"] == arch]
            color = plotting.REFERENCE if arch.startswith("zuko") else plotting.PALETTE[i % len(plotting.PALETTE)]
            _sweep_plot(axes[0], rows, "d", "step_ms", "o", "--" if arch.startswith("zuko") else "-", color,
                        f"{arch}: training step")
            _sweep_plot(axes[0], rows, "d", "log_prob_10k_ms", "s", ":", color, f"{arch}: log_prob of 10,000")
        axes[0].set(xscale="log", yscale="log", xlabel="dimension d", ylabel="milliseconds",
                    title="cost vs dimension (K = 8)")
        axes[0].set_xticks([r["d"] for r in sc["dim"] if r["arch"] == archs[0]])
        axes[0].get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        for i, arch in enumerate(archs):
            rows = [r for r in sc["K"] if r["arch"] == arch]
            if rows:
                color = plotting.PALETTE[i % len(plotting.PALETTE)]
                _sweep_plot(axes[1], rows, "K", "step_ms", "o", "-", color, f"{arch}: training step")
                _sweep_plot(axes[1], rows, "K", "log_prob_10k_ms", "s", ":", color, f"{arch}: log_prob of 10,000")
        axes[1].set(xscale="log", yscale="log", xlabel="components K", ylabel="milliseconds",
                    title=f"cost vs K (d = {sc['K_sweep_dim']})")
        axes[1].set_xticks([r["K"] for r in sc["K"] if r["arch"] == sc["K"][0]["arch"]])
        axes[1].get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axes[2].plot([r["n"] for r in sc["ig"]], [r["seconds"] for r in sc["ig"]], marker="o")
        axes[2].set(xscale="log", yscale="log", xlabel="training points n", ylabel="seconds",
                    title="IG start time (8 blocks, K = 8, d = 2)")
        axes[2].set_xticks([r["n"] for r in sc["ig"]])
        axes[2].set_yscale("linear")
        axes[2].set_ylim(0, 1.15 * max(r["seconds"] for r in sc["ig"]))
        for ax in axes:
            ax.grid(alpha=0.3, which="major")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        handles, labels = axes[0].get_legend_handles_labels()
        if mixed_paths(results):
            handles += [Line2D([], [], marker="o", color="0.3", ls="none"),
                        Line2D([], [], marker="o", color="0.3", markerfacecolor="white", ls="none")]
            labels += ["filled marker: ours under XLA,\nor zuko (PyTorch)", "open marker: TensorFlow's\nplain graph (no XLA)"]
        grid[1, 1].axis("off")
        grid[1, 1].legend(handles, labels, loc="center", fontsize=8, frameon=False)
        fig.tight_layout()
        fig.savefig(IMAGES / "bench_scaling.png", dpi=2 * plotting.DPI)
        plt.close(fig)
        made.append("bench_scaling.png")
    return made


# ---- the page --------------------------------------------------------------------------------

def _vs(a: dict, b: dict) -> str:
    """``"a tie, 0.017 ± 0.002 vs 0.016 ± 0.001"`` / ``"ours 0.47×: ..."`` (a is ours)."""
    nums = f"{_pm(a)} vs {_pm(b)}"
    verdict = compare(a, b)
    if verdict == "tie":
        return f"a tie, {nums}"
    return f"ours {'lower' if verdict == 'lower' else 'higher'}, {a['mean'] / b['mean']:.2f}×: {nums}"


def takeaway(results, check: dict | None = None) -> list[str]:
    """Five lines: best against best, like against like, the IG start, speed, how sure."""
    q, ratios, steps = results["quality"], results.get("ratios", {}), results["meta"]["config"]["checkpoints"][-1]
    lines = []
    pairs = [(d, r["best_ours"], r["best_nsf"]) for d, r in ratios.items() if "best_nsf" in r]
    if pairs:
        names = {(o, p) for _, o, p in pairs}
        head = (f"*{pairs[0][1]}* vs *{pairs[0][2]}*" if len(names) == 1 else "per data set")
        lines.append(f"**Best of ours against zuko's best NSF** ({head}; KL gap after {steps:,} steps, nats): "
                     + "; ".join(f"{d} — {_vs(_kl(results, d, o), _kl(results, d, p))}"
                                 + ("" if len(names) == 1 else f" ({o} vs {p})") for d, o, p in pairs) + ".")
    if all("coupling" in m and "zuko NSF" in m for m in q.values()):
        lines.append("**Same plain recipe, our coupling flow against zuko NSF:** "
                     + "; ".join(f"{d} — {_vs(_kl(results, d, 'coupling'), _kl(results, d, 'zuko NSF'))}" for d in q)
                     + ".")
    parts = []
    for base in ("diagonal", "coupling"):
        if not all(base in m and f"{base}+IG" in m for m in q.values()):
            continue
        verdicts = {d: compare(_kl(results, d, f"{base}+IG"), _kl(results, d, base)) for d in q}
        words = {"lower": "better", "higher": "worse", "tie": "no different (within one s.d.)"}
        nums = {d: f"{_kl(results, d, base)['mean']:.3f} → {_kl(results, d, f'{base}+IG')['mean']:.3f}" for d in q}
        if len(set(verdicts.values())) == 1:
            parts.append(f"the {base} flow {words[next(iter(verdicts.values()))]} on "
                         f"{'both data sets' if len(q) == 2 else 'every data set'} ("
                         + ", ".join(f"{d} {nums[d]}" for d in q) + ")")
        else:
            parts.append(f"the {base} flow " + ", ".join(f"{words[verdicts[d]]} on {d} ({nums[d]})" for d in q))
    if parts:
        lines.append("**Starting from iterative Gaussianization (IG)** (KL gap without → with) makes "
                     + "; ".join(parts) + ".")
    s = results.get("sampling", {})
    step = [v["step_time_ratio"] for r in ratios.values() for k, v in r["pairs"].items() if k == "coupling / zuko NSF"]
    if step and "time_ratio_ours_over_peer" in s:
        ours_ms = [m["coupling"]["summary"]["step_ms"]["mean"] for m in q.values()]
        peer_ms = [m["zuko NSF"]["summary"]["step_ms"]["mean"] for m in q.values()]
        lines.append(f"**Speed** (one CPU thread): a training step of our coupling flow takes "
                     f"{min(step):.2f}–{max(step):.2f}× zuko NSF's ({min(ours_ms):.1f}–{max(ours_ms):.1f} vs "
                     f"{min(peer_ms):.1f}–{max(peer_ms):.1f} ms; TensorFlow with XLA against PyTorch eager); "
                     f"sampling is {s['time_ratio_ours_over_peer']:.1f}× slower ({s['ours_s']:.2f} vs "
                     f"{s['peer_s']:.2f} s for {s['n']:,} points): our inverse is an iterative root search, the "
                     "spline's is a formula.")
    meta = results["meta"]
    noise = _noise_note(check)
    lines.append(f"**How sure:** {len(meta['config']['seeds'])} seeds, one run on a shared {meta['cpu_count']}-CPU "
                 "machine; KL gaps that differ by less than one seed s.d. are called ties"
                 + (f"; on this machine {noise}" if noise else "")
                 + ("; in the cost sweeps some rows ran under XLA and some did not ([why](#odd-timings))"
                    if mixed_paths(results) else "") + ".")
    return lines


def _glossary(results) -> str:
    models = "\n".join(f"- **{n}**: {MODEL_WORDS.get(n, m['description'])}." for n, m in results["models"].items())
    return f"""{models}

**KL gap**: how far the model's log density falls below the exact one, averaged over 20,000 test
points (nats; 0 is perfect). **IG**: the flow's parameters set by [iterative Gaussianization]({CH03})
before training. **careful**: the recipe of [the coupling-flow chapter]({CH04}) (learning rate decayed from
1e-2 to 0, gradients clipped, a little input noise); every other model is trained by Adam at a constant
1e-3. **ms / step**: one Adam step on 512 points, one CPU thread, mean over both data sets; ours in
TensorFlow compiled by XLA, zuko's in PyTorch."""


def _run_details(results) -> str:
    meta, cfg = results["meta"], results["meta"]["config"]
    load = meta.get("load_average_at_start")
    ds_lines = "\n".join(f"| {d} | {v['n_train']:,} | {v['n_test']:,} | {v['exact_mean_log_p_test']:.4f} |"
                         for d, v in results["datasets"].items())
    recipes = "\n".join(f"- **{k}**: {v}." for k, v in meta.get("recipes", {}).items())
    xla = meta.get("xla", {})
    compiled = ("every architecture's training step ran under XLA" if xla and all(v["jit_compile"] for v in xla.values())
                else "; ".join(f"{a}: " + ("XLA" if v["jit_compile"] else f"plain graph ({v['fallback']})")
                               for a, v in xla.items()) or "not recorded")
    models = "\n".join(f"- **{n}**: {m['description']}" for n, m in results["models"].items())
    peers = meta.get("peers_skipped")
    return f"""**Run:** {meta['mode']} mode, {meta['date']}, `{meta['platform']}` ({meta['processor']}),
{meta['cpu_count']} CPUs visible, {meta['threads']} thread(s) for both TensorFlow and PyTorch, load average at
start {', '.join(f'{x:.1f}' for x in load) if load else 'unknown'} (the machine was shared with other jobs).
Total wall time {meta['wall_s'] / 60:.1f} min. Python {meta.get('python', '?')};
{', '.join(f'{k} {v}' for k, v in meta['versions'].items())}.{'' if not peers else f' Peers skipped: {peers}.'}

**Data** (exact densities from `gaussianization.datasets`):

| data | train points | test points | exact mean log p (test) |
|---|--:|--:|--:|
{ds_lines}

**Quality measure:** the log-ratio $\\log p_\\text{{true}}(x^{{(i)}}) - \\log q(x^{{(i)}})$ at each test point
$x^{{(i)}}$; the KL gap is its mean, reported as the mean ± s.d. over {len(cfg['seeds'])} seed(s), with the paired standard error
of each run's mean in the full table.

**Training:** every model, ours and zuko's, trains on minibatches of 512 drawn with replacement, with the
same minibatch indices for every model of a seed (and, for the careful recipe, the same input-noise draws),
for {', '.join(f'{c:,}' for c in cfg['checkpoints'])} steps. Ours: one compiled Adam step on
−mean(log q) per minibatch (a custom loop, not `Model.fit`), compiled by XLA (`tf.function(jit_compile=True)`)
unless XLA's `log_prob` disagrees with the plain graph's at initialisation; here {compiled}. Every
evaluation uses the plain graph. zuko: the same loop in PyTorch, eager.

{recipes}

**Exact models:**

{models}"""


def page(results, images, check: dict | None = None) -> str:
    """The page. ``check`` (benchmarks/timing_check.json) explains a run whose sweeps mixed XLA and
    the plain graph; for a run that did not, it is left out."""
    check = check if mixed_paths(results) else None
    meta = results["meta"]
    cfg = meta["config"]
    mode = meta["mode"]
    steps = cfg["checkpoints"][-1]
    sc = results.get("scaling")
    caveat = ("" if mode == "full" else
              f"\n```{{warning}}\nThese numbers come from the **quick** run (1 seed, {steps} steps, reduced scaling "
              "sweeps): a smoke test, not the full benchmark. Run `make bench` for the full table (3 seeds, "
              "500/1,000/2,000 steps).\n```\n")
    takeaways = "\n".join(f"- {line}" for line in takeaway(results, check))
    s = results.get("sampling", {})
    ours = _ours(results)
    best = {d: r["best_ours"] for d, r in results.get("ratios", {}).items()}
    mixed = mixed_paths(results)
    quality_fig = _figure(
        "bench_quality.png", "fig-bench-quality",
        "KL gap against Adam steps for every model, moons and spiral",
        "KL gap to the exact density (log scale, nats; lower is better) after 0, "
        + ", ".join(f"{c:,}" for c in cfg["checkpoints"])
        + f" Adam steps: mean over {len(cfg['seeds'])} seeds, bars ± one s.d. Ours solid; zuko's NSF dashed "
        "(careful recipe dotted), zuko's GF grey.")
    sections = [f"""# Performance

How our flows compare with those of [zuko](https://github.com/probabilists/zuko) (PyTorch) on two 2-D data
sets whose exact density is known, and what they cost. One benchmark run ({meta['date'][:10]}, {mode} mode);
the folded sections hold every table, the per-seed numbers and how the numbers were made.
{caveat}
## In short

{takeaways}

## Key numbers

**KL gap after {steps:,} Adam steps** (nats, mean ± s.d. over {len(cfg['seeds'])} seeds; **bold**: the lowest and
any within one seed s.d. of it) **and time per training step**:

{key_table(results)}

{_glossary(results)}

## Quality during training

{quality_fig}

Our best flow is *{'* on moons and *'.join(dict.fromkeys(best.values()))}*{' on both data sets' if len(set(best.values())) == 1 else ''}.
Every KL gap, checkpoint by checkpoint and seed by seed:

{_admonition("Every model, every checkpoint", "KL gap (nats, mean ± s.d. over seeds) after each number of Adam steps, and the standard error of one run's mean at the end:" + chr(10) * 2 + quality_table(results))}

{_admonition("Per seed", f"KL gap after {steps:,} steps, each seed:" + chr(10) * 2 + per_seed_table(results))}

{_admonition("Start, recipe, test NLL and time per step", facts_table(results))}

{_admonition("Every ratio of ours to a peer", "KL gap and time per training step, ours divided by zuko's; below 1 favours ours." + chr(10) * 2 + ratio_table(results))}"""]
    if s:
        sampling_fold = _admonition(
            "Sampling times and round-trip errors",
            f"Best of {cfg['sample_repeats']} warm calls; round trip: "
            "$\\max_i \\lVert f^{-1}(f(x^{(i)})) - x^{(i)} \\rVert$ over the moons test set, with the median in "
            "brackets.\n\n" + sampling_table(results))
        sections.append(f"""## Sampling

Drawing {s['n']:,} samples from the coupling flow trained on moons takes {s['ours_s']:.2f} s, against
{s['peer_s']:.2f} s for zuko's NSF ({s['time_ratio_ours_over_peer']:.1f}× as long): our mixture map has no
closed-form inverse, so each sample is found by an iterative root search, where a spline inverts by a
formula. Both invert accurately: mapping the moons test set to the latent space and back moves a point by at
most {_sci0(s['ours_round_trip']['max'])} (ours) and {_sci0(s['peer_round_trip']['max'])} (zuko) in float32.

{sampling_fold}""")
    if sc:
        scaling_fig = _figure(
            "bench_scaling.png", "fig-bench-scaling",
            "Time per training step and per 10,000 log_prob against dimension and K; IG start time against n",
            f"Cost of our flows as the problem grows ({sc['data']}). Top left: time per training step (solid) and "
            "per log_prob of 10,000 points (dotted) against the dimension d, K = 8, with zuko NSF dashed. Top right: "
            f"the same against the number of mixture components K at d = {sc['K_sweep_dim']}. Bottom: time to start the "
            "diagonal flow from iterative Gaussianization against the number of training points."
            + (" Open markers: times taken on TensorFlow's plain graph instead of XLA (our log_prob always, "
               "and the training steps that fell back); see [below](#odd-timings)." if mixed else ""))
        sections.append(f"""## How cost grows

{scaling_fig}

{timing_section(results, check)}

{_admonition("Every row of the cost sweeps", (sc.get('step_method') or f"Median time per training step over {sc['steps_timed']} steps after compilation") + f"; best of {cfg['repeats']} for 10,000 log_prob evaluations. The compiled column says which path each row ran on." + chr(10) * 2 + scaling_table(results))}""")
    sections.append(_admonition("How these numbers were made: run, versions, data, training, exact models",
                                _run_details(results)))
    for extra in (speed_sections(), distributed_section()):
        if extra:
            sections.append(extra)
    also = " (and `benchmarks/timing_check.json`)" if check else ""
    sections.append(f"""*This page is generated by `python -m benchmarks.report` from `benchmarks/results.json`{also};
nothing on it is computed when the book is built. `make bench` re-runs the benchmarks (about 30 minutes)
and the report.*""")
    return "\n\n".join(p.strip() for p in sections) + "\n"


def load_check() -> dict | None:
    return json.loads(TIMING_CHECK.read_text()) if TIMING_CHECK.exists() else None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    src = Path(argv[0]) if argv else HERE / "results.json"
    results = json.loads(src.read_text())
    images = plots(results)
    (BOOK / "performance.md").write_text(page(results, images, load_check()))
    print(f"wrote {BOOK / 'performance.md'} and {', '.join('book/images/' + i for i in images)}", file=sys.stderr)


if __name__ == "__main__":
    main()
