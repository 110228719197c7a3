"""The monotone rational-quadratic spline (Durkan et al. 2019, "Neural Spline Flows") as a transformer.

On ``[-B, B]`` each transformed coordinate goes through a monotone rational-quadratic
spline with ``M`` bins; outside it is the identity (linear tails of slope 1, matched
by fixing the boundary derivatives to 1). Knots ``(x_k, y_k)``, ``k = 0..M``, and
derivatives ``δ_k`` come from a parameter vector ``(batch, d·(3M - 1))`` read as
``(batch, d, 3M - 1)`` = [M width logits, M height logits, M - 1 interior derivatives]::

    w = m_w + (1 - M·m_w)·softmax(width logits),   x_k = -B + 2B·Σ_{j<k} w_j   (same for y, h)
    δ_k = m_δ + softplus(u_k + c),  c = log(e^{1 - m_δ} - 1)   (u = 0 ⇒ δ = 1),   δ_0 = δ_M = 1.

In bin ``k`` with ``s = h_k/w_k``, ``ξ = (x - x_k)/w_k`` and ``η = (x_{k+1} - x)/w_k = 1 - ξ``::

    L = s ξ² + δ_k ξη,   R = s η² + δ_{k+1} ξη,   D = L + R = s + (δ_{k+1} + δ_k - 2s) ξη
    y = y_k + h_k L/D = y_{k+1} - h_k R/D
    dy/dx = s² [δ_{k+1} ξ² + 2s ξη + δ_k η²] / D².

A zero conditioner output gives uniform bins and ``δ = 1``, i.e. ``y = x``: the layer is
the identity at initialisation with a zero-initialised conditioner head.

**Rounding.** ``L``, ``R``, ``D`` and the slope's numerator are sums of non-negative terms;
``ξ`` and ``η`` are each computed from their own knot (so a point near either end of a bin has a
small, accurate local coordinate); and ``y`` is taken from the nearer end (``y_k + h L/D`` when ``L ≤ R``, else
``y_{k+1} - h R/D``), so its rounding error scales with the knot and ``h·min(L, R)/D``, not with
``h``. The inverse uses ``Δ = y - y_k`` and ``Δ̄ = y_{k+1} - y`` (both ``≥ 0``): ``y = y_k + h L/D``
is ``Δ̄ L = Δ R``, a homogeneous quadratic in ``(ξ, η)``; ``t = ξ/η`` is the positive root of
``Δ̄ s t² + β t - Δ s = 0``, ``β = Δ̄ δ_k - Δ δ_{k+1}``, whose discriminant ``β² + 4ΔΔ̄s²`` is a sum
of non-negative terms. With ``t = p/q`` written as ``2sΔ / (β + √disc)`` for ``β ≥ 0`` and
``(√disc - β) / (2sΔ̄)`` for ``β < 0`` (``p, q > 0``, no difference of like-signed terms),
``ξ = p/(p + q)``, ``η = q/(p + q)``, and ``x`` is taken from the nearer end as in the forward.
(The root ``ξ = 2c/(-b - √(b² - 4ac))`` of the quadratic in ``ξ`` alone cancels when ``b < 0``;
even with the form chosen by the sign of ``b``, and ``y`` taken from the left knot, float32 round
trips on random splines reached 37× the conditioning bound of ``tests/test_spline.py``; these
forms stay within 1.4×.)

Bins are selected by counting the interior knots ``≤ v`` and gathering the bin's ends
(a gather, not a one-hot sum: about half the time forward, and faster gradients).
Inputs outside ``[-B, B]`` (any size, ``±inf``) take the identity branch with log-slope 0, and
the spline branch sees 0 in their place, so they give finite values and finite gradients with
respect to the parameters; a NaN input gives NaN output and log-slope in its own element only.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ..validation import check_int, check_positive
from .base import Transformer


def spline_knots(theta, d_b, num_bins, bound, min_bin_width, min_bin_height, min_derivative):
    """Knots ``(xk, yk)`` ``(batch, d, M+1)`` and derivatives ``(batch, d, M+1)`` from ``θ``."""
    m = num_bins
    t = ops.reshape(theta, (-1, d_b, 3 * m - 1))

    def knots(logits, min_size):
        if m == 1:  # one bin: [-B, B] (and no softmax over a single logit)
            edge = ops.ones_like(logits) * bound
            return ops.concatenate([-edge, edge], axis=-1)
        size = min_size + (1.0 - min_size * m) * ops.softmax(logits, axis=-1)
        inner = 2.0 * bound * ops.cumsum(size, axis=-1)[..., :-1] - bound
        edge = ops.ones_like(size[..., :1]) * bound
        return ops.concatenate([-edge, inner, edge], axis=-1)

    shift = math.log(math.expm1(1.0 - min_derivative))
    interior = min_derivative + ops.softplus(t[..., 2 * m:] + shift)
    one = ops.ones_like(t[..., :1])
    derivs = ops.concatenate([one, interior, one], axis=-1)
    return knots(t[..., :m], min_bin_width), knots(t[..., m:2 * m], min_bin_height), derivs


def _bin_quantities(v, knots_v, xk, yk, derivs):
    """For each ``v`` (``(batch, d)``, in range) its bin's ``x_k, x_{k+1}, y_k, y_{k+1}, δ_k, δ_{k+1}``.

    The bin is the number of interior knots of ``knots_v`` that are ``≤ v``; the knot arrays
    (``(batch, d, M+1)``, or broadcasting to it) are flattened and gathered from (int64 indices:
    no overflow for ``batch·d·(M+1) ≥ 2³¹``).
    """
    m1 = xk.shape[-1]
    idx = ops.sum(ops.cast(ops.expand_dims(v, -1) >= knots_v[..., 1:-1], "int64"), axis=-1)
    shape = ops.shape(v)
    lo = ops.reshape(ops.arange(ops.size(v), dtype="int64"), shape) * m1 + idx
    hi = lo + 1
    full = tuple(shape) + (m1,)

    def pick(a, i):
        return ops.take(ops.reshape(ops.broadcast_to(a, full), (-1,)), i)

    return pick(xk, lo), pick(xk, hi), pick(yk, lo), pick(yk, hi), pick(derivs, lo), pick(derivs, hi)


def _log_slope(xi, eta, s, d0, d1, denom):
    """``log dy/dx = log(s² [δ_{k+1} ξ² + 2s ξη + δ_k η²] / D²)``."""
    numer = ops.square(s) * (d1 * ops.square(xi) + 2.0 * s * xi * eta + d0 * ops.square(eta))
    return ops.log(numer / ops.square(denom))


def _split(v, bound):
    """``(inside, v_in)``: the mask of ``|v| ≤ B`` and ``v`` with 0 elsewhere (also for ±inf and NaN),
    so that the spline branch, though discarded there, has finite values and gradients."""
    inside = ops.logical_and(v >= -bound, v <= bound)
    return inside, ops.where(inside, v, ops.zeros_like(v))


def _tails(inside, v, out, log_slope):
    """Identity and log-slope 0 outside ``[-B, B]``; NaN log-slope where ``v`` is NaN."""
    log_slope = ops.where(inside, log_slope, ops.where(ops.isnan(v), v, ops.zeros_like(v)))
    return ops.where(inside, out, v), log_slope


def rq_spline_forward(x, xk, yk, derivs, bound):
    """``(y, log dy/dx)`` element-wise, ``(batch, d)``; identity outside ``[-B, B]``."""
    inside, xc = _split(x, bound)
    x0, x1, y0, y1, d0, d1 = _bin_quantities(xc, xk, xk, yk, derivs)
    w, h = x1 - x0, y1 - y0
    s = h / w
    xi, eta = (xc - x0) / w, (x1 - xc) / w
    xi_eta = xi * eta
    left = s * ops.square(xi) + d0 * xi_eta       # D·r,       r = (y - y_k)/h
    right = s * ops.square(eta) + d1 * xi_eta     # D·(1 - r)
    denom = left + right
    y = ops.where(left <= right, y0 + h * (left / denom), y1 - h * (right / denom))
    return _tails(inside, x, y, _log_slope(xi, eta, s, d0, d1, denom))


def rq_spline_inverse(y, xk, yk, derivs, bound):
    """``(x, log dx/dy)`` element-wise, ``(batch, d)``; identity outside ``[-B, B]``."""
    inside, yc = _split(y, bound)
    x0, x1, y0, y1, d0, d1 = _bin_quantities(yc, yk, xk, yk, derivs)
    w = x1 - x0
    s = (y1 - y0) / w
    lo, hi = yc - y0, y1 - yc                     # Δ, Δ̄ ≥ 0
    beta = hi * d0 - lo * d1
    root = ops.sqrt(ops.square(beta) + 4.0 * lo * hi * ops.square(s))
    # t = ξ/η = p/q > 0 in the form without cancellation for the sign of β (module docstring);
    # p + q ≥ 2|β| + ... > 0 always, and each branch is finite, so no inf/NaN values or gradients.
    positive = beta >= 0.0
    p = ops.where(positive, 2.0 * s * lo, root - beta)
    q = ops.where(positive, beta + root, 2.0 * s * hi)
    total = p + q
    xi, eta = p / total, q / total
    x = ops.where(p <= q, x0 + xi * w, x1 - eta * w)
    denom = s * (ops.square(xi) + ops.square(eta)) + (d0 + d1) * xi * eta
    return _tails(inside, y, x, -_log_slope(xi, eta, s, d0, d1, denom))


def check_spline_arguments(num_bins, bound, min_bin_width, min_bin_height, min_derivative, who):
    """The arguments of :class:`RationalQuadraticSpline`, checked and converted.

    ``num_bins``: an int ``≥ 1`` (bools and floats rejected); ``bound``: finite and ``> 0``;
    ``min_bin_width``, ``min_bin_height``: finite, ``> 0`` and ``num_bins·min < 1``;
    ``min_derivative``: finite, in ``(0, 1)``. TypeError for a wrong type, ValueError for a value
    out of range, each naming ``who``, the argument and the value.
    """
    num_bins = check_int(num_bins, "num_bins", 1, who)
    bound = check_positive(bound, "bound", who)
    mins = {}
    for name, value in (("min_bin_width", min_bin_width), ("min_bin_height", min_bin_height)):
        value = check_positive(value, name, who)
        if not value * num_bins < 1.0:
            raise ValueError(f"{who}: num_bins·{name} must be < 1; got {name}={value} with num_bins={num_bins}.")
        mins[name] = value
    min_derivative = check_positive(min_derivative, "min_derivative", who)
    if not min_derivative < 1.0:
        raise ValueError(f"{who}: min_derivative must be < 1; got {min_derivative}.")
    return num_bins, bound, mins["min_bin_width"], mins["min_bin_height"], min_derivative


@keras.saving.register_keras_serializable(package="gaussianization")
class RationalQuadraticSpline(Transformer):
    """Monotone rational-quadratic spline on ``[-B, B]``, identity outside (module docstring).

    Args:
        num_bins: ``M ≥ 1``, an int (``M = 1`` has no free shape: one bin with end slopes 1
            is the identity).
        bound: ``B > 0``, finite.
        min_bin_width, min_bin_height: lower bounds of ``w_k/(2B)`` and ``h_k/(2B)``
            (``> 0``, ``M·min < 1``).
        min_derivative: lower bound of the interior derivatives, in ``(0, 1)``.

    ``d·(3M - 1)`` parameters for ``d`` dimensions; all zeros is the identity. Raises
    TypeError for a wrong type (e.g. a float or bool ``num_bins``) and ValueError for a value
    outside these ranges (:func:`check_spline_arguments`).
    """

    def __init__(self, num_bins: int = 8, bound: float = 3.0, min_bin_width: float = 1e-3,
                 min_bin_height: float = 1e-3, min_derivative: float = 1e-3):
        (self.num_bins, self.bound, self.min_bin_width, self.min_bin_height,
         self.min_derivative) = check_spline_arguments(num_bins, bound, min_bin_width, min_bin_height,
                                                       min_derivative, type(self).__name__)

    def num_params(self, dim):
        return int(dim) * (3 * self.num_bins - 1)

    def describe_num_params(self, dim):
        return f"d_b·(3·num_bins - 1) = {dim}·(3·{self.num_bins} - 1)"

    def unpack(self, theta, dim):
        """``(xk, yk, derivs)``, each ``(batch, d, num_bins + 1)``."""
        return spline_knots(theta, int(dim), self.num_bins, self.bound, self.min_bin_width,
                            self.min_bin_height, self.min_derivative)

    def initial_params(self, dim):
        return np.zeros(self.num_params(dim))

    def forward(self, x, params):
        return rq_spline_forward(x, *params, self.bound)

    def inverse(self, y, params):
        return rq_spline_inverse(y, *params, self.bound)

    def get_config(self):
        return {"num_bins": self.num_bins, "bound": self.bound, "min_bin_width": self.min_bin_width,
                "min_bin_height": self.min_bin_height, "min_derivative": self.min_derivative}
