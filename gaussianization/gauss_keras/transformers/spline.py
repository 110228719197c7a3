"""The monotone rational-quadratic spline (Durkan et al. 2019, "Neural Spline Flows") as a transformer.

On ``[-B, B]`` each transformed coordinate goes through a monotone rational-quadratic
spline with ``M`` bins; outside it is the identity (linear tails of slope 1, matched
by fixing the boundary derivatives to 1). Knots ``(x_k, y_k)``, ``k = 0..M``, and
derivatives ``δ_k`` come from a parameter vector ``(batch, d·(3M - 1))`` read as
``(batch, d, 3M - 1)`` = [M width logits, M height logits, M - 1 interior derivatives]::

    w = m_w + (1 - M·m_w)·softmax(width logits),   x_k = -B + 2B·Σ_{j<k} w_j   (same for y, h)
    δ_k = m_δ + softplus(u_k + c),  c = log(e^{1 - m_δ} - 1)   (u = 0 ⇒ δ = 1),   δ_0 = δ_M = 1.

In bin ``k`` with ``s = h_k/w_k``, ``ξ = (x - x_k)/w_k ∈ [0, 1]``::

    y = y_k + h_k [s ξ² + δ_k ξ(1-ξ)] / [s + (δ_{k+1} + δ_k - 2s) ξ(1-ξ)]
    dy/dx = s² [δ_{k+1} ξ² + 2s ξ(1-ξ) + δ_k (1-ξ)²] / [s + (δ_{k+1} + δ_k - 2s) ξ(1-ξ)]².

A zero conditioner output gives uniform bins and ``δ = 1``, i.e. ``y = x``: the layer is
the identity at initialisation with a zero-initialised conditioner head.
The inverse solves the quadratic ``a ξ² + b ξ + c = 0`` with
``a = h_k(s - δ_k) + Δ·(δ_{k+1} + δ_k - 2s)``, ``b = h_k δ_k - Δ·(δ_{k+1} + δ_k - 2s)``,
``c = -s Δ``, ``Δ = y - y_k``: for ``b ≥ 0`` in the form ``ξ = 2c / (-b - √(b² - 4ac))`` of Durkan
et al. (2019), and for ``b < 0`` (where that denominator would be a difference of nearly equal
terms, and ``a > 0``) as ``ξ = (-b + √(b² - 4ac)) / (2a)``, so neither form cancels.

Inputs are clipped into ``[-B, B]`` before the spline maths and the tails are selected
with ``where``, so inputs of any size give finite values and finite gradients.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from .base import Transformer


def spline_knots(theta, d_b, num_bins, bound, min_bin_width, min_bin_height, min_derivative):
    """Knots ``(xk, yk)`` ``(batch, d, M+1)`` and derivatives ``(batch, d, M+1)`` from ``θ``."""
    m = num_bins
    t = ops.reshape(theta, (-1, d_b, 3 * m - 1))

    def knots(logits, min_size):
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
    """Select, for each ``v`` (``(batch, d)``, already in range), its bin's quantities."""
    m = xk.shape[-1] - 1
    idx = ops.sum(ops.cast(ops.expand_dims(v, -1) >= knots_v[..., 1:-1], "int32"), axis=-1)
    sel = ops.one_hot(idx, m, dtype=v.dtype)

    def pick(a):
        return ops.sum(a * sel, axis=-1)

    x0, y0 = pick(xk[..., :-1]), pick(yk[..., :-1])
    w, h = pick(xk[..., 1:] - xk[..., :-1]), pick(yk[..., 1:] - yk[..., :-1])
    return x0, y0, w, h, pick(derivs[..., :-1]), pick(derivs[..., 1:])


def _log_slope(xi, s, d0, d1):
    one_minus = 1.0 - xi
    denom = s + (d1 + d0 - 2.0 * s) * xi * one_minus
    numer = ops.square(s) * (d1 * ops.square(xi) + 2.0 * s * xi * one_minus + d0 * ops.square(one_minus))
    return ops.log(numer) - 2.0 * ops.log(denom)


