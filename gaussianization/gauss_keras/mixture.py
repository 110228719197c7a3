"""Gaussian-mixture CDF Gaussianization in log space, and its inverse.

For one dimension with mixture weights ``π = softmax(logits)``, means ``μ`` and
scales ``σ = exp(log_scales)`` (``K`` components), with ``u_k = (x - μ_k)/σ_k``::

    F(x) = Σ_k π_k Φ(u_k)                 log F = logsumexp_k(log π_k + log Φ(u_k))
    S(x) = 1 - F(x) = Σ_k π_k Φ(-u_k)     log S = logsumexp_k(log π_k + log Φ(-u_k))
    f(x) = Σ_k π_k φ(u_k) / σ_k           log f = logsumexp_k(log π_k + log φ(u_k) - log σ_k)

The Gaussianization ``z = Φ⁻¹(F(x))`` is evaluated from ``log F`` when ``F < ½``
and from ``log S`` otherwise (:func:`~.special.normal_quantile_two_tailed`), so no
tail is clamped: ``z`` and ``log dz/dx = log f(x) - log φ(z)`` stay finite far into both
tails. Valid range: the standardised arguments ``u_k = (x - μ_k)/σ_k`` are squared, so in
float32 the results become NaN once ``|u_k|`` passes about 1.8e19 (``u²`` overflows), and
for a mixture whose scales are below 1 that happens for correspondingly smaller ``|x|``;
float64 overflows only beyond about 1e154.

Shapes: ``x`` is ``(..., d)``; ``logits``, ``means``, ``log_scales`` are
``(..., d, K)`` and broadcast against ``x[..., None]``. How a conditioner's output is read as these parameters is the job of
:class:`~gaussianization.gauss_keras.transformers.MixtureCDF`; this module is the maths.
"""

from __future__ import annotations

import keras
from keras import ops

from .root_finding import solve_increasing
from .special import HALF_LOG_2PI, log_ndtr, log_ndtr_pair, log_normal_pdf, normal_quantile_two_tailed

#: Iteration cap of the inverse; convergence is usually reached in < 10 steps.
MAX_INVERSE_ITERATIONS = 100

#: Relative step size at which the inverse stops, by the dtype of the result: for float32
#: results the iterate is then far inside float32 rounding, for float64 near float64 precision.
INVERSE_TOLERANCE = {"float32": 1e-9, "float64": 1e-13}


def log_weights(logits):
    """``log softmax(logits)`` over the last axis (also for ``K = 1``, where Keras warns)."""
    return logits - ops.logsumexp(logits, axis=-1, keepdims=True)


def _standardize(x, means, log_scales):
    return (ops.expand_dims(x, -1) - means) * ops.exp(-log_scales)


def _log_density(u, log_w_over_scales):
    """``log f = logsumexp_k(log(π_k/σ_k) - u_k²/2) - log √(2π)`` over the last axis."""
    return ops.logsumexp(log_w_over_scales - 0.5 * ops.square(u), axis=-1) - HALF_LOG_2PI


def mixture_log_cdf_sf_pdf(x, logits, means, log_scales):
    """``(log F(x), log S(x), log f(x))``, each of shape ``(..., d)``."""
    log_w = log_weights(logits)
    u = _standardize(x, means, log_scales)
    log_phi_u, log_phi_minus_u = log_ndtr_pair(u)
    log_cdf = ops.logsumexp(log_w + log_phi_u, axis=-1)
    log_sf = ops.logsumexp(log_w + log_phi_minus_u, axis=-1)
    return log_cdf, log_sf, _log_density(u, log_w - log_scales)


def mixture_log_pdf(x, logits, means, log_scales):
    """``log f(x)`` of the mixture, shape ``(..., d)``."""
    return _log_density(_standardize(x, means, log_scales), log_weights(logits) - log_scales)


