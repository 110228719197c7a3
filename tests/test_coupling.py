"""Coupling layers: masks, the three ways to give a conditioner, constant parameters, bad input.

Invariants shared by every bijector are in ``test_bijectors.py`` and flow-level behaviour (the
coupling factories included) in ``test_flows.py``; this file is what is specific to couplings.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussianization.gauss_keras import (
    Coupling,
    MixtureCDF,
    MixtureCDFCoupling,
    MixtureCDFGaussianization,
    RationalQuadraticSpline,
    make_coupling_flow,
    make_mlp_conditioner,
    make_shared_mlp_conditioner,
)

from .bijector_registry import ResidualConditioner
from .helpers import autodiff_log_det, perturb, residual_trunk

#: The ways a coupling gets its conditioner θ(x_a): the seeds' complete Sequential
#: conditioner, the default MLP trunk with the coupling's own head, a user trunk of any width.
CONDITIONERS = ["seed", "owned", "trunk"]


def coupling(mask, k=3, shared=False, hidden=(8,), dtype="float32", conditioner="seed"):
    """A built MixtureCDFCoupling; ``conditioner`` is one of :data:`CONDITIONERS`."""
    mask = np.asarray(mask)
    d_a, d_b = int(mask.sum()), int((~mask).sum())
    kwargs = dict(num_components=k, shared_mixture=shared, dtype=dtype)
    if conditioner == "seed":
        maker = make_shared_mlp_conditioner if shared else make_mlp_conditioner
        layer = MixtureCDFCoupling(mask, maker(d_b, k, hidden, dtype=dtype), **kwargs)
    elif conditioner == "owned":
        layer = MixtureCDFCoupling(mask, hidden=hidden, **kwargs)
    else:
        layer = MixtureCDFCoupling(mask, trunk=residual_trunk(d_a, 5, dtype=dtype), **kwargs)
    layer.build((None, mask.size))
    return layer


def numpy(t):
    return keras.ops.convert_to_numpy(t)


# -- structure ------------------------------------------------------------------------
def test_default_masks_alternate_and_indices():
    flow = make_coupling_flow(5, 1, num_components=2, hidden=(4,))
    first, second = flow.bijector_layers[1:]
    np.testing.assert_array_equal(first.mask, [True, True, True, False, False])
    np.testing.assert_array_equal(second.mask, ~first.mask)
    np.testing.assert_array_equal(first.identity_indices, [0, 1, 2])
    np.testing.assert_array_equal(first.transformed_indices, [3, 4])
    assert (first.d_a, first.d_b, first.num_params) == (3, 2, 3 * 2 * 2)
    with pytest.raises(ValueError):
        first.transformed_indices[0] = 1  # read-only
    assert make_coupling_flow(2, 1, 2, (4,)).bijector_layers[1].mask.tolist() == [True, False]


@pytest.mark.parametrize("conditioner", CONDITIONERS)
def test_initial_map_ignores_x_a_and_uses_distinct_components(conditioner):
    layer = coupling([True, False, True, False], k=4, conditioner=conditioner)  # zero-kernel head: θ(x_a) = bias
    x = np.random.default_rng(0).standard_normal((6, 4)).astype("float32")
    x2 = x.copy()
    x2[:, [0, 2]] = 5.0 * np.random.default_rng(1).standard_normal((6, 2))
    np.testing.assert_array_equal(numpy(layer.forward(x))[:, [1, 3]], numpy(layer.forward(x2))[:, [1, 3]])
    logits, means, log_scales = (numpy(p) for p in layer.mixture_parameters(layer.conditioner_output(x[:, [0, 2]])))
    assert logits.shape == means.shape == log_scales.shape == (6, 2, 4)
    np.testing.assert_allclose(logits, 0.0)
    np.testing.assert_allclose(means[0], np.tile([-1, -1 / 3, 1 / 3, 1], (2, 1)), atol=1e-6)  # distinct
    np.testing.assert_allclose(np.exp(log_scales), 2 / 3, rtol=1e-5)  # σ = spacing
    # Unit-variance starting mixture: mean of μ² plus σ² is 1.
    np.testing.assert_allclose(np.mean(means**2, axis=-1) + np.exp(2 * log_scales[..., 0]), 1.0, rtol=1e-5)


def test_mixed_mask_merges_columns_in_place():
    layer = coupling([False, True, False, True, True], k=2)
    perturb(layer, np.random.default_rng(0), 0.1)
    x = np.random.default_rng(2).standard_normal((8, 5)).astype("float32")
    z = numpy(layer.forward(x))
    np.testing.assert_array_equal(z[:, [1, 3, 4]], x[:, [1, 3, 4]])
    assert not np.allclose(z[:, [0, 2]], x[:, [0, 2]])
    np.testing.assert_allclose(numpy(layer.inverse(z)), x, atol=1e-5)


# -- conditioner, trunk and head ------------------------------------------------------------
@pytest.mark.parametrize("width", [1, 5, 33])
def test_trunk_of_any_width_gets_the_coupling_s_head(width):
    trunk = keras.Sequential([keras.layers.Dense(width, activation="tanh")])
    layer = MixtureCDFCoupling([True, False, False], trunk=trunk, num_components=2)
    layer.build((None, 3))
    assert layer.trunk is trunk and layer.conditioner is None
    assert tuple(layer.head.kernel.shape) == (width, 3 * 2 * 2) and not np.any(numpy(layer.head.kernel))
    x = np.random.default_rng(0).standard_normal((7, 3)).astype("float32")
    theta = numpy(layer.conditioner_output(x[:, :1]))
    assert theta.shape == (7, 12)
    np.testing.assert_allclose(theta, np.tile(layer.transformer.initial_params(2), (7, 1)), rtol=1e-6, atol=1e-7)
    # Noise 0.3/√width keeps θ(x_a) varying by O(0.3) whatever the width (larger θ makes narrow,
    # separated components with a flat CDF between them, where no float32 inverse recovers x).
    perturb(layer, np.random.default_rng(1), 0.3 / np.sqrt(width))
    z = numpy(layer.forward(x))
    assert np.ptp(numpy(layer.conditioner_output(x[:, :1])), axis=0).max() > 0.01  # θ depends on x_a
    np.testing.assert_allclose(numpy(layer.inverse(z)), x, atol=1e-4)


def test_default_trunk_and_no_trunk():
    layer = MixtureCDFCoupling([True, False], num_components=2, hidden=(4, 3))
    layer.build((None, 2))
    assert [tuple(w.shape) for w in layer.trainable_weights] == [(1, 4), (4,), (4, 3), (3,), (3, 6), (6,)]
    bare = MixtureCDFCoupling([True, False], num_components=2, hidden=())  # the head reads x_a directly
    bare.build((None, 2))
    assert bare.trunk is None and tuple(bare.head.kernel.shape) == (1, 6)


def test_generic_coupling_with_a_spline_transformer_and_a_trunk():
    layer = Coupling([False, True, True], RationalQuadraticSpline(num_bins=4), trunk=residual_trunk(2, 6))
    layer.build((None, 3))
    assert layer.num_params == 1 * (3 * 4 - 1) and tuple(layer.head.kernel.shape) == (6, 11)
    x = 2.0 * np.random.default_rng(0).standard_normal((16, 3)).astype("float32")
    z, log_det = layer.forward_and_log_det(x)  # zero head: the spline is the identity
    np.testing.assert_allclose(numpy(z), x, atol=1e-5)
    np.testing.assert_allclose(numpy(log_det), 0.0, atol=1e-5)
    layer.set_constant_output(np.linspace(-1.0, 1.0, 11))
    z = numpy(layer.forward(x))
    assert not np.allclose(z[:, 0], x[:, 0]) and np.array_equal(z[:, 1:], x[:, 1:])
    clone = Coupling.from_config(layer.get_config())
    assert isinstance(clone.transformer, RationalQuadraticSpline) and clone.transformer.num_bins == 4


def test_conditioner_and_trunk_together_raise():
    with pytest.raises(ValueError, match="not both"):
        MixtureCDFCoupling([True, False], make_mlp_conditioner(1, 2, (4,)), 2, trunk=residual_trunk(1, 4))
    with pytest.raises(ValueError, match="keras Layer"):
        MixtureCDFCoupling([True, False], lambda t: t, 2)
    with pytest.raises(ValueError, match="keras Layer"):
        MixtureCDFCoupling([True, False], trunk="mlp", num_components=2)
    with pytest.raises(ValueError, match="Transformer"):
        Coupling([True, False], "spline")
    bad_trunk = MixtureCDFCoupling([True, False], trunk=keras.layers.Reshape((1, 1)), num_components=2)
    with pytest.raises(ValueError, match=r"trunk must map \(None, 1\) to a \(None, h\)"):
        bad_trunk.build((None, 2))


def test_conditioner_width_mismatch_names_both_widths():
    layer = MixtureCDFCoupling([True, False], make_mlp_conditioner(1, 4, (8,)), num_components=8)
    with pytest.raises(ValueError, match=r"expected 24 .*width 12"):
        layer.build((None, 2))
    shared = MixtureCDFCoupling([True, False, False], make_mlp_conditioner(2, 2, (8,)), 2, shared_mixture=True)
    with pytest.raises(ValueError, match=r"expected 6 .*width 12"):
        shared.build((None, 3))
    no_dense = MixtureCDFCoupling([True, False], keras.Sequential([keras.layers.Lambda(lambda t: t * 0.0 + t)]), 1)
    with pytest.raises(ValueError, match="width 1"):  # 1 ≠ 3
        no_dense.build((None, 2))


# -- constant parameters = the diagonal layer ----------------------------------------------
@pytest.mark.parametrize("conditioner", CONDITIONERS)
@pytest.mark.parametrize("shared", [False, True])
def test_set_constant_parameters_equals_marginal_layer(shared, conditioner):
    rng = np.random.default_rng(0)
    mask = np.array([True, False, False, True])
    k, rows = 3, (1 if shared else 2)
    logits, means = rng.standard_normal((rows, k)), 1.5 * rng.standard_normal((rows, k))
    log_scales = 0.5 * rng.standard_normal((rows, k))
    layer = perturb(coupling(mask, k, shared=shared, conditioner=conditioner), rng, 0.3)  # then overwritten
    layer.set_constant_parameters(*(p.reshape(-1) if shared else p for p in (logits, means, log_scales)))
    marginal = MixtureCDFGaussianization(k)
    marginal.build((None, 2))
    marginal.set_mixture_parameters(*(np.broadcast_to(p, (2, k)) for p in (logits, means, log_scales)))

    x = 2.0 * rng.standard_normal((200, 4)).astype("float32")
    z, log_det = layer.forward_and_log_det(x)
    z_b, log_det_b = marginal.forward_and_log_det(x[:, 1:3])
    np.testing.assert_array_equal(numpy(z)[:, [0, 3]], x[:, [0, 3]])
    np.testing.assert_allclose(numpy(z)[:, 1:3], numpy(z_b), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(numpy(log_det), numpy(log_det_b), rtol=1e-5, atol=1e-5)
    back = numpy(layer.inverse(z))
    np.testing.assert_allclose(back[:, 1:3], numpy(marginal.inverse(z_b)), atol=1e-5)


def test_set_constant_parameters_writes_the_packed_vector():
    layer = perturb(coupling([True, False], k=2, conditioner="trunk"), np.random.default_rng(1), 0.3)
    layer.set_constant_parameters(np.zeros((1, 2)), np.array([[-1.0, 1.0]]), np.zeros((1, 2)))
    theta = numpy(layer.conditioner_output(keras.ops.convert_to_tensor([[0.3], [-7.0]])))
    np.testing.assert_allclose(theta, np.tile([0, 0, -1, 1, 0, 0], (2, 1)), atol=1e-7)
    np.testing.assert_allclose(MixtureCDF(2).pack(np.zeros((1, 2)), [[-1.0, 1.0]], np.zeros((1, 2))), theta[0])
    with pytest.raises(ValueError, match="shape"):
        layer.set_constant_parameters(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)))
    shared = coupling([True, False, False], k=2, shared=True, conditioner="owned")
    with pytest.raises(ValueError, match="shared"):
        shared.set_constant_parameters(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="6 values"):
        layer.set_constant_output(np.zeros(5))


def test_set_constant_output_needs_a_known_linear_head():
    for conditioner in (ResidualConditioner(3, hidden=4),  # a complete conditioner of unknown structure
                        keras.Sequential([keras.layers.Dense(3), keras.layers.Activation("tanh")]),
                        keras.Sequential([keras.layers.Dense(3, activation="tanh")]),
                        keras.Sequential([keras.layers.Dense(3, use_bias=False)])):
        layer = MixtureCDFCoupling([True, False], conditioner, 1)
        layer.build((None, 2))
        before = [w.copy() for w in layer.get_weights()]
        with pytest.raises(ValueError, match="linear head"):
            layer.set_constant_parameters([0.0], [1.0], [0.0])
        for a, b in zip(before, layer.get_weights()):
            np.testing.assert_array_equal(a, b)  # nothing was written
    with pytest.raises(ValueError, match="build"):
        MixtureCDFCoupling([True, False], make_mlp_conditioner(1, 1, (2,)), 1).set_constant_parameters([0], [0], [0])
    with pytest.raises(ValueError, match="build"):
        MixtureCDFCoupling([True, False], num_components=1).set_constant_output([0.0, 0.0, 0.0])


def test_nan_rows_stay_local():
    layer = perturb(coupling([True, False, False], k=3), np.random.default_rng(5), 0.1)
    x = np.random.default_rng(6).standard_normal((5, 3)).astype("float32")
    x[1, 0] = np.nan  # conditioning input: the whole row's parameters are NaN
    x[3, 2] = np.nan  # transformed input
    z, log_det = layer.forward_and_log_det(x)
    bad = np.array([False, True, False, True, False])
    assert np.isnan(numpy(log_det)[bad]).all() and np.isfinite(numpy(log_det)[~bad]).all()
    assert np.isfinite(numpy(z)[~bad]).all()
    back = numpy(layer.inverse(z))
    np.testing.assert_allclose(back[~bad], x[~bad], atol=1e-5)
    assert np.isnan(back[1, 1:]).all() and np.isnan(back[3, 2])


# -- bad input -----------------------------------------------------------------------
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
    with pytest.raises(ValueError, match=match):
        Coupling(mask, RationalQuadraticSpline(4))


def test_mask_length_must_match_input_width():
    layer = MixtureCDFCoupling([True, False, True], make_mlp_conditioner(1, 2, (4,)), 2)
    with pytest.raises(ValueError, match="length 3 .*width is d=2"):
        layer.forward(np.zeros((4, 2), "float32"))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="K"):
        MixtureCDFCoupling([True, False], make_mlp_conditioner(1, 1, (4,)), 0)
    for maker in (make_mlp_conditioner, make_shared_mlp_conditioner):
        with pytest.raises(ValueError, match="K"):
            maker(1, 0)
        with pytest.raises(ValueError, match="d_b"):
            maker(0, 2)
    with pytest.raises(ValueError, match="log_scale_bound"):
        MixtureCDFCoupling([True, False], make_mlp_conditioner(1, 2, (4,)), 2, log_scale_bound=0.0)
    with pytest.raises(ValueError, match="hidden layer widths"):
        MixtureCDFCoupling([True, False], num_components=2, hidden=(4, 0))


# -- properties -------------------------------------------------------------------------
@settings(max_examples=8, deadline=None)
@given(
    dim=st.integers(2, 5),
    k=st.integers(1, 5),
    shared=st.booleans(),
    conditioner=st.sampled_from(CONDITIONERS),
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 20.0),
)
def test_property_random_couplings_invert(dim, k, shared, conditioner, seed, scale):
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    mask = rng.permutation(np.arange(dim) < int(rng.integers(1, dim)))
    layer = perturb(coupling(mask, k, shared=shared, conditioner=conditioner), rng, 0.1)
    x = (scale * rng.standard_normal((64, dim))).astype("float32")
    z, log_det = layer.forward_and_log_det(x)
    assert np.isfinite(numpy(z)).all() and np.isfinite(numpy(log_det)).all()
    np.testing.assert_array_equal(numpy(z)[:, mask], x[:, mask])
    back, inv_log_det = layer.inverse_and_log_det(z)
    np.testing.assert_allclose(numpy(back), x, rtol=1e-4, atol=1e-4 * max(1.0, scale))
    # float32 log-dets of far-tail points are differences of terms ~ z²/2 (exact in float64: registry).
    tol = 1e-4 + 1e-5 * np.sum(numpy(z) ** 2, axis=1)
    assert np.all(np.abs(numpy(inv_log_det) + numpy(log_det)) <= tol)


@settings(max_examples=3, deadline=None)
@given(dim=st.integers(2, 4), k=st.integers(1, 4), conditioner=st.sampled_from(CONDITIONERS),
       seed=st.integers(0, 10_000))
def test_property_log_det_matches_jacobian(dim, k, conditioner, seed):
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    mask = rng.permutation(np.arange(dim) < int(rng.integers(1, dim)))
    layer = perturb(coupling(mask, k, dtype="float64", conditioner=conditioner), rng, 0.3)
    x = 2.0 * rng.standard_normal((8, dim))
    _, log_det = layer.forward_and_log_det(x)
    expected = autodiff_log_det(lambda t: layer.forward_and_log_det(t)[0], x)
    np.testing.assert_allclose(numpy(log_det), expected, rtol=1e-6, atol=1e-9)
