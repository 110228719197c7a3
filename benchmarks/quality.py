"""Our flows on moons / spiral: KL gap to the exact density after a fixed Adam step budget.

Training is a custom loop: one ``tf.function`` (XLA) Adam step on ``-mean(flow.log_prob(x))``
per minibatch of 512 drawn with replacement from the training set (indices, and input noise
where the recipe has it, shared with the peers of the same seed). ``fit`` is not used: its
per-epoch overhead dominates on 5,000 points.
"""

from __future__ import annotations

import time

import numpy as np

from gaussianization.metrics import kl_gap

from .common import BATCH, KerasTrainer, n_params, noise_for

#: name -> (architecture key, uses IG init, training recipe (common.RECIPES), description)
OUR_MODELS = {
    "diagonal": ("diagonal", False, "plain",
                 "make_gaussianization_flow(2, 8 blocks, 2 reflectors, K=8, mixture_init_data=train) (quantile init)"),
    "diagonal+IG": ("diagonal", True, "plain",
                    "make_gaussianization_flow(2, 8, 2, 8) + initialize_flow_from_ig(train)"),
    "coupling": ("coupling", False, "plain",
                 "make_coupling_flow(2, 4 blocks, K=8, hidden=(64, 64))"),
    "coupling+IG": ("coupling", True, "plain",
                    "make_coupling_flow(2, 4, 8, hidden=(64, 64)) + initialize_flow_from_ig(train)"),
    "spline": ("spline", False, "plain",
               "make_spline_coupling_flow(2, 4 blocks, 8 bins, hidden=(64, 64)); no IG init exists for splines"),
    "coupling+IG, careful": ("coupling-small", True, "careful",
                             "make_coupling_flow(2, 2 blocks, K=8, hidden=(32, 32)) + initialize_flow_from_ig(train), "
                             "trained with the careful recipe (notebook 04)"),
}


def build_flow(arch: str, seed: int, x_train=None, ig: bool = False, dim: int = 2, num_components: int = 8):
    """A freshly initialised flow (Keras global seed = ``seed``), IG-initialised if asked."""
    import keras

    from gaussianization.gauss_keras import (
        initialize_flow_from_ig,
        make_coupling_flow,
        make_gaussianization_flow,
        make_spline_coupling_flow,
    )

    keras.utils.set_random_seed(seed)
    if arch == "diagonal":
        flow = make_gaussianization_flow(dim, 8, 2, num_components,
                                         mixture_init_data=None if (ig or x_train is None) else x_train)
    elif arch == "coupling":
        flow = make_coupling_flow(dim, 4, num_components, hidden=(64, 64))
    elif arch == "coupling-small":
        flow = make_coupling_flow(dim, 2, num_components, hidden=(32, 32))
    elif arch == "spline":
        flow = make_spline_coupling_flow(dim, 4, 8, hidden=(64, 64))
    else:
        raise ValueError(arch)
    if ig:
        initialize_flow_from_ig(flow, x_train, random_state=seed)
    return flow


class OurModel:
    """Adapter with the interface the runner drives (``start``, ``step``, ``log_prob``)."""

    library = "gaussianization (Keras 3 / TF)"

    def __init__(self, name: str, trainers: dict, jit_compile: bool = True):
        self.name = name
        self.arch, self.ig, self.recipe, self.description = OUR_MODELS[name]
        self.noise = noise_for(self.recipe)
        self.trainers, self.jit = trainers, jit_compile
        self.trainer = None

    def start(self, seed: int, ds, steps: int) -> dict:
        t = time.perf_counter()
        flow = build_flow(self.arch, seed, ds.train, self.ig)
        init_s = time.perf_counter() - t
        key = f"{self.arch} ({self.recipe})"
        if key not in self.trainers:  # first use: the compiled graphs live on this flow
            tr = KerasTrainer(build_flow(self.arch, 0, ds.train, False), jit_compile=self.jit,
                              recipe=self.recipe, steps=steps)
            tr.warm_up(ds.train[:BATCH], ds.test)
            self.trainers[key] = tr
        self.trainer = self.trainers[key]
        self.trainer.load(flow.get_weights())
        return {"init_s": init_s, "params": n_params(self.trainer.variables),
                "compile_s": dict(self.trainer.compile_s), "xla": self.trainer.jit_compile,
                "xla_fallback": self.trainer.xla_fallback}

    def step(self, xb):
        return float(self.trainer.step(xb))

    def log_prob(self, x) -> np.ndarray:
        return self.trainer.log_prob(x)


def train_and_eval(model, ds, log_p_true, idx, noise, checkpoints, seed, progress=None) -> dict:
    """Train ``model`` on ``ds.train`` with minibatches ``idx``; KL gap on ``ds.test`` at checkpoints.

    A model whose recipe has input noise (``model.noise`` > 0, raw data units) trains on
    ``x + noise[i] · model.noise / ds.scale``, i.e. on standardised points moved by the same
    standard-normal draws as every other noisy model of this seed.
    """
    info = model.start(seed, ds, checkpoints[-1])
    jitter = (model.noise / ds.scale).astype(np.float32) if model.noise else None
    out = {"params": info["params"], "init_s": info["init_s"], "compile_s": info.get("compile_s"),
           "xla": info.get("xla"), "xla_fallback": info.get("xla_fallback"),
           "checkpoints": {}}

    def evaluate(step):
        lq = model.log_prob(ds.test)
        gap, se = kl_gap(log_p_true, lq) if np.all(np.isfinite(lq)) else (float("nan"), float("nan"))
        out["checkpoints"][str(step)] = {"kl_gap": gap, "kl_se": se,
                                         "test_nll": float(-np.mean(lq)), "finite": bool(np.all(np.isfinite(lq)))}

    evaluate(0)
    train_time, done = 0.0, 0
    for target in checkpoints:
        t = time.perf_counter()
        for i in range(done, target):
            xb = ds.train[idx[i]]
            loss = model.step(xb if jitter is None else xb + noise[i] * jitter)
        train_time += time.perf_counter() - t
        if progress is not None:
            progress(target - done)
        done = target
        out["last_loss"] = loss
        evaluate(target)
    out["train_s"] = train_time
    out["step_ms"] = 1e3 * train_time / done
    final = out["checkpoints"][str(done)]
    out["kl_gap"], out["kl_se"], out["test_nll"] = final["kl_gap"], final["kl_se"], final["test_nll"]
    return out
