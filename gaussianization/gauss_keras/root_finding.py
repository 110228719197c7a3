"""A bracketed, safeguarded Newton solver for many independent increasing scalar equations.

:func:`solve_increasing` finds, for every row ``m = 1..M``, the root of ``h_m(x) = 0`` where
``h_m`` is increasing and a bracket ``lo_m ≤ x*_m ≤ hi_m`` is known. Each iteration takes the
Newton step if it stays in the bracket and at most halves the previous step, otherwise a
false-position step (Illinois variant), so it converges for every finite bracket and reaches the
quadratic rate of Newton's method near the root. Rows that have converged are dropped from the
loop, so a few slow rows do not cost passes over all of them (on JAX, whose loops keep their
shapes, they are frozen instead).

Reference: Press et al., *Numerical Recipes* (3rd ed.), §9.4 (``rtsafe``) and §9.2 (Illinois).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from keras import ops

from ._backend import STATIC_SHAPES, compile_function, while_loop_shrinking

__all__ = ["BracketState", "solve_increasing"]


class BracketState(NamedTuple):
    """Per-row solver state, each ``(M,)``.

    ``x``: iterate; ``lo``, ``hi``: bracket ends; ``h_lo``, ``h_hi``: residuals stored for them
    (0 while unknown); ``step``: last step taken; ``side``: sign of ``h(x)`` at the last
    evaluation (−1, 0, +1); ``newton``: 1 where the last step was a Newton step.
    """

    x: object
    lo: object
    hi: object
    h_lo: object
    h_hi: object
    step: object
    side: object
    newton: object

    @classmethod
    def start(cls, x0, lo, hi):
        zeros = ops.zeros_like(x0)
        return cls(x0, lo, hi, zeros, zeros, hi - lo, zeros, zeros)


def _false_position(s: BracketState):
    """Secant root of the bracket ends, or the midpoint where that is undefined."""
    denom = s.h_hi - s.h_lo
    x_fp = (s.lo * s.h_hi - s.hi * s.h_lo) / ops.where(denom > 0.0, denom, 1.0)
    inside = ops.logical_and(denom > 0.0, ops.logical_and(x_fp > s.lo, x_fp < s.hi))
    return ops.where(inside, x_fp, 0.5 * (s.lo + s.hi))


def _step(s: BracketState, h, dh) -> BracketState:
    """Shrink the bracket with the sign of ``h(x)`` and take the safeguarded step."""
    below, above = h < 0.0, h > 0.0
    lo, h_lo = ops.where(below, s.x, s.lo), ops.where(below, h, s.h_lo)
    hi, h_hi = ops.where(above, s.x, s.hi), ops.where(above, h, s.h_hi)
    side = ops.cast(ops.where(below, -1.0, ops.where(above, 1.0, 0.0)), s.x.dtype)
    # Illinois: when the same end moves twice running, halve the other end's residual.
    h_hi = ops.where(ops.logical_and(side < 0.0, s.side < 0.0), 0.5 * h_hi, h_hi)
    h_lo = ops.where(ops.logical_and(side > 0.0, s.side > 0.0), 0.5 * h_lo, h_lo)
    newton = s.x - h / dh
    use_newton = ops.logical_and(ops.logical_and(newton >= lo, newton <= hi), ops.abs(2.0 * h) <= ops.abs(s.step * dh))
    shrunk = BracketState(s.x, lo, hi, h_lo, h_hi, s.step, side, s.newton)
    x_new = ops.where(use_newton, newton, _false_position(shrunk))
    x_new = ops.where(ops.isnan(x_new), s.x, x_new)
    return BracketState(x_new, lo, hi, h_lo, h_hi, x_new - s.x, side, ops.cast(use_newton, s.x.dtype))


def _finished(old: BracketState, new: BracketState, tol):
    """Rows whose iterate is within ``tol · (1 + |x|)`` of the root (or NaN).

    Either the step just taken was that small, or two Newton steps running show quadratic
    convergence (``e_next ≈ c e²``, ``c ≈ |s_k|/s_{k-1}²``) and predict the error left,
    ``|s_k|³/s_{k-1}²``, to be a thousand times below the tolerance: this saves the
    evaluation that would only confirm convergence.
    """
    scale = tol * (1.0 + ops.abs(new.x))
    small = ops.abs(new.step) <= scale
    both_newton = ops.logical_and(new.newton > 0.0, old.newton > 0.0)
    quadratic = ops.logical_and(both_newton, 1e3 * ops.abs(new.step) ** 3 <= scale * ops.square(old.step))
    return ops.logical_or(ops.logical_or(small, quadratic), ops.isnan(new.x))


def solve_increasing(residual, x0, lo, hi, params, *, tol: float, max_iterations: int):
    """Roots of ``M`` increasing scalar equations, ``(M,)``.

    Args:
        residual: ``residual(x, *params) -> (h, dh/dx)``, each ``(M',)``, for ``M' ≤ M`` rows
            (``params`` are gathered to those rows).
        x0, lo, hi: start and bracket, ``(M,)``, with ``lo ≤ root ≤ hi``; ``x0`` in the bracket.
        params: tuple of tensors with leading dimension ``M`` (row-wise parameters).
        tol: a row stops once its iterate is within ``tol · (1 + |x|)`` of the root.
        max_iterations: cap on the iterations; a row still running then returns its last
            iterate, which lies in the bracket.

    Returns the final iterates ``(M,)``; rows whose start is NaN stay NaN. Every backend takes
    the same steps (:func:`_step`, :func:`_finished`); only the loop differs: finished rows are
    dropped (TensorFlow, torch) or, where shapes must stay fixed (JAX), frozen in place.
    """
    x0, lo, hi = (ops.convert_to_tensor(t) for t in (x0, lo, hi))
    params = tuple(ops.convert_to_tensor(p) for p in params)
    tol, max_iterations = float(tol), int(max_iterations)
    if STATIC_SHAPES:  # compiled once per shape and dtype, not traced again at every call
        return _frozen_rows_solver(residual, tol, max_iterations)(x0, lo, hi, params)
    return _dropped_rows_loop(_updater(residual, tol), BracketState.start(x0, lo, hi), params, max_iterations)


def _updater(residual, tol):
    """``update(state, row_params) -> (new_state, finished)``: one step of every row given."""

    def update(old: BracketState, row_params):
        new = _step(old, *residual(old.x, *row_params))
        return new, _finished(old, new, tol)

    return update


@functools.lru_cache(maxsize=None)
def _frozen_rows_solver(residual, tol: float, max_iterations: int):
    """:func:`solve_increasing` with :func:`_frozen_rows_loop`, compiled (``x0, lo, hi, params`` in)."""

    def solve(x0, lo, hi, params):
        return _frozen_rows_loop(_updater(residual, tol), BracketState.start(x0, lo, hi), params, max_iterations)

    return compile_function(solve)


def _dropped_rows_loop(update, start: BracketState, params, max_iterations: int):
    """Iterate ``update`` on the running rows only: finished rows leave the loop."""
    n_state = len(BracketState._fields)

    def cond(i, out, index, *rows):
        return ops.logical_and(i < max_iterations, ops.shape(index)[0] > 0)

    def body(i, out, index, *rows):
        new, finished = update(BracketState(*rows[:n_state]), rows[n_state:])
        out = ops.scatter_update(out, ops.expand_dims(index, -1), new.x)
        going = ops.logical_not(finished)
        rows = (index, *new, *rows[n_state:])
        # Drop the finished rows once they are worth a gather (a tenth of the active ones).
        rows = ops.cond(10 * ops.sum(ops.cast(going, "int32")) < 9 * ops.shape(index)[0],
                        lambda: tuple(ops.take(t, ops.where(going)[0], axis=0) for t in rows),
                        lambda: rows)
        return (i + 1, out, *rows)

    index = ops.arange(ops.shape(start.x)[0], dtype="int64")
    return while_loop_shrinking(cond, body, (0, start.x, index, *start, *params))[1]


def _frozen_rows_loop(update, start: BracketState, params, max_iterations: int):
    """Iterate ``update`` on all rows with fixed shapes: a finished row keeps its state."""

    def cond(i, running, *state):
        return ops.logical_and(i < max_iterations, ops.any(running))

    def body(i, running, *state):
        old = BracketState(*state)
        new, finished = update(old, params)
        state = (ops.where(running, a, b) for a, b in zip(new, old))
        return (i + 1, ops.logical_and(running, ops.logical_not(finished)), *state)

    running = ops.ones(ops.shape(start.x), dtype="bool")
    return ops.while_loop(cond, body, (0, running, *start))[2]
