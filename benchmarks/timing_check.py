"""Why the scaling sweep of results.json (2026-12-01) has K = 4 three times faster than K = 8.

``python -m benchmarks.timing_check`` (about 2 min of one CPU): the coupling flow of the sweep
(``make_coupling_flow(2, 4, K, hidden=(64, 64))`` on its d = 2 Gaussian-mixture data), for each K,
compares XLA's ``log_prob`` with the plain graph's at initialisation under the old rule (absolute
1e-3 nats) and the current one (:func:`benchmarks.common.xla_disagreement`), and times the Adam
step on both paths with :func:`benchmarks.common.step_times`. Writes
``benchmarks/timing_check.json``; ``benchmarks.report`` puts it on the performance page.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
KS_TIMED = (4, 8, 16)
KS_CHECKED = (32,)  # the log_prob check only (no step timing)
STEPS, ROUNDS = 20, 3
OLD_ABS = 1e-3  # the rule of results.json of 2026-12-01


def _check(flow, evalx):
    import tensorflow as tf

    from .common import xla_disagreement

    plain = tf.function(flow.log_prob)(evalx).numpy().astype(np.float64)
    xla = tf.function(flow.log_prob, jit_compile=True)(evalx).numpy().astype(np.float64)
    ok = np.isfinite(plain) & np.isfinite(xla)
    diff = np.abs(xla[ok] - plain[ok])
    worst = int(np.argmax(diff))
    return {"max_abs_diff": float(diff.max()), "log_p_there": float(plain[ok][worst]),
            "max_rel_diff": float(np.max(diff / np.maximum(1.0, np.abs(plain[ok])))),
            "old_rule_falls_back": bool(diff.max() > OLD_ABS or (np.isfinite(plain) & ~np.isfinite(xla)).any()),
            "new_rule_falls_back": xla_disagreement(xla, plain) is not None}


def main():
    from .common import BATCH, KerasTrainer, load_average, setup_threads, step_times

    setup_threads(1)
    from .quality import build_flow
    from .scaling import gaussian_mixture

    x = gaussian_mixture(15_000, 2)
    train, evalx = x[:5000], x[5000:]
    batches = [train[i] for i in np.random.default_rng(1).integers(0, len(train), (STEPS, BATCH))]
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": "python -m benchmarks.timing_check", "cpu_count": os.cpu_count(), "threads": 1,
           "load_average_at_start": load_average(), "steps": STEPS, "rounds": ROUNDS,
           "flow": "make_coupling_flow(2, 4, K, hidden=(64, 64))", "rows": []}
    for k in (*KS_TIMED, *KS_CHECKED):
        row = {"K": k, **_check(build_flow("coupling", 0, train, dim=2, num_components=k), evalx)}
        if k in KS_TIMED:
            for path, jit in (("xla", True), ("plain", False)):
                tr = KerasTrainer(build_flow("coupling", 0, train, dim=2, num_components=k), jit_compile=jit)
                tr.warm_up(train[:BATCH], evalx)
                t = step_times(tr.step, batches, ROUNDS)
                row[f"{path}_step_ms"], row[f"{path}_round_medians_ms"] = t["ms"], t["round_medians_ms"]
                row[f"{path}_used_xla"] = tr.jit_compile
        row["load_average"] = load_average()
        out["rows"].append(row)
        print(row, flush=True)
    out["load_average_at_end"] = load_average()
    (HERE / "timing_check.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
