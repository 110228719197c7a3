"""Special functions of the standard normal, accurate in both tails.

Everything here is written with ``keras.ops`` (no backend-specific code).

Functions (all element-wise, any shape, float32 or float64):

* :func:`log_ndtr`   ``log Φ(x)``: ``erfc`` in the bulk and an asymptotic
  series in the far lower tail, so it is relatively accurate far into the
  lower tail (e.g. ``log Φ(-1e3) ≈ -5.0e5``). In the upper tail, beyond
  ``x`` = 7.5 (float32) or 37 (float64), it returns ``-Φ(-x)`` from the same
  series (relatively accurate until it underflows to 0).
* :func:`log_ndtr_pair`   ``(log Φ(x), log Φ(-x))`` from one ``erfc``.
* :func:`log_ndtr_by_size`   ``log Φ(∓|x|)`` and the *scaled* logs ``log Φ(∓|x|) + x²/2``,
  the latter without the cancellation of the two (in the far lower tail it is
  ``log(s(a)/(a√(2π)))`` of the series, an O(log a) number).
* :func:`log_ndtr_scaled`   ``(log Φ(x), log Φ(x) + x²/2)`` for any ``x``.
* :func:`log_mills_ratio`   ``log(Φ(x)/φ(x))``, the same scaled log plus ``log √(2π)``.
* :func:`log_normal_pdf`   ``log φ(x) = -x²/2 - log √(2π)``.

The normal quantile built on these (``Φ⁻¹`` from a log-probability) is :mod:`.quantile`.

Valid range: every input, finite or not. The ``log Φ`` family never returns NaN for a non-NaN
input (a ``halved`` argument, see :func:`log_ndtr_by_size`, must have a finite square): where
``x²`` overflows (``|x|`` beyond about 1.8e19 in float32, 1.3e154 in float64) the
lower tail is ``-inf``, which is the float value of the true one, and ``x = ±inf`` gives the limits.
NaN inputs give NaN in their own elements only.

Gradients: every ``where`` here selects
between branches that each see only inputs from their own range, so no unselected
branch yields NaN values or NaN gradients for finite inputs.
"""

from __future__ import annotations

import math

import keras
from keras import ops

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
LOG_HALF = math.log(0.5)

# Below this argument Φ is taken from the asymptotic series (6 terms) instead of erfc, which
# underflows near x = -13 (float32) and x = -38 (float64). The truncation error of the series
# at the switch is 3.3e-7 relative (float32; erfc there is no better: the rounding of its
# argument alone costs eps·x² ≈ 3e-6) and ~1e-17 (float64). The float32 switch at 7.5 keeps
# |log Φ| and x²/2 below 32 in the erfc branch, so that their float32 rounding (≤ 1e-6 each)
# bounds the error of the scaled tails log Φ + x²/2 there.
_ASYMPTOTIC_SWITCH = {"float32": -7.5, "float64": -37.0}
_SQRT_HALF = math.sqrt(0.5)
_TWO_SQRT_PI = 2.0 * math.sqrt(math.pi)


def _switch(dtype) -> float:
    return _ASYMPTOTIC_SWITCH.get(keras.backend.standardize_dtype(dtype), -7.5)


def log_normal_pdf(x):
    """``log φ(x) = -x²/2 - log √(2π)``, element-wise."""
    x = ops.convert_to_tensor(x)
    return -0.5 * ops.square(x) - HALF_LOG_2PI


def _series_minus_one(x):
    """``s(x) - 1`` with ``s(x) = 1 - 1/x² + 3/x⁴ - … + 10395/x¹²``, the factor in ``Φ(x) ≈ φ(x)/(-x) · s(x)``."""
    return _series_minus_one_of_inverse_square(1.0 / ops.square(x))


def _series_minus_one_of_inverse_square(inv):
    """``s - 1`` of :func:`_series_minus_one` from ``inv = 1/x²``."""
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


