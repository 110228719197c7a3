"""Mixture-CDF coupling layers and coupling flows: architecture, equivalences, bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussianization.gauss_keras import (
    GaussianizationFlow,
    Householder,
    MixtureCDFCoupling,
    MixtureCDFGaussianization,
    base_nll_loss,
    make_coupling_flow,
    make_mlp_conditioner,
    make_shared_mlp_conditioner,
)

from .bijector_registry import ResidualConditioner, perturb


def moons(n, seed=0):
    from sklearn.datasets import make_moons

    x, _ = make_moons(n, noise=0.05, random_state=seed)
    return ((x - x.mean(0)) / x.std(0)).astype("float32")


def num_trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def round_trip_errors(flow, x):
    back = flow.invert(flow(x)).numpy()
    err = np.linalg.norm(back - x, axis=1)
    return err.max(), np.median(err)


def coupling(mask, k=3, shared=False, hidden=(8,), dtype="float32"):
    mask = np.asarray(mask)
    d_b = int((~mask).sum())
    maker = make_shared_mlp_conditioner if shared else make_mlp_conditioner
    layer = MixtureCDFCoupling(mask, maker(d_b, k, hidden, dtype=dtype), k, shared_mixture=shared, dtype=dtype)
    layer.build((None, mask.size))
    return layer


# -- architecture ---------------------------------------------------------------------
def test_seed_parameter_counts():
    flow = make_coupling_flow(2, 4, num_components=8, hidden=(64, 64))
    kinds = [type(b).__name__ for b in flow.bijector_layers]
    assert len(kinds) == 12 and kinds.count("Householder") == 4 and kinds.count("MixtureCDFCoupling") == 8
    assert all(b.num_reflectors == 2 for b in flow.bijector_layers if isinstance(b, Householder))
    assert num_trainable(flow) == 46_800
    assert num_trainable(make_coupling_flow(2, 4, num_components=8, hidden=(32, 32))) == 15_312
    # d_b = 1: the shared conditioner has the same width 3·K.
    assert num_trainable(make_coupling_flow(2, 4, 8, (64, 64), shared_mixture=True)) == 46_800


def test_default_masks_alternate_and_indices():
    flow = make_coupling_flow(5, 1, num_components=2, hidden=(4,))
    first, second = flow.bijector_layers[1:]
    np.testing.assert_array_equal(first.mask, [True, True, True, False, False])
    np.testing.assert_array_equal(second.mask, ~first.mask)
    np.testing.assert_array_equal(first.identity_indices, [0, 1, 2])
    np.testing.assert_array_equal(first.transformed_indices, [3, 4])
    with pytest.raises(ValueError):
        first.transformed_indices[0] = 1  # read-only
    assert make_coupling_flow(2, 1, 2, (4,)).bijector_layers[1].mask.tolist() == [True, False]


def test_initial_map_ignores_x_a_and_uses_distinct_components():
    layer = coupling([True, False, True, False], k=4)  # zero-kernel head: θ(x_a) = bias
    x = np.random.default_rng(0).standard_normal((6, 4)).astype("float32")
    x2 = x.copy()
    x2[:, [0, 2]] = 5.0 * np.random.default_rng(1).standard_normal((6, 2))
    np.testing.assert_array_equal(layer.forward(x).numpy()[:, [1, 3]], layer.forward(x2).numpy()[:, [1, 3]])
    logits, means, log_scales = (p.numpy() for p in layer.mixture_parameters(layer.conditioner_output(x[:, [0, 2]])))
    np.testing.assert_allclose(logits, 0.0)
    np.testing.assert_allclose(means[0], np.tile([-1, -1 / 3, 1 / 3, 1], (2, 1)), atol=1e-6)  # distinct
    np.testing.assert_allclose(np.exp(log_scales), 2 / 3, rtol=1e-5)  # σ = spacing
    # Unit-variance starting mixture: mean of μ² plus σ² is 1.
    np.testing.assert_allclose(np.mean(means**2, axis=-1) + np.exp(2 * log_scales[..., 0]), 1.0, rtol=1e-5)


def test_mixed_mask_merges_columns_in_place():
    layer = coupling([False, True, False, True, True], k=2)
    perturb(layer, np.random.default_rng(0), 0.1)
    x = np.random.default_rng(2).standard_normal((8, 5)).astype("float32")
    z = layer.forward(x).numpy()
    np.testing.assert_array_equal(z[:, [1, 3, 4]], x[:, [1, 3, 4]])
    assert not np.allclose(z[:, [0, 2]], x[:, [0, 2]])
    np.testing.assert_allclose(layer.inverse(z).numpy(), x, atol=1e-5)


# -- constant parameters = the diagonal layer -----------------------------------------
@pytest.mark.parametrize("shared", [False, True])
def test_set_constant_parameters_equals_marginal_layer(shared):
    rng = np.random.default_rng(0)
    mask = np.array([True, False, False, True])
    k, rows = 3, (1 if shared else 2)
    logits, means = rng.standard_normal((rows, k)), 1.5 * rng.standard_normal((rows, k))
    log_scales = 0.5 * rng.standard_normal((rows, k))
    layer = perturb(coupling(mask, k, shared=shared), rng, 0.3)  # non-trivial weights, then overwritten
    layer.set_constant_parameters(*(p.reshape(-1) if shared else p for p in (logits, means, log_scales)))
    marginal = MixtureCDFGaussianization(k)
    marginal.build((None, 2))
    marginal.set_mixture_parameters(*(np.broadcast_to(p, (2, k)) for p in (logits, means, log_scales)))

    x = 2.0 * rng.standard_normal((200, 4)).astype("float32")
    z, log_det = layer.forward_and_log_det(x)
    z_b, log_det_b = marginal.forward_and_log_det(x[:, 1:3])
    np.testing.assert_array_equal(z.numpy()[:, [0, 3]], x[:, [0, 3]])
    np.testing.assert_allclose(z.numpy()[:, 1:3], z_b.numpy(), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(log_det.numpy(), log_det_b.numpy(), rtol=1e-5, atol=1e-5)
    back = layer.inverse(z).numpy()
    np.testing.assert_allclose(back[:, 1:3], marginal.inverse(z_b).numpy(), atol=1e-5)


def test_set_constant_parameters_with_residual_conditioner_and_bad_conditioners():
    layer = MixtureCDFCoupling([True, False], ResidualConditioner(6, hidden=4), 2)
    layer.build((None, 2))
    perturb(layer, np.random.default_rng(1), 0.3)
    layer.set_constant_parameters(np.zeros((1, 2)), np.array([[-1.0, 1.0]]), np.zeros((1, 2)))
    theta = layer.conditioner_output(tf.constant([[0.3], [-7.0]]))
    np.testing.assert_allclose(theta.numpy(), np.tile([0, 0, -1, 1, 0, 0], (2, 1)), atol=1e-7)
    with pytest.raises(ValueError, match="shape"):
        layer.set_constant_parameters(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)))

    no_dense = MixtureCDFCoupling([True, False], keras.Sequential([keras.layers.Lambda(lambda t: t * 0.0 + t)]), 1)
    with pytest.raises(ValueError, match="width"):  # width 1 ≠ 3
        no_dense.build((None, 2))
    act = keras.Sequential([keras.layers.Dense(3), keras.layers.Activation("tanh")])
    layer = MixtureCDFCoupling([True, False], act, 1)
    layer.build((None, 2))
    with pytest.raises(ValueError, match="no final Dense"):
        layer.set_constant_parameters([0.0], [0.0], [0.0])
    squashed = MixtureCDFCoupling([True, False], keras.Sequential([keras.layers.Dense(3, activation="tanh")]), 1)
    squashed.build((None, 2))
    before = [w.copy() for w in squashed.get_weights()]
    with pytest.raises(ValueError, match="constant"):
        squashed.set_constant_parameters([0.0], [1.0], [0.0])
    for a, b in zip(before, squashed.get_weights()):
        np.testing.assert_array_equal(a, b)  # restored
    with pytest.raises(ValueError, match="build"):
        MixtureCDFCoupling([True, False], make_mlp_conditioner(1, 1, (2,)), 1).set_constant_parameters([0], [0], [0])


def test_nan_rows_stay_local():
    layer = perturb(coupling([True, False, False], k=3), np.random.default_rng(5), 0.1)
    x = np.random.default_rng(6).standard_normal((5, 3)).astype("float32")
    x[1, 0] = np.nan  # conditioning input: the whole row's parameters are NaN
    x[3, 2] = np.nan  # transformed input
    z, log_det = layer.forward_and_log_det(x)
    bad = np.array([False, True, False, True, False])
    assert np.isnan(log_det.numpy()[bad]).all() and np.isfinite(log_det.numpy()[~bad]).all()
    assert np.isfinite(z.numpy()[~bad]).all()
    back = layer.inverse(z).numpy()
    np.testing.assert_allclose(back[~bad], x[~bad], atol=1e-5)
    assert np.isnan(back[1, 1:]).all() and np.isnan(back[3, 2])


# -- bad input -----------------------------------------------------------------------
def test_conditioner_width_mismatch_names_both_widths():
    layer = MixtureCDFCoupling([True, False], make_mlp_conditioner(1, 4, (8,)), num_components=8)
    with pytest.raises(ValueError, match=r"expected 24 .*width 12"):
        layer.build((None, 2))
    shared = MixtureCDFCoupling([True, False, False], make_mlp_conditioner(2, 2, (8,)), 2, shared_mixture=True)
    with pytest.raises(ValueError, match=r"expected 6 .*width 12"):
        shared.build((None, 3))


@pytest.mark.parametrize("mask, match", [
    ([True, True], "all True"),
    ([False, False, False], "all False"),
    ([[True, False]], "1-D"),
    ([], "1-D"),
    ([0, 2], "booleans"),
])
def test_bad_masks_raise(mask, match):
    with pytest.raises(ValueError, match=match):
        MixtureCDFCoupling(mask, make_mlp_conditioner(1, 2, (4,)), 2)


def test_mask_length_must_match_input_width():
    layer = MixtureCDFCoupling([True, False, True], make_mlp_conditioner(1, 2, (4,)), 2)
    with pytest.raises(ValueError, match="length 3 .*width is d=2"):
        layer.forward(np.zeros((4, 2), "float32"))
    with pytest.raises(ValueError, match="length 3"):
        make_coupling_flow(2, 1, 2, (4,), mask=[True, False, True])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="K"):
        MixtureCDFCoupling([True, False], make_mlp_conditioner(1, 1, (4,)), 0)
    for maker in (make_mlp_conditioner, make_shared_mlp_conditioner):
        with pytest.raises(ValueError, match="K"):
            maker(1, 0)
        with pytest.raises(ValueError, match="d_b"):
            maker(0, 2)
    with pytest.raises(ValueError, match="K"):
        make_coupling_flow(2, 2, num_components=0)
    with pytest.raises(ValueError, match="input_dim >= 2"):
        make_coupling_flow(1, 2)
    with pytest.raises(ValueError, match="num_blocks"):
        make_coupling_flow(2, 0)
    with pytest.raises(ValueError, match="log_scale_bound"):
        MixtureCDFCoupling([True, False], make_mlp_conditioner(1, 2, (4,)), 2, log_scale_bound=0.0)
    with pytest.raises(ValueError, match="keras Layer"):
        MixtureCDFCoupling([True, False], lambda t: t, 2)


# -- flows: round trip before/after training, save/load -------------------------------
def test_seed_flow_round_trip_before_and_after_training(tmp_path):
    keras.utils.set_random_seed(0)
    x = moons(5000)
    flow = make_coupling_flow(2, 4, num_components=8, hidden=(64, 64))

    def check():
        for data in (x, flow.sample(5000, seed=1).numpy()):
            worst, median = round_trip_errors(flow, data)
            assert worst <= 1e-4 and median <= 1e-5, (worst, median)

    check()
    before = -float(np.mean(flow.log_prob(x).numpy()))
    # A short training run: eager Adam steps (tracing `fit`'s graph for this 12-layer flow
    # costs 10-25 s on 2 cores, more than the steps; `fit` is covered by test_fit_without_targets).
    optimizer = keras.optimizers.Adam(1e-2)
    for step in range(10):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x[step * 500:(step + 1) * 500]))
        optimizer.apply(tape.gradient(loss, flow.trainable_variables), flow.trainable_variables)
    after = -float(np.mean(flow.log_prob(x).numpy()))
    assert after < before - 0.3, (before, after)
    check()
    flow.save(tmp_path / "coupling.keras")
    loaded = keras.saving.load_model(tmp_path / "coupling.keras")
    np.testing.assert_array_equal(loaded.log_prob(x[:500]).numpy(), flow.log_prob(x[:500]).numpy())


def test_fit_without_targets_trains_a_small_coupling_flow():
    keras.utils.set_random_seed(4)
    x = moons(1000, seed=4)
    flow = make_coupling_flow(2, 1, num_components=4, hidden=(16,), shared_mixture=True)
    before = -float(np.mean(flow.log_prob(x).numpy()))
    flow.compile(keras.optimizers.Adam(1e-2), loss=base_nll_loss)
    history = flow.fit(x, batch_size=250, epochs=4, verbose=0)
    after = -float(np.mean(flow.log_prob(x).numpy()))
    assert after < before - 0.2, (before, after)
    assert abs(history.history["loss"][-1] - after) < 0.1


def test_residual_conditioner_flow_trains_and_inverts():
    keras.utils.set_random_seed(3)
    x = moons(1000, seed=3)
    mask = np.array([True, False])
    layers = [Householder(2)] + [MixtureCDFCoupling(m, ResidualConditioner(3 * 4, hidden=16), 4) for m in (mask, ~mask)]
    flow = GaussianizationFlow(layers, input_dim=2)
    optimizer = keras.optimizers.Adam(2e-2)
    nll = []
    for _ in range(8):  # a few eager steps: every weight, residual branch included, gets a gradient
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        grads = tape.gradient(loss, flow.trainable_variables)
        assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
        optimizer.apply(grads, flow.trainable_variables)
        nll.append(float(loss))
    assert nll[-1] < nll[0] - 0.1, nll
    worst, median = round_trip_errors(flow, x)
    assert worst <= 1e-4 and median <= 1e-5, (worst, median)


@settings(max_examples=8, deadline=None)
@given(
    dim=st.integers(2, 5),
    k=st.integers(1, 5),
    shared=st.booleans(),
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 20.0),
)
def test_property_random_couplings_invert(dim, k, shared, seed, scale):
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    mask = rng.permutation(np.arange(dim) < int(rng.integers(1, dim)))
    layer = perturb(coupling(mask, k, shared=shared), rng, 0.1)
    x = (scale * rng.standard_normal((64, dim))).astype("float32")
    z, log_det = layer.forward_and_log_det(x)
    assert np.isfinite(z.numpy()).all() and np.isfinite(log_det.numpy()).all()
    np.testing.assert_array_equal(z.numpy()[:, mask], x[:, mask])
    back, inv_log_det = layer.inverse_and_log_det(z)
    np.testing.assert_allclose(back.numpy(), x, rtol=1e-4, atol=1e-4 * max(1.0, scale))
    # float32 log-dets of far-tail points are differences of terms ~ z²/2 (exact in float64: registry).
    tol = 1e-4 + 1e-5 * np.sum(z.numpy() ** 2, axis=1)
    assert np.all(np.abs(inv_log_det.numpy() + log_det.numpy()) <= tol)


@settings(max_examples=3, deadline=None)
@given(dim=st.integers(2, 4), k=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_property_log_det_matches_jacobian(dim, k, seed):
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    mask = rng.permutation(np.arange(dim) < int(rng.integers(1, dim)))
    layer = perturb(coupling(mask, k, dtype="float64"), rng, 0.3)
    x = tf.constant(2.0 * rng.standard_normal((8, dim)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        z, log_det = layer.forward_and_log_det(x)
    expected = np.linalg.slogdet(tape.batch_jacobian(z, x).numpy())[1]
    np.testing.assert_allclose(log_det.numpy(), expected, rtol=1e-6, atol=1e-9)