def rq_spline_forward(x, xk, yk, derivs, bound):
    """``(y, log dy/dx)`` element-wise, ``(batch, d)``; identity outside ``[-B, B]``."""
    inside = ops.logical_and(x >= -bound, x <= bound)
    xc = ops.clip(x, -bound, bound)
    x0, y0, w, h, d0, d1 = _bin_quantities(xc, xk, xk, yk, derivs)
    s = h / w
    xi = (xc - x0) / w
    xi1 = xi * (1.0 - xi)
    y = y0 + h * (s * ops.square(xi) + d0 * xi1) / (s + (d1 + d0 - 2.0 * s) * xi1)
    return ops.where(inside, y, x), ops.where(inside, _log_slope(xi, s, d0, d1), ops.zeros_like(x))


def rq_spline_inverse(y, xk, yk, derivs, bound):
    """``(x, log dx/dy)`` element-wise, ``(batch, d)``; identity outside ``[-B, B]``."""
    inside = ops.logical_and(y >= -bound, y <= bound)
    yc = ops.clip(y, -bound, bound)
    x0, y0, w, h, d0, d1 = _bin_quantities(yc, yk, xk, yk, derivs)
    s = h / w
    dy = yc - y0
    curv = d1 + d0 - 2.0 * s
    a = h * (s - d0) + dy * curv
    b = h * d0 - dy * curv
    c = -s * dy
    root = ops.sqrt(ops.maximum(ops.square(b) - 4.0 * a * c, 0.0))
    # The root in [0, 1], in the form without cancellation for the sign of b: 2c/(-b - √D) when
    # b ≥ 0; (-b + √D)/(2a) when b < 0, where a > h·s > 0. (Each branch's denominator is replaced
    # where the other branch is used, so neither yields inf or NaN values or gradients.)
    positive = b >= 0.0
    xi_pos = 2.0 * c / ops.where(positive, -b - root, -1.0)
    xi_neg = (-b + root) / ops.where(positive, 1.0, 2.0 * a)
    xi = ops.clip(ops.where(positive, xi_pos, xi_neg), 0.0, 1.0)
    x = x0 + xi * w
    return ops.where(inside, x, y), ops.where(inside, -_log_slope(xi, s, d0, d1), ops.zeros_like(y))


@keras.saving.register_keras_serializable(package="gaussianization")
class RationalQuadraticSpline(Transformer):
    """Monotone rational-quadratic spline on ``[-B, B]``, identity outside (module docstring).

    Args:
        num_bins: ``M ≥ 2``.
        bound: ``B > 0``.
        min_bin_width, min_bin_height: lower bounds of ``w_k/(2B)`` and ``h_k/(2B)`` (``M·min < 1``).
        min_derivative: lower bound of the interior derivatives, in ``(0, 1)``.

    ``d·(3M - 1)`` parameters for ``d`` dimensions; all zeros is the identity. Raises
    ValueError for arguments outside these ranges.
    """

    def __init__(self, num_bins: int = 8, bound: float = 3.0, min_bin_width: float = 1e-3,
                 min_bin_height: float = 1e-3, min_derivative: float = 1e-3):
        who = type(self).__name__
        if int(num_bins) < 2:
            raise ValueError(f"{who} needs num_bins >= 2; got {num_bins}.")
        if not float(bound) > 0.0:
            raise ValueError(f"{who} needs bound > 0; got {bound}.")
        for name, value in (("min_bin_width", min_bin_width), ("min_bin_height", min_bin_height)):
            if not 0.0 < float(value) * int(num_bins) < 1.0:
                raise ValueError(f"{who} needs 0 < num_bins·{name} < 1; got {name}={value}.")
        if not 0.0 < float(min_derivative) < 1.0:
            raise ValueError(f"{who} needs 0 < min_derivative < 1; got {min_derivative}.")
        self.num_bins = int(num_bins)
        self.bound = float(bound)
        self.min_bin_width = float(min_bin_width)
        self.min_bin_height = float(min_bin_height)
        self.min_derivative = float(min_derivative)

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
