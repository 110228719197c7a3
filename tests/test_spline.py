"""Rational-quadratic spline: knots, identity at init, tails, exact inverse, gradients, bad input.

Flow-level behaviour of spline coupling flows (training, sampling, save/load, parameter count)
is in ``test_flows.py``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from gaussianization.gauss_keras import (
    RationalQuadraticSpline,
    RQSplineCoupling,
    make_spline_conditioner,
    make_spline_coupling_flow,
)
from gaussianization.gauss_keras.transformers.spline import rq_spline_forward, rq_spline_inverse, spline_knots

from .helpers import autodiff_log_det, perturb

BOUND = 3.0


def spline(mask, num_bins=8, dtype="float32", noise=0.3, seed=0, owned_head=False):
    """A built RQSplineCoupling with the seeds' complete conditioner, or (``owned_head``) the
    default trunk and the coupling's own head."""
    mask = np.asarray(mask)
    keras.utils.set_random_seed(seed)
    if owned_head:
        layer = RQSplineCoupling(mask, num_bins=num_bins, bound=BOUND, hidden=(8,), dtype=dtype)
    else:
        conditioner = make_spline_conditioner(int((~mask).sum()), num_bins, (8,), dtype=dtype)
        layer = RQSplineCoupling(mask, conditioner, num_bins=num_bins, bound=BOUND, dtype=dtype)
    layer.build((None, mask.size))
    return perturb(layer, np.random.default_rng(seed), noise) if noise else layer


