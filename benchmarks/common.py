"""Shared helpers: thread setup, the compiled training step, weight resets, timing."""

from __future__ import annotations

import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 512
LEARNING_RATE = 1e-3

#: Training recipes, applied identically to our flows and to the peers.
RECIPES = {
    "plain": "Adam, constant learning rate 1e-3",
    "careful": ("Adam, cosine decay of the learning rate from 1e-2 to 0 over the run, each gradient "
                "tensor clipped to norm 1, Gaussian input noise of s.d. 0.02 (raw data units) added to "
                "every minibatch (the recipe of notebook 04)"),
}
CAREFUL_LEARNING_RATE = 1e-2
CAREFUL_CLIPNORM = 1.0
CAREFUL_NOISE = 0.02  # raw data units; moons' own noise is 0.05, the spiral's 0.08


def noise_for(recipe: str) -> float:
    """Input-noise s.d. (raw data units) of a recipe."""
    return CAREFUL_NOISE if recipe == "careful" else 0.0


def setup_threads(threads: int) -> None:
    """Give TensorFlow and PyTorch the same number of intra-op threads (call before any TF op)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised
        pass
    try:
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    except (ImportError, RuntimeError):
        pass


def n_params(variables) -> int:
    return int(sum(int(np.prod(v.shape)) for v in variables))


#: Largest accepted difference between XLA's and the plain graph's ``log_prob``, relative to
#: ``max(1, |log p|)``. XLA fuses and reorders the float32 sums, so the two differ by rounding,
#: which grows with ``|log p|``: an untrained coupling flow on the scaling data gives log p down to
#: -4e3 (K = 8), -8e5 (K = 16) and -1.6e8 (K = 32) in the tails, where the rounding alone is
#: 3e-3, 0.8 and 144 nats (relative 7e-6, 4e-5 and 1.4e-4; measured 2026-12-02). The absolute
#: 1e-3 nats used before (results.json of 2026-12-01) failed on that rounding and sent most rows
#: of the scaling sweep to the plain graph while K = 4 ran under XLA. A real fault of XLA (the
#: NaN of its old ndtri kernel) shows as points that are non-finite only under XLA.
XLA_REL = 1e-3


def xla_disagreement(fast, ref) -> str | None:
    """Why XLA's ``log_prob`` values ``fast`` cannot stand in for the plain graph's ``ref``, or None."""
    fast, ref = np.asarray(fast, np.float64), np.asarray(ref, np.float64)
    lost = ~np.isfinite(fast) & np.isfinite(ref)
    if lost.any():
        return f"{int(lost.sum())} of {len(ref)} points non-finite only under XLA"
    ok = np.isfinite(ref) & np.isfinite(fast)
    if not ok.any():
        return None
    diff = np.abs(fast[ok] - ref[ok])
    rel = diff / np.maximum(1.0, np.abs(ref[ok]))
    if rel.max() > XLA_REL:
        return (f"max |diff| {diff.max():.3g} nats, {rel.max():.2g} of max(1, |log p|) "
                f"(bound {XLA_REL:g})")
    return None


class KerasTrainer:
    """One compiled Adam step ``-mean(flow.log_prob(x))`` and a compiled ``log_prob`` for a flow.

    The graphs are traced once; :meth:`load` copies another flow's weights in and zeroes the
    optimizer state (iterations included), so every (data set, seed, init) run of the same
    architecture reuses the compiled step and starts exactly like a fresh ``Adam``.
    The training step may use XLA; the ``log_prob`` used for evaluation never does, so the
    reported KL gaps are the library's own numerics.
    """

    def __init__(self, flow, jit_compile: bool = True, recipe: str = "plain", steps: int = 2000):
        import keras

        self.flow = flow
        self.variables = list(flow.trainable_variables)
        if recipe == "careful":
            schedule = keras.optimizers.schedules.CosineDecay(CAREFUL_LEARNING_RATE, decay_steps=int(steps))
            self.opt = keras.optimizers.Adam(schedule, clipnorm=CAREFUL_CLIPNORM)
        elif recipe == "plain":
            self.opt = keras.optimizers.Adam(LEARNING_RATE)
        else:
            raise ValueError(f"unknown recipe {recipe!r}; expected one of {sorted(RECIPES)}")
        self.opt.build(self.variables)
        self.jit_compile = bool(jit_compile)
        self.xla_fallback = None
        self._make(self.jit_compile)
        self.compile_s = {}

    def _make(self, jit):
        import tensorflow as tf

        flow_, vars_, opt = self.flow, self.variables, self.opt

        @tf.function(jit_compile=jit)
        def step(x):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(flow_.log_prob(x))
            grads = tape.gradient(loss, vars_)
            opt.apply_gradients(zip(grads, vars_))
            return loss

        @tf.function(jit_compile=jit, reduce_retracing=True)
        def log_prob(x):
            return flow_.log_prob(x)

        @tf.function(reduce_retracing=True)
        def log_prob_plain(x):
            return flow_.log_prob(x)

        self._step, self._log_prob, self._log_prob_plain = step, log_prob, log_prob_plain

    def warm_up(self, x_batch, x_eval):
        """Trace/compile both graphs (weights are reset by :meth:`load` afterwards).

        With XLA, the compiled ``log_prob`` is first checked against the plain graph on
        ``x_eval``; if they disagree (a point non-finite only under XLA, or a difference above
        :data:`XLA_REL` of ``max(1, |log p|)``), XLA is dropped for this architecture and the
        reason is kept in ``xla_fallback`` (reported in results.json).
        """
        if self.jit_compile:
            t = time.perf_counter()
            fast = np.asarray(self._log_prob(x_eval), dtype=np.float64)
            self.compile_s["log_prob"] = time.perf_counter() - t
            ref = np.asarray(self._log_prob_plain(x_eval), dtype=np.float64)
            reason = xla_disagreement(fast, ref)
            if reason:
                self.xla_fallback = f"XLA log_prob disagreed with the plain graph at init: {reason}"
                self.jit_compile = False
                self._make(False)
        t = time.perf_counter()
        self._step(x_batch)
        self.compile_s["train_step"] = time.perf_counter() - t
        t = time.perf_counter()
        self._log_prob_plain(x_eval)
        self.compile_s["log_prob"] = self.compile_s.get("log_prob", 0.0) + time.perf_counter() - t

    def load(self, weights):
        from keras import ops

        self.flow.set_weights(weights)
        for v in self.opt.variables:  # iteration counter and moments; never a constant learning rate
            if "learning_rate" not in v.path:
                v.assign(ops.zeros(v.shape, v.dtype))

    def step(self, x):
        return self._step(x)

    def log_prob(self, x) -> np.ndarray:
        return np.asarray(self._log_prob_plain(x), dtype=np.float64)


def batch_indices(n: int, steps: int, seed: int) -> np.ndarray:
    """(steps, BATCH) minibatch indices (with replacement) shared by every model of one seed."""
    return np.random.default_rng(10_000 + seed).integers(0, n, size=(steps, BATCH))


def batch_noise(steps: int, dim: int, seed: int) -> np.ndarray:
    """(steps, BATCH, dim) standard-normal input noise shared by every noisy model of one seed."""
    return np.random.default_rng(20_000 + seed).standard_normal((steps, BATCH, dim)).astype(np.float32)


def summarize(values) -> dict:
    a = np.asarray(values, dtype=np.float64)
    ok = a[np.isfinite(a)]
    return {
        "mean": float(ok.mean()) if ok.size else float("nan"),
        "sd": float(ok.std(ddof=1)) if ok.size > 1 else 0.0,
        "n": int(ok.size),
        "values": [float(v) for v in a],
    }


def step_times(step, batches, rounds: int, warm: int = 3) -> dict:
    """Milliseconds per call of ``step(batch)``: ``warm`` untimed calls, then ``rounds`` rounds
    over ``batches``; ``ms`` is the smallest round median.

    One median over one round (the method of results.json of 2026-12-01) moved by 10-50% with the
    load of other jobs on a shared machine; the smallest of a few round medians is the estimate
    least inflated by them, and the round medians are kept to show the spread.
    """
    for b in batches[:warm]:
        step(b)
    medians = []
    for _ in range(rounds):
        per = []
        for b in batches:
            t = time.perf_counter()
            step(b)
            per.append(time.perf_counter() - t)
        medians.append(1e3 * float(np.median(per)))
    return {"ms": min(medians), "round_medians_ms": medians}


def load_average():
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best