def gaussianize(x, logits, means, log_scales):
    """Forward map ``z = Φ⁻¹(F(x))`` and ``log dz/dx = log f(x) - log φ(z)``, both ``(..., d)``."""
    log_cdf, log_sf, log_pdf = mixture_log_cdf_sf_pdf(x, logits, means, log_scales)
    z = normal_quantile_two_tailed(log_cdf, log_sf)
    return z, log_pdf - log_normal_pdf(z)


def inverse_bracket(z, means, log_scales):
    """An interval ``[lo, hi]`` that contains ``F⁻¹(Φ(z))``, each ``(..., d)``.

    Since every component CDF is increasing, ``x ≥ max_k(μ_k + σ_k z)`` implies
    ``F(x) ≥ Φ(z)`` and ``x ≤ min_k(μ_k + σ_k z)`` implies ``F(x) ≤ Φ(z)``.
    """
    candidates = means + ops.exp(log_scales) * ops.expand_dims(z, -1)
    return ops.min(candidates, axis=-1), ops.max(candidates, axis=-1)


def inverse_start(z, log_w, means, log_scales):
    """Starting point of the inverse: the quantile ``μ̄ + σ̄ z`` of the Gaussian with the
    mixture's mean ``μ̄`` and standard deviation ``σ̄`` (exact for ``K = 1``), shape ``(..., d)``."""
    w = ops.exp(log_w)
    mean = ops.sum(w * means, axis=-1)
    second = ops.sum(w * (ops.exp(2.0 * log_scales) + ops.square(means)), axis=-1)
    return mean + ops.sqrt(ops.maximum(second - ops.square(mean), 0.0)) * z


def _residual(x, lower, log_target, log_w, means, inv_scales, log_w_over_scales):
    """Residual of the inverse in log-probability space and its derivative, each ``(M,)``.

    Rows with ``lower`` (``z < 0``) solve ``log F(x) = log Φ(z)``, the others
    ``log S(x) = log Φ(-z)``; ``log_target`` is the right-hand side. The residual
    ``r = log F(x) - log Φ(z)`` (or ``log Φ(-z) - log S(x)``) increases with ``x``, with
    ``r' = f/F`` (or ``f/S``). Working in the tail below ½ keeps both sides accurate to
    float64 precision and needs no normal quantile inside the loop.
    """
    u = (ops.expand_dims(x, -1) - means) * inv_scales
    below = ops.expand_dims(lower, -1)
    log_tail = ops.logsumexp(log_w + log_ndtr(ops.where(below, u, -u)), axis=-1)
    r = ops.where(lower, log_tail - log_target, log_target - log_tail)
    return r, ops.exp(_log_density(u, log_w_over_scales) - log_tail)


def ungaussianize(z, logits, means, log_scales, *, tol: float | None = None,
                  max_iterations: int = MAX_INVERSE_ITERATIONS):
    """Inverse map ``x = F⁻¹(Φ(z))``, shape ``(..., d)``, in the dtype of ``z``.

    Solves ``F(x) = Φ(z)`` in float64, in log space and in the tail below ½
    (:func:`_residual`), on the bracket of :func:`inverse_bracket` from the start of
    :func:`inverse_start`, with :func:`~.root_finding.solve_increasing`. The bracket always
    contains the root, so the result is accurate to float64 precision for every finite ``z``
    and finite parameters. An entry stops once it is within ``tol · (1 + |x|)`` of the root
    (default :data:`INVERSE_TOLERANCE` for the dtype of ``z``). NaN entries of ``z`` give NaN.
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
    lo, hi = inverse_bracket(z_flat, mu, log_s)
    x0 = ops.clip(inverse_start(z_flat, log_w, mu, log_s), lo, hi)
    x0 = ops.where(ops.isnan(x0), 0.5 * (lo + hi), x0)
    params = (z_flat < 0.0, log_ndtr(-ops.abs(z_flat)), log_w, mu, ops.exp(-log_s), log_w - log_s)
    x = solve_increasing(_residual, x0, lo, hi, params, tol=tol, max_iterations=max_iterations)
    x = ops.where(ops.isnan(z_flat), z_flat, x)
    return ops.cast(ops.reshape(x, ops.shape(z64)), out_dtype)
