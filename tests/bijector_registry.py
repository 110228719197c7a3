"""The one registry of bijectors that every invariant in ``test_bijectors.py`` runs over.

Each entry maps a name to ``factory(dim, dtype, rng) -> Bijector``: a *built*
layer whose weights have been moved away from their initial values, so the
invariants are checked on a generic, non-identity map. Add every new bijector
here (with ``min_dim`` where it needs ``d ≥ 2``). Whole flows are in ``flow_registry.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
from keras import ops

from gaussianization.gauss_keras import (
    Chain,
    Coupling,
    FixedOrtho,
    Householder,
    MixtureCDFCoupling,
    MixtureCDFGaussianization,
    RationalQuadraticSpline,
    RQSplineCoupling,
    make_mlp_conditioner,
    make_shared_mlp_conditioner,
    make_spline_conditioner,
)

from .helpers import perturb, residual_trunk

__all__ = ["REGISTRY", "Entry", "ResidualConditioner", "built", "coupling_mask", "make", "perturb"]


def built(layer, dim):
    layer.build((None, dim))
    layer.built = True
    return layer


@dataclass(frozen=True)
class Entry:
    factory: Callable
    min_dim: int = 1


def make(name, dim, dtype="float32", seed=0):
    """Build registry entry ``name`` for width ``dim``."""
    entry = REGISTRY[name]
    return entry.factory(max(dim, entry.min_dim), dtype, np.random.default_rng(seed))


@keras.saving.register_keras_serializable(package="gaussianization_tests")
class ResidualConditioner(keras.Model):
    """``φ(x_a) = tanh(W2 tanh(W1 x_a + b1) + b2) + tanh(W1 x_a + b1)``, ``θ = W_out φ + c``.

    A user-written *complete* conditioner (subclassed ``keras.Model``, full output width);
    ``W_out`` and ``c`` start at zero. Its head is not a known linear layer, so a coupling
    cannot set its output to constants.
    """

    def __init__(self, out_width, hidden=16, **kwargs):
        super().__init__(**kwargs)
        self.out_width, self.hidden = int(out_width), int(hidden)
        policy = self.dtype_policy
        self.inner = keras.layers.Dense(self.hidden, dtype=policy, name="inner")
        self.block = keras.layers.Dense(self.hidden, dtype=policy, name="block")
        self.head = keras.layers.Dense(self.out_width, kernel_initializer="zeros", dtype=policy, name="head")

    def build(self, input_shape):
        self.inner.build(input_shape)
        self.block.build((None, self.hidden))
        self.head.build((None, self.hidden))

    def call(self, x_a):
        h = ops.tanh(self.inner(x_a))
        return self.head(ops.tanh(self.block(h)) + h)

    def get_config(self):
        return {"name": self.name, "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
                "out_width": self.out_width, "hidden": self.hidden}


def coupling_mask(d, rng):
    """A random mask with at least one True and one False entry."""
    mask = np.zeros(d, dtype=bool)
    mask[rng.choice(d, size=int(rng.integers(1, d)), replace=False)] = True
    return mask


def mixture_coupling(d, dt, rng, k=4, conditioner="mlp"):
    mask = coupling_mask(d, rng)
    d_a, d_b = int(mask.sum()), int((~mask).sum())
    shared = conditioner == "shared"
    if conditioner == "residual":      # a complete, user-written conditioner
        layer = MixtureCDFCoupling(mask, ResidualConditioner(3 * d_b * k, hidden=8, dtype=dt), k, dtype=dt)
    elif conditioner == "shared":      # the seeds' complete Sequential conditioner, one mixture
        layer = MixtureCDFCoupling(mask, make_shared_mlp_conditioner(d_b, k, (8,), dtype=dt), k, shared_mixture=True,
                                   dtype=dt)
    elif conditioner == "mlp":         # the seeds' complete Sequential conditioner
        layer = MixtureCDFCoupling(mask, make_mlp_conditioner(d_b, k, (8, 8), dtype=dt), k, dtype=dt)
    elif conditioner == "owned":       # no conditioner: default MLP trunk + the coupling's own head
        layer = MixtureCDFCoupling(mask, num_components=k, hidden=(8,), dtype=dt)
    elif conditioner == "trunk":       # a user trunk of arbitrary width + the coupling's own head
        layer = MixtureCDFCoupling(mask, trunk=residual_trunk(d_a, 5, dtype=dt), num_components=k, dtype=dt)
    else:  # pragma: no cover
        raise ValueError(conditioner)
    # Small noise: θ(x_a) then varies by O(0.3) over the test inputs (log σ by O(1), since
    # log σ = 3·tanh(raw)). Much larger noise creates narrow, well-separated components
    # whose CDF is flat in between (dz/dx < 1e-10): no float32 inverse can recover x there.
    return perturb(built(layer, d), rng, 0.1)


def spline_coupling(d, dt, rng):
    mask = coupling_mask(d, rng)
    conditioner = make_spline_conditioner(int((~mask).sum()), 6, (8,), dtype=dt)
    return perturb(built(RQSplineCoupling(mask, conditioner, num_bins=6, bound=3.0, dtype=dt), d), rng, 0.3)


def generic_spline_coupling(d, dt, rng):
    """The generic ``Coupling`` with a spline transformer and a user trunk (width 7)."""
    mask = coupling_mask(d, rng)
    layer = Coupling(mask, RationalQuadraticSpline(num_bins=5, bound=3.0), trunk=residual_trunk(int(mask.sum()), 7,
                                                                                               dtype=dt), dtype=dt)
    return perturb(built(layer, d), rng, 0.3)


def chain(d, dt, rng):
    layers = [Householder(2, dtype=dt), MixtureCDFGaussianization(3, dtype=dt),
              FixedOrtho.random_haar(d, seed=int(rng.integers(1e6)), dtype=dt)]
    return perturb(built(Chain(layers, dtype=dt), d), rng, 0.5)


REGISTRY: dict[str, Entry] = {
    "householder_1": Entry(lambda d, dt, rng: perturb(built(Householder(1, dtype=dt), d), rng)),
    "householder_3": Entry(lambda d, dt, rng: perturb(built(Householder(3, dtype=dt), d), rng)),
    "fixed_ortho_haar": Entry(lambda d, dt, rng: built(FixedOrtho.random_haar(d, seed=int(rng.integers(1e6)), dtype=dt), d)),
    "fixed_ortho_pca": Entry(
        lambda d, dt, rng: built(FixedOrtho.from_pca(rng.standard_normal((200, d)) * np.arange(1, d + 1), dtype=dt), d)
    ),
    "mixture_cdf_k1": Entry(lambda d, dt, rng: perturb(built(MixtureCDFGaussianization(1, dtype=dt), d), rng)),
    "mixture_cdf_k5": Entry(lambda d, dt, rng: perturb(built(MixtureCDFGaussianization(5, dtype=dt), d), rng, 0.8)),
    "chain": Entry(chain),
    "mixture_coupling_k4": Entry(lambda d, dt, rng: mixture_coupling(d, dt, rng), min_dim=2),
    "mixture_coupling_shared": Entry(lambda d, dt, rng: mixture_coupling(d, dt, rng, k=3, conditioner="shared"),
                                     min_dim=2),
    "mixture_coupling_residual": Entry(lambda d, dt, rng: mixture_coupling(d, dt, rng, conditioner="residual"),
                                       min_dim=2),
    "mixture_coupling_owned_head": Entry(lambda d, dt, rng: mixture_coupling(d, dt, rng, conditioner="owned"),
                                         min_dim=2),
    "rq_spline_coupling": Entry(spline_coupling, min_dim=2),
    "spline_coupling_generic_trunk": Entry(generic_spline_coupling, min_dim=2),
}
