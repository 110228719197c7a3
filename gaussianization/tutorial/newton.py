"""A two-dimensional affine coupling fitted by Newton's method (NumPy, float64).

The coupling pushes base points ``z`` (rows of an ``(n, 2)`` array, ``z ~ N(0, I)``)
to target space; ``theta = (a, b, c, d)`` parametrises a linear conditioner::

    y1 = z1,    y2 = z2 * exp(s) + t,    s = a z1 + b,    t = c z1 + d,

with triangular Jacobian ``[[1, 0], [dy2/dz1, exp(s)]]`` and ``log|det J| = s``.
Fitting it to an unnormalised target ``p`` means maximising (reverse KL, up to a constant)::

    L(theta) = sum_i [ log p(f_theta(z_i)) + a z_i1 + b ].

With ``g2 = d log p / dy2``, ``h22 = d^2 log p / dy2^2`` at ``y_i``, ``u_i = ds/dtheta = (z1, 1, 0, 0)``
and ``v_i = dy2/dtheta = (z1 z2 e^s, z2 e^s, z1, 1)``, one sample contributes::

    grad_i = g2 v_i + u_i,        H_i = g2 z2 e^s u_i u_i^T + h22 v_i v_i^T,

a sum of two rank-one matrices, so a single sample's Hessian has rank at most 2 (of 4).
Only ``x2`` depends on ``theta``, so only ``g2`` and ``h22`` of the target enter.

Everything here is NumPy; :func:`objective_expression` and
:meth:`BananaTarget.log_prob_expression` also accept ``keras.ops`` in place of NumPy,
which is how the tests and notebook 01 check the hand-derived derivatives by autodiff.
The target density :class:`BananaTarget` lives in :mod:`gaussianization.tutorial.targets` and is
re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .targets import BananaTarget
from .targets import as_points as _points

__all__ = ["BananaTarget", "OptimizationResult", "coupling_forward", "coupling_inverse",
           "coupling_log_det", "objective", "objective_expression", "objective_and_derivatives",
           "per_sample_hessians", "newton_maximize", "gradient_ascent"]

def _theta(theta) -> np.ndarray:
    arr = np.asarray(theta, dtype=np.float64)
    if arr.shape != (4,):
        raise ValueError(f"theta must have shape (4,) = (a, b, c, d), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"theta must be finite, got {arr}")
    return arr


def coupling_forward(z, theta):
    """``z (n, 2) -> (y (n, 2), log|det dy/dz| (n,))`` with ``y2 = z2 e^{a z1 + b} + c z1 + d``."""
    z, (a, b, c, d) = _points(z, "z"), _theta(theta)
    s = a * z[:, 0] + b
    return np.stack([z[:, 0], z[:, 1] * np.exp(s) + c * z[:, 0] + d], axis=-1), s


def coupling_inverse(y, theta):
    """``y (n, 2) -> (z (n, 2), log|det dz/dy| (n,))`` with ``z2 = (y2 - c y1 - d) e^{-(a y1 + b)}``."""
    y, (a, b, c, d) = _points(y, "y"), _theta(theta)
    s = a * y[:, 0] + b
    return np.stack([y[:, 0], (y[:, 1] - c * y[:, 0] - d) * np.exp(-s)], axis=-1), -s


def coupling_log_det(z, theta) -> np.ndarray:
    """``log|det J(z)| = a z1 + b`` for ``(n, 2)`` ``z`` -> ``(n,)``."""
    return coupling_forward(z, theta)[1]


def objective_expression(theta, z, target, ops=np):
    """``L(theta)`` (a scalar) without validation; ``ops`` is NumPy or keras.ops (for autodiff)."""
    z1, z2 = z[:, 0], z[:, 1]
    s = theta[0] * z1 + theta[1]
    y = ops.stack([z1, z2 * ops.exp(s) + theta[2] * z1 + theta[3]], axis=-1)
    return ops.sum(target.log_prob_expression(y, ops) + s)


def objective(theta, z, target) -> float:
    """``L(theta) = sum_i [log p(f_theta(z_i)) + a z_i1 + b]`` for base points ``z (n, 2)``."""
    return float(objective_expression(_theta(theta), _points(z, "z"), target))


def _pieces(theta, z, target, second=True):
    """Per-sample ``y, u, v (n, 4)``, ``g2, h22, z2 e^s (n,)``; ``None`` if ``y`` overflows."""
    (a, b, c, d), z1, z2 = theta, z[:, 0], z[:, 1]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as a non-finite L
        scaled = z2 * np.exp(a * z1 + b)
        y = np.stack([z1, scaled + c * z1 + d], axis=-1)
        if not np.all(np.isfinite(y)):
            return None
        ones, zeros = np.ones_like(z1), np.zeros_like(z1)
        u = np.stack([z1, ones, zeros, zeros], axis=-1)
        v = np.stack([scaled * z1, scaled, z1, ones], axis=-1)
        h22 = target.hessian(y)[:, 1, 1] if second else None
        return y, u, v, target.grad(y)[:, 1], h22, scaled


def _evaluate(theta, z, target, hessian):
    pieces = _pieces(theta, z, target, hessian)
    if pieces is None:
        return np.nan, np.full(4, np.nan), np.full((4, 4), np.nan)
    y, u, v, g2, h22, scaled = pieces
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(np.sum(target.log_prob(y) + theta[0] * z[:, 0] + theta[1]))
        grad = v.T @ g2 + u.sum(axis=0)
        hess = (u.T * (g2 * scaled)) @ u + (v.T * h22) @ v if hessian else None
    return value, grad, hess


def objective_and_derivatives(theta, z, target, *, hessian: bool = True):
    """``(L, grad (4,), Hessian (4, 4))`` of the summed objective (Hessian ``None`` if not asked).

    If ``f_theta(z)`` overflows, the value, gradient and Hessian are NaN.
    """
    return _evaluate(_theta(theta), _points(z, "z"), target, hessian)


def per_sample_hessians(theta, z, target) -> np.ndarray:
    """The Hessian of each sample's term, ``(n, 4, 4)``; each has rank <= 2."""
    theta, z = _theta(theta), _points(z, "z")
    pieces = _pieces(theta, z, target)
    if pieces is None:
        raise ValueError("f_theta(z) overflows for this theta")
    _, u, v, g2, h22, scaled = pieces
    return ((g2 * scaled)[:, None, None] * u[:, :, None] * u[:, None, :]
            + h22[:, None, None] * v[:, :, None] * v[:, None, :])


