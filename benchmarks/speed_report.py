"""The speed and profile sections of the performance page, from ``benchmarks/speed.json``
(:mod:`benchmarks.speed`) and ``benchmarks/profile.json`` (:mod:`benchmarks.profile`)."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAGES = HERE.parent / "book" / "images"
OURS = ("tensorflow", "jax", "torch")
PEER = "zuko"


def _rows(result, name):
    return {(r["arch"], r["d"]): r for r in result["workers"].get(name, {}).get("scaling", [])}


def _cell(row, key, digits=1):
    return f"{row[key]:.{digits}f}" if row else "–"


def scaling_table(result) -> str:
    dims = result["config"]["dims"]
    names = [n for n in (*OURS, PEER) if n in result["workers"]]
    head = "| model | d | " + " | ".join(f"{n}: ms / step" for n in names) + " | " + \
           " | ".join(f"{n}: ms / 10k log_prob" for n in names) + " |"
    lines = [head, "|---|---|" + "---|" * (2 * len(names))]
    for arch in ("diagonal", "coupling", "zuko NSF"):
        for d in dims:
            rows = [_rows(result, n).get((arch, d)) for n in names]
            if not any(rows):
                continue
            lines.append(f"| {arch} | {d} | " + " | ".join(_cell(r, "step_ms") for r in rows) + " | "
                         + " | ".join(_cell(r, "log_prob_10k_ms", 0) for r in rows) + " |")
    return "\n".join(lines)


def ratios(result) -> list[dict]:
    """Ours / zuko NSF at each d: per backend, and the fastest of our backends."""
    peer, out = _rows(result, PEER), []
    for arch in ("diagonal", "coupling"):
        for d in result["config"]["dims"]:
            nsf = peer.get(("zuko NSF", d))
            if not nsf:
                continue
            row = {"arch": arch, "d": d}
            for key in ("step_ms", "log_prob_10k_ms"):
                per = {n: _rows(result, n)[(arch, d)][key] / nsf[key] for n in OURS if (arch, d) in _rows(result, n)}
                row[key] = per
                row[key + "_best"] = min(per.items(), key=lambda kv: kv[1]) if per else None
            out.append(row)
    return out


def ratio_table(result) -> str:
    lines = ["| model | d | step: TF / JAX / torch | step: fastest | 10k log_prob: TF / JAX / torch | log_prob: fastest |",
             "|---|---|---|---|---|---|"]
    for r in ratios(result):
        def per(key):
            return " / ".join(f"{r[key][n]:.2f}" if n in r[key] else "–" for n in OURS)

        def best(key):
            return f"**{r[key + '_best'][1]:.2f}** ({r[key + '_best'][0]})" if r[key + "_best"] else "–"
        lines.append(f"| {r['arch']} | {r['d']} | {per('step_ms')} | {best('step_ms')} | {per('log_prob_10k_ms')} | "
                     f"{best('log_prob_10k_ms')} |")
    return "\n".join(lines)


def sampling_table(result) -> str:
    peer = result["workers"].get(PEER, {}).get("sampling")
    lines = ["| model | backend | 100,000 samples (s) | ratio to zuko NSF | first call (s) | round trip max (median) |",
             "|---|---|---|---|---|---|"]
    for name in (*OURS, PEER):
        s = result["workers"].get(name, {}).get("sampling")
        if not s:
            continue
        model = "zuko NSF" if name == PEER else "seed coupling flow"
        ratio = f"{s['s'] / peer['s']:.2f}" if peer else "–"
        lines.append(f"| {model} | {'torch' if name == PEER else name} | {s['s']:.2f} | {ratio} | "
                     f"{s['first_call_s']:.1f} | {s['round_trip_max']:.2e} ({s['round_trip_median']:.1e}) |")
    return "\n".join(lines)


def flops_table(result) -> str:
    peak = result["workers"].get(PEER, {}).get("peak_flops")
    counted = _rows(result, "jax")
    if not peak or not counted:
        return ""
    lines = ["| model | d | GFLOP / step | GFLOP / 10k log_prob | " + " | ".join(f"{n}: % of peak (step)" for n in (*OURS, PEER)) + " |",
             "|---|---|---|---|" + "---|" * (len(OURS) + 1)]
    for arch in ("diagonal", "coupling", "zuko NSF"):
        for d in result["config"]["dims"]:
            src = _rows(result, PEER).get((arch, d)) if arch == "zuko NSF" else counted.get((arch, d))
            if not src or not src.get("flops"):
                continue
            fl = src["flops"]
            shares = []
            for n in (*OURS, PEER):
                r = _rows(result, n).get((arch, d))
                shares.append(f"{100 * fl['step'] / (r['step_ms'] / 1e3) / peak:.1f}%" if r else "–")
            lines.append(f"| {arch} | {d} | {fl['step'] / 1e9:.3f} | {fl['log_prob_10k'] / 1e9:.2f} | " + " | ".join(shares) + " |")
    return "\n".join(lines)


def speed_tables(result) -> str:
    return "\n\n".join(t for t in (scaling_table(result), ratio_table(result), sampling_table(result),
                                   flops_table(result)) if t)


def profile_table(profile) -> str:
    """Op-family shares of the plain graph's self time and the XLA timings (benchmarks/profile.py)."""
    cases = profile["cases"]
    head = "| op family | " + " | ".join(f"{c['arch']} d={c['d']}" for c in cases) + " |"
    blocks = []
    for call, title in (("train_step", "One training step (batch 512)"), ("log_prob_10k", "log_prob of 10,000 points")):
        families = {f for c in cases for f in c[call]["families_ms"]} - {"idle"}
        lines = [f"**{title}**: share of the plain graph's op time (idle time excluded).", "", head,
                 "|---|" + "---|" * len(cases)]
        busy = [sum(v for k, v in c[call]["families_ms"].items() if k != "idle") for c in cases]
        for fam in sorted(families, key=lambda f: -sum(c[call]["families_ms"].get(f, 0.0) for c in cases)):
            lines.append(f"| {fam} | " + " | ".join(f"{100 * c[call]['families_ms'].get(fam, 0.0) / b:.0f}%"
                                                     for c, b in zip(cases, busy)) + " |")
        lines.append("| plain graph, ms | " + " | ".join(f"{c[call]['plain_ms']:.1f}" for c in cases) + " |")
        lines.append("| XLA, ms | " + " | ".join(f"{c[call]['xla_ms']:.1f}" for c in cases) + " |")
        lines.append("| XLA speed-up | " + " | ".join(f"{c[call]['plain_ms'] / c[call]['xla_ms']:.1f}x" for c in cases) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


FAMILY_SPECIAL = "special functions (erfc, exp, log, log1p, sqrt, tanh)"


def _share_range(profile, call, family) -> str:
    """``"a–b%"``: the smallest and largest share of ``family`` in the op time of ``call``."""
    shares = []
    for c in profile["cases"]:
        fam = c[call]["families_ms"]
        shares.append(100 * fam.get(family, 0.0) / sum(v for k, v in fam.items() if k != "idle"))
    return f"{min(shares):.0f}–{max(shares):.0f}%"


def speed_plot(result) -> str | None:
    """``book/images/bench_speed.png``: ms per training step and per 10k log_prob vs d, every backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gaussianization import plotting

    plotting.setup()
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(6.8, 3.4), sharex=True)
    styles = {"tensorflow": "-", "jax": "-.", "torch": ":"}
    for ax, key, title in ((axes[0], "step_ms", "training step (batch 512)"), (axes[1], "log_prob_10k_ms", "log_prob of 10,000 points")):
        for i, arch in enumerate(("diagonal", "coupling")):
            for name in OURS:
                rows = sorted((r for (a, _), r in _rows(result, name).items() if a == arch), key=lambda r: r["d"])
                if rows:
                    ax.plot([r["d"] for r in rows], [r[key] for r in rows], marker="o", ms=3, ls=styles[name],
                            color=plotting.PALETTE[i], label=f"{arch} ({name})")
        rows = sorted(_rows(result, PEER).values(), key=lambda r: r["d"])
        if rows:
            ax.plot([r["d"] for r in rows], [r[key] for r in rows], marker="s", ms=3, ls="--",
                    color=plotting.REFERENCE, label="zuko NSF (torch)")
        ax.set(xscale="log", yscale="log", xlabel="dimension d", ylabel="milliseconds", title=title)
        ax.set_xticks(result["config"]["dims"])
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(IMAGES / "bench_speed.png", dpi=2 * plotting.DPI)
    plt.close(fig)
    return "bench_speed.png"


def speed_sections() -> str:
    """Markdown for the page: the backend comparison and the profile, where their JSON exists."""
    parts = []
    speed, profile = HERE / "speed.json", HERE / "profile.json"
    if speed.exists():
        result = json.loads(speed.read_text())
        image = speed_plot(result)
        w = result["workers"]
        versions = ", ".join(f"{k} {w[PEER][k]}" for k in ("torch", "zuko") if k in w.get(PEER, {}))
        parts.append(f"""## Speed on every backend, against zuko

*From `benchmarks/speed.json` (`python -m benchmarks.speed`, part of `make bench`; {result['mode']} mode,
{result['date']}, {result['cpu_count']} CPUs visible, one thread per worker, load average at start
{', '.join(f'{x:.1f}' for x in result['load_average_at_start'])}; {result['wall_s'] / 60:.1f} min). {versions}.
When this run is newer than the one at the top of the page, the sections above describe older code.*

One worker process per Keras backend (the backend is fixed when Keras is imported) and one for zuko, run
one after the other in the same `make bench` run, on the same data: the scaling sweep above (a
standardised 4-component Gaussian mixture in d dimensions; median ms per Adam step on batches of 512,
best ms for one `log_prob` of 10,000 points). Our flows: the diagonal flow
`make_gaussianization_flow(d, 8, 2, 8)` and the coupling flow `make_coupling_flow(d, 4, 8, hidden=(64, 64))`;
zuko: `NSF(d, transforms=3, bins=8, hidden_features=(64, 64))`. Compiled as each backend does best:
TensorFlow `tf.function(jit_compile=True)` (XLA), JAX `jax.jit`, torch eager (as zuko runs).

![Time per training step and per 10,000 log_prob against d, every backend and zuko](images/{image})

{scaling_table(result)}

**Ours / zuko NSF** (below 1: ours is faster), per backend and for the fastest of ours:

{ratio_table(result)}

**Sampling**: 100,000 samples (best of 3, warm) from the seed coupling flow
`make_coupling_flow(2, 4, 8, hidden=(64, 64))` trained on moons ({result['config']['train_steps']:,} Adam
steps, trained once and loaded by every worker), and from a zuko NSF trained for as many steps; round
trip $\\max_i \\lVert f^{{-1}}(f(x^{{(i)}})) - x^{{(i)}} \\rVert$ in float32 on the moons test set.

{sampling_table(result)}

**Flops.** Ours: XLA's cost analysis of the compiled JAX step and `log_prob` (each element-wise
operation and each transcendental function counts one flop; the same maths runs on every backend, so
the count is used for all three). zuko: PyTorch's `FlopCounterMode`, which counts matrix products only
(a lower bound). Peak: the best float32 matrix-product rate of one thread on this machine
({w[PEER]['peak_flops'] / 1e9:.0f} GFLOP/s, `torch.mm` of 2048 x 2048). An element-wise graph full of
`erfc`, `log` and `exp` cannot reach a matrix product's rate: its share of peak says how far the
special functions are from the hardware, not how far from optimal the code is.

{flops_table(result)}""")
    if profile.exists():
        prof = json.loads(profile.read_text())
        parts.append(f"""## Where the time goes

*From `benchmarks/profile.json` (`make profile`, TensorFlow {prof['tensorflow']}, one thread):
TensorFlow's profiler on the plain graph (no XLA), self time of every op summed by op family.*

{profile_table(prof)}

Without XLA every element-wise op is a separate pass over `(batch, d, K)` tensors, so a training step
spends {_share_range(prof, "train_step", "select (where)")} of its op time in `where` (its gradient is two
more selects and a broadcast) and only {_share_range(prof, "train_step", FAMILY_SPECIAL)} in the special
functions themselves; XLA fuses these passes, which is what its speed-up
measures. Under XLA, one mixture layer's forward map on 10,000 x 64 points (K = 8) and its normal
quantile alone, for float32 and for float64 input (ms; the quantile computes in float64 for both):

{chr(10).join(f"- {k}: {v:.1f} ms" for k, v in prof["xla_mixture_layer_ms"].items())}""")
    return "\n\n".join(parts)
