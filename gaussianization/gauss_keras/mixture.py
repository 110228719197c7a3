"""Gaussian-mixture CDF Gaussianization in log space, and its inverse.

For one dimension with mixture weights ``π = softmax(logits)``, means ``μ`` and
scales ``σ = exp(log_scales)`` (``K`` components), with ``u_k = (x - μ_k)/σ_k``::

    F(x) = Σ_k π_k Φ(u_k)                 log F = logsumexp_k(log π_k + log Φ(u_k))
    S(x) = 1 - F(x) = Σ_k π_k Φ(-u_k)     log S = logsumexp_k(log π_k + log Φ(-u_k))
    f(x) = Σ_k π_k φ(u_k) / σ_k           log f = logsumexp_k(log π_k + log φ(u_k) - log σ_k)

The Gaussianization ``z = Φ⁻¹(F(x))`` is evaluated from ``log F`` when ``F < ½``
and from ``log S`` otherwise (:func:`~.special.normal_quantile_two_tailed`), so no
tail is clamped: every finite ``x`` gives a finite ``z`` and a finite
``log dz/dx = log f(x) - log φ(z)``.

Shapes: ``x`` is ``(..., d)``; ``logits``, ``means``, ``log_scales`` are
``(..., d, K)`` and broadcast against ``x[..., None]``.
"""

from __future__ import annotations

import keras
from keras import ops

from .special import HALF_LOG_2PI, log_ndtr_pair, log_normal_pdf, normal_quantile_two_tailed

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
    log_pdf = ops.logsumexp(log_w + log_normal_pdf(u) - log_scales, axis=-1)
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


def inverse_bracket(z, means, log_scales):
    """An interval ``[lo, hi]`` that contains ``F⁻¹(Φ(z))``, each ``(..., d)``.

    Since every component CDF is increasing, ``x ≥ max_k(μ_k + σ_k z)`` implies
    ``F(x) ≥ Φ(z)`` and ``x ≤ min_k(μ_k + σ_k z)`` implies ``F(x) ≤ Φ(z)``.
    """
    candidates = means + ops.exp(log_scales) * ops.expand_dims(z, -1)
    return ops.min(candidates, axis=-1), ops.max(candidates, axis=-1)


#: Iterations run on every entry before the inverse continues on the unconverged ones only.
_DENSE_ITERATIONS = 8


#: Relative step size at which the iteration stops, by the dtype of the result: for float32
#: results the iterate is then far inside float32 rounding, for float64 near float64 precision.
INVERSE_TOLERANCE = {"float32": 1e-9, "float64": 1e-13}


