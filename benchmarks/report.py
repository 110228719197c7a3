"""Turn ``benchmarks/results.json`` into ``book/performance.md`` and ``book/images/bench_*.png``.

``python -m benchmarks.report [results.json]``. Reads the JSON only: nothing is re-run, and the
book page is plain markdown (no executed cells).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from .speed_report import speed_sections

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
IMAGES = BOOK / "images"


def _pm(s: dict, digits: int = 3) -> str:
    """``mean ± s.d.`` over runs; runs with a non-finite value are counted and named, never hidden."""
    m, sd, n, total = s["mean"], s["sd"], s["n"], len(s["values"])
    if not math.isfinite(m):
        return "non-finite"
    text = f"{m:.{digits}f}" if n < 2 else f"{m:.{digits}f} ± {sd:.{digits}f}"
    return text if n == total else f"{text} (only {n} of {total} runs finite)"


def _f(x, digits=2):
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _within_noise(models: dict, a: str, b: str) -> str:
    """A remark when two models' mean KL gaps differ by less than one seed s.d."""
    sa, sb = models[a]["summary"]["kl_gap"], models[b]["summary"]["kl_gap"]
    diff, sd = sa["mean"] - sb["mean"], max(sa["sd"], sb["sd"])
    return (f" (the difference, {diff:+.4f} nats, is within one seed s.d., {sd:.4f}: a tie)"
            if abs(diff) <= sd else "")


