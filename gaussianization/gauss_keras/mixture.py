"""Gaussian-mixture CDF Gaussianization in log space, and its inverse.

For one dimension with mixture weights ``π = softmax(logits)``, means ``μ`` and
scales ``σ = exp(log_scales)`` (``K`` components), with ``u_k = (x - μ_k)/σ_k``::

    F(x) = Σ_k π_k Φ(u_k)                 log F = logsumexp_k(log π_k + log Φ(u_k))
    S(x) = 1 - F(x) = Σ_k π_k Φ(-u_k)     log S = logsumexp_k(log π_k + log Φ(-u_k))
    f(x) = Σ_k π_k φ(u_k) / σ_k           log f = logsumexp_k(log π_k + log φ(u_k) - log σ_k)

The Gaussianization ``z = Φ⁻¹(F(x))`` is evaluated from ``log F`` when ``F ≤ ½``
and from ``log S`` otherwise (:func:`~.quantile.normal_quantile_two_tailed`), so no
tail is clamped.

**Log-derivative without cancellation.** ``log dz/dx = log f(x) - log φ(z)`` subtracts two
numbers of order ``-u²/2`` (in float32 at ``x = 1e6`` it comes out as 0), so it is computed as::

    log dz/dx = log(f/T) + log(Φ(-|z|)/φ(z))
    log(f/T)  = logsumexp_k(t_k - m - log σ_k - b_k) - log Σ_k exp(t_k - m) - log √(2π)

with ``T`` the tail used (``F`` when ``F ≤ ½``, else ``S``; ``T = Φ(-|z|)``), per-component
tail terms ``t_k = log π_k + log Φ(v_k)`` with ``v_k = ±u_k`` (``+`` for ``T = F``),
``m = max_k t_k``, and the scaled tails ``b_k = log Φ(v_k) + v_k²/2`` of
:func:`~.special.log_ndtr_by_size` (no cancellation: ``O(log |u|)`` in the far tail). The last
term is the log Mills ratio of the quantile, returned by the quantile itself. Every number
is ``O(1)`` or ``O(log |u|)`` in the tails (it is ``-u²/2`` only for components on the far side,
whose terms then are genuinely negligible), so the result keeps its relative accuracy far into
both tails (measured against mpmath for ``|x|`` from 10 to 1e6 in float32 and to 1e12 in
float64: relative error at most about 6e-6 and 6e-13). The standardisation is computed as
``u/√2``, the argument of ``erfc``, so that ``b_k`` and ``log Φ(v_k)`` see the same rounded
number. The forward map (:func:`gaussianize`) and the inverse's log-derivative
(:func:`log_dz_dx`, at the solved ``x`` and the given ``z``) use this one formula
(:func:`_log_dz_dx`); gradients are autodiff's of it.

**Valid range** (every input, no NaN from a non-NaN one, for parameters with
``|log σ|`` well below the float range): ``u_k²`` must not overflow, so ``|u_k|`` is bounded by
the saturation bound ``U`` of :data:`SATURATION_BOUND` (``2**60`` in float32, ``2**500`` in
float64; ``U²`` is then representable). An element whose ``x`` lies outside
``[max_k(μ_k - U σ_k), min_k(μ_k + U σ_k)]`` is *saturated*: the map is that with ``x``
clipped to this interval, so ``z`` stays at its finite value at the boundary and
``log dz/dx = -inf`` (the derivative of the clipped map is 0; the true density there is below
about ``exp(-(U σ_min/σ_max)²/2)``, which underflows in every float, so ``log p = -inf`` is the
honest float answer). ``x = ±inf`` gives ``z = ±inf`` and ``log dz/dx = -inf``. NaN stays NaN in
its own element. The inverse (:func:`ungaussianize`) maps ``z = ±inf`` to ``x = ±inf`` and
every finite ``z`` to a finite ``x`` or to ``±inf`` where ``x`` overflows the dtype.

Shapes: ``x`` is ``(..., d)``; ``logits``, ``means``, ``log_scales`` are
``(..., d, K)`` and broadcast against ``x[..., None]``. How a conditioner's output is read as these parameters is the job of
:class:`~gaussianization.gauss_keras.transformers.MixtureCDF`; this module is the maths.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from .root_finding import solve_increasing
from .quantile import normal_quantile_two_tailed
from .special import HALF_LOG_2PI, log_mills_ratio, log_ndtr, log_ndtr_by_size, log_ndtr_pair, log_ndtr_scaled

#: Iteration cap of the inverse; convergence is usually reached in < 10 steps.
MAX_INVERSE_ITERATIONS = 100

#: Relative step size at which the inverse stops, by the dtype of the result: for float32
#: results the iterate is then far inside float32 rounding, for float64 near float64 precision.
INVERSE_TOLERANCE = {"float32": 1e-9, "float64": 1e-13}

#: The saturation bound ``U`` on ``|u_k|`` by dtype (module docstring): ``U²/2`` and the
#: quantile ``≈ U`` of ``log Φ(-U)`` stay finite.
SATURATION_BOUND = {"float32": 2.0**60, "float64": 2.0**500}

#: Beyond this ``|z|`` the inverse returns the end of its bracket, ``max_k(μ_k + σ_k z)`` for
#: ``z > 0`` (``min`` for ``z < 0``): the root lies within ``σ |log π_k| / |z|`` of it, a relative
#: ``|log π_k| / z² < 1e-38`` (and ``x = ±inf`` for ``z = ±inf``).
INVERSE_ASYMPTOTIC_Z = 1e20

_SQRT_HALF = math.sqrt(0.5)


def log_weights(logits):
    """``log softmax(logits)`` over the last axis (also for ``K = 1``, where Keras warns)."""
    logits = ops.convert_to_tensor(logits)
    return logits - ops.logsumexp(logits, axis=-1, keepdims=True)


def _standardize(x, means, log_scales):
    return (ops.expand_dims(x, -1) - means) * ops.exp(-log_scales)


def _standardize_halved(x, means, inv_scales):
    """``u/√2 = (x - μ)/(√2 σ)``, ``(..., d, K)``, from ``inv_scales = 1/σ``: the argument of ``erfc``,
    with ``1/√2`` folded into the scale (the ``halved`` form of :func:`~.special.log_ndtr_by_size`)."""
    return (ops.expand_dims(x, -1) - means) * (inv_scales * _SQRT_HALF)


def _log_density(u, log_w_over_scales):
    """``log f = logsumexp_k(log(π_k/σ_k) - u_k²/2) - log √(2π)`` over the last axis."""
    return ops.logsumexp(log_w_over_scales - 0.5 * ops.square(u), axis=-1) - HALF_LOG_2PI


def _saturate(x, means, inv_scales):
    """``(x clipped to the unsaturated interval, saturated)``, each ``(..., d)`` (module docstring).

    The interval ``[max_k(μ_k - U σ_k), min_k(μ_k + U σ_k)]`` (from ``inv_scales = 1/σ``) is
    computed on the parameters' own shape (``(d, K)`` for a marginal layer: no per-example cost)
    and carries no gradient (a saturated element's log-derivative is ``-inf`` anyway). NaN is
    not saturated.
    """
    bound = SATURATION_BOUND.get(keras.backend.standardize_dtype(x.dtype), 2.0**60)
    means = ops.stop_gradient(means)
    reach = bound / ops.stop_gradient(inv_scales)
    lo, hi = ops.max(means - reach, axis=-1), ops.min(means + reach, axis=-1)
    clipped = ops.minimum(ops.maximum(x, lo), hi)
    return clipped, ops.abs(x - clipped) > 0.0


def _logsumexp_parts(t):
    """``(logsumexp t, t - m, log Σ exp(t - m))`` over the last axis, with ``m = max t``.

    ``m`` is held constant for autodiff (as in ``tf.reduce_logsumexp``): every use below is
    invariant to it. The shifted terms are reused by :func:`_log_density_over_tail`.
    """
    m = ops.stop_gradient(ops.max(t, axis=-1, keepdims=True))
    shifted = t - m
    log_sum = ops.log(ops.sum(ops.exp(shifted), axis=-1))
    return m[..., 0] + log_sum, shifted, log_sum


def _log_density_over_tail(shifted, log_sum, scaled, log_scales):
    """``log(f/T) = logsumexp_k(t_k - m - log σ_k - b_k) - log Σ_k exp(t_k - m) - log √(2π)``.

    ``shifted = t - m`` and ``log_sum`` from :func:`_logsumexp_parts` of the tail terms
    ``t_k = log π_k + log Φ(v_k)``, ``scaled = b_k = log Φ(v_k) + v_k²/2``. Since
    ``log π_k + log φ(u_k) - log σ_k = t_k - log σ_k - b_k - log √(2π)``, this is
    ``log f - log T`` with no large number in it. Shape ``(..., d)``. The two log-sums are
    subtracted before the shift is added back (exact for identical components).
    """
    terms = shifted - log_scales - scaled
    m = ops.stop_gradient(ops.max(terms, axis=-1, keepdims=True))
    log_sum_density = ops.log(ops.sum(ops.exp(terms - m), axis=-1))
    return m[..., 0] + (log_sum_density - log_sum) - HALF_LOG_2PI


def _log_dz_dx(log_f_over_tail, log_mills_z, saturated):
    """The log-derivative ``log dz/dx = log(f/T) + log(Φ(-|z|)/φ(z))``, ``-inf`` where saturated.

    The one formula of the forward's log-det and (negated) of the inverse's (module docstring).
    """
    return ops.where(saturated, float("-inf"), log_f_over_tail + log_mills_z)


def mixture_log_cdf_sf_pdf(x, logits, means, log_scales):
    """``(log F(x), log S(x), log f(x))``, each of shape ``(..., d)``.

    Reference quantities, not saturated: ``log f`` is ``-inf`` once ``u_k²`` overflows.
    """
    logits, means, log_scales = (ops.convert_to_tensor(p) for p in (logits, means, log_scales))
    log_w = log_weights(logits)
    u = _standardize(x, means, log_scales)
    log_phi_u, log_phi_minus_u = log_ndtr_pair(u)
    log_cdf = ops.logsumexp(log_w + log_phi_u, axis=-1)
    log_sf = ops.logsumexp(log_w + log_phi_minus_u, axis=-1)
    return log_cdf, log_sf, _log_density(u, log_w - log_scales)


def mixture_log_pdf(x, logits, means, log_scales):
    """``log f(x)`` of the mixture, shape ``(..., d)`` (``-inf`` once ``u_k²`` overflows)."""
    logits, means, log_scales = (ops.convert_to_tensor(p) for p in (logits, means, log_scales))
    return _log_density(_standardize(x, means, log_scales), log_weights(logits) - log_scales)


def gaussianize(x, logits, means, log_scales):
    """Forward map ``z = Φ⁻¹(F(x))`` and ``log dz/dx``, both ``(..., d)``, in the dtype of ``x``.

    ``log dz/dx = log f(x) - log φ(z)``, computed without cancellation (module docstring).
    Valid for every input: saturated elements (module docstring) give a finite ``z`` and
    ``log dz/dx = -inf``; ``x = ±inf`` gives ``z = ±inf``; NaN gives NaN.
    """
    logits, means, log_scales = (ops.convert_to_tensor(p) for p in (logits, means, log_scales))
    x = ops.convert_to_tensor(x)
    log_w = log_weights(logits)
    inv_scales = ops.exp(-log_scales)
    x_c, saturated = _saturate(x, means, inv_scales)
    w = _standardize_halved(x_c, means, inv_scales)  # u/√2
    log_small, log_large, scaled_small, scaled_large = log_ndtr_by_size(w, halved=True)
    negative = w < 0.0
    log_cdf, shifted_cdf, log_sum_cdf = _logsumexp_parts(log_w + ops.where(negative, log_small, log_large))
    log_sf, shifted_sf, log_sum_sf = _logsumexp_parts(log_w + ops.where(negative, log_large, log_small))
    z, log_mills_z = normal_quantile_two_tailed(log_cdf, log_sf, return_log_mills=True)
    # The tail T used by the quantile: F where F ≤ ½. Component k is on its small side
    # (v_k = -|u_k|) when u_k < 0 for T = F, and when u_k > 0 for T = S.
    lower = log_cdf <= log_sf
    lower_k = ops.expand_dims(lower, -1)
    log_f_over_tail = _log_density_over_tail(
        ops.where(lower_k, shifted_cdf, shifted_sf), ops.where(lower, log_sum_cdf, log_sum_sf),
        ops.where(ops.equal(negative, lower_k), scaled_small, scaled_large), log_scales)
    return ops.where(ops.isinf(x), x, z), _log_dz_dx(log_f_over_tail, log_mills_z, saturated)


def log_dz_dx(x, z, logits, means, log_scales):
    """``log dz/dx`` of :func:`gaussianize` at ``x``, given its image ``z = Φ⁻¹(F(x))``; ``(..., d)``.

    The same formula as the forward's log-det (:func:`_log_dz_dx`), with the tail read off the
    sign of ``z`` (``T = F`` for ``z ≤ 0``) and the log Mills ratio taken at the given ``z``:
    the inverse's log-det is minus this at the solved ``x``. Saturated ``x`` (module docstring)
    gives ``-inf``.
    """
    logits, means, log_scales = (ops.convert_to_tensor(p) for p in (logits, means, log_scales))
    x = ops.convert_to_tensor(x)
    z = ops.convert_to_tensor(z, dtype=x.dtype)
    inv_scales = ops.exp(-log_scales)
    x_c, saturated = _saturate(x, means, inv_scales)
    w = _standardize_halved(x_c, means, inv_scales)
    log_tail, scaled = log_ndtr_scaled(ops.where(ops.expand_dims(z <= 0.0, -1), w, -w), halved=True)
    _, shifted, log_sum = _logsumexp_parts(log_weights(logits) + log_tail)
    log_f_over_tail = _log_density_over_tail(shifted, log_sum, scaled, log_scales)
    return _log_dz_dx(log_f_over_tail, log_mills_ratio(-ops.abs(z)), saturated)


def inverse_bracket(z, means, log_scales):
    """An interval ``[lo, hi]`` that contains ``F⁻¹(Φ(z))``, each ``(..., d)``.

    Since every component CDF is increasing, ``x ≥ max_k(μ_k + σ_k z)`` implies
    ``F(x) ≥ Φ(z)`` and ``x ≤ min_k(μ_k + σ_k z)`` implies ``F(x) ≤ Φ(z)``.
    """
    means, log_scales = ops.convert_to_tensor(means), ops.convert_to_tensor(log_scales)
    candidates = means + ops.exp(log_scales) * ops.expand_dims(z, -1)
    return ops.min(candidates, axis=-1), ops.max(candidates, axis=-1)


def inverse_start(z, log_w, means, log_scales):
    """Starting point of the inverse: the quantile ``μ̄ + σ̄ z`` of the Gaussian with the
    mixture's mean ``μ̄`` and standard deviation ``σ̄`` (exact for ``K = 1``), shape ``(..., d)``."""
    w = ops.exp(log_w)
    mean = ops.sum(w * means, axis=-1)
    second = ops.sum(w * (ops.exp(2.0 * log_scales) + ops.square(means)), axis=-1)
    return mean + ops.sqrt(ops.maximum(second - ops.square(mean), 0.0)) * z


def _residual(x, lower, log_target, log_w, means, inv_scales, log_scales):
    """Residual of the inverse in log-probability space and its derivative, each ``(M,)``.

    Rows with ``lower`` (``z < 0``) solve ``log F(x) = log Φ(z)``, the others
    ``log S(x) = log Φ(-z)``; ``log_target`` is the right-hand side. The residual
    ``r = log F(x) - log Φ(z)`` (or ``log Φ(-z) - log S(x)``) increases with ``x``, with
    ``r' = f/F`` (or ``f/S``), taken from :func:`_log_density_over_tail` (no cancellation in
    the tails). Working in the tail below ½ keeps both sides accurate to float64 precision and
    needs no normal quantile inside the loop. ``inv_scales`` is ``1/(√2 σ)``: like the forward map,
    the residual works with ``u/√2``.
    """
    w = (ops.expand_dims(x, -1) - means) * inv_scales
    log_tail_k, scaled = log_ndtr_scaled(ops.where(ops.expand_dims(lower, -1), w, -w), halved=True)
    log_tail, shifted, log_sum = _logsumexp_parts(log_w + log_tail_k)
    r = ops.where(lower, log_tail - log_target, log_target - log_tail)
    return r, ops.exp(_log_density_over_tail(shifted, log_sum, scaled, log_scales))


def ungaussianize(z, logits, means, log_scales, *, tol: float | None = None,
                  max_iterations: int = MAX_INVERSE_ITERATIONS):
    """Inverse map ``x = F⁻¹(Φ(z))``, shape ``(..., d)``, in the dtype of ``z``.

    Solves ``F(x) = Φ(z)`` in float64, in log space and in the tail below ½
    (:func:`_residual`), on the bracket of :func:`inverse_bracket` from the start of
    :func:`inverse_start`, with :func:`~.root_finding.solve_increasing`. The bracket always
    contains the root, so the result is accurate to float64 precision for every finite ``z``
    and finite parameters. An entry stops once it is within ``tol · (1 + |x|)`` of the root
    (default :data:`INVERSE_TOLERANCE` for the dtype of ``z``). Beyond
    ``|z| =`` :data:`INVERSE_ASYMPTOTIC_Z` the result is the bracket's end (exact to float64
    rounding there); ``z = ±inf`` gives ``x = ±inf``, and an ``x`` beyond the dtype's range is
    ``±inf``. NaN entries of ``z`` give NaN.
    """
    z = ops.convert_to_tensor(z)
    out_dtype = z.dtype
    if tol is None:
        tol = INVERSE_TOLERANCE.get(keras.backend.standardize_dtype(out_dtype), 1e-13)
    z64 = ops.cast(z, "float64")
    log_w = log_weights(ops.cast(logits, "float64"))
    mu = ops.cast(means, "float64")
    log_s = ops.cast(log_scales, "float64")
    # One row per scalar equation: z (M,), parameters (M, K) with M = batch · d.
    k = ops.shape(mu)[-1]
    full = ops.shape(ops.expand_dims(z64, -1) + mu)
    z_flat = ops.reshape(z64, (-1,))
    log_w, mu, log_s = (ops.reshape(ops.broadcast_to(p, full), (-1, k)) for p in (log_w, mu, log_s))
    far = ops.abs(z_flat) > INVERSE_ASYMPTOTIC_Z
    lo_far, hi_far = inverse_bracket(z_flat, mu, log_s)
    z_solve = ops.where(far, 0.0, z_flat)
    lo, hi = inverse_bracket(z_solve, mu, log_s)
    x0 = ops.clip(inverse_start(z_solve, log_w, mu, log_s), lo, hi)
    x0 = ops.where(ops.isnan(x0), 0.5 * (lo + hi), x0)
    params = (z_solve < 0.0, log_ndtr(-ops.abs(z_solve)), log_w, mu, ops.exp(-log_s) * _SQRT_HALF, log_s)
    x = solve_increasing(_residual, x0, lo, hi, params, tol=tol, max_iterations=max_iterations)
    x = ops.where(far, ops.where(z_flat > 0.0, hi_far, lo_far), x)
    x = ops.where(ops.isnan(z_flat), z_flat, x)
    return ops.cast(ops.reshape(x, ops.shape(z64)), out_dtype)
