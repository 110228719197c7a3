"""How cost grows: time per training step and per 10,000 log_prob evaluations vs d and K;
IG-init time vs n. Synthetic data: a 4-component Gaussian mixture in d dimensions."""

from __future__ import annotations

import time

import numpy as np

from .common import BATCH, KerasTrainer, best_time, load_average, n_params, step_times
from .quality import build_flow


def gaussian_mixture(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = 2.0 * rng.standard_normal((4, d))
    scales = rng.uniform(0.3, 1.0, (4, d))
    k = rng.integers(0, 4, n)
    x = means[k] + scales[k] * rng.standard_normal((n, d))
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def time_ours(arch: str, d: int, k: int, steps: int, repeats: int) -> dict:
    x = gaussian_mixture(5000 + 10_000, d)
    train, evalx = x[:5000], x[5000:]
    flow = build_flow(arch, 0, train, ig=False, dim=d, num_components=k)
    tr = KerasTrainer(flow)
    tr.warm_up(train[:BATCH], evalx)
    idx = np.random.default_rng(1).integers(0, len(train), (steps, BATCH))
    load = load_average()
    timed = step_times(tr.step, [train[i] for i in idx], repeats)
    lp = best_time(lambda: tr.log_prob(evalx), repeats)
    return {"arch": arch, "d": d, "K": k, "params": n_params(tr.variables), "step_ms": timed["ms"],
            "step_round_medians_ms": timed["round_medians_ms"], "load_average": load,
            "log_prob_10k_ms": 1e3 * lp, "compile_s": tr.compile_s,
            "xla": tr.jit_compile, "xla_fallback": tr.xla_fallback}


def time_peer(name: str, d: int, steps: int, repeats: int) -> dict:
    import torch

    from .peers import make_peer

    x = gaussian_mixture(5000 + 10_000, d)
    train, evalx = x[:5000], torch.from_numpy(x[5000:])
    torch.manual_seed(0)
    flow = make_peer(name, d)
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
    idx = np.random.default_rng(1).integers(0, len(train), (steps, BATCH))

    def step(xb):
        loss = -flow().log_prob(xb).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    load = load_average()
    timed = step_times(step, [torch.from_numpy(train[i]) for i in idx], repeats)

    def lp():
        with torch.no_grad():
            flow().log_prob(evalx)

    return {"arch": name, "d": d, "K": None, "params": int(sum(p.numel() for p in flow.parameters())),
            "step_ms": timed["ms"], "step_round_medians_ms": timed["round_medians_ms"], "load_average": load,
            "log_prob_10k_ms": 1e3 * best_time(lp, repeats)}


def time_ig(ns, seed: int = 0) -> list[dict]:
    from gaussianization import datasets
    from gaussianization.gauss_keras import initialize_flow_from_ig

    ds = datasets.load("moons")
    out = []
    for n in ns:
        x = ds.sample(int(n), seed=seed).astype(np.float32)
        flow = build_flow("diagonal", 0, None, ig=False)
        t = time.perf_counter()
        initialize_flow_from_ig(flow, x, random_state=seed)
        out.append({"n": int(n), "seconds": time.perf_counter() - t,
                    "flow": "make_gaussianization_flow(2, 8, 2, 8)"})
    return out
