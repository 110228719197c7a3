"""Run the benchmark suite: ``python -m benchmarks.run [--quick]``.

Writes ``benchmarks/results.json`` and ``benchmarks/results.md`` (the summary table), then
regenerates ``book/performance.md`` and ``book/images/bench_*.png`` from the JSON.
Progress goes to stderr (tqdm).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
MODES = {
    "quick": {"seeds": [0], "checkpoints": [100, 250, 500], "scaling_steps": 20, "repeats": 2,
              "dims": [2, 16, 64], "ks": [4, 8, 32], "scale_archs": ["coupling"],
              "ig_ns": [1_000, 10_000], "sample_repeats": 1},
    "full": {"seeds": [0, 1, 2], "checkpoints": [500, 1000, 2000], "scaling_steps": 40, "repeats": 3,
             "dims": [2, 8, 32, 64], "ks": [4, 8, 16, 32], "scale_archs": ["coupling", "diagonal"],
             "ig_ns": [1_000, 3_000, 10_000, 30_000, 100_000], "sample_repeats": 3},
}
N_SAMPLES = 100_000


def _bar(total, desc):
    try:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=True)
    except ImportError:  # tqdm is a bench extra; degrade to no bar
        class _Null:
            def update(self, n=1): pass
            def set_description(self, d): pass
            def close(self): pass
        return _Null()


def _summary(runs: list[dict], checkpoints) -> dict:
    from .common import summarize

    return {
        "params": runs[0]["params"],
        "kl_gap": summarize([r["kl_gap"] for r in runs]),
        "kl_se": summarize([r["kl_se"] for r in runs]),
        "test_nll": summarize([r["test_nll"] for r in runs]),
        "step_ms": summarize([r["step_ms"] for r in runs]),
        "init_s": summarize([r["init_s"] for r in runs]),
        "kl_gap_at": {str(c): summarize([r["checkpoints"][str(c)]["kl_gap"] for r in runs]) for c in [0, *checkpoints]},
    }


def run_quality(cfg, results, peer_reason, bar):
    from gaussianization import datasets

    from .common import batch_indices, batch_noise
    from .peers import PEER_MODELS, PeerModel
    from .quality import OUR_MODELS, OurModel, train_and_eval

    trainers = {}
    names = list(OUR_MODELS) + ([] if peer_reason else list(PEER_MODELS))
    steps = cfg["checkpoints"][-1]
    kept = {}
    for dname in ("moons", "spiral"):
        ds = datasets.load(dname)
        t = time.perf_counter()
        log_p = ds.log_prob(ds.test)
        results["datasets"][dname] = {"n_train": int(len(ds.train)), "n_test": int(len(ds.test)),
                                      "exact_mean_log_p_test": float(log_p.mean()),
                                      "exact_log_p_seconds": time.perf_counter() - t}
        runs = {n: [] for n in names}
        for seed in cfg["seeds"]:
            idx = batch_indices(len(ds.train), steps, seed)
            noise = batch_noise(steps, ds.train.shape[1], seed)
            for name in names:
                bar.set_description(f"{dname} s{seed} {name}")
                model = OurModel(name, trainers) if name in OUR_MODELS else PeerModel(name)
                r = train_and_eval(model, ds, log_p, idx, noise, cfg["checkpoints"], seed, progress=bar.update)
                r["seed"] = seed
                runs[name].append(r)
                if dname == "moons" and seed == cfg["seeds"][0] and name in ("coupling", "zuko NSF"):
                    kept[name] = (model.trainer.flow.get_weights() if name == "coupling" else copy.deepcopy(model.flow))
        results["quality"][dname] = {n: {"runs": runs[n], "summary": _summary(runs[n], cfg["checkpoints"])}
                                     for n in names}
    return trainers, kept


def _best(models, names):
    """The name with the smallest mean KL gap; a model with any non-finite run does not count."""
    def key(n):
        s = models[n]["summary"]["kl_gap"]
        return s["mean"] if s["n"] == len(s["values"]) and np.isfinite(s["mean"]) else np.inf
    return min(names, key=key)


def ratios(results) -> dict:
    out = {}
    for dname, models in results["quality"].items():
        peers = [n for n in models if n.startswith("zuko")]
        ours = [n for n in models if not n.startswith("zuko")]
        best = _best(models, ours)
        out[dname] = {"best_ours": best, "pairs": {}}
        nsf = [n for n in peers if n.startswith("zuko NSF")]
        if nsf:
            best_nsf = _best(models, nsf)
            out[dname]["best_nsf"] = best_nsf
            out[dname]["best_ours_over_best_nsf"] = (models[best]["summary"]["kl_gap"]["mean"]
                                                     / models[best_nsf]["summary"]["kl_gap"]["mean"])
        for o in ours:
            for p in peers:
                so, sp = models[o]["summary"], models[p]["summary"]
                out[dname]["pairs"][f"{o} / {p}"] = {
                    "kl_gap_ratio": so["kl_gap"]["mean"] / sp["kl_gap"]["mean"],
                    "step_time_ratio": so["step_ms"]["mean"] / sp["step_ms"]["mean"],
                }
    return out


def run_sampling(cfg, trainers, kept, results):
    import tensorflow as tf

    from gaussianization import datasets
    from gaussianization.metrics import round_trip_errors

    from .common import best_time

    out = {"n": N_SAMPLES, "model_ours": "coupling (make_coupling_flow(2, 4, 8, hidden=(64, 64))), trained on moons",
           "model_peer": "zuko NSF, trained on moons (analytic spline inverse)"}
    ds = datasets.load("moons")
    if "coupling" in kept:
        tr = trainers["coupling (plain)"]
        tr.flow.set_weights(kept["coupling"])
        flow = tr.flow
        t = time.perf_counter()
        flow.sample(N_SAMPLES, seed=0)
        out["ours_first_call_s"] = time.perf_counter() - t
        s = best_time(lambda: np.asarray(flow.sample(N_SAMPLES, seed=1)), cfg["sample_repeats"])
        out["ours_s"], out["ours_samples_per_s"] = s, N_SAMPLES / s
        z = flow.forward_and_log_det(tf.constant(ds.test))[0]
        err = round_trip_errors(ds.test, np.asarray(flow.invert(z)))
        out["ours_round_trip"] = {"max": float(err.max()), "median": float(np.median(err)),
                                  "mean": float(err.mean()), "on": "moons test set (20,000 points), float32"}
    if "zuko NSF" in kept:
        import torch

        peer = kept["zuko NSF"]

        def sample():
            with torch.no_grad():
                peer().sample((N_SAMPLES,))

        s = best_time(sample, cfg["sample_repeats"])
        out["peer_s"], out["peer_samples_per_s"] = s, N_SAMPLES / s
        with torch.no_grad():
            tf_ = peer().transform
            x = torch.from_numpy(ds.test)
            err = round_trip_errors(ds.test, tf_.inv(tf_(x)).numpy())
        out["peer_round_trip"] = {"max": float(err.max()), "median": float(np.median(err)),
                                  "mean": float(err.mean()), "on": "moons test set (20,000 points), float32"}
    if "ours_s" in out and "peer_s" in out:
        out["time_ratio_ours_over_peer"] = out["ours_s"] / out["peer_s"]
    results["sampling"] = out


def run_scaling(cfg, results, peer_reason, bar):
    from .scaling import time_ig, time_ours, time_peer

    sc = {"dim": [], "K": [], "ig": [], "steps_timed": cfg["scaling_steps"],
          "data": "standardised 4-component Gaussian mixture, 5,000 train points; log_prob on 10,000 points",
          "K_sweep_dim": 2,
          "step_method": (f"3 untimed steps after compilation, then {cfg['repeats']} rounds of "
                          f"{cfg['scaling_steps']} steps; the smallest round median"),
          "compiled": ("XLA (tf.function(jit_compile=True)) unless its log_prob disagreed with the plain graph "
                       "at init (benchmarks.common.xla_disagreement); each row records which (xla)")}
    for arch in cfg["scale_archs"]:
        for d in cfg["dims"]:
            bar.set_description(f"scaling {arch} d={d}")
            sc["dim"].append(time_ours(arch, d, 8, cfg["scaling_steps"], cfg["repeats"]))
            bar.update()
        for k in cfg["ks"]:
            bar.set_description(f"scaling {arch} K={k}")
            if k == 8 and 2 in cfg["dims"]:
                row = next(r for r in sc["dim"] if r["arch"] == arch and r["d"] == 2)
            else:
                row = time_ours(arch, 2, k, cfg["scaling_steps"], cfg["repeats"])
            sc["K"].append(row)
            bar.update()
    if not peer_reason:
        for d in cfg["dims"]:
            bar.set_description(f"scaling zuko NSF d={d}")
            sc["dim"].append(time_peer("zuko NSF", d, cfg["scaling_steps"], cfg["repeats"]))
            bar.update()
    bar.set_description("IG init vs n")
    sc["ig"] = time_ig(cfg["ig_ns"])
    bar.update()
    results["scaling"] = sc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 seed, 500 steps, reduced scaling (a smoke run)")
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op threads for both TensorFlow and PyTorch (default 1)")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--no-report", action="store_true", help="do not regenerate book/performance.md")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full"
    cfg = MODES[mode]

    from .common import RECIPES, setup_threads

    setup_threads(args.threads)
    import keras
    import tensorflow as tf

    from .peers import available, versions

    peer_reason = available()
    started = time.perf_counter()
    results = {
        "meta": {
            "mode": mode, "config": cfg,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "threads": args.threads,
            "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(),
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
                         **({} if peer_reason else versions())},
            "peers_skipped": peer_reason,
            "training": ("custom loop: one tf.function(jit_compile=True) Adam step on -mean(flow.log_prob(x)) "
                         "per minibatch (not Model.fit), falling back to tf.function without XLA for an "
                         "architecture whose XLA log_prob disagrees with the plain graph (benchmarks.common."
                         "xla_disagreement; the reason is kept in xla_fallback); "
                         "every evaluation uses the plain graph (no XLA); "
                         "zuko: the same loop in PyTorch (eager)"),
            "batch": 512, "recipes": RECIPES,
            "minibatches": ("indices drawn with replacement, identical for every model of a seed; input noise "
                            "(careful recipe) from standard-normal draws identical for every noisy model of a seed"),
            "kl_gap": "mean over the 20,000 test points of log p_true(x) - log q(x), with its paired standard error",
        },
        "datasets": {}, "models": {}, "quality": {},
    }
    from .peers import PEER_MODELS
    from .quality import OUR_MODELS

    for n, (arch, ig, recipe, desc) in OUR_MODELS.items():
        results["models"][n] = {"library": "gaussianization", "arch": arch, "ig_init": ig, "recipe": recipe,
                                "description": desc}
    if not peer_reason:
        for n, (kind, recipe, desc) in PEER_MODELS.items():
            results["models"][n] = {"library": "zuko", "arch": n, "ig_init": False, "recipe": recipe,
                                    "description": desc}

    n_models = len(results["models"])
    bar = _bar(2 * len(cfg["seeds"]) * n_models * cfg["checkpoints"][-1], f"quality ({mode})")
    trainers, kept = run_quality(cfg, results, peer_reason, bar)
    bar.close()
    results["meta"]["quality_wall_s"] = time.perf_counter() - started
    results["meta"]["xla"] = {arch: {"jit_compile": tr.jit_compile, "fallback": tr.xla_fallback}
                              for arch, tr in trainers.items()}
    results["ratios"] = ratios(results)
    run_sampling(cfg, trainers, kept, results)
    n_scale = len(cfg["scale_archs"]) * (len(cfg["dims"]) + len(cfg["ks"])) + (0 if peer_reason else len(cfg["dims"])) + 1
    bar = _bar(n_scale, "scaling")
    run_scaling(cfg, results, peer_reason, bar)
    bar.close()
    results["meta"]["wall_s"] = time.perf_counter() - started

    out = Path(args.out)
    out.write_text(json.dumps(results, indent=1, default=float) + "\n")
    from .report import markdown_table

    (out.parent / "results.md").write_text(markdown_table(results) + "\n")
    print(markdown_table(results))
    print(f"\nwrote {out} ({mode}, {results['meta']['wall_s']:.0f} s)", file=sys.stderr)
    if not args.no_report:
        from .report import main as report_main

        report_main([str(out)])


if __name__ == "__main__":
    main()
