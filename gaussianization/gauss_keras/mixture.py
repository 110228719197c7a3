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
``(..., d, K)`` and broadcast against ``x[..., None]``. :func:`unpack_mixture` and
:func:`pack_mixture` convert between these parameters and a coupling conditioner's output.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .special import (
    HALF_LOG_2PI,
    log_ndtr,
    log_ndtr_pair,
    log_normal_pdf,
    normal_quantile_two_tailed,
    while_loop_shrinking,
)

#: Iteration cap of the inverse; convergence is usually reached in < 10 steps.
MAX_INVERSE_ITERATIONS = 100


def log_weights(logits):
    """``log softmax(logits)`` over the last axis (also for ``K = 1``, where Keras warns)."""
    return logits - ops.logsumexp(logits, axis=-1, keepdims=True)


def _standardize(x, means, log_scales):
    return (ops.expand_dims(x, -1) - means) * ops.exp(-log_scales)


def mixture_log_cdf_sf_pdf(x, logits, means, log_scales):
    """``(log F(x), log S(x), log f(x))``, each of shape ``(..., d)``."""
    log_w = log_weights(logits)
    u = _standardize(x, means, log_scales)
    log_phi_u, log_phi_minus_u = log_ndtr_pair(u)
    log_cdf = ops.logsumexp(log_w + log_phi_u, axis=-1)
    log_sf = ops.logsumexp(log_w + log_phi_minus_u, axis=-1)
    log_pdf = ops.logsumexp(log_w - 0.5 * ops.square(u) - log_scales, axis=-1) - HALF_LOG_2PI
    return log_cdf, log_sf, log_pdf


def mixture_log_pdf(x, logits, means, log_scales):
    """``log f(x)`` of the mixture, shape ``(..., d)``."""
    log_w = log_weights(logits)
    u = _standardize(x, means, log_scales)
    return ops.logsumexp(log_w - 0.5 * ops.square(u) - log_scales, axis=-1) - HALF_LOG_2PI


def gaussianize(x, logits, means, log_scales):
    """Forward map ``z = Φ⁻¹(F(x))`` and ``log dz/dx``, both ``(..., d)``."""
    log_cdf, log_sf, log_pdf = mixture_log_cdf_sf_pdf(x, logits, means, log_scales)
    z = normal_quantile_two_tailed(log_cdf, log_sf)
    return z, log_pdf - log_normal_pdf(z)


def unpack_mixture(theta, d_b, num_components, shared, log_scale_bound):
    """Conditioner output → ``(logits, means, log_scales)``, each ``(batch, d_b or 1, K)``.

    ``theta`` is ``(batch, 3·d_b·K)`` (``(batch, 3·K)`` when shared), read as
    ``(batch, 3, d_b, K)`` = [logits, means, raw log-scales] and
    ``log σ = B·tanh(raw)`` with ``B = log_scale_bound``.
    """
    rows = 1 if shared else d_b
    t = ops.reshape(theta, (-1, 3, rows, num_components))
    return t[:, 0], t[:, 1], log_scale_bound * ops.tanh(t[:, 2])


def pack_mixture(logits, means, log_scales, log_scale_bound, margin=1e-6):
    """Inverse of :func:`unpack_mixture` for constant parameters (NumPy, ``(rows, K)`` each).

    ``raw = artanh(log σ / B)``; ``log σ`` is first clipped to ``[-(1-margin)·B, (1-margin)·B]``
    because ``B·tanh`` cannot reach ``±B`` (scales outside ``(e^{-B}, e^{B})`` are clipped).
    Returns the flat ``(3·rows·K,)`` vector.
    """
    ratio = np.clip(np.asarray(log_scales, "float64") / log_scale_bound, -(1 - margin), 1 - margin)
    return np.stack([np.asarray(logits, "float64"), np.asarray(means, "float64"), np.arctanh(ratio)]).reshape(-1)


