"""Peer flows from zuko (PyTorch, CPU) driven through the same loop as ours."""

from __future__ import annotations

import numpy as np

#: name -> (zuko model, training recipe (common.RECIPES), description)
PEER_MODELS = {
    "zuko NSF": ("NSF", "plain", "zuko.flows.NSF(2, transforms=3, bins=8, hidden_features=(64, 64))"),
    "zuko GF": ("GF", "plain", "zuko.flows.GF(2, transforms=3, components=8)"),
    "zuko NSF, careful": ("NSF", "careful", "zuko.flows.NSF(2, transforms=3, bins=8, hidden_features=(64, 64)), "
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
