"""The one registry of bijectors that every invariant in ``test_bijectors.py`` runs over.

Each entry maps a name to ``factory(dim, dtype, rng) -> Bijector``: a *built*
layer whose weights have been moved away from their initial values, so the
invariants are checked on a generic, non-identity map. Add every new bijector
here (with ``min_dim`` where it needs ``d ≥ 2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from gaussianization.gauss_keras import FixedOrtho, Householder, MixtureCDFGaussianization


def perturb(layer, rng, scale=0.5):
    """Add ``scale``·N(0, 1) noise to every trainable weight of a built layer."""
    for w in layer.trainable_weights:
        value = np.asarray(w.numpy(), dtype="float64")
        w.assign((value + scale * rng.standard_normal(value.shape)).astype(w.dtype))
    return layer


def built(layer, dim):
    layer.build((None, dim))
    layer.built = True
    return layer


@dataclass(frozen=True)
class Entry:
    factory: Callable
    min_dim: int = 1


REGISTRY: dict[str, Entry] = {
    "householder_1": Entry(lambda d, dt, rng: perturb(built(Householder(1, dtype=dt), d), rng)),
    "householder_3": Entry(lambda d, dt, rng: perturb(built(Householder(3, dtype=dt), d), rng)),
    "fixed_ortho_haar": Entry(lambda d, dt, rng: built(FixedOrtho.random_haar(d, seed=int(rng.integers(1e6)), dtype=dt), d)),
    "fixed_ortho_pca": Entry(
        lambda d, dt, rng: built(FixedOrtho.from_pca(rng.standard_normal((200, d)) * np.arange(1, d + 1), dtype=dt), d)
    ),
    "mixture_cdf_k1": Entry(lambda d, dt, rng: perturb(built(MixtureCDFGaussianization(1, dtype=dt), d), rng)),
    "mixture_cdf_k5": Entry(lambda d, dt, rng: perturb(built(MixtureCDFGaussianization(5, dtype=dt), d), rng, 0.8)),
}


def make(name, dim, dtype="float32", seed=0):
    """Build registry entry ``name`` for width ``dim``."""
    entry = REGISTRY[name]
    return entry.factory(max(dim, entry.min_dim), dtype, np.random.default_rng(seed))
