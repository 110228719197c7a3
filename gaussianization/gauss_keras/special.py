"""Special functions of the standard normal, accurate in both tails.

Everything here is written with ``keras.ops`` (no backend-specific code). Keras 3
has no normal quantile function, so Φ⁻¹ is built from a rational approximation
polished by Newton's method; it does not use ``tf.math.ndtri``, whose XLA kernel
returns NaN for probabilities below about 5e-17.

Functions (all element-wise, any shape, float32 or float64):

* :func:`log_ndtr`   ``log Φ(x)``: ``erfc`` in the bulk and an asymptotic
  series in the far lower tail, so it is relatively accurate far into the
  lower tail (e.g. ``log Φ(-1e3) ≈ -5.0e5``) until ``x²`` overflows (``|x|``
  about 1.8e19 in float32, where it becomes NaN). In the upper tail, beyond
  ``x`` = 10 (float32) or 37 (float64), it returns ``-Φ(-x)`` from the same
  series (relatively accurate until it underflows to 0).
* :func:`log_normal_pdf`   ``log φ(x) = -x²/2 - log √(2π)``.
* :func:`ndtri_from_log`   ``Φ⁻¹(exp L)`` for a log-probability ``L ≤ log ½``,
  computed in float64 from a rational approximation (or an asymptotic start
  far in the tail) and polished by a Newton step on ``log Φ(z) = L``.
* :func:`normal_quantile_two_tailed`  ``Φ⁻¹(F)`` from the pair ``(log F, log(1-F))``,
  evaluated from the lower tail when ``F < ½`` and from the upper tail otherwise,
  so that neither tail is clamped.

Gradients: :func:`ndtri_from_log` is written so that autodiff sees exactly the
implicit-function derivative ``dz/dL = Φ(z)/φ(z)`` at the returned ``z``, with no
custom gradient (see the comment at its final Newton step).
"""

from __future__ import annotations

import math

import keras
from keras import ops

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
LOG_HALF = math.log(0.5)

# Below this argument Φ is taken from the asymptotic series (6 terms) instead of erfc, which
# underflows near x = -13 (float32) and x = -38 (float64). The truncation error of the series
# at the switch is ~1e-8 (float32) and ~1e-17 (float64).
_ASYMPTOTIC_SWITCH = {"float32": -10.0, "float64": -37.0}
_SQRT_HALF = math.sqrt(0.5)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _switch(dtype) -> float:
    return _ASYMPTOTIC_SWITCH.get(keras.backend.standardize_dtype(dtype), -10.0)


def log_normal_pdf(x):
    """``log φ(x) = -x²/2 - log √(2π)``, element-wise."""
    x = ops.convert_to_tensor(x)
    return -0.5 * ops.square(x) - HALF_LOG_2PI


def _series_minus_one(x):
    """``s(x) - 1`` with ``s(x) = 1 - 1/x² + 3/x⁴ - … + 10395/x¹²``, the factor in ``Φ(x) ≈ φ(x)/(-x) · s(x)``."""
    inv = 1.0 / ops.square(x)
    return inv * (-1.0 + inv * (3.0 + inv * (-15.0 + inv * (105.0 + inv * (-945.0 + inv * 10395.0)))))


def _log_series(x):
    """``log s(x)`` (see :func:`_series_minus_one`)."""
    return ops.log1p(_series_minus_one(x))


def _lower_tail_terms(z):
    """``(log Φ(z), log(Φ(z)/φ(z)), φ(z)/Φ(z) + z)`` for ``z ≤ 0``.

    ``erfc`` down to the switch point, the asymptotic series below it, where the last two
    are written without the cancellation of ``log Φ - log φ`` and ``φ/Φ + z``. Each branch
    sees only inputs from its own range, so no branch yields NaN values or gradients.
    """
    switch = _switch(z.dtype)
    tail = z < switch
    zb = ops.maximum(z, switch)
    log_cdf_b = ops.log(0.5 * ops.erfc(-zb * _SQRT_HALF))
    log_mills_b = log_cdf_b - log_normal_pdf(zb)
    zt = ops.minimum(z, switch)
    s_minus_one = _series_minus_one(zt)
    log_mills_t = ops.log1p(s_minus_one) - ops.log(-zt)
    return (ops.where(tail, log_normal_pdf(zt) + log_mills_t, log_cdf_b),
            ops.where(tail, log_mills_t, log_mills_b),
            ops.where(tail, zt * s_minus_one / (1.0 + s_minus_one), ops.exp(-log_mills_b) + zb))


