"""Where the time of a training step and of a ``log_prob`` call goes: ``python -m benchmarks.profile``.

For the diagonal and the coupling flow of the scaling sweep at d = 2 and 64, runs one training step
(batch 512) and one ``log_prob`` of 10,000 points as a plain TensorFlow graph under TensorFlow's
profiler, and sums the self time of every op by op family (the profiler's ``framework_op_stats``).
It also times the same two calls compiled with XLA, whose fused kernels have no per-op breakdown.
Writes ``benchmarks/profile.json``; ``benchmarks/report.py`` puts the table on the performance page.
TensorFlow only (the profiler is TF's); 1 intra-op thread, like the benchmark.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import BATCH, best_time, setup_threads

HERE = Path(__file__).resolve().parent

#: Op types by family; anything else is "other". "idle" is the profiler's time with no op running.
FAMILIES = {
    "special functions (erfc, exp, log, log1p, sqrt, tanh)": {
        "Erfc", "Exp", "Log", "Log1p", "Sqrt", "Rsqrt", "Tanh", "Expm1", "_UnaryOpsComposition"},
    "select (where)": {"SelectV2", "Select"},
    "arithmetic (+ - * /, square, abs, neg)": {
        "AddV2", "Add", "Sub", "Mul", "RealDiv", "DivNoNan", "Square", "Abs", "Neg", "Reciprocal", "Sign",
        "Pow", "AddN", "SquaredDifference", "BiasAdd", "BiasAddGrad"},
    "comparisons, min/max (element-wise)": {
        "Less", "Greater", "LessEqual", "GreaterEqual", "Equal", "NotEqual", "Minimum", "Maximum",
        "LogicalAnd", "LogicalOr", "LogicalNot", "IsNan", "IsInf", "IsFinite"},
    "reductions (sum, max over components)": {"Sum", "Max", "Min", "Mean", "Prod", "All", "Any"},
    "matmul (rotations, MLP conditioners)": {"MatMul", "BatchMatMulV2", "_MklMatMul", "_MklNativeFusedMatMul",
                                             "_FusedMatMul", "_MklFusedMatMul", "Einsum"},
    "casts, shapes, copies": {"Cast", "Reshape", "ExpandDims", "Squeeze", "StridedSlice", "ConcatV2", "Pack",
                              "Transpose", "Identity", "BroadcastTo", "Tile", "Fill", "ZerosLike", "OnesLike",
                              "Shape", "GatherV2", "StridedSliceGrad", "Slice", "Split", "SplitV"},
}
CASES = [("diagonal", 2), ("diagonal", 64), ("coupling", 2), ("coupling", 64)]


def family(op_type: str) -> str:
    for name, types in FAMILIES.items():
        if op_type in types:
            return name
    return "idle" if op_type == "IDLE" else "other"


def op_family_times(fn, *args) -> dict:
    """Self time (ms) per op family of one call of the traced ``fn(*args)``, from TF's profiler."""
    import tensorflow as tf
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    fn(*args)  # traced and warm
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        fn(*args)
        tf.profiler.experimental.stop()
        planes = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
        data, ok = plugin.xspace_to_tools_data(planes, "framework_op_stats", {})
    if not ok:
        raise RuntimeError("TensorFlow's profiler returned no op statistics")
    table = json.loads(data)[0]
    cols = [c["id"] for c in table["cols"]]
    kind, self_time = cols.index("type"), cols.index("total_self_time")
    out: dict = {}
    for row in table["rows"]:
        cells = [c.get("v") for c in row["c"]]
        key = family(cells[kind])
        out[key] = out.get(key, 0.0) + cells[self_time] / 1e3
    return out


def profile_case(arch: str, dim: int, repeats: int) -> dict:
    import keras
    import tensorflow as tf

    from .quality import build_flow
    from .scaling import gaussian_mixture

    x = gaussian_mixture(15_000, dim)
    flow = build_flow(arch, 0, x[:5000], ig=False, dim=dim)
    variables = flow.trainable_variables
    opt = keras.optimizers.Adam(1e-3)
    opt.build(variables)

    def step(xb):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(xb))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    batch, evalx = tf.constant(x[:BATCH]), tf.constant(x[5000:])
    row = {"arch": arch, "d": dim}
    for name, fn, arg in (("train_step", step, batch), ("log_prob_10k", flow.log_prob, evalx)):
        plain, xla = tf.function(fn), tf.function(fn, jit_compile=True)
        row[name] = {"families_ms": op_family_times(plain, arg),
                     "plain_ms": 1e3 * best_time(lambda: plain(arg).numpy(), repeats),
                     "xla_ms": 1e3 * best_time(lambda: xla(arg).numpy(), repeats + 1)}
    return row


def quantile_cost(repeats: int) -> dict:
    """XLA ms of one mixture layer's forward map (10,000 x 64 points, K = 8) and of its normal
    quantile alone, for float32 and for float64 input."""
    import tensorflow as tf

    from gaussianization.gauss_keras import mixture, quantile

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((10_000, 64)), tf.float32)
    means = tf.constant(np.tile(np.linspace(-1.4, 1.4, 8), (64, 1)), tf.float32)
    params = (tf.zeros((64, 8)), means, tf.fill((64, 8), float(np.log(0.4))))
    log_p = -tf.abs(x) - 0.7
    calls = {"forward map (mixture.gaussianize)": (lambda t: mixture.gaussianize(t, *params), x),
             "quantile, float32 input": (quantile.ndtri_and_log_mills_from_log, log_p),
             "quantile, float64 input": (quantile.ndtri_and_log_mills_from_log, tf.cast(log_p, tf.float64))}
    out = {}
    for name, (fn, arg) in calls.items():
        compiled = tf.function(fn, jit_compile=True)
        out[name] = 1e3 * best_time(lambda: [t.numpy() for t in compiled(arg)], repeats + 1)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "profile.json"))
    args = ap.parse_args(argv)
    setup_threads(1)
    import tensorflow as tf

    started = time.perf_counter()
    rows = []
    for arch, dim in CASES:
        print(f"profiling {arch} d={dim}", file=sys.stderr)
        rows.append(profile_case(arch, dim, args.repeats))
    out = {"tensorflow": tf.__version__, "threads": 1, "batch": BATCH, "cases": rows,
           "xla_mixture_layer_ms": quantile_cost(args.repeats),
           "wall_s": time.perf_counter() - started}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    from .speed_report import profile_table

    print(profile_table(out))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
