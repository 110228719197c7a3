"""Peer flows from zuko (PyTorch, CPU) driven through the same loop as ours."""

from __future__ import annotations

import numpy as np

#: name -> (zuko model, training recipe (common.RECIPES), description)
PEER_MODELS = {
    "zuko NSF": ("NSF", "plain", "`zuko.flows.NSF(2, transforms=3, bins=8, hidden_features=(64, 64))`"),
    "zuko GF": ("GF", "plain", "`zuko.flows.GF(2, transforms=3, components=8)`"),
    "zuko NSF, careful": ("NSF", "careful", "`zuko.flows.NSF(2, transforms=3, bins=8, hidden_features=(64, 64))`, "
                                            "trained with the careful recipe"),
}


def available() -> str | None:
    """None when zuko and torch import, else the reason."""
    try:
        import torch  # noqa: F401
        import zuko  # noqa: F401
    except ImportError as exc:  # optional bench dependency
        return f"{type(exc).__name__}: {exc}"
    return None


def versions() -> dict:
    import torch
    import zuko

    return {"torch": torch.__version__, "zuko": zuko.__version__}


def make_peer(name: str, dim: int = 2):
    import zuko

    if name not in PEER_MODELS:
        raise ValueError(f"unknown peer {name!r}; expected one of {sorted(PEER_MODELS)}")
    if PEER_MODELS[name][0] == "NSF":
        return zuko.flows.NSF(dim, transforms=3, bins=8, hidden_features=(64, 64))
    return zuko.flows.GF(dim, transforms=3, components=8)


class PeerModel:
    """A zuko flow trained by the same loop and recipe as ours (PyTorch: the cosine schedule is
    ``LambdaLR``, and the per-tensor clipping of Keras' ``clipnorm`` is done tensor by tensor)."""

    library = "zuko (PyTorch)"

    def __init__(self, name: str):
        from .common import noise_for

        _, self.recipe, self.description = PEER_MODELS[name]
        self.name, self.noise = name, noise_for(self.recipe)
        self.flow = self.opt = self.schedule = None

    def start(self, seed: int, ds, steps: int) -> dict:
        import math

        import torch

        from .common import CAREFUL_LEARNING_RATE, LEARNING_RATE

        torch.manual_seed(seed)
        self.flow = make_peer(self.name, ds.train.shape[1])
        careful = self.recipe == "careful"
        self.opt = torch.optim.Adam(self.flow.parameters(), lr=CAREFUL_LEARNING_RATE if careful else LEARNING_RATE)
        self.schedule = (torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, steps) / steps))) if careful else None)
        return {"init_s": 0.0, "params": int(sum(p.numel() for p in self.flow.parameters()))}

    def step(self, xb):
        import torch

        from .common import CAREFUL_CLIPNORM

        loss = -self.flow().log_prob(torch.from_numpy(np.ascontiguousarray(xb))).mean()
        self.opt.zero_grad()
        loss.backward()
        if self.schedule is not None:
            for p in self.flow.parameters():
                if p.grad is not None:
                    torch.nn.utils.clip_grad_norm_([p], CAREFUL_CLIPNORM)
        self.opt.step()
        if self.schedule is not None:
            self.schedule.step()
        return float(loss.detach())

    def log_prob(self, x) -> np.ndarray:
        import torch

        with torch.no_grad():
            dist = self.flow()
            return np.concatenate([dist.log_prob(torch.from_numpy(np.ascontiguousarray(c))).double().numpy()
                                   for c in np.array_split(x, max(1, len(x) // 10_000))])


def _gemm_peak_flops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 matrix-product rate of this process (flop/s): the machine's practical peak."""
    import time

    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best


def _matmul_flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def speed_run(cfg: dict, n_samples: int) -> dict:
    """zuko NSF in the speed suite (:mod:`benchmarks.speed`): the scaling sweep with flop counts
    (matrix products only, PyTorch's FlopCounterMode), and sampling from an NSF trained on moons
    for the same number of Adam steps as our seed coupling flow. One thread."""
    import time

    import torch
    from gaussianization import datasets
    from gaussianization.metrics import round_trip_errors

    from .common import BATCH, LEARNING_RATE, batch_indices, best_time
    from .scaling import gaussian_mixture, time_peer

    torch.set_num_threads(1)
    rows = []
    for d in cfg["dims"]:
        row = time_peer("zuko NSF", d, cfg["steps"], cfg["repeats"])
        torch.manual_seed(0)
        flow = make_peer("zuko NSF", d)
        x = torch.from_numpy(gaussian_mixture(10_000 + BATCH, d))
        row["flops"] = {"step": _matmul_flops(lambda: (-flow().log_prob(x[:BATCH]).mean()).backward()),
                        "log_prob_10k": _matmul_flops(lambda: flow().log_prob(x[BATCH:]))}
        rows.append(row)
    ds = datasets.load("moons")
    torch.manual_seed(0)
    flow = make_peer("zuko NSF", 2)
    opt = torch.optim.Adam(flow.parameters(), lr=LEARNING_RATE)
    for idx in batch_indices(len(ds.train), cfg["train_steps"], 0):
        loss = -flow().log_prob(torch.from_numpy(ds.train[idx])).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        t = time.perf_counter()
        flow().sample((n_samples,))
        first = time.perf_counter() - t
        best = best_time(lambda: flow().sample((n_samples,)), 3)
        transform = flow().transform
        x = torch.from_numpy(ds.test)
        err = round_trip_errors(ds.test, transform.inv(transform(x)).numpy())
    sampling = {"s": best, "first_call_s": first, "round_trip_max": float(err.max()),
                "round_trip_median": float(np.median(err))}
    return {"backend": "torch (zuko)", **versions(), "scaling": rows, "sampling": sampling,
            "peak_flops": _gemm_peak_flops()}