@dataclass
class OptimizationResult:
    """Final ``theta (4,)``, whether ``||grad L|| <= tol`` was reached, and per-iteration histories
    ``objective`` (``L``) and ``grad_norm`` (``||grad L||``), shape ``(iterations + 1,)``, entry 0 the start.
    """

    theta: np.ndarray
    objective: np.ndarray
    grad_norm: np.ndarray
    converged: bool

    @property
    def iterations(self) -> int:
        return len(self.objective) - 1


def _norm(vector) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.linalg.norm(vector))


def _check_options(tol, max_iter):
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter}")


def newton_maximize(theta0, z, target, *, tol: float = 1e-8, max_iter: int = 50,
                    damping: float = 1e-3) -> OptimizationResult:
    """Maximise ``L`` by damped (Levenberg-Marquardt) Newton steps with a backtracking line search.

    Each step solves ``(-H + lam * h * I) p = grad`` with ``h = max|diag H|``; ``lam`` starts at
    ``damping``, grows tenfold until the matrix is positive definite (Cholesky succeeds), shrinks
    tenfold after a full step and grows tenfold after a shortened one. The step length ``t`` halves
    until the Armijo condition ``L(theta + t p) >= L(theta) + 1e-4 t grad.p`` holds (with a slack of
    1e-12 |L| for rounding). Stops when ``||grad|| <= tol``. Near the maximiser ``lam -> 0``,
    ``t = 1`` and the convergence is quadratic.
    """
    _check_options(tol, max_iter)
    if not (math.isfinite(damping) and damping >= 0):
        raise ValueError(f"damping must be a finite number >= 0, got {damping}")
    theta, z = _theta(theta0).copy(), _points(z, "z")
    value, grad, hess = _evaluate(theta, z, target, True)
    if not np.isfinite(value):
        raise ValueError("f_theta(z) overflows at theta0")
    values, norms, lam = [value], [_norm(grad)], damping
    for _ in range(max_iter):
        if norms[-1] <= tol:
            break
        scale = max(np.max(np.abs(np.diag(hess))), 1e-300)
        for _ in range(60):
            try:
                chol = np.linalg.cholesky(-hess + lam * scale * np.eye(4))
                break
            except np.linalg.LinAlgError:
                lam = max(10.0 * lam, 1e-8)
        else:
            break
        step = np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
        slope, t = float(grad @ step), 1.0
        while t > 1e-12:
            trial = theta + t * step
            new, new_grad, new_hess = _evaluate(trial, z, target, True)
            if np.isfinite(new) and new >= value + 1e-4 * t * slope - 1e-12 * abs(value):
                break
            t *= 0.5
        else:
            break
        lam = lam / 10.0 if t == 1.0 else lam * 10.0
        theta, value, grad, hess = trial, new, new_grad, new_hess
        values.append(value)
        norms.append(_norm(grad))
    return OptimizationResult(theta, np.array(values), np.array(norms), bool(norms[-1] <= tol))


def gradient_ascent(theta0, z, target, *, step: float, tol: float = 1e-8,
                    max_iter: int = 10_000) -> OptimizationResult:
    """Maximise ``L`` by ``theta <- theta + step * grad / n`` (a fixed step on the mean objective).

    Stops when ``||grad|| <= tol`` (gradient of the summed ``L``), after ``max_iter`` steps, or when
    the iterate stops being finite (the step was too large; ``converged`` is then ``False``).
    """
    _check_options(tol, max_iter)
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive finite number, got {step}")
    theta, z = _theta(theta0).copy(), _points(z, "z")
    value, grad, _ = _evaluate(theta, z, target, False)
    if not np.isfinite(value):
        raise ValueError("f_theta(z) overflows at theta0")
    values, norms = [value], [_norm(grad)]
    for _ in range(max_iter):
        if norms[-1] <= tol:
            break
        trial = theta + (step / len(z)) * grad
        new_value, new_grad, _ = _evaluate(trial, z, target, False)
        if not (np.isfinite(new_value) and np.isfinite(_norm(new_grad))):
            break
        theta, value, grad = trial, new_value, new_grad
        values.append(value)
        norms.append(_norm(grad))
    return OptimizationResult(theta, np.array(values), np.array(norms), bool(norms[-1] <= tol))