def inverse_bracket(z, means, log_scales):
    """An interval ``[lo, hi]`` that contains ``F⁻¹(Φ(z))``, each ``(..., d)``.

    Since every component CDF is increasing, ``x ≥ max_k(μ_k + σ_k z)`` implies
    ``F(x) ≥ Φ(z)`` and ``x ≤ min_k(μ_k + σ_k z)`` implies ``F(x) ≤ Φ(z)``.
    """
    candidates = means + ops.exp(log_scales) * ops.expand_dims(z, -1)
    return ops.min(candidates, axis=-1), ops.max(candidates, axis=-1)


#: Relative step size at which the iteration stops, by the dtype of the result: for float32
#: results the iterate is then far inside float32 rounding, for float64 near float64 precision.
INVERSE_TOLERANCE = {"float32": 1e-9, "float64": 1e-13}


def inverse_start(z, log_w, means, log_scales):
    """Starting point of the inverse: the quantile ``μ̄ + σ̄ z`` of the Gaussian with the
    mixture's mean ``μ̄`` and standard deviation ``σ̄`` (exact for ``K = 1``), shape ``(..., d)``."""
    w = ops.exp(log_w)
    mean = ops.sum(w * means, axis=-1)
    second = ops.sum(w * (ops.exp(2.0 * log_scales) + ops.square(means)), axis=-1)
    return mean + ops.sqrt(ops.maximum(second - ops.square(mean), 0.0)) * z


def _residual(x, lower, log_target, log_w, means, inv_scales, log_w_over_scales):
    """Residual of the inverse in log-probability space, and its derivative, each ``(M,)``.

    Rows with ``lower`` (``z < 0``) solve ``log F(x) = log Φ(z)``, the others
    ``log S(x) = log Φ(-z)``; ``log_target`` is the right-hand side. As a function of ``x``
    the residual ``r = log F(x) - log Φ(z)`` (or ``log Φ(-z) - log S(x)``) is increasing, with
    ``r' = f/F`` (or ``f/S``). Working in the tail that is below ½ keeps both sides accurate
    to float64 precision, and needs no normal quantile inside the loop.
    """
    u = (ops.expand_dims(x, -1) - means) * inv_scales
    below = ops.expand_dims(lower, -1)
    log_tail = ops.logsumexp(log_w + log_ndtr(ops.where(below, u, -u)), axis=-1)
    log_pdf = ops.logsumexp(log_w_over_scales - 0.5 * ops.square(u), axis=-1) - HALF_LOG_2PI
    r = ops.where(lower, log_tail - log_target, log_target - log_tail)
    return r, ops.exp(log_pdf - log_tail)


def _false_position(lo, hi, h_lo, h_hi):
    """The secant root of the bracket ends, or its midpoint where that is undefined
    (an end whose residual is not known yet is stored with residual 0)."""
    denom = h_hi - h_lo
    x_fp = (lo * h_hi - hi * h_lo) / ops.where(denom > 0.0, denom, 1.0)
    inside = ops.logical_and(denom > 0.0, ops.logical_and(x_fp > lo, x_fp < hi))
    return ops.where(inside, x_fp, 0.5 * (lo + hi))


def _safeguarded_step(state, params):
    """One iteration on ``state = (x, lo, hi, h_lo, h_hi, step, side, newton)``.

    Shrinks the bracket with the sign of ``h(x)``, then takes the Newton step if it stays
    in the bracket and is at most half the previous step, otherwise a false-position step
    (Illinois variant: when the same end moves twice running, the other end's residual is
    halved, so it cannot stagnate). ``newton`` is 1 where the step taken was a Newton step.
    """
    x, lo, hi, h_lo, h_hi, step, side, _ = state
    h, dh = _residual(x, *params)
    below, above = h < 0.0, h > 0.0
    lo, h_lo = ops.where(below, x, lo), ops.where(below, h, h_lo)
    hi, h_hi = ops.where(above, x, hi), ops.where(above, h, h_hi)
    new_side = ops.cast(ops.where(below, -1.0, ops.where(above, 1.0, 0.0)), x.dtype)
    h_hi = ops.where(ops.logical_and(new_side < 0.0, side < 0.0), 0.5 * h_hi, h_hi)
    h_lo = ops.where(ops.logical_and(new_side > 0.0, side > 0.0), 0.5 * h_lo, h_lo)
    newton = x - h / dh
    use_newton = ops.logical_and(ops.logical_and(newton >= lo, newton <= hi), ops.abs(2.0 * h) <= ops.abs(step * dh))
    x_new = ops.where(use_newton, newton, _false_position(lo, hi, h_lo, h_hi))
    x_new = ops.where(ops.isnan(x_new), x, x_new)
    return x_new, lo, hi, h_lo, h_hi, x_new - x, new_side, ops.cast(use_newton, x.dtype)