def quality_table(results) -> str:
    cps = results["meta"]["config"]["checkpoints"]
    head = ("| data | model | IG init | recipe | params | " + " | ".join(f"KL gap @ {c}" for c in cps)
            + " | KL gap s.e. (final) | test NLL | ms / step |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for dname, models in results["quality"].items():
        for name, m in models.items():
            s = m["summary"]
            info = results["models"][name]
            ig = "yes" if info["ig_init"] else ("n/a (no IG init for splines)" if info["arch"] == "spline"
                                                 else ("–" if info["library"] == "zuko" else "no"))
            gaps = " | ".join(_pm(s["kl_gap_at"][str(c)]) for c in cps)
            lines.append(f"| {dname} | {name} | {ig} | {info.get('recipe', 'plain')} | {s['params']:,} | {gaps} | "
                         f"{s['kl_se']['mean']:.4f} | "
                         f"{_pm(s['test_nll'])} | {_pm(s['step_ms'], 1)} |")
    return "\n".join(lines)


def ratio_table(results) -> str:
    lines = ["| data | ours / peer | KL-gap ratio | time-per-step ratio |", "|---|---|---|---|"]
    for dname, r in results.get("ratios", {}).items():
        for pair, v in r["pairs"].items():
            star = " (best of ours)" if pair.startswith(r["best_ours"] + " /") else ""
            lines.append(f"| {dname} | {pair}{star} | {_f(v['kl_gap_ratio'])} | {_f(v['step_time_ratio'])} |")
    return "\n".join(lines)


def sampling_table(results) -> str:
    s = results.get("sampling", {})
    lines = ["| model | time for 100,000 samples (s) | samples / s | round-trip error max (median) |",
             "|---|---|---|---|"]
    if "ours_s" in s:
        rt = s["ours_round_trip"]
        lines.append(f"| ours: coupling (seed coupling flow) | {s['ours_s']:.3f} | {s['ours_samples_per_s']:,.0f} | "
                     f"{rt['max']:.2e} ({rt['median']:.2e}) |")
    if "peer_s" in s:
        rt = s["peer_round_trip"]
        lines.append(f"| zuko NSF | {s['peer_s']:.3f} | {s['peer_samples_per_s']:,.0f} | "
                     f"{rt['max']:.2e} ({rt['median']:.2e}) |")
    if "time_ratio_ours_over_peer" in s:
        lines.append(f"\nSampling time ratio ours / zuko NSF: **{s['time_ratio_ours_over_peer']:.2f}×** "
                     f"(first call including graph tracing: {s['ours_first_call_s']:.1f} s).")
    return "\n".join(lines)


def scaling_table(results) -> str:
    sc = results.get("scaling")
    if not sc:
        return ""
    lines = ["| sweep | model | d | K | params | ms / training step | ms / 10,000 log_prob |", "|---|---|---|---|---|---|---|"]
    for kind in ("dim", "K"):
        for r in sc[kind]:
            lines.append(f"| {kind} | {r['arch']} | {r['d']} | {r['K'] if r['K'] is not None else '–'} | "
                         f"{r['params']:,} | {r['step_ms']:.1f} | {r['log_prob_10k_ms']:.1f} |")
    lines += ["", "| n (IG init) | seconds |", "|---|---|"]
    lines += [f"| {r['n']:,} | {r['seconds']:.2f} |" for r in sc["ig"]]
    return "\n".join(lines)




def markdown_table(results) -> str:
    return "\n\n".join(t for t in (quality_table(results), ratio_table(results), sampling_table(results),
                                   scaling_table(results)) if t)


def _line_style(name: str, ours: list[str]) -> tuple[str, str]:
    """Colour and line style of a model: ours solid in the book's palette, peers black/grey dashed."""
    from gaussianization import plotting

    if name.startswith("zuko"):
        return ("#7f7f7f", "--") if "GF" in name else (plotting.REFERENCE, ":" if "careful" in name else "--")
    return plotting.PALETTE[ours.index(name) % (len(plotting.PALETTE) - 1)], "-"


def plots(results) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gaussianization import plotting

    import warnings

    plotting.setup()
    warnings.filterwarnings("ignore", message="The figure layout has changed")
    IMAGES.mkdir(parents=True, exist_ok=True)
    made = []
    cps = [0, *results["meta"]["config"]["checkpoints"]]
    fig, axes = plt.subplots(1, len(results["quality"]), figsize=(11, 4.6), sharey=True)
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
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(IMAGES / "bench_quality.png", dpi=110)
    plt.close(fig)
    made.append("bench_quality.png")

    sc = results.get("scaling")
    if sc:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        archs = sorted({r["arch"] for r in sc["dim"]})
        for arch in archs:
            rows = [r for r in sc["dim"] if r["arch"] == arch]
            ls = "--" if arch.startswith("zuko") else "-"
            axes[0].plot([r["d"] for r in rows], [r["step_ms"] for r in rows], marker="o", ls=ls,
                         label=f"{arch}: train step")
            axes[0].plot([r["d"] for r in rows], [r["log_prob_10k_ms"] for r in rows], marker="s", ls=":",
                         label=f"{arch}: 10k log_prob")
        axes[0].set(xscale="log", yscale="log", xlabel="dimension d", ylabel="milliseconds",
                    title="cost vs dimension (K = 8)")
        axes[0].set_xticks([r["d"] for r in sc["dim"] if r["arch"] == archs[0]])
        axes[0].get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        for arch in sorted({r["arch"] for r in sc["K"]}):
            rows = [r for r in sc["K"] if r["arch"] == arch]
            axes[1].plot([r["K"] for r in rows], [r["step_ms"] for r in rows], marker="o", label=f"{arch}: train step")
            axes[1].plot([r["K"] for r in rows], [r["log_prob_10k_ms"] for r in rows], marker="s", ls=":",
                         label=f"{arch}: 10k log_prob")
        axes[1].set(xscale="log", yscale="log", xlabel="components K", title=f"cost vs K (d = {sc['K_sweep_dim']})")
        axes[1].set_xticks([r["K"] for r in sc["K"] if r["arch"] == sc["K"][0]["arch"]])
        axes[1].get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axes[2].plot([r["n"] for r in sc["ig"]], [r["seconds"] for r in sc["ig"]], marker="o")
        axes[2].set(xscale="log", yscale="log", xlabel="training points n", ylabel="seconds",
                    title="IG init time (8 blocks, K = 8, d = 2)")
        axes[2].set_xticks([r["n"] for r in sc["ig"]])
        axes[2].set_yscale("linear")
        axes[2].set_ylim(0, 1.15 * max(r["seconds"] for r in sc["ig"]))
        for ax in axes:
            ax.grid(alpha=0.3, which="major")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axes[0].legend(fontsize=7)
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(IMAGES / "bench_scaling.png", dpi=110)
        plt.close(fig)
        made.append("bench_scaling.png")
    return made


def page(results, images) -> str:
    meta = results["meta"]
    cfg = meta["config"]
    mode = meta["mode"]
    steps = cfg["checkpoints"][-1]
    load = meta.get("load_average_at_start")
    ds_lines = "\n".join(f"| {d} | {v['n_train']:,} | {v['n_test']:,} | {v['exact_mean_log_p_test']:.4f} |"
                         for d, v in results["datasets"].items())
    best = "\n".join(
        f"- **{d}**: our best flow after {steps} steps is *{r['best_ours']}* "
        f"(KL gap {_pm(results['quality'][d][r['best_ours']]['summary']['kl_gap'])} nats)"
        + "".join(f"; {p}: {_pm(results['quality'][d][p]['summary']['kl_gap'])}"
                  for p in results["quality"][d] if p.startswith("zuko"))
        + (f". Ours / best zuko NSF ({r['best_nsf']}): **{r['best_ours_over_best_nsf']:.2f}**"
           + _within_noise(results["quality"][d], r["best_ours"], r["best_nsf"]) if "best_nsf" in r else "")
        + "." for d, r in results.get("ratios", {}).items())
    recipes = "\n".join(f"- **{k}**: {v}." for k, v in meta.get("recipes", {}).items())
    caveat = ("" if mode == "full" else
              f"\n```{{warning}}\nThese numbers come from the **quick** run (1 seed, {steps} steps, reduced scaling "
              "sweeps): a smoke test, not the full benchmark. The section 7 targets refer to 2,000 steps; run "
              "`make bench` for the full table (3 seeds, 500/1,000/2,000 steps).\n```\n")
    peers = meta.get("peers_skipped")
    xla = meta.get("xla", {})
    xla_line = "; ".join(f"{a}: " + ("XLA" if v["jit_compile"] else f"no XLA ({v['fallback']})")
                         for a, v in xla.items())
    return f"""# Performance

*Generated by `python -m benchmarks.report` from `benchmarks/results.json`; nothing on this page is
computed when the book is built. Re-run with `make bench` (full) or `make bench-quick`.*
{caveat}
**Run:** {mode} mode, {meta['date']}, on `{meta['platform']}` ({meta['processor']}), {meta['cpu_count']} CPUs
visible, {meta['threads']} intra-op thread(s) for both TensorFlow and PyTorch; load average at start
{', '.join(f'{x:.1f}' for x in load) if load else 'unknown'} (the machine was shared with other jobs, so
absolute times are noisy; the ratios come from one run). Total wall time {meta['wall_s'] / 60:.1f} min.
Versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}.{'' if not peers else f' Peers skipped: {peers}.'}

## What is measured

Quality is the **KL gap to the exact density**: for each of the 20,000 test points,
$D_i = \\log p_\\text{{true}}(x_i) - \\log q(x_i)$ (exact $\\log p$ from `gaussianization.datasets`),
reported as the mean of $D_i$ over seeds (± s.d. across {len(cfg['seeds'])} seed(s)); the paired standard
error of each run's mean is also given. Lower is better, 0 is perfect.

Every model, ours and the peers, is trained on minibatches of 512 drawn with replacement from the
training set, with **the same minibatch indices for every model of a seed** (and, for the careful recipe, the
same input-noise draws), for {', '.join(f'{c:,}' for c in cfg['checkpoints'])} steps, with one of two
recipes, applied identically to ours and to zuko's NSF:

{recipes}

Training: {meta['training']}.

| data | train points | test points | exact mean log p (test) |
|---|---|---|---|
{ds_lines}

Compilation per architecture: {xla_line or 'not recorded'}.

Models:

{chr(10).join(f"- **{n}** — {m['description']}" for n, m in results['models'].items())}

## Results

{best}

![KL gap vs Adam steps](images/bench_quality.png)

{quality_table(results)}

### Ours / peer ratios (KL gap and wall time per training step; below 1 favours ours)

{ratio_table(results)}

### Sampling and round trip

100,000 samples, warm (best of {cfg['sample_repeats']}), from the moons-trained seed coupling flow
(`make_coupling_flow(2, 4, 8, hidden=(64, 64))`, whose mixture-CDF inverse is iterative) and zuko's NSF
(analytic spline inverse). Round trip: $\\max_i \\lVert f^{{-1}}(f(x_i)) - x_i \\rVert$ over the moons test set.

{sampling_table(results)}

## How cost grows

{results['scaling']['data']}; median time per training step over {results['scaling']['steps_timed']} steps after
compilation, best-of-{cfg['repeats']} time for 10,000 log_prob evaluations.

![Scaling with d, K and n](images/bench_scaling.png)

{scaling_table(results)}

{speed_sections()}
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    src = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results.json"
    results = json.loads(src.read_text())
    images = plots(results)
    (BOOK / "performance.md").write_text(page(results, images))
    print(f"wrote {BOOK / 'performance.md'} and {', '.join('book/images/' + i for i in images)}", file=sys.stderr)


if __name__ == "__main__":
    main()
