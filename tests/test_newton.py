"""Tests for gaussianization.tutorial.newton: the affine coupling, its derivatives and the optimisers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from keras import ops

from gaussianization.gauss_keras._backend import batch_jacobian
from gaussianization.tutorial import newton

from .helpers import gradients, numpy

TARGET = newton.BananaTarget(curvature=0.4, tilt=0.3, shift=-0.4, scale=0.25, fan=0.4)
FINITE = st.floats(-3.0, 3.0, allow_nan=False)


def _relative_error(approx, exact):
    return float(np.linalg.norm(approx - exact) / np.linalg.norm(exact))


def _autodiff_objective(theta, z, target):
    """Value, gradient and Hessian of the objective at ``theta`` by autodiff, in float64."""
    z = ops.convert_to_tensor(np.asarray(z, dtype=np.float64))

    def gradient(rows):  # rows: theta as one row (1, 4); the Hessian is its batch Jacobian
        return gradients(lambda t: newton.objective_expression(t[0], z, target, ops), rows)[1][0]

    theta = np.asarray(theta, dtype=np.float64)[None]
    hess, grad = batch_jacobian(gradient, theta)
    value = newton.objective_expression(ops.convert_to_tensor(theta[0]), z, target, ops)
    return float(numpy(value)), numpy(grad)[0], numpy(hess)[0]


# --- the coupling map -----------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(theta=arrays(np.float64, 4, elements=st.floats(-1.0, 1.0)),
       z=arrays(np.float64, (7, 2), elements=FINITE))
def test_round_trip_and_inverse_log_det(theta, z):
    y, log_det = newton.coupling_forward(z, theta)
    back, inverse_log_det = newton.coupling_inverse(y, theta)
    np.testing.assert_allclose(back, z, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(y[:, 0], z[:, 0])
    np.testing.assert_allclose(inverse_log_det, -log_det, rtol=0, atol=1e-15)


def test_log_det_matches_numerical_jacobian():
    rng = np.random.default_rng(1)
    theta, z, h = rng.normal(0, 0.7, 4), rng.standard_normal((40, 2)), 1e-6
    jac = np.empty((40, 2, 2))
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        jac[:, :, j] = (newton.coupling_forward(z + e, theta)[0]
                        - newton.coupling_forward(z - e, theta)[0]) / (2 * h)
    np.testing.assert_allclose(jac[:, 0, 1], 0.0, atol=1e-12)  # triangular
    numerical = np.log(np.abs(np.linalg.det(jac)))
    np.testing.assert_allclose(newton.coupling_log_det(z, theta), numerical, rtol=0, atol=1e-8)


# --- derivatives against autodiff -------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_gradient_and_hessian_match_autodiff(seed):
    rng = np.random.default_rng(seed)
    theta, z = rng.normal(0, 0.5, 4), rng.standard_normal((300, 2))
    value, grad, hess = newton.objective_and_derivatives(theta, z, TARGET)
    ad_value, ad_grad, ad_hess = _autodiff_objective(theta, z, TARGET)
    assert abs(value - ad_value) <= 1e-12 * abs(ad_value)
    assert _relative_error(grad, ad_grad) <= 1e-8
    assert _relative_error(hess, ad_hess) <= 1e-8
    np.testing.assert_allclose(hess, hess.T, rtol=0, atol=1e-9 * np.abs(hess).max())


def test_target_derivatives_match_autodiff():
    x = TARGET.sample(200, seed=3)

    def gradient(t):
        return gradients(lambda u: ops.sum(TARGET.log_prob_expression(u, ops)), t)[1][0]

    # Rows are independent, so the batch Jacobian of the gradient holds each point's Hessian.
    hess, grad = (numpy(t) for t in batch_jacobian(gradient, x))
    assert _relative_error(TARGET.grad(x), grad) <= 1e-10
    assert _relative_error(TARGET.hessian(x), hess) <= 1e-10
    assert np.abs(TARGET.hessian(x)[:, 0, 1]).max() > 0.1  # the cross term is not zero


def test_target_is_normalised_and_sampled_correctly():
    h = 0.02
    x1, x2 = np.meshgrid(np.arange(-7.0, 7.0, h), np.arange(-6.0, 25.0, h))
    density = np.exp(TARGET.log_prob(np.stack([x1.ravel(), x2.ravel()], -1)))
    assert abs(density.sum() * h * h - 1.0) <= 1e-6
    samples = TARGET.sample(200_000, seed=0)
    # E[x2] = curvature * E[x1^2] + shift, with x1 ~ N(0, 1).
    assert abs(samples[:, 1].mean() - (0.4 - 0.4)) <= 5 * samples[:, 1].std() / np.sqrt(len(samples))


def test_per_sample_hessians_have_rank_two_and_sum_to_the_hessian():
    rng = np.random.default_rng(4)
    theta, z = rng.normal(0, 0.5, 4), rng.standard_normal((25, 2))
    per_sample = newton.per_sample_hessians(theta, z, TARGET)
    assert per_sample.shape == (25, 4, 4)
    assert max(np.linalg.matrix_rank(h) for h in per_sample) == 2
    hess = newton.objective_and_derivatives(theta, z, TARGET)[2]
    np.testing.assert_allclose(per_sample.sum(axis=0), hess, rtol=1e-12, atol=1e-12)
    assert np.linalg.matrix_rank(hess) == 4


# --- optimisers ------------------------------------------------------------------------------

def test_newton_converges_fast_and_beats_gradient_ascent():
    rng = np.random.default_rng(0)
    z, theta0 = rng.standard_normal((1000, 2)), 0.1 * rng.standard_normal(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = newton.newton_maximize(theta0, z, TARGET, tol=1e-8)
        ascent = newton.gradient_ascent(theta0, z, TARGET, step=0.025, tol=1e-8, max_iter=3000)
    assert fit.converged and fit.iterations <= 20 and fit.grad_norm[-1] <= 1e-8
    assert fit.objective.shape == fit.grad_norm.shape == (fit.iterations + 1,)
    assert np.all(np.diff(fit.objective) >= -1e-9)  # the line search never lowers L
    assert ascent.converged and ascent.iterations >= 10 * fit.iterations
    np.testing.assert_allclose(ascent.theta, fit.theta, rtol=0, atol=1e-8)
    # The maximiser has a negative-definite Hessian.
    hess = newton.objective_and_derivatives(fit.theta, z, TARGET)[2]
    assert np.linalg.eigvalsh(hess).max() < 0


def test_gradient_ascent_with_too_large_a_step_stops_without_warnings():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = newton.gradient_ascent(np.zeros(4), z, TARGET, step=5.0, max_iter=200)
    assert not result.converged
    assert np.all(np.isfinite(result.objective)) and np.all(np.isfinite(result.theta))


def test_newton_recovers_an_exact_coupling():
    """If the target is itself a coupling of N(0, I), Newton finds its parameters."""
    target = newton.BananaTarget(curvature=0.0, tilt=0.7, shift=-0.3, scale=0.5, fan=0.2)
    z = np.random.default_rng(5).standard_normal((50_000, 2))
    fit = newton.newton_maximize(np.zeros(4), z, target)
    assert fit.converged
    np.testing.assert_allclose(fit.theta, [0.2, np.log(0.5), 0.7, -0.3], atol=0.02)


# --- bad input -------------------------------------------------------------------------------

Z = np.zeros((3, 2))


@pytest.mark.parametrize("call, message", [
    (lambda: newton.coupling_forward(Z, np.zeros(3)), "theta must have shape"),
    (lambda: newton.coupling_forward(Z, [0.0, np.nan, 0.0, 0.0]), "theta must be finite"),
    (lambda: newton.coupling_forward(np.zeros((3, 3)), np.zeros(4)), "z must have shape"),
    (lambda: newton.coupling_forward(np.zeros(2), np.zeros(4)), "z must have shape"),
    (lambda: newton.coupling_forward(np.zeros((0, 2)), np.zeros(4)), "z must have shape"),
    (lambda: newton.coupling_inverse([[0.0, np.inf]], np.zeros(4)), "y contains NaN"),
    (lambda: newton.objective(np.zeros(4), [[np.nan, 0.0]], TARGET), "z contains NaN"),
    (lambda: newton.objective_and_derivatives(np.zeros((2, 2)), Z, TARGET), "theta must"),
    (lambda: TARGET.log_prob(np.zeros((4, 1))), "x must have shape"),
    (lambda: newton.BananaTarget(scale=0.0), "must be positive"),
    (lambda: newton.BananaTarget(fan=np.nan), "must be finite"),
    (lambda: newton.newton_maximize(np.zeros(4), Z, TARGET, tol=0.0), "tol must"),
    (lambda: newton.newton_maximize(np.zeros(4), Z, TARGET, max_iter=0), "max_iter must"),
    (lambda: newton.newton_maximize(np.zeros(4), Z, TARGET, damping=-1.0), "damping must"),
    (lambda: newton.newton_maximize([0.0, 800.0, 0.0, 0.0], Z + 1, TARGET), "overflows"),
    (lambda: newton.gradient_ascent(np.zeros(4), Z, TARGET, step=0.0), "step must"),
    (lambda: newton.gradient_ascent(np.zeros(5), Z, TARGET, step=0.1), "theta must"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