def ungaussianize(z, logits, means, log_scales, *, tol: float | None = None,
                  max_iterations: int = MAX_INVERSE_ITERATIONS):
    """Inverse map ``x = F⁻¹(Φ(z))``, shape ``(..., d)``, in the dtype of ``z``.

    Solves ``h(x) = Φ⁻¹(F(x)) - z = 0`` in float64 on the bracket of
    :func:`inverse_bracket` by a safeguarded Newton iteration: a Newton step is taken
    when it stays in the bracket and shrinks faster than bisection would, otherwise a
    false-position step (Illinois variant) on the bracket. The bracket always contains
    the root, so the result is accurate to float64 precision for every finite ``z`` and
    finite parameters. The iteration stops when a step is below ``tol · (1 + |x|)``
    (default :data:`INVERSE_TOLERANCE` for the dtype of ``z``). Almost every entry
    converges within a few iterations; after ``_DENSE_ITERATIONS`` the iteration
    continues on the unconverged entries alone, so a few slow entries do not cost a
    full pass over the batch each. NaN entries of ``z`` give NaN.
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

    def residual(x, z_t, lw, m, ls):
        # Newton in latent space: h(x) = Φ⁻¹(F(x)) - z is close to linear in x (exactly
        # linear for K = 1 and in both tails), so Newton converges in a few steps.
        u = _standardize(x, m, ls)
        log_phi_u, log_phi_minus_u = log_ndtr_pair(u)
        log_cdf = ops.logsumexp(lw + log_phi_u, axis=-1)
        log_sf = ops.logsumexp(lw + log_phi_minus_u, axis=-1)
        log_pdf = ops.logsumexp(lw - 0.5 * ops.square(u) - ls, axis=-1) - HALF_LOG_2PI
        z_x = normal_quantile_two_tailed(log_cdf, log_sf)
        return z_x - z_t, ops.exp(log_pdf - log_normal_pdf(z_x))

    def false_position(lo, hi, h_lo, h_hi):
        mid = 0.5 * (lo + hi)
        denom = h_hi - h_lo
        x_fp = (lo * h_hi - hi * h_lo) / ops.where(denom > 0.0, denom, 1.0)
        inside = ops.logical_and(denom > 0.0, ops.logical_and(x_fp > lo, x_fp < hi))
        return ops.where(inside, x_fp, mid)

    def converged(x, step):
        return ops.logical_or(ops.abs(step) <= tol * (1.0 + ops.abs(x)), ops.isnan(x))

    def solve(state, params, iterations):
        """Run the safeguarded iteration on ``state = (x, lo, hi, h_lo, h_hi, step, side)``."""
        def cond(i, x, lo, hi, h_lo, h_hi, step, side):
            return ops.logical_and(i < iterations, ops.logical_not(ops.all(converged(x, step))))

        def body(i, x, lo, hi, h_lo, h_hi, step, side):
            h, dh = residual(x, *params)
            below, above = h < 0.0, h > 0.0
            lo, h_lo = ops.where(below, x, lo), ops.where(below, h, h_lo)
            hi, h_hi = ops.where(above, x, hi), ops.where(above, h, h_hi)
            # Illinois rule: when the same end moves twice running, halve the other end's
            # residual so that false position cannot stagnate.
            new_side = ops.cast(ops.where(below, -1.0, ops.where(above, 1.0, 0.0)), "float64")
            h_hi = ops.where(ops.logical_and(new_side < 0.0, side < 0.0), 0.5 * h_hi, h_hi)
            h_lo = ops.where(ops.logical_and(new_side > 0.0, side > 0.0), 0.5 * h_lo, h_lo)
            newton = x - h / dh
            use_newton = ops.logical_and(
                ops.logical_and(newton >= lo, newton <= hi),
                ops.abs(2.0 * h) <= ops.abs(step * dh),
            )
            x_new = ops.where(use_newton, newton, false_position(lo, hi, h_lo, h_hi))
            x_new = ops.where(ops.isnan(x_new), x, x_new)
            return i + 1, x_new, lo, hi, h_lo, h_hi, x_new - x, new_side

        return ops.while_loop(cond, body, (0, *state))[1:]

    params = (z_flat, log_w, mu, log_s)
    lo, hi = inverse_bracket(z_flat, mu, log_s)
    # Both ends in one evaluation (one copy of the residual in the graph instead of two).
    h_ends = residual(ops.stack([lo, hi]), *params)[0]
    h_lo = ops.minimum(h_ends[0], 0.0)
    h_hi = ops.maximum(h_ends[1], 0.0)
    x0 = false_position(lo, hi, h_lo, h_hi)
    state = (x0, lo, hi, h_lo, h_hi, hi - lo, ops.zeros_like(x0))
    dense = min(_DENSE_ITERATIONS, int(max_iterations))
    state = solve(state, params, dense)

    # Continue on the entries that have not converged yet, gathered into a short batch.
    active = ops.where(ops.logical_not(converged(state[0], state[5])))[0]
    sub_state = tuple(ops.take(t, active, axis=0) for t in state)
    sub_params = tuple(ops.take(t, active, axis=0) for t in params)
    sub_state = solve(sub_state, sub_params, int(max_iterations) - dense)
    x = ops.scatter_update(state[0], ops.expand_dims(active, -1), sub_state[0])

    x = ops.where(ops.isnan(z_flat), z_flat, x)
    return ops.cast(ops.reshape(x, ops.shape(z64)), out_dtype)
