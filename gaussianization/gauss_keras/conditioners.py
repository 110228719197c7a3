"""Conditioner networks for coupling layers: ``x_a`` ``(batch, d_a)`` → parameters ``θ(x_a)``.

Every builder returns a ``keras.Sequential`` of Dense layers whose **final Dense has
a zero kernel**, so at initialisation ``θ(x_a)`` equals the final bias for every
``x_a``: the coupling starts as a data-independent element-wise map of ``x_b``.
The input width ``d_a`` is not needed: the coupling layer builds the conditioner
on ``(None, d_a)``.

Mixture conditioners output ``3·d_b·K`` values read as ``(3, d_b, K)`` =
[logits, means, raw log-scales] (``3·K`` when shared), with
``log σ = B·tanh(raw)``. Their final bias is set so that the starting mixture is
useful rather than degenerate: equal weights, ``K`` means evenly spaced on ``[-a, a]``
and one scale ``σ = 2a/(K-1)`` equal to their spacing (so neighbouring components
overlap and the CDF has no flat stretch), with ``a`` chosen so that the mixture has
unit variance: ``a² ((K+1)/(3(K-1)) + 4/(K-1)²) = 1`` (``K = 8``: ``a ≈ 1.40``,
``σ ≈ 0.40``; ``K = 1``: ``μ = 0, σ = 1``). The map ``Φ⁻¹(F(x))`` is then close to the
identity on standardised data, yet the components are distinct. ``raw = artanh(log σ / B)``.
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


def initial_mixture_bias(rows: int, num_components: int, log_scale_bound: float = 3.0):
    """Flat ``(3·rows·K,)`` bias of a unit-variance starting mixture (see the module docstring).

    Laid out as ``(3, rows, K)`` = [logits 0, means, ``artanh(log σ / B)``], matching
    :func:`~gaussianization.gauss_keras.mixture.unpack_mixture`.
    """
    k = int(num_components)
    if k == 1:
        means, scale = np.zeros(1), 1.0
    else:
        half_range = 1.0 / math.sqrt((k + 1) / (3.0 * (k - 1)) + 4.0 / (k - 1) ** 2)
        means, scale = np.linspace(-half_range, half_range, k), 2.0 * half_range / (k - 1)
    if abs(math.log(scale)) >= log_scale_bound:
        raise ValueError(f"log_scale_bound={log_scale_bound} is too small for the initial scale {scale:.3g}.")
    raw = math.atanh(math.log(scale) / log_scale_bound)
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
                         log_scale_bound: float = 3.0, dtype=None):
    """MLP ``d_a → hidden… → 3·d_b·K`` for :class:`MixtureCDFCoupling` (one mixture per b-dim).

    Hidden Dense layers use ``activation``; the final Dense has a zero kernel and the
    bias of :func:`initial_mixture_bias`. ``log_scale_bound`` must equal the coupling's
    ``B``. Parameters: ``Σ (n_in + 1)·n_out`` over the layers, e.g. ``d_a = d_b = 1``,
    ``K = 8``, hidden ``(64, 64)``: ``128 + 4160 + 1560 = 5848``.
    """
    _check_positive(d_b=d_b, K=K)
    bias = initial_mixture_bias(int(d_b), int(K), log_scale_bound)
    return _mlp(hidden, 3 * int(d_b) * int(K), bias, activation, name, dtype)


def make_shared_mlp_conditioner(d_b: int, K: int, hidden=(64, 64), activation="tanh", name=None,
                                log_scale_bound: float = 3.0, dtype=None):
    """MLP ``d_a → hidden… → 3·K``: one mixture shared by all ``d_b`` transformed dimensions.

    Use with ``MixtureCDFCoupling(..., shared_mixture=True)``. ``d_b`` is only checked
    (``≥ 1``); the output width does not depend on it.
    """
    _check_positive(d_b=d_b, K=K)
    bias = initial_mixture_bias(1, int(K), log_scale_bound)
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
