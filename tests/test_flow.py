"""Flow-level behaviour: architecture, training, sampling, serialization, bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussianization.gauss_keras import (
    FixedOrtho,
    GaussianizationFlow,
    Householder,
    MixtureCDFGaussianization,
    base_nll_loss,
    make_gaussianization_flow,
)


def moons(n=2000, seed=0):
    from sklearn.datasets import make_moons

    x, _ = make_moons(n, noise=0.05, random_state=seed)
    return ((x - x.mean(0)) / x.std(0)).astype("float32")


def num_trainable(flow):
    return int(sum(np.prod(w.shape) for w in flow.trainable_weights))


@pytest.fixture(scope="module")
def data():
    return moons()


def test_seed_architecture_parameter_counts(data):
    flow = make_gaussianization_flow(2, 8, 2, 8, pca_init_data=data, mixture_init_data=data)
    assert len(flow.bijector_layers) == 17 and num_trainable(flow) == 416
    assert isinstance(flow.bijector_layers[0], FixedOrtho)
    small = make_gaussianization_flow(2, 4, 2, 8)
    assert len(small.bijector_layers) == 8 and num_trainable(small) == 208


def test_log_prob_is_base_plus_log_det(data):
    flow = make_gaussianization_flow(2, 3, 2, 4, mixture_init_data=data)
    z, log_det = flow.forward_and_log_det(data[:100])
    expected = -0.5 * np.sum(z.numpy() ** 2, axis=1) - np.log(2 * np.pi) + log_det.numpy()
    np.testing.assert_allclose(flow.log_prob(data[:100]).numpy(), expected, rtol=1e-6)


def test_density_integrates_to_one(data):
    flow = make_gaussianization_flow(2, 2, 2, 4, pca_init_data=data, mixture_init_data=data)
    grid = np.linspace(-8, 8, 321)
    xx, yy = np.meshgrid(grid, grid)
    pts = np.stack([xx.ravel(), yy.ravel()], 1).astype("float32")
    mass = np.exp(flow.log_prob(pts).numpy()).sum() * (grid[1] - grid[0]) ** 2
    assert abs(mass - 1.0) < 2e-3, mass


@pytest.mark.parametrize("with_targets", [True, False])
def test_training_lowers_the_exact_nll(data, with_targets):
    keras.utils.set_random_seed(0)
    flow = make_gaussianization_flow(2, 2, 2, 4, pca_init_data=data, mixture_init_data=data)
    before = -float(np.mean(flow.log_prob(data).numpy()))
    flow.compile(keras.optimizers.Adam(1e-2), loss=base_nll_loss)
    args = (data, data) if with_targets else (data,)
    history = flow.fit(*args, batch_size=500, epochs=6, verbose=0)
    after = -float(np.mean(flow.log_prob(data).numpy()))
    assert after < before - 0.2, (before, after)
    # The reported loss is the exact NLL (base NLL + add_loss of -mean log-det).
    evaluated = flow.evaluate(data, data, batch_size=len(data), verbose=0)
    assert abs(evaluated - after) < 1e-4, (evaluated, after)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_round_trip_on_data_and_samples(data):
    keras.utils.set_random_seed(1)
    flow = make_gaussianization_flow(2, 4, 2, 8, pca_init_data=data, mixture_init_data=data)
    for x in (data, flow.sample(2000, seed=3).numpy()):
        back = flow.invert(flow(x)).numpy()
        err = np.linalg.norm(back - x, axis=1)
        assert err.max() <= 1e-4 and np.median(err) <= 1e-5


def test_extremes_are_finite_and_large_latents_invert(data):
    flow = make_gaussianization_flow(2, 4, 2, 8, pca_init_data=data, mixture_init_data=data)
    x = np.array([[1e3, -1e3], [-1e3, 1e3], [1e3, 1e3]], dtype="float32")
    assert np.isfinite(flow(x).numpy()).all() and np.isfinite(flow.log_prob(x).numpy()).all()
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    z = (8.0 * np.stack([np.cos(angles), np.sin(angles)], 1)).astype("float32")
    x_back = flow.invert(z).numpy()
    assert np.isfinite(x_back).all()
    assert np.abs(flow(x_back).numpy() - z).max() <= 1e-4


def test_nan_rows_propagate_without_touching_other_rows(data):
    flow = make_gaussianization_flow(2, 2, 2, 4, mixture_init_data=data)
    x = data[:5].copy()
    x[2, 0] = np.nan
    log_p = flow.log_prob(x).numpy()
    assert np.isnan(log_p[2]) and np.isfinite(np.delete(log_p, 2)).all()
    np.testing.assert_allclose(np.delete(log_p, 2), flow.log_prob(np.delete(x, 2, 0)).numpy(), rtol=1e-6)
    z = flow(data[:5]).numpy()
    z[1, 1] = np.nan
    back = flow.invert(z).numpy()
    assert np.isnan(back[1]).all() and np.isfinite(np.delete(back, 1, 0)).all()


def test_sample_is_reproducible_with_a_seed(data):
    flow = make_gaussianization_flow(2, 2, 2, 4, mixture_init_data=data)
    a, b = flow.sample(50, seed=7).numpy(), flow.sample(50, seed=7).numpy()
    assert a.shape == (50, 2)
    np.testing.assert_array_equal(a, b)


def test_forward_with_intermediates(data):
    flow = make_gaussianization_flow(2, 3, 2, 4, pca_init_data=data)
    states = flow.forward_with_intermediates(data[:10])
    assert len(states) == len(flow.bijector_layers) + 1
    np.testing.assert_array_equal(states[0], data[:10])
    np.testing.assert_allclose(states[-1].numpy(), flow(data[:10]).numpy(), rtol=1e-6, atol=1e-6)


def test_trained_flow_save_load_identical_log_prob(data, tmp_path):
    keras.utils.set_random_seed(2)
    flow = make_gaussianization_flow(2, 2, 2, 4, pca_init_data=data, mixture_init_data=data)
    flow.compile(keras.optimizers.Adam(1e-2))
    flow.fit(data, batch_size=500, epochs=2, verbose=0)
    flow.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.log_prob(data).numpy(), flow.log_prob(data).numpy())


def _jacobians(flow, x):
    """Per-point Jacobians ``dz/dx`` of the flow's forward map, ``(batch, d, d)``."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = flow.forward_and_log_det(x)[0]
    return tape.batch_jacobian(z, x).numpy().astype("float64")


