"""Special functions of the standard normal, accurate in both tails.

This is the only module of the library that calls the backend (TensorFlow)
directly: Keras 3 has no normal quantile function, so ``ndtri`` comes from
``tf.math``. Everything else is written with ``keras.ops``.

Functions (all element-wise, any shape, float32 or float64):

* :func:`log_ndtr`   ``log Φ(x)``: ``erfc`` in the bulk and an asymptotic
  series in the far lower tail, so it is finite and relatively accurate for
  every finite ``x`` (e.g. ``log Φ(-1e3) ≈ -5.0e5``).
* :func:`log_normal_pdf`   ``log φ(x) = -x²/2 - log √(2π)``.
* :func:`ndtri_from_log`   ``Φ⁻¹(exp L)`` for a log-probability ``L ≤ log ½``,
  computed in float64 from ``ndtri`` (or an asymptotic start when ``exp L``
  underflows) and polished by Newton steps on ``log Φ(z) = L``.
* :func:`normal_quantile_two_tailed`  ``Φ⁻¹(F)`` from the pair ``(log F, log(1-F))``,
  evaluated from the lower tail when ``F < ½`` and from the upper tail otherwise,
  so that neither tail is clamped.

Gradients: the last Newton polish in :func:`ndtri_from_log` is differentiated
with its starting point held constant, which yields exactly the implicit-function
derivative ``dz/dL = Φ(z)/φ(z)``; no custom gradient is needed.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
LOG_HALF = math.log(0.5)

# Below this argument erfc underflows (float32
# near x = -13, float64 near x = -38); the asymptotic series (6 terms) is used there.
# Its truncation error at the switch is ~1e-8 (float32) and ~1e-17 (float64).
_ASYMPTOTIC_SWITCH = {"float32": -10.0, "float64": -37.0}
_SQRT_HALF = math.sqrt(0.5)


def _switch(dtype) -> float:
    return _ASYMPTOTIC_SWITCH.get(keras.backend.standardize_dtype(dtype), -10.0)


def log_normal_pdf(x):
    """``log φ(x) = -x²/2 - log √(2π)``, element-wise."""
    x = ops.convert_to_tensor(x)
    return -0.5 * ops.square(x) - HALF_LOG_2PI


def _log_series(x):
    """``log s(x)``, ``s(x) = 1 - 1/x² + 3/x⁴ - … + 10395/x¹²``: the factor in ``Φ(x) ≈ φ(x)/(-x) · s(x)``."""
    inv = 1.0 / ops.square(x)
    return ops.log(1.0 + inv * (-1.0 + inv * (3.0 + inv * (-15.0 + inv * (105.0 + inv * (-945.0 + inv * 10395.0))))))


def _log_ndtr_asymptotic(x):
    """Asymptotic series of ``log Φ(x)`` for ``x ≪ 0`` (``x`` must be negative)."""
    return log_normal_pdf(x) - ops.log(-x) + _log_series(x)


def _log_ndtr_lower(z):
    """``log Φ(z)`` for ``z ≤ 0`` only: ``log(erfc(-z/√2)/2)`` down to the switch point,
    the asymptotic series below it (each branch sees only inputs from its own range)."""
    switch = _switch(z.dtype)
    bulk = ops.log(0.5 * ops.erfc(-ops.maximum(z, switch) * _SQRT_HALF))
    return ops.where(z >= switch, bulk, _log_ndtr_asymptotic(ops.minimum(z, switch)))


def log_ndtr(x):
    """``log Φ(x)`` for every finite ``x``; same shape and dtype as ``x``.

    ``x > 0``: ``log1p(-erfc(x/√2)/2)``; ``switch ≤ x ≤ 0``: ``log(erfc(-x/√2)/2)``;
    ``x < switch``: the asymptotic series. Each branch sees only inputs from its
    own range, so no branch produces NaN values or NaN gradients.
    """
    x = ops.convert_to_tensor(x)
    upper = ops.log1p(-0.5 * ops.erfc(ops.maximum(x, 0.0) * _SQRT_HALF))
    return ops.where(x > 0.0, upper, _log_ndtr_lower(ops.minimum(x, 0.0)))


def log_ndtr_pair(x):
    """``(log Φ(x), log Φ(-x))``: log CDF and log survival of the standard normal.

    One ``erfc`` serves both: with ``a = |x|``, the small tail is
    ``log Φ(-a) = log(erfc(a/√2)/2)`` (the asymptotic series beyond the switch
    point) and the large one is ``log Φ(a) = log1p(-Φ(-a))``.
    """
    x = ops.convert_to_tensor(x)
    switch = _switch(x.dtype)
    a = ops.abs(x)
    log_small = ops.where(
        a <= -switch,
        ops.log(0.5 * ops.erfc(ops.minimum(a, -switch) * _SQRT_HALF)),
        _log_ndtr_asymptotic(-ops.maximum(a, -switch)),
    )
    log_large = ops.log1p(-ops.exp(log_small))
    negative = x < 0.0
    return ops.where(negative, log_small, log_large), ops.where(negative, log_large, log_small)


def _newton_polish(z, log_p):
    """One Newton step on ``g(z) = log Φ(z) - L`` (``z ≤ 0``): ``z - g(z) · Φ(z)/φ(z)``."""
    log_cdf = _log_ndtr_lower(z)
    return z - (log_cdf - log_p) * ops.exp(log_cdf - log_normal_pdf(z))


def ndtri_from_log(log_p, *, polish_steps: int = 1):
    """Lower-tail normal quantile ``z = Φ⁻¹(exp(log_p))`` for ``log_p ≤ log ½``.

    Valid for every finite ``log_p ≤ log ½`` (``z ≤ 0``), including values whose
    exponential underflows (``log_p = -5e5`` gives ``z ≈ -1000``). Computed in
    float64 and returned in the dtype of ``log_p``. The start is ``ndtri(exp L)``,
    or where ``exp L`` underflows a fixed-point inversion of the asymptotic series
    (relative error about 1e-12); ``polish_steps`` Newton steps follow, the last of
    which is the one autodiff sees (see the module docstring).
    """
    if int(polish_steps) < 1:
        raise ValueError(f"polish_steps must be >= 1; got {polish_steps}.")
    log_p = ops.convert_to_tensor(log_p)
    out_dtype = log_p.dtype
    L = ops.minimum(ops.cast(log_p, "float64"), LOG_HALF)
    L0 = ops.stop_gradient(L)
    moderate = L0 > -600.0
    z_bulk = tf.math.ndtri(ops.exp(ops.maximum(L0, -600.0)))
    # log Φ(z) = log φ(z) - log(-z) + log s(z) with s the series factor, so z solves
    # z² = -2L - log 2π - 2 log(-z) + 2 log s(z); each pass gains a factor ~1/z² ≤ 1e-3.
    t = -2.0 * ops.minimum(L0, -600.0) - 2.0 * HALF_LOG_2PI
    z_far = -ops.sqrt(t)
    for _ in range(3):
        z_far = -ops.sqrt(t - 2.0 * ops.log(-z_far) + 2.0 * _log_series(z_far))
    z = ops.where(moderate, z_bulk, z_far)
    for _ in range(int(polish_steps) - 1):
        z = _newton_polish(z, L0)
    # The final step is the one autodiff sees: dz/dL = Φ(z)/φ(z).
    z = _newton_polish(ops.stop_gradient(z), L)
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
    "compile_function",
]



def compile_function(fn, input_dim: int | None = None):
    """Trace ``fn`` (tensors in, tensors out) into a reusable TensorFlow graph.

    Used for the iterative inverses, whose ``while_loop`` is slow op by op in eager mode.
    With ``input_dim``, ``fn`` takes one ``(batch, input_dim)`` tensor and is traced once
    per dtype for every batch size (no retracing when the batch size changes).
    """
    if input_dim is None:
        return tf.function(fn, reduce_retracing=True, autograph=False)
    traced = {}

    def call(x):
        x = tf.convert_to_tensor(x)
        if x.dtype not in traced:
            spec = tf.TensorSpec((None, int(input_dim)), x.dtype)
            traced[x.dtype] = tf.function(fn, input_signature=[spec], autograph=False)
        return traced[x.dtype](x)

    return call