def _finished(old_state, new_state, tol):
    """Entries whose iterate is within ``tol · (1 + |x|)`` of the root (or NaN).

    Either the step just taken was that small, or two Newton steps running show quadratic
    convergence, ``e_next ≈ c e²`` with ``c ≈ |s_k| / s_{k-1}²``, and predict the error left
    after the step just taken, ``|s_k|³ / s_{k-1}²``, to be a thousand times below the
    tolerance.
    This saves the evaluation that would only confirm convergence.
    """
    x, step, newton = new_state[0], new_state[5], new_state[7]
    prev_step, prev_newton = old_state[5], old_state[7]
    scale = tol * (1.0 + ops.abs(x))
    small = ops.abs(step) <= scale
    both_newton = ops.logical_and(newton > 0.0, prev_newton > 0.0)
    quadratic = ops.logical_and(both_newton, 1e3 * ops.abs(step) ** 3 <= scale * ops.square(prev_step))
    return ops.logical_or(ops.logical_or(small, quadratic), ops.isnan(x))


def ungaussianize(z, logits, means, log_scales, *, tol: float | None = None,
                  max_iterations: int = MAX_INVERSE_ITERATIONS):
    """Inverse map ``x = F⁻¹(Φ(z))``, shape ``(..., d)``, in the dtype of ``z``.

    Solves ``F(x) = Φ(z)`` in float64, in log space and in the tail below ½
    (:func:`_residual`), on the bracket of :func:`inverse_bracket` from the start of
    :func:`inverse_start`, by a safeguarded Newton iteration (:func:`_safeguarded_step`).
    The bracket always contains the root, so the result is accurate to float64 precision
    for every finite ``z`` and finite parameters. An entry stops once it is within
    ``tol · (1 + |x|)`` of the root (:func:`_finished`; default :data:`INVERSE_TOLERANCE`
    for the dtype of ``z``), and each iteration runs only on the entries that have not
    stopped, so the few slow ones do not cost a pass over the whole batch.
    NaN entries of ``z`` give NaN.
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
    lower = z_flat < 0.0
    params = (lower, log_ndtr(-ops.abs(z_flat)), log_w, mu, ops.exp(-log_s), log_w - log_s)
    lo, hi = inverse_bracket(z_flat, mu, log_s)
    x0 = ops.clip(inverse_start(z_flat, log_w, mu, log_s), lo, hi)
    x0 = ops.where(ops.isnan(x0), 0.5 * (lo + hi), x0)
    zeros = ops.zeros_like(x0)

    def cond(i, out, index, *rows):
        return ops.logical_and(i < int(max_iterations), ops.shape(index)[0] > 0)

    def body(i, out, index, *rows):
        old_state, params = rows[:8], rows[8:]
        state = _safeguarded_step(old_state, params)
        out = ops.scatter_update(out, ops.expand_dims(index, -1), state[0])
        going = ops.logical_not(_finished(old_state, state, tol))
        rows = (index, *state, *params)
        # Drop the finished entries once they are worth a gather (a tenth of the active ones).
        rows = ops.cond(10 * ops.sum(ops.cast(going, "int32")) < 9 * ops.shape(index)[0],
                        lambda: tuple(ops.take(t, ops.where(going)[0], axis=0) for t in rows),
                        lambda: rows)
        return (i + 1, out, *rows)

    index = ops.arange(ops.shape(x0)[0], dtype="int64")
    loop_vars = (0, x0, index, x0, lo, hi, zeros, zeros, hi - lo, zeros, zeros, *params)
    out = while_loop_shrinking(cond, body, loop_vars)[1]
    x = ops.where(ops.isnan(z_flat), z_flat, out)
    return ops.cast(ops.reshape(x, ops.shape(z64)), out_dtype)