def _log_small_large(x, halved: bool = False):
    """``(log Φ(-a), log Φ(a), log Φ(-a) + a²/2, log Φ(a) + a²/2)`` with ``a = |x|``, from one ``erfc``.

    Everything is computed from ``y = a/√2``, the argument of ``erfc`` (given directly as
    ``|x|`` with ``halved``, which saves a multiplication and its rounding), with
    ``a²/2 = y²``: the scaled logs then see the same rounded argument as ``erfc``, so the
    rounding of ``y`` does not enter them (in float32 it would cost ``eps·a²`` ≈ 6e-6 near the
    switch). The small tail is ``Φ(-a) = erfc(y)/2`` up to the switch point and
    ``φ(a)/a · s(a)`` (the asymptotic series) beyond it, whose logarithm is taken with
    the Gaussian factor split off, so it never underflows and its scaled form
    ``log Φ(-a) + a²/2 = log(s(a)/(a√(2π)))`` has no cancellation; the large tail is
    ``log1p(-Φ(-a))``. Four transcendental functions per element (``erfc``, ``log``, ``exp``,
    ``log1p``): this is the inner loop of every mixture CDF and of its inverse. Each branch sees only inputs from its
    own range, so no branch produces NaN values or NaN gradients.
    """
    switch = -_switch(x.dtype) * _SQRT_HALF  # in units of y
    a = ops.abs(x)
    y = a if halved else a * _SQRT_HALF
    tail = y > switch
    y_tail = ops.maximum(y, switch)
    # Beyond the switch: Φ(-a) = exp(-a²/2) · s(a) / (a √(2π)), with a √(2π) = 2√π y.
    scaled_tail = (1.0 + _series_minus_one_of_inverse_square(0.5 / ops.square(y_tail))) / (y_tail * _TWO_SQRT_PI)
    inner = ops.log(ops.where(tail, scaled_tail, 0.5 * ops.erfc(ops.minimum(y, switch))))
    # a²/2: as y² where erfc saw y; from a itself in the tail when a is given (one rounding less).
    half_square = ops.square(y) if halved else ops.where(tail, 0.5 * ops.square(a), ops.square(y))
    # ``where`` is the most expensive element-wise op on CPU (and doubles in the gradient):
    # masks multiply where they can. tail_square - half_square is exactly 0 beyond the switch
    # for finite a²/2, which a halved argument (a mixture's clipped standardisation) has;
    # otherwise (a = inf possible) the scaled small tail is selected.
    tail_square = half_square * ops.cast(tail, half_square.dtype)
    log_small = inner - tail_square
    if halved:
        scaled_small = inner + (half_square - tail_square)
    else:
        scaled_small = ops.where(tail, inner, inner + half_square)
    # log Φ(a) = log1p(-Φ(-a)): beyond the switch ≈ -Φ(-a), tiny but kept (relative accuracy), not 0.
    log_large = ops.log1p(-ops.exp(log_small))
    return log_small, log_large, scaled_small, log_large + half_square


def log_ndtr(x):
    """``log Φ(x)``; same shape and dtype as ``x`` (valid range: module docstring).

    ``switch ≤ x < 0``: ``log(erfc(-x/√2)/2)``; ``x < switch``: the asymptotic series;
    ``x ≥ 0``: ``log1p(-Φ(-x))`` with ``Φ(-x)`` from those (see :func:`_log_small_large`).
    """
    x = ops.convert_to_tensor(x)
    log_small, log_large, _, _ = _log_small_large(x)
    return ops.where(x < 0.0, log_small, log_large)


def log_ndtr_pair(x):
    """``(log Φ(x), log Φ(-x))``: log CDF and log survival of the standard normal,
    both from one ``erfc`` (see :func:`_log_small_large`)."""
    x = ops.convert_to_tensor(x)
    log_small, log_large, _, _ = _log_small_large(x)
    negative = x < 0.0
    return ops.where(negative, log_small, log_large), ops.where(negative, log_large, log_small)


def log_ndtr_by_size(x, *, halved: bool = False):
    """``(log Φ(-|x|), log Φ(|x|), log Φ(-|x|) + x²/2, log Φ(|x|) + x²/2)``, each the shape of ``x``.

    The last two are the logs of ``√(2π) Φ(∓|x|)/φ(x)`` (:func:`log_mills_ratio` minus
    ``log √(2π)``), computed without subtracting two large numbers: in the far lower tail the
    third is ``log(s(a)/(a√(2π)))`` of the asymptotic series. Selecting by the sign of ``x``
    gives the pair of :func:`log_ndtr_pair` and the scaled logs of either side, all from one
    ``erfc`` (see :func:`_log_small_large`). With ``halved``, the argument given is ``x/√2``
    (the quantities are still those of ``x``): a caller that scales anyway (a standardisation
    ``(x - μ)/σ``) folds ``1/√2`` into its scale and saves a rounding; a halved argument must
    have a finite square (the mixture clips it), else the third value is NaN. Otherwise ``x²/2``
    may overflow (``|x|`` beyond ≈ 1.8e19 in float32): then the fourth is ``inf``, the others
    stay exact (``-inf`` for ``log Φ(-|x|)``).
    """
    return _log_small_large(ops.convert_to_tensor(x), halved)


def log_ndtr_scaled(x, *, halved: bool = False):
    """``(log Φ(x), log Φ(x) + x²/2)``, each the shape of ``x`` (see :func:`log_ndtr_by_size`,
    also for ``halved``)."""
    x = ops.convert_to_tensor(x)
    log_small, log_large, scaled_small, scaled_large = _log_small_large(x, halved)
    negative = x < 0.0
    return ops.where(negative, log_small, log_large), ops.where(negative, scaled_small, scaled_large)


def log_mills_ratio(x):
    """``log(Φ(x)/φ(x)) = log Φ(x) + x²/2 + log √(2π)``, element-wise, without cancellation.

    About ``-log(-x)`` for ``x → -∞`` (``-inf`` at ``x = -inf``) and ``x²/2 + log √(2π)`` for
    ``x → +∞``.
    """
    return log_ndtr_scaled(x)[1] + HALF_LOG_2PI


__all__ = [
    "HALF_LOG_2PI",
    "LOG_HALF",
    "log_mills_ratio",
    "log_ndtr",
    "log_ndtr_by_size",
    "log_ndtr_pair",
    "log_ndtr_scaled",
    "log_normal_pdf",
]
