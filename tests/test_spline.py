"""Rational-quadratic spline coupling: identity at init, tails, exact inverse, gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gaussianization.gauss_keras import (
    RQSplineCoupling,
    make_spline_conditioner,
    make_spline_coupling_flow,
)
from gaussianization.gauss_keras.bijectors.spline import rq_spline_forward, spline_knots

from .bijector_registry import perturb

BOUND = 3.0


def spline(mask, num_bins=8, dtype="float32", noise=0.3, seed=0):
    mask = np.asarray(mask)
    keras.utils.set_random_seed(seed)
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


def test_identity_at_initialisation():
    layer = spline([True, False, False], noise=0.0)
    x = mixed_inputs(3)
    z, log_det = layer.forward_and_log_det(x)
    np.testing.assert_allclose(z.numpy(), x, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(log_det.numpy(), 0.0, atol=1e-6)
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


def test_log_det_matches_autodiff_float64():
    layer = spline([True, False, True, False], dtype="float64", noise=0.6, seed=4)
    x = tf.constant(mixed_inputs(4, n=64, dtype="float64", seed=7))
    with tf.GradientTape() as tape:
        tape.watch(x)
        z, log_det = layer.forward_and_log_det(x)
    expected = np.linalg.slogdet(tape.batch_jacobian(z, x).numpy())[1]
    np.testing.assert_allclose(log_det.numpy(), expected, rtol=1e-6, atol=1e-9)
    back = layer.inverse(z).numpy()
    np.testing.assert_allclose(back, x.numpy(), rtol=1e-12, atol=1e-10)


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


def test_spline_flow_parameter_count_training_and_round_trip(tmp_path):
    from sklearn.datasets import make_moons

    keras.utils.set_random_seed(0)
    x, _ = make_moons(2000, noise=0.05, random_state=0)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    flow = make_spline_coupling_flow(2, 2, num_bins=8, hidden=(16,))
    # per block: 2·2 reflector weights + 2 couplings × [(1+1)·16 + (16+1)·23]
    assert len(flow.bijector_layers) == 6
    assert int(sum(np.prod(w.shape) for w in flow.trainable_weights)) == 2 * (4 + 2 * (32 + 17 * 23))
    before = -float(np.mean(flow.log_prob(x).numpy()))
    optimizer = keras.optimizers.Adam(1e-2)
    for step in range(15):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x[(step % 4) * 500:][:500]))
        optimizer.apply(tape.gradient(loss, flow.trainable_variables), flow.trainable_variables)
    assert -float(np.mean(flow.log_prob(x).numpy())) < before - 0.1
    for data in (x, flow.sample(2000, seed=1).numpy()):
        err = np.linalg.norm(flow.invert(flow(data)).numpy() - data, axis=1)
        assert err.max() <= 1e-5 and np.median(err) <= 1e-6, (err.max(), np.median(err))
    flow.save(tmp_path / "spline.keras")
    loaded = keras.saving.load_model(tmp_path / "spline.keras")
    np.testing.assert_array_equal(loaded.log_prob(x).numpy(), flow.log_prob(x).numpy())


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
    with pytest.raises(ValueError, match="all True"):
        RQSplineCoupling([True, True], cond, num_bins=4)
    with pytest.raises(ValueError, match=r"expected 23 .*width 11"):
        RQSplineCoupling([True, False], cond, num_bins=8).build((None, 2))
    with pytest.raises(ValueError, match="num_bins"):
        make_spline_conditioner(1, 0)
    with pytest.raises(ValueError, match="input_dim >= 2"):
        make_spline_coupling_flow(1, 2)
