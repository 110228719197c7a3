"""Conditioner networks for coupling layers: ``x_a`` ``(batch, d_a)`` → parameters ``θ(x_a)``.

Every builder returns a ``keras.Sequential`` of Dense layers whose **final Dense has
a zero kernel**, so at initialisation ``θ(x_a)`` equals the final bias for every
``x_a``: the coupling starts as a data-independent element-wise map of ``x_b``.
The input width ``d_a`` is not needed: the coupling layer builds the conditioner
on ``(None, d_a)``.

Mixture conditioners output ``3·d_b·K`` values read as ``(3, d_b, K)`` =
[logits, means, raw log-scales] (``3·K`` when shared), with
``log σ = B·tanh(raw)``. Their final bias is set so that the starting mixture is
useful rather than degenerate: equal weights, means evenly spaced on ``[-2, 2]``
(0 for ``K = 1``) and ``σ = init_scale`` (default ½), i.e. ``raw = artanh(log σ / B)``.
(An all-zero bias would give ``K`` identical components, ``π_k = 1/K, μ_k = 0,
σ_k = 1``: the identity map, but every component would then receive identical
gradients forever and the mixture could never use more than one component.)

Spline conditioners output ``d_b·(3·M - 1)`` values (``M`` bins); an all-zero
output is the identity spline (see :mod:`~gaussianization.gauss_keras.bijectors.spline`).
"""

from __future__ import annotations

import math

import keras
import numpy as np


def _check_positive(**values):
    for name, value in values.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1; got {value}.")


def initial_mixture_bias(rows: int, num_components: int, init_scale: float = 0.5,
                         log_scale_bound: float = 3.0):
    """Flat ``(3·rows·K,)`` bias: zero logits, means ``linspace(-2, 2, K)``, ``σ = init_scale``.

    Laid out as ``(3, rows, K)``, matching
    :func:`~gaussianization.gauss_keras.bijectors.coupling.unpack_mixture`.
    """
    k = int(num_components)
    if not 0.0 < init_scale or abs(math.log(init_scale)) >= log_scale_bound:
        raise ValueError(
            f"init_scale must lie in (e^-B, e^B) with B=log_scale_bound={log_scale_bound}; got {init_scale}."
        )
    means = np.linspace(-2.0, 2.0, k) if k > 1 else np.zeros(1)
    raw = math.atanh(math.log(init_scale) / log_scale_bound)
    bias = np.stack([np.zeros((rows, k)), np.tile(means, (rows, 1)), np.full((rows, k), raw)])
    return bias.reshape(-1)


def _mlp(hidden, out_width, bias, activation, name, dtype):
    hidden = tuple(int(h) for h in hidden)
    if any(h < 1 for h in hidden):
        raise ValueError(f"hidden layer widths must be >= 1; got {hidden}.")
    layers = [keras.layers.Dense(h, activation=activation, dtype=dtype, name=f"hidden_{i}")
              for i, h in enumerate(hidden)]
    bias_init = "zeros" if bias is None else keras.initializers.Constant([float(b) for b in bias])
    layers.append(keras.layers.Dense(out_width, kernel_initializer="zeros", bias_initializer=bias_init,
                                     dtype=dtype, name="params"))
    return keras.Sequential(layers, name=name)


def make_mlp_conditioner(d_b: int, K: int, hidden=(64, 64), activation="tanh", name=None,
                         init_scale: float = 0.5, log_scale_bound: float = 3.0, dtype=None):
    """MLP ``d_a → hidden… → 3·d_b·K`` for :class:`MixtureCDFCoupling` (one mixture per b-dim).

    Hidden Dense layers use ``activation``; the final Dense has a zero kernel and the
    bias of :func:`initial_mixture_bias`. ``log_scale_bound`` must equal the coupling's
    ``B``. Parameters: ``Σ (n_in + 1)·n_out`` over the layers, e.g. ``d_a = d_b = 1``,
    ``K = 8``, hidden ``(64, 64)``: ``128 + 4160 + 1560 = 5848``.
    """
    _check_positive(d_b=d_b, K=K)
    bias = initial_mixture_bias(int(d_b), int(K), init_scale, log_scale_bound)
    return _mlp(hidden, 3 * int(d_b) * int(K), bias, activation, name, dtype)


def make_shared_mlp_conditioner(d_b: int, K: int, hidden=(64, 64), activation="tanh", name=None,
                                init_scale: float = 0.5, log_scale_bound: float = 3.0, dtype=None):
    """MLP ``d_a → hidden… → 3·K``: one mixture shared by all ``d_b`` transformed dimensions.

    Use with ``MixtureCDFCoupling(..., shared_mixture=True)``. ``d_b`` is only checked
    (``≥ 1``); the output width does not depend on it.
    """
    _check_positive(d_b=d_b, K=K)
    bias = initial_mixture_bias(1, int(K), init_scale, log_scale_bound)
    return _mlp(hidden, 3 * int(K), bias, activation, name, dtype)


def make_spline_conditioner(d_b: int, num_bins: int, hidden=(16,), activation="tanh", name=None, dtype=None):
    """MLP ``d_a → hidden… → d_b·(3·M - 1)`` for :class:`RQSplineCoupling` (``M = num_bins``).

    Final Dense: zero kernel and zero bias, so the coupling is the identity at init.
    """
    _check_positive(d_b=d_b, num_bins=num_bins)
    return _mlp(hidden, int(d_b) * (3 * int(num_bins) - 1), None, activation, name, dtype)


__all__ = [
    "initial_mixture_bias",
    "make_mlp_conditioner",
    "make_shared_mlp_conditioner",
    "make_spline_conditioner",
]
