"""The standard normal quantile ``Φ⁻¹`` from a log-probability, accurate in both tails.

Keras 3 has no normal quantile function, so Φ⁻¹ is built here from a rational approximation
polished by Newton's method on ``log Φ`` (:mod:`.special`); it does not use ``tf.math.ndtri``,
whose XLA kernel returns NaN for probabilities below about 5e-17. Written with ``keras.ops``.

* :func:`ndtri_from_log`   ``Φ⁻¹(exp L)`` for a log-probability ``L ≤ log ½``, computed in
  float64 from a rational approximation (or an asymptotic start far in the tail) and polished
  by a Newton step on ``log Φ(z) = L``; :func:`ndtri_and_log_mills_from_log` also returns
  ``log(Φ(z)/φ(z))`` at that ``z``.
* :func:`normal_quantile_two_tailed`  ``Φ⁻¹(F)`` from the pair ``(log F, log(1-F))``,
  evaluated from the lower tail when ``F < ½`` and from the upper tail otherwise, so that
  neither tail is clamped.

Valid range: :func:`ndtri_from_log` is finite for every finite ``L ≤ log ½`` and gives ``-inf``
at ``L = -inf``; below ``L = -1e30`` it is ``-√(-2L)``, whose neglected terms are below float64
rounding there. NaN inputs give NaN in their own elements only.

Gradients: :func:`ndtri_from_log` is written so that autodiff sees exactly the
implicit-function derivative ``dz/dL = Φ(z)/φ(z)`` at the returned ``z``, with no custom
gradient (see the comment at its final Newton step).
"""

from __future__ import annotations

import math

from keras import ops

from .special import HALF_LOG_2PI, LOG_HALF, _log_series, _lower_tail_terms


def _newton_step(z, log_p):
    """Newton step on ``g(z) = log Φ(z) - L`` (``z ≤ 0``):
    ``(g(z)·Φ(z)/φ(z), Φ(z)/φ(z), log(Φ(z)/φ(z)), d log(Φ/φ)/dz)``."""
    log_cdf, log_mills, dlog_mills = _lower_tail_terms(z)
    ratio = ops.exp(log_mills)
    return (log_cdf - log_p) * ratio, ratio, log_mills, dlog_mills


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


#: Below this log-probability the lower-tail quantile is ``-√(-2L)``: the terms it neglects,
#: ``(log 2π + 2 log|z|) / (-2L)`` relative, are below 1e-28 there.
_LOG_P_HUGE = -1e30


def ndtri_and_log_mills_from_log(log_p, *, polish_steps: int = 1):
    """``(z, log(Φ(z)/φ(z)))`` with ``z = Φ⁻¹(exp(log_p))``, for ``log_p ≤ log ½``.

    Valid for every ``log_p ≤ log ½`` (``z ≤ 0``), including values whose exponential
    underflows (``log_p = -5e5`` gives ``z ≈ -1000``) and ``log_p = -inf`` (``z = -inf``, log
    Mills ratio ``-inf``). Computed in float64 and returned in the dtype of ``log_p``. The start
    is a rational approximation (relative error below 1.2e-9) for ``L ≥ -600``, and below that a
    fixed-point inversion of the asymptotic series (relative error about 1e-12);
    ``polish_steps`` Newton steps follow (see the module docstring for the gradient). Below
    ``L = -1e30`` the quantile is ``-√(-2L)`` and the log Mills ratio ``-log|z|``, exact to
    float64 rounding there. The log Mills ratio is that of the Newton step's start moved to the
    returned ``z`` (exact up to O(step²), far below float64 rounding), so it costs no further
    special function; autodiff sees its derivative ``d log(Φ/φ)/dz · dz/dL`` at ``z``.
    Also correct under XLA (``jit_compile=True``).
    """
    if int(polish_steps) < 1:
        raise ValueError(f"polish_steps must be >= 1; got {polish_steps}.")
    log_p = ops.convert_to_tensor(log_p)
    out_dtype = log_p.dtype
    L_all = ops.cast(log_p, "float64")
    L_all = ops.where(L_all > LOG_HALF, LOG_HALF, L_all)  # not ops.minimum: at L = log ½ its gradient is ½ on JAX/torch
    L = ops.maximum(L_all, _LOG_P_HUGE)  # the Newton branch never sees -inf or overflows
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
    # is exact up to O(step²), i.e. far below float64 rounding; so is its slope
    # d log r/dz, moved with d²log r/dz² = 1 - (d log r/dz)/r.
    step, ratio, log_mills, dlog_mills = _newton_step(z, L0)
    log_mills = log_mills - dlog_mills * step
    ratio = ratio * ops.exp(-dlog_mills * step)
    dlog_mills = dlog_mills - step * (1.0 - dlog_mills / ratio)
    z = (z - step) + ratio * (L - L0)  # value z - step; derivative ratio
    log_mills = log_mills + dlog_mills * ratio * (L - L0)  # derivative d log r/dz · dz/dL
    # Below L = -1e30, z = -√(-2L) to float64 precision, so z(L) = z(-1e30)·√(L/-1e30) and
    # log r = -log|z| moves by -½ log of that ratio; q = 1 exactly above (no change, no
    # gradient), q = inf at L = -inf (z = -inf, log r = -inf). Autodiff sees dz/dL = 1/|z| = r.
    q = L_all / L
    return ops.cast(z * ops.sqrt(q), out_dtype), ops.cast(log_mills - 0.5 * ops.log(q), out_dtype)


def ndtri_from_log(log_p, *, polish_steps: int = 1):
    """Lower-tail normal quantile ``z = Φ⁻¹(exp(log_p))`` for ``log_p ≤ log ½``.

    Valid for every ``log_p ≤ log ½`` (``z ≤ 0``), including values whose exponential
    underflows (``log_p = -5e5`` gives ``z ≈ -1000``) and ``-inf`` (``z = -inf``). The
    quantile of :func:`ndtri_and_log_mills_from_log`, which documents the method.
    """
    return ndtri_and_log_mills_from_log(log_p, polish_steps=polish_steps)[0]


def normal_quantile_two_tailed(log_cdf, log_sf, *, return_log_mills: bool = False):
    """``Φ⁻¹(F)`` given ``log F`` and ``log(1 - F)``, accurate in both tails.

    Uses the lower-tail quantile of ``log F`` when ``F ≤ ½`` (``log F ≤ log(1-F)``) and minus
    the lower-tail quantile of ``log(1-F)`` otherwise: ``Φ⁻¹(F) = -Φ⁻¹(1-F)``. Shapes broadcast.
    With ``return_log_mills``, returns ``(z, log(Φ(-|z|)/φ(z)))``, the log Mills ratio of the
    tail used (see :func:`ndtri_and_log_mills_from_log`).
    """
    log_cdf = ops.convert_to_tensor(log_cdf)
    log_sf = ops.convert_to_tensor(log_sf, dtype=log_cdf.dtype)
    lower = log_cdf <= log_sf
    z, log_mills = ndtri_and_log_mills_from_log(ops.minimum(ops.where(lower, log_cdf, log_sf), LOG_HALF))
    z = ops.where(lower, z, -z)
    return (z, log_mills) if return_log_mills else z


__all__ = ["ndtri_and_log_mills_from_log", "ndtri_from_log", "normal_quantile_two_tailed"]
