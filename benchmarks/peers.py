"""Peer flows from zuko (PyTorch, CPU) driven through the same loop as ours."""

from __future__ import annotations

import numpy as np

PEER_MODELS = {
    "zuko NSF": "zuko.flows.NSF(2, transforms=3, bins=8, hidden_features=(64, 64))",
    "zuko GF": "zuko.flows.GF(2, transforms=3, components=8)",
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

    if name == "zuko NSF":
        return zuko.flows.NSF(dim, transforms=3, bins=8, hidden_features=(64, 64))
    if name == "zuko GF":
        return zuko.flows.GF(dim, transforms=3, components=8)
    raise ValueError(name)


class PeerModel:
    library = "zuko (PyTorch)"

    def __init__(self, name: str):
        from .common import LEARNING_RATE

        self.name, self.description, self.lr = name, PEER_MODELS[name], LEARNING_RATE
        self.flow = self.opt = None

    def start(self, seed: int, ds) -> dict:
        import torch

        torch.manual_seed(seed)
        self.flow = make_peer(self.name, ds.train.shape[1])
        self.opt = torch.optim.Adam(self.flow.parameters(), lr=self.lr)
        return {"init_s": 0.0, "params": int(sum(p.numel() for p in self.flow.parameters()))}

    def step(self, xb):
        import torch

        loss = -self.flow().log_prob(torch.from_numpy(np.ascontiguousarray(xb))).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def log_prob(self, x) -> np.ndarray:
        import torch

        with torch.no_grad():
            dist = self.flow()
            return np.concatenate([dist.log_prob(torch.from_numpy(np.ascontiguousarray(c))).double().numpy()
                                   for c in np.array_split(x, max(1, len(x) // 10_000))])