def _log_small_large(x):
    """``(log Φ(-|x|), log Φ(|x|))`` from one ``erfc``.

    The small tail is ``Φ(-a) = erfc(a/√2)/2`` up to the switch point and
    ``φ(a)/a · s(a)`` (the asymptotic series) beyond it, whose logarithm is taken with
    the Gaussian factor split off, so it never underflows; the large tail is
    ``log1p(-Φ(-a))``. Three transcendental functions per element: this is the inner
    loop of every mixture CDF and of its inverse. Each branch sees only inputs from its
    own range, so no branch produces NaN values or NaN gradients.
    """
    switch = -_switch(x.dtype)
    a = ops.abs(x)
    tail = a > switch
    a_tail = ops.maximum(a, switch)
    small_bulk = ops.where(tail, 0.0, 0.5 * ops.erfc(ops.minimum(a, switch) * _SQRT_HALF))
    # Beyond the switch: Φ(-a) = exp(-a²/2) · s(a) / (a √(2π)).
    scaled_tail = (1.0 + _series_minus_one(a_tail)) / (a_tail * _SQRT_2PI)
    log_small = ops.log(ops.where(tail, scaled_tail, small_bulk)) - ops.where(tail, 0.5 * ops.square(a_tail), 0.0)
    # Beyond the switch log Φ(a) = log1p(-Φ(-a)) ≈ -Φ(-a): tiny but kept (relative accuracy), not 0.
    log_large = ops.where(tail, -ops.exp(ops.minimum(log_small, 0.0)), ops.log1p(-small_bulk))
    return log_small, log_large


def log_ndtr(x):
    """``log Φ(x)``; same shape and dtype as ``x`` (valid range: module docstring).

    ``x ≥ 0``: ``log1p(-erfc(x/√2)/2)``; ``switch ≤ x < 0``: ``log(erfc(-x/√2)/2)``;
    ``x < switch``: the asymptotic series (see :func:`_log_small_large`).
    """
    x = ops.convert_to_tensor(x)
    log_small, log_large = _log_small_large(x)
    return ops.where(x < 0.0, log_small, log_large)


def log_ndtr_pair(x):
    """``(log Φ(x), log Φ(-x))``: log CDF and log survival of the standard normal,
    both from one ``erfc`` (see :func:`_log_small_large`)."""
    x = ops.convert_to_tensor(x)
    log_small, log_large = _log_small_large(x)
    negative = x < 0.0
    return ops.where(negative, log_small, log_large), ops.where(negative, log_large, log_small)


def _newton_step(z, log_p):
    """Newton step on ``g(z) = log Φ(z) - L`` (``z ≤ 0``): ``(g(z)·Φ(z)/φ(z), Φ(z)/φ(z), d log(Φ/φ)/dz)``."""
    log_cdf, log_mills, dlog_mills = _lower_tail_terms(z)
    ratio = ops.exp(log_mills)
    return (log_cdf - log_p) * ratio, ratio, dlog_mills


# Rational approximation of Φ⁻¹(p) (P. J. Acklam's coefficients; relative error 1.13e-9 at most,
# measured against scipy for -600 ≤ log p ≤ log ½, the range it is used on): a central form in p - ½ and a lower-tail form in q = √(-2 log p), which needs only
# log p, so it never underflows. One Newton step on log Φ then reaches float64 precision.
_CENTRAL_NUM = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
                1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_CENTRAL_DEN = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
                6.680131188771972e01, -1.328068155288572e01, 1.0)
_TAIL_NUM = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
             -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_TAIL_DEN = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
             3.754408661907416e00, 1.0)
_LOG_P_SWITCH = math.log(0.02425)


def _horner(coefficients, x):
    out = coefficients[0] * ops.ones_like(x)
    for c in coefficients[1:]:
        out = out * x + c
    return out