@settings(max_examples=15, deadline=None)
@given(
    dim=st.integers(1, 4),
    blocks=st.integers(1, 3),
    k=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 30.0),
)
def test_property_random_flows_invert_everywhere(dim, blocks, k, seed, scale):
    """Random parameters can make a mixture CDF almost flat between two narrow, distant
    modes (dz/dx down to 1e-15): there z cannot resolve x in any precision, since an x-error
    δ moves z by only δ·dz/dx. Where the flow stretches space instead, the rounding of f⁻¹(z)
    to the working precision moves f(f⁻¹(z)) by up to ‖J‖·ε·|x|. So the latent consistency
    f(f⁻¹(z)) = z is checked for every point in both precisions with that rounding allowance
    (‖J‖ the spectral norm of the autodiff Jacobian at f⁻¹(z)), and the x-space round trip in
    float64 wherever the flow does not squash volume by more than 1e6 (|det J| > 1e-6)."""
    rng = np.random.default_rng(seed)
    noise = None
    for floatx in ("float64", "float32"):
        keras.config.set_floatx(floatx)
        try:
            keras.utils.set_random_seed(seed)
            flow = make_gaussianization_flow(dim, blocks, 2, k)
            noise = noise or [0.5 * rng.standard_normal(w.shape) for w in flow.trainable_weights]
            for w, n in zip(flow.trainable_weights, noise):
                w.assign((w.numpy() + n).astype(floatx))
            x = (scale * np.random.default_rng(seed + 1).standard_normal((64, dim))).astype(floatx)
            z, log_det = flow.forward_and_log_det(x)
            back = flow.invert(z).numpy()
            z_again = flow.forward_and_log_det(back)[0].numpy()
            stretch = np.linalg.norm(_jacobians(flow, back), ord=2, axis=(1, 2))
        finally:
            keras.config.set_floatx("float32")
        assert np.isfinite(z.numpy()).all() and np.isfinite(log_det.numpy()).all()
        tol = 1e-10 if floatx == "float64" else 1e-4
        rounding = 4 * np.finfo(floatx).eps * np.maximum(1.0, np.abs(back).max(axis=1)) * stretch
        allowed = tol * (1 + np.abs(z.numpy())) + rounding[:, None]
        assert np.all(np.abs(z_again - z.numpy()) <= allowed)
        if floatx == "float64":
            well_posed = log_det.numpy() > np.log(1e-6)
            np.testing.assert_allclose(back[well_posed], x[well_posed], rtol=1e-7, atol=1e-7 * max(1.0, scale))


# -- bad input ----------------------------------------------------------------------
def test_bad_arguments_raise_clear_errors(data):
    with pytest.raises(ValueError, match="K"):
        MixtureCDFGaussianization(0)
    with pytest.raises(ValueError, match="K"):
        make_gaussianization_flow(2, 2, 2, 0)
    with pytest.raises(ValueError, match="num_reflectors"):
        Householder(0)
    with pytest.raises(ValueError, match="orthogonal"):
        FixedOrtho(np.array([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="Bijector"):
        GaussianizationFlow([keras.layers.Dense(2)], input_dim=2)
    with pytest.raises(ValueError, match="at least one"):
        GaussianizationFlow([], input_dim=2)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        make_gaussianization_flow(2, 2, pca_init_data=np.zeros((10, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        make_gaussianization_flow(2, 2, mixture_init_data=np.zeros((1, 2)))


def test_flow_checks_input_width_and_rank(data):
    flow = make_gaussianization_flow(2, 1, 2, 2)
    with pytest.raises(ValueError, match="width"):
        flow.log_prob(np.zeros((3, 3), "float32"))
    with pytest.raises(ValueError, match="rank"):
        flow.log_prob(np.zeros((3,), "float32"))
    with pytest.raises(ValueError, match="width"):
        flow.invert(np.zeros((3, 1), "float32"))
    with pytest.raises(ValueError, match="num_samples"):
        flow.sample(0)