def mixed_inputs(d, n=400, dtype="float32", seed=1):
    """Bulk points, points outside [-B, B], far points, and points exactly on ±B."""
    rng = np.random.default_rng(seed)
    x = 2.0 * rng.standard_normal((n, d))
    x[: n // 4] *= 4.0
    special = np.array([10.0, -10.0, 1e3, -1e3, BOUND, -BOUND, 0.0, 2.999, -2.999])
    x[-len(special):] = special[:, None] * np.ones(d)
    x[-2 * len(special):-len(special)] = np.roll(special, 3)[:, None] * np.ones(d)
    return x.astype(dtype)


@pytest.mark.parametrize("owned_head", [False, True])
def test_identity_at_initialisation(owned_head):
    layer = spline([True, False, False], noise=0.0, owned_head=owned_head)
    x = mixed_inputs(3)
    z, log_det = layer.forward_and_log_det(x)
    np.testing.assert_allclose(z.numpy(), x, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(log_det.numpy(), 0.0, atol=1e-6)
    if owned_head:
        return
    flow = make_spline_coupling_flow(3, 2)
    rotations = [b for b in flow.bijector_layers if type(b).__name__ == "Householder"]
    expected = x @ rotations[0].matrix() @ rotations[1].matrix()
    np.testing.assert_allclose(flow(x).numpy(), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("mask", [[True, False], [False, True, False, True], [True, True, False]])
def test_round_trip_float32_in_and_out_of_range(mask):
    layer = spline(mask, seed=len(mask))
    x = mixed_inputs(len(mask))
    z, log_det = layer.forward_and_log_det(x)
    assert np.isfinite(z.numpy()).all() and np.isfinite(log_det.numpy()).all()
    back, inv_log_det = layer.inverse_and_log_det(z)
    err = np.abs(back.numpy() - x)
    assert err.max() <= 1e-5, err.max()
    np.testing.assert_allclose(inv_log_det.numpy(), -log_det.numpy(), rtol=1e-4, atol=1e-4)
    outside = np.abs(x) > BOUND
    np.testing.assert_array_equal(z.numpy()[outside], x[outside])  # identity tails, exactly


def test_spline_is_monotone_and_continuous_at_the_bounds():
    layer = spline([True, False], dtype="float64", noise=0.8, seed=5)
    grid = np.linspace(-4.0, 4.0, 4001)
    x = np.stack([np.full_like(grid, 0.7), grid], axis=1)
    z, log_det = layer.forward_and_log_det(x)
    y = z.numpy()[:, 1]
    assert np.all(np.diff(y) > 0)
    for b in (-BOUND, BOUND):  # value and slope match the identity tails at ±B
        z_b, ld_b = layer.forward_and_log_det(np.array([[0.7, b], [0.7, b * (1 + 1e-9)]]))
        np.testing.assert_allclose(z_b.numpy()[:, 1], [b, b * (1 + 1e-9)], atol=1e-12)
        np.testing.assert_allclose(ld_b.numpy(), 0.0, atol=1e-12)


def test_finite_gradients_out_of_range():
    layer = spline([False, True], seed=2, noise=0.5)
    x = tf.constant(np.array([[1e3, -1e3], [-1e3, 5.0], [BOUND, -BOUND], [10.0, 0.1], [-BOUND, 1e3]], "float32"))
    for direction in ("forward_and_log_det", "inverse_and_log_det"):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            out, log_det = getattr(layer, direction)(x)
            total = tf.reduce_sum(out) + tf.reduce_sum(log_det)
        grads = tape.gradient(total, [x] + layer.trainable_variables)
        assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads), direction
        # Outside [-B, B] the map is the identity: d out / d x = 1 there.
        np.testing.assert_allclose(tape.gradient(out, x).numpy()[[0, 1], 0], 1.0)


@pytest.mark.parametrize("owned_head", [False, True])
def test_log_det_matches_autodiff_float64(owned_head):
    layer = spline([True, False, True, False], dtype="float64", noise=0.6, seed=4, owned_head=owned_head)
    x = mixed_inputs(4, n=64, dtype="float64", seed=7)
    z, log_det = layer.forward_and_log_det(x)
    expected = autodiff_log_det(lambda t: layer.forward_and_log_det(t)[0], x)
    np.testing.assert_allclose(log_det.numpy(), expected, rtol=1e-6, atol=1e-9)
    back = layer.inverse(z).numpy()
    np.testing.assert_allclose(back, x, rtol=1e-12, atol=1e-10)


def test_knots_are_valid_and_zero_output_is_identity():
    theta = tf.constant(np.random.default_rng(0).normal(0, 3.0, (5, 2 * (3 * 6 - 1))))
    xk, yk, derivs = (t.numpy() for t in spline_knots(theta, 2, 6, BOUND, 1e-3, 1e-3, 1e-3))
    for knots in (xk, yk):
        np.testing.assert_array_equal(knots[..., 0], -BOUND)
        np.testing.assert_array_equal(knots[..., -1], BOUND)
        assert np.all(np.diff(knots, axis=-1) >= 2 * BOUND * 1e-3 * 0.999)
    assert np.all(derivs > 1e-3) and np.all(derivs[..., [0, -1]] == 1.0)
    zero = tf.zeros((3, 2 * 17), "float64")
    x = tf.constant(np.linspace(-2.9, 2.9, 6).reshape(3, 2))
    y, log_slope = rq_spline_forward(x, *spline_knots(zero, 2, 6, BOUND, 1e-3, 1e-3, 1e-3), BOUND)
    np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-14)
    np.testing.assert_allclose(log_slope.numpy(), 0.0, atol=1e-14)


def test_transformer_maps_invert_each_other():
    spline_t = RationalQuadraticSpline(num_bins=5, bound=BOUND)
    assert spline_t.num_params(3) == 3 * 14 and not np.any(spline_t.initial_params(3))
    # θ ~ N(0, 0.5²) keeps every slope well above the minimum: measured round-trip error below
    # 1e-14. (With θ ~ N(0, 1.5²) slopes reach 5e-6 and the error is limited by that conditioning.)
    theta = tf.constant(np.random.default_rng(1).normal(0, 0.5, (50, spline_t.num_params(3))))
    params = spline_t.unpack(theta, 3)
    assert all(tuple(p.shape) == (50, 3, 6) for p in params)
    x = tf.constant(np.random.default_rng(2).uniform(-4.0, 4.0, (50, 3)))
    y, log_dy = spline_t.forward(x, params)
    back, log_dx = rq_spline_inverse(y, *params, BOUND)
    np.testing.assert_allclose(back.numpy(), x.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(log_dx.numpy(), -log_dy.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(spline_t.inverse(y, params)[0].numpy(), back.numpy())
    assert RationalQuadraticSpline.from_config(spline_t.get_config()).get_config() == spline_t.get_config()
    with pytest.raises(ValueError, match="cannot pack"):
        spline_t.pack(np.zeros(3))


def test_bad_arguments_raise():
    cond = make_spline_conditioner(1, 4)
    with pytest.raises(ValueError, match="num_bins >= 2"):
        RQSplineCoupling([True, False], cond, num_bins=1)
    with pytest.raises(ValueError, match="bound > 0"):
        RQSplineCoupling([True, False], cond, num_bins=4, bound=0.0)
    with pytest.raises(ValueError, match="min_bin_width"):
        RQSplineCoupling([True, False], cond, num_bins=4, min_bin_width=0.3)
    with pytest.raises(ValueError, match="min_derivative"):
        RQSplineCoupling([True, False], cond, num_bins=4, min_derivative=1.0)
    with pytest.raises(ValueError, match="min_derivative"):
        RationalQuadraticSpline(4, min_derivative=0.0)
    with pytest.raises(ValueError, match="all True"):
        RQSplineCoupling([True, True], cond, num_bins=4)
    with pytest.raises(ValueError, match=r"expected 23 .*width 11"):
        RQSplineCoupling([True, False], cond, num_bins=8).build((None, 2))
    with pytest.raises(ValueError, match="num_bins"):
        make_spline_conditioner(1, 0)


def test_float32_inverse_is_as_accurate_as_the_conditioning_allows():
    """The inverse root has no cancellation for either sign of b (``b < 0`` near the right end of
    a bin whose next derivative exceeds twice the bin slope). The float32 error is measured
    against the float64 inverse of the same float32 parameters, relative to what the map's
    conditioning allows, ``eps·((|y| + 1)·dx/dy + |x|)``. Measured over 6 seeds × 10 draws of
    16,000 points: worst ratio 4.1-6.8 (mean 5.1, s.d. 0.9); the form of Durkan et al. for all b
    reached 117 on the same draws."""
    rng = np.random.default_rng(4)
    spline_t = RationalQuadraticSpline(num_bins=8)
    worst = 0.0
    for _ in range(10):
        theta = (1.5 * rng.standard_normal((4000, spline_t.num_params(4)))).astype("float32")
        y = rng.uniform(-3.0, 3.0, (4000, 4)).astype("float32")
        p32 = spline_t.unpack(ops.convert_to_tensor(theta), 4)
        p64 = tuple(ops.cast(p, "float64") for p in p32)
        ref, log_dx = (ops.convert_to_numpy(v) for v in spline_t.inverse(ops.convert_to_tensor(y.astype("float64")), p64))
        x32 = ops.convert_to_numpy(spline_t.inverse(ops.convert_to_tensor(y), p32)[0])
        allowed = np.finfo("float32").eps * ((np.abs(y) + 1.0) * np.exp(log_dx) + np.abs(ref))
        worst = max(worst, float((np.abs(x32 - ref) / allowed).max()))
    assert worst <= 12.0, worst