def _quantile_start(log_p):
    """``Φ⁻¹(exp L)`` to about 1e-9 relative error for ``-600 ≤ L ≤ log ½`` (float64)."""
    central = log_p > _LOG_P_SWITCH
    q = ops.exp(ops.maximum(log_p, _LOG_P_SWITCH)) - 0.5
    r = ops.square(q)
    z_central = q * _horner(_CENTRAL_NUM, r) / _horner(_CENTRAL_DEN, r)
    t = ops.sqrt(-2.0 * ops.minimum(log_p, _LOG_P_SWITCH))
    z_tail = _horner(_TAIL_NUM, t) / _horner(_TAIL_DEN, t)
    return ops.where(central, z_central, z_tail)


def ndtri_from_log(log_p, *, polish_steps: int = 1):
    """Lower-tail normal quantile ``z = Φ⁻¹(exp(log_p))`` for ``log_p ≤ log ½``.

    Valid for every finite ``log_p ≤ log ½`` (``z ≤ 0``), including values whose
    exponential underflows (``log_p = -5e5`` gives ``z ≈ -1000``). Computed in
    float64 and returned in the dtype of ``log_p``. The start is a rational
    approximation (relative error below 1.2e-9) for ``L ≥ -600``, and below that a
    fixed-point inversion of the asymptotic series (relative error about 1e-12);
    ``polish_steps`` Newton steps follow (see the module docstring for the gradient).
    Also correct under XLA (``jit_compile=True``).
    """
    if int(polish_steps) < 1:
        raise ValueError(f"polish_steps must be >= 1; got {polish_steps}.")
    log_p = ops.convert_to_tensor(log_p)
    out_dtype = log_p.dtype
    L = ops.minimum(ops.cast(log_p, "float64"), LOG_HALF)
    L0 = ops.stop_gradient(L)
    moderate = L0 > -600.0
    z_bulk = _quantile_start(ops.maximum(L0, -600.0))
    # log Φ(z) = log φ(z) - log(-z) + log s(z) with s the series factor, so z solves
    # z² = -2L - log 2π - 2 log(-z) + 2 log s(z); each pass gains a factor ~1/z² ≤ 1e-3.
    t = -2.0 * ops.minimum(L0, -600.0) - 2.0 * HALF_LOG_2PI
    z_far = -ops.sqrt(t)
    for _ in range(3):
        z_far = -ops.sqrt(t - 2.0 * ops.log(-z_far) + 2.0 * _log_series(z_far))
    z = ops.where(moderate, z_bulk, z_far)
    for _ in range(int(polish_steps) - 1):
        z = z - _newton_step(z, L0)[0]
    # Final step, written so that autodiff sees dz/dL = Φ(z)/φ(z) at the polished z: the
    # ratio r = Φ/φ at the start is moved along the step with d log r/dz = 1/r + z, which
    # is exact up to O(step²), i.e. far below float64 rounding.
    step, ratio, dlog_mills = _newton_step(z, L0)
    ratio = ratio * ops.exp(-dlog_mills * step)
    z = (z - step) + ratio * (L - L0)  # value z - step; derivative ratio
    return ops.cast(z, out_dtype)


def normal_quantile_two_tailed(log_cdf, log_sf):
    """``Φ⁻¹(F)`` given ``log F`` and ``log(1 - F)``, accurate in both tails.

    Uses the lower-tail quantile of ``log F`` when ``F < ½`` and minus the lower-tail
    quantile of ``log(1-F)`` otherwise: ``Φ⁻¹(F) = -Φ⁻¹(1-F)``. Shapes broadcast.
    """
    log_cdf = ops.convert_to_tensor(log_cdf)
    log_sf = ops.convert_to_tensor(log_sf, dtype=log_cdf.dtype)
    lower = log_cdf <= log_sf
    z = ndtri_from_log(ops.minimum(ops.where(lower, log_cdf, log_sf), LOG_HALF))
    return ops.where(lower, z, -z)


__all__ = [
    "HALF_LOG_2PI",
    "log_ndtr",
    "log_ndtr_pair",
    "log_normal_pdf",
    "ndtri_from_log",
    "normal_quantile_two_tailed",
]
