"""Conditioner networks for coupling layers: ``x_a`` ``(batch, d_a)`` → parameters ``θ(x_a)``.

A coupling's conditioner is ``head(trunk(x_a))``. :func:`make_mlp_trunk` builds the default
trunk; the coupling builds the head itself (a Dense layer with a zero kernel and the
transformer's initial parameters as bias), so at initialisation ``θ(x_a)`` is the same for
every ``x_a``. The ``make_*_conditioner`` builders return *complete* conditioners (trunk and
head in one ``keras.Sequential``), the form the seeds pass to ``MixtureCDFCoupling``; their head
is the final Dense, so the coupling can still set it to constants.

Starting parameters: mixtures start as the unit-variance mixture of
:func:`~.transformers.mixture_cdf.unit_variance_mixture` (``Φ⁻¹(F(x))`` close to the identity on
standardised data, with distinct components); splines start at the identity (all zeros).
The input width ``d_a`` is not needed: the coupling builds the network on ``(None, d_a)``.
"""

from __future__ import annotations

import keras

from .transformers import MixtureCDF, RationalQuadraticSpline
from .transformers.mixture_cdf import DEFAULT_LOG_SCALE_BOUND
from .validation import check_hidden, check_int


def _check_positive(**values):
    for name, value in values.items():
        check_int(value, name, 1)


def _dense_stack(hidden, activation, dtype):
    hidden = check_hidden(hidden)
    return [keras.layers.Dense(h, activation=activation, dtype=dtype, name=f"hidden_{i}") for i, h in enumerate(hidden)]


def make_mlp_trunk(hidden=(64, 64), activation="tanh", name=None, dtype=None):
    """``keras.Sequential`` of Dense layers of widths ``hidden`` (``activation`` after each), or
    ``None`` for ``hidden=()`` (the head then reads ``x_a`` directly). TypeError unless ``hidden`` is a
    sequence of ints; ValueError for a width < 1."""
    layers = _dense_stack(hidden, activation, dtype)
    return keras.Sequential(layers, name=name) if layers else None


def _complete(transformer, d_b, hidden, activation, name, dtype):
    bias = keras.initializers.Constant(transformer.initial_params(d_b).tolist())
    head = keras.layers.Dense(transformer.num_params(d_b), kernel_initializer="zeros", bias_initializer=bias,
                              dtype=dtype, name="params")
    return keras.Sequential([*_dense_stack(hidden, activation, dtype), head], name=name)


def initial_mixture_bias(rows: int, num_components: int, log_scale_bound: float = DEFAULT_LOG_SCALE_BOUND):
    """Flat ``(3·rows·K,)`` starting parameters of ``rows`` mixtures (:meth:`MixtureCDF.initial_params`)."""
    return MixtureCDF(num_components, log_scale_bound=log_scale_bound).initial_params(rows)


def make_mlp_conditioner(d_b: int, K: int, hidden=(64, 64), activation="tanh", name=None,
                         log_scale_bound: float = DEFAULT_LOG_SCALE_BOUND, dtype=None):
    """Complete MLP conditioner ``d_a → hidden… → 3·d_b·K`` for :class:`MixtureCDFCoupling`.

    ``log_scale_bound`` must equal the coupling's ``B``. Parameters: ``Σ (n_in + 1)·n_out``
    over the layers, e.g. ``d_a = d_b = 1``, ``K = 8``, hidden ``(64, 64)``: 128 + 4160 + 1560 = 5848.
    """
    _check_positive(d_b=d_b, K=K)
    return _complete(MixtureCDF(int(K), False, log_scale_bound), int(d_b), hidden, activation, name, dtype)


def make_shared_mlp_conditioner(d_b: int, K: int, hidden=(64, 64), activation="tanh", name=None,
                                log_scale_bound: float = DEFAULT_LOG_SCALE_BOUND, dtype=None):
    """Complete MLP conditioner ``d_a → hidden… → 3·K``: one mixture for all ``d_b`` dimensions
    (``MixtureCDFCoupling(..., shared_mixture=True)``). ``d_b`` is only checked (``≥ 1``)."""
    _check_positive(d_b=d_b, K=K)
    return _complete(MixtureCDF(int(K), True, log_scale_bound), int(d_b), hidden, activation, name, dtype)


def make_spline_conditioner(d_b: int, num_bins: int, hidden=(16,), activation="tanh", name=None, dtype=None):
    """Complete MLP conditioner ``d_a → hidden… → d_b·(3·M - 1)`` for :class:`RQSplineCoupling`
    (``M = num_bins``); zero head, so the coupling is the identity at initialisation."""
    _check_positive(d_b=d_b, num_bins=num_bins)
    return _complete(RationalQuadraticSpline(int(num_bins)), int(d_b), hidden, activation, name, dtype)


__all__ = [
    "initial_mixture_bias",
    "make_mlp_conditioner",
    "make_mlp_trunk",
    "make_shared_mlp_conditioner",
    "make_spline_conditioner",
]
