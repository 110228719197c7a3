"""Speed side by side, in one run: ours on TensorFlow, JAX and torch, and zuko's NSF.

``python -m benchmarks.speed`` runs one worker process per backend (Keras picks its backend at
import, so each needs its own process) and one for zuko, one after the other on the same machine,
and writes ``benchmarks/speed.json``; ``benchmarks/report.py`` turns it into the speed section of
the performance page. Every worker uses one intra-op thread. Measured per worker:

* the scaling sweep: median ms per Adam training step (batch 512; up to ``steps`` steps or 20 s) and
  best ms of ``repeats`` calls of ``log_prob`` on 10,000 points for
  the diagonal and the coupling flow of the scaling sweep (zuko: ``NSF(d, transforms=3, bins=8,
  hidden_features=(64, 64))``) at each d, with the step compiled the backend's way: TensorFlow
  ``tf.function(jit_compile=True)``, JAX ``jax.jit`` of a stateless step, torch eager (as zuko);
* sampling: 100,000 samples from the seed coupling flow trained on moons (trained once, on
  TensorFlow, and loaded by every worker), and the float32 round trip on the moons test set;
* flops: XLA's cost analysis of the compiled JAX step and ``log_prob`` (every element-wise op and
  transcendental function counts as one flop), and, for zuko, PyTorch's ``FlopCounterMode``
  (matrix products only: a lower bound); the machine's peak is the best float32 matrix-product
  rate measured on one thread (torch, 2048 x 2048).

Usage: ``python -m benchmarks.speed [--quick] [--out PATH]``; ``worker`` and ``prepare`` are the
sub-commands the orchestrator starts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACKENDS = ("tensorflow", "jax", "torch")
MODES = {"quick": {"dims": [2, 64], "steps": 10, "repeats": 2, "train_steps": 300},
         "full": {"dims": [2, 8, 32, 64], "steps": 30, "repeats": 3, "train_steps": 2000}}
N_SAMPLES = 100_000
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
              "TF_CPP_MIN_LOG_LEVEL": "2"}


#: A timing loop stops after this many seconds (at least 3 calls): torch's eager Keras ops take
#: seconds per step at d = 64, where the compiled backends take milliseconds.
TIME_BUDGET_S = 20.0


def _median_ms(fn, steps: int) -> float:
    """Median ms of up to ``steps`` calls, stopping after :data:`TIME_BUDGET_S` (at least 3)."""
    import numpy as np

    times, started = [], time.perf_counter()
    for i in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if i >= 2 and time.perf_counter() - started > TIME_BUDGET_S:
            break
    return 1e3 * float(np.median(times))


def _sync(value):
    """Wait for an asynchronous result (JAX dispatches asynchronously)."""
    import keras

    return keras.ops.convert_to_numpy(value)


def _ours(arch, dim, cfg):
    import numpy as np

    from . import backends
    from .common import BATCH, n_params
    from .quality import build_flow
    from .scaling import gaussian_mixture

    x = gaussian_mixture(15_000, dim)
    flow = build_flow(arch, 0, x[:5000], ig=False, dim=dim)
    step, log_prob, flops = backends.compiled(flow, x[:BATCH], x[5000:])
    t = time.perf_counter()
    _sync(step(x[:BATCH]))
    compile_s = time.perf_counter() - t
    _sync(log_prob(x[5000:]))
    rng = np.random.default_rng(1)
    batches = [x[rng.integers(0, 5000, BATCH)] for _ in range(cfg["steps"])]
    it = iter(batches)
    return {"arch": arch, "d": dim, "params": n_params(flow.trainable_variables), "compile_s": compile_s,
            "step_ms": _median_ms(lambda: _sync(step(next(it))), cfg["steps"]),
            "log_prob_10k_ms": min(_median_ms(lambda: _sync(log_prob(x[5000:])), 1) for _ in range(cfg["repeats"])),
            "flops": flops}


def _sampling_ours(path):
    import numpy as np
    from gaussianization import datasets
    from gaussianization.gauss_keras import load_flow
    from gaussianization.metrics import round_trip_errors

    flow = load_flow(path)
    t = time.perf_counter()
    _sync(flow.sample(N_SAMPLES, seed=0))
    first = time.perf_counter() - t
    best = min(_median_ms(lambda: _sync(flow.sample(N_SAMPLES, seed=1)), 1) for _ in range(3)) / 1e3
    test = datasets.load("moons").test
    err = round_trip_errors(test, np.asarray(_sync(flow.invert(flow(test)))))
    return {"s": best, "first_call_s": first, "round_trip_max": float(err.max()),
            "round_trip_median": float(np.median(err))}


def worker(backend, cfg, flow_path, out):
    import keras

    assert keras.backend.backend() == backend, (keras.backend.backend(), backend)
    rows = [_ours(arch, d, cfg) for arch in ("diagonal", "coupling") for d in cfg["dims"]]
    result = {"backend": backend, "keras": keras.__version__, "scaling": rows, "sampling": _sampling_ours(flow_path)}
    Path(out).write_text(json.dumps(result, indent=1) + "\n")


def prepare(cfg, flow_path):
    """Train the seed coupling flow on moons (TensorFlow, XLA step) and save it for the workers."""
    import keras
    import numpy as np
    from gaussianization import datasets

    from .common import KerasTrainer, batch_indices
    from .quality import build_flow

    ds = datasets.load("moons")
    flow = build_flow("coupling", 0, ds.train)
    trainer = KerasTrainer(flow)
    trainer.warm_up(ds.train[:512], ds.test)
    for idx in batch_indices(len(ds.train), cfg["train_steps"], 0):
        trainer.step(ds.train[idx])
    flow.save(flow_path)
    assert np.isfinite(keras.ops.convert_to_numpy(flow.log_prob(ds.test))).all()


def _run(args, backend, log):
    env = {**os.environ, **ONE_THREAD, "KERAS_BACKEND": backend}
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "benchmarks.speed", *args], env=env, cwd=HERE.parent,
                          stderr=subprocess.PIPE, text=True)
    log.append({"args": args, "backend": backend, "rc": done.returncode, "wall_s": time.perf_counter() - t,
                "stderr_tail": done.stderr[-2000:]})
    print(f"  {' '.join(args[:2])} ({backend}): rc {done.returncode}, {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return done.returncode == 0


def orchestrate(mode, out):
    import platform

    cfg = MODES[mode]
    started, log = time.perf_counter(), []
    result = {"mode": mode, "config": cfg, "platform": platform.platform(), "cpu_count": os.cpu_count(),
              "threads": 1, "load_average_at_start": list(os.getloadavg()),
              "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "workers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        flow_path = str(Path(tmp) / "seed_coupling.keras")
        cfg_json = json.dumps(cfg)
        if not _run(["prepare", "--cfg", cfg_json, "--flow", flow_path], "tensorflow", log):
            raise RuntimeError(f"training the seed coupling flow failed:\n{log[-1]['stderr_tail']}")
        for name in (*BACKENDS, "zuko"):
            path = Path(tmp) / f"{name}.json"
            args = (["peer", "--cfg", cfg_json, "--out", str(path)] if name == "zuko" else
                    ["worker", "--cfg", cfg_json, "--flow", flow_path, "--out", str(path)])
            if _run(args, "torch" if name == "zuko" else name, log):
                result["workers"][name] = json.loads(path.read_text())
    result["log"], result["wall_s"] = log, time.perf_counter() - started
    Path(out).write_text(json.dumps(result, indent=1) + "\n")
    from .speed_report import speed_tables

    print(speed_tables(result))
    print(f"wrote {out} ({result['wall_s']:.0f} s)", file=sys.stderr)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="run", choices=["run", "worker", "prepare", "peer"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cfg")
    ap.add_argument("--flow")
    ap.add_argument("--out", default=str(HERE / "speed.json"))
    args = ap.parse_args(argv)
    if args.command == "run":
        return orchestrate("quick" if args.quick else "full", args.out)
    cfg = json.loads(args.cfg)
    if args.command == "prepare":
        return prepare(cfg, args.flow)
    if args.command == "peer":
        from .peers import speed_run

        Path(args.out).write_text(json.dumps(speed_run(cfg, N_SAMPLES), indent=1) + "\n")
        return None
    return worker(os.environ["KERAS_BACKEND"], cfg, args.flow, args.out)


if __name__ == "__main__":
    main()
