"""RBIG / IG warm start: exact Householder decomposition, zero-kernel equivalence, bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from gaussianization.gauss_keras import (
    FixedOrtho,
    GaussianizationFlow,
    Householder,
    MixtureCDFGaussianization,
    fit_rbig,
    initialize_flow_from_ig,
    make_coupling_flow,
    make_gaussianization_flow,
    make_spline_coupling_flow,
)
from gaussianization.gauss_keras.bijectors.rotation import householder_vectors, pca_rotation
from gaussianization.gauss_keras.warm_start.rbig import fit_marginal_mixtures
from gaussianization.metrics import information

from .helpers import moons, numpy


def householder_matrix(vectors):
    m, d = vectors.shape
    layer = Householder(m, dtype="float64")
    layer.build((None, d))
    layer.vectors.assign(vectors)
    return layer.matrix()


def random_orthogonal(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


@pytest.fixture(scope="module")
def small():
    return moons(1000)


# -- Householder decomposition ------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
def test_householder_decomposition_is_exact(d):
    rng = np.random.default_rng(d)
    for m in (d, d + 1, d + 2):
        for det in (1.0, -1.0):
            r = random_orthogonal(rng, d)
            if np.sign(np.linalg.det(r)) != det:
                r[:, 0] *= -1.0
            if det != (-1) ** m:
                with pytest.raises(ValueError, match="det"):
                    householder_vectors(r, m)
                continue
            vectors = householder_vectors(r, m)
            assert vectors.shape == (m, d)
            np.testing.assert_allclose(householder_matrix(vectors), r, rtol=0, atol=1e-12)


def test_householder_decomposition_special_matrices():
    for r, m in [(np.eye(3), 4), (-np.eye(2), 2), (np.eye(3)[[1, 0, 2]], 3), (np.diag([1.0, -1.0, 1.0]), 5)]:
        np.testing.assert_allclose(householder_matrix(householder_vectors(r, m)), r, atol=1e-15)
    with pytest.raises(ValueError, match="need m >= d"):
        householder_vectors(np.eye(3), 2)


@pytest.mark.parametrize("d, m", [(2, 2), (3, 3), (3, 5), (4, 4)])
def test_householder_set_matrix_is_exact(d, m):
    rng = np.random.default_rng(d + m)
    r = random_orthogonal(rng, d)
    if np.sign(np.linalg.det(r)) != (-1) ** m:
        r[:, 0] *= -1.0
    layer = Householder(m, dtype="float64")
    layer.build((None, d))
    layer.set_matrix(r)
    np.testing.assert_allclose(layer.matrix(), r, rtol=0, atol=1e-12)
    x = rng.standard_normal((5, d))
    np.testing.assert_allclose(numpy(layer.forward(x)), x @ r, atol=1e-12)


def test_householder_set_matrix_checks_its_argument():
    layer = Householder(2)
    with pytest.raises(ValueError, match="build"):
        layer.set_matrix(np.eye(2))
    layer.build((None, 2))
    with pytest.raises(ValueError, match="det"):
        layer.set_matrix(np.diag([1.0, -1.0]))  # det -1, but two reflections have det +1
    with pytest.raises(ValueError, match="orthogonal"):
        layer.set_matrix(np.array([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="width"):
        layer.set_matrix(np.eye(3))
    with pytest.raises(ValueError, match="need m >= d"):
        big = Householder(2)
        big.build((None, 3))
        big.set_matrix(np.eye(3)[[1, 0, 2]])


# -- RBIG on its own -----------------------------------------------------------------------
def test_fit_rbig_knows_no_flow(small):
    calls = []

    def info(y):
        calls.append(y.shape)
        return 0.5, 0.25

    adjusted = []

    def adjust(log_scales):
        adjusted.append(log_scales.copy())
        return np.round(log_scales, 3)

    blocks, diagnostics = fit_rbig(small, 2, 3, information=info, log_scale_clip=1.0, adjust_log_scales=adjust)
    assert len(blocks) == 2 and calls == [small.shape] * 3  # the data, then after each block
    np.testing.assert_array_equal(diagnostics.negentropy, [0.5] * 3)
    np.testing.assert_array_equal(diagnostics.total_correlation, [0.25] * 3)
    assert diagnostics.train_nll.shape == (3,) and np.all(np.diff(diagnostics.train_nll) < 0)
    for block, before in zip(blocks, adjusted):
        assert block.rotation.shape == (2, 2) and block.means.shape == (2, 3)
        assert np.abs(before).max() <= 1.0  # clipped first, then adjusted
        np.testing.assert_array_equal(block.log_scales, np.round(before, 3))
    plain = fit_rbig(small, 2, 3)[1]
    assert plain.negentropy is None and plain.total_correlation is None


def test_fit_rbig_bad_arguments_name_rbig(small):
    with pytest.raises(ValueError, match=r"fit_rbig: num_components \(K\) must be >= 1"):
        fit_rbig(small, 2, 0)
    with pytest.raises(ValueError, match="fit_rbig: num_blocks must be >= 1"):
        fit_rbig(small, 0, 2)
    with pytest.raises(ValueError, match="too few samples for RBIG"):
        fit_rbig(small[:5], 1, 2)
    bad = small.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"X has 1 of 1000 rows with NaN or infinite values \(rows 0\)"):
        fit_rbig(bad, 1, 2)


# -- zero-kernel equivalence ------------------------------------------------------------
def test_coupling_and_diagonal_flows_are_identical_after_ig_init():
    x = moons(5000)
    keras.utils.set_random_seed(11)
    diag = make_gaussianization_flow(2, 4, num_reflectors=2, num_components=8)
    cpl = make_coupling_flow(2, 4, num_components=8, hidden=(32, 32))
    info_d = initialize_flow_from_ig(diag, x)
    info_c = initialize_flow_from_ig(cpl, x)
    np.testing.assert_array_equal(info_d.train_nll, info_c.train_nll)
    # the written parameters are bit-identical
    d_layers, c_layers = diag.bijector_layers, cpl.bijector_layers
    for block in range(4):
        rot_d, marg = d_layers[2 * block], d_layers[2 * block + 1]
        rot_c, pair = c_layers[3 * block], c_layers[3 * block + 1: 3 * block + 3]
        np.testing.assert_array_equal(numpy(rot_d.vectors), numpy(rot_c.vectors))
        for coupling in pair:
            idx = coupling.transformed_indices
            theta = coupling.conditioner_output(ops.zeros((1, coupling.d_a)))
            for got, want in zip(coupling.mixture_parameters(theta), (marg.logits, marg.means, marg.log_scales)):
                np.testing.assert_array_equal(ops.convert_to_numpy(got)[0], numpy(want)[idx])
    z_d, z_c = numpy(diag(x)), numpy(cpl(x))
    lp_d, lp_c = numpy(diag.log_prob(x)), numpy(cpl.log_prob(x))
    assert np.linalg.norm(z_c - z_d, axis=1).max() <= 1e-5
    assert np.abs(lp_c - lp_d).max() <= 1e-5
    # and both compute the float64 RBIG model
    assert abs(-lp_d.mean() - info_d.train_nll[-1]) < 1e-5


def test_three_dimensional_coupling_flow_matches_diagonal_flow():
    x = np.random.default_rng(0).standard_normal((800, 3)) ** 3
    diag = make_gaussianization_flow(3, 2, num_reflectors=3, num_components=4)
    cpl = make_coupling_flow(3, 2, num_components=4, hidden=(8,), num_reflectors=3)
    info_d = initialize_flow_from_ig(diag, x)
    info_c = initialize_flow_from_ig(cpl, x)
    np.testing.assert_array_equal(info_d.train_nll, info_c.train_nll)
    x32 = x.astype("float32")
    np.testing.assert_allclose(numpy(cpl.log_prob(x32)), numpy(diag.log_prob(x32)), atol=1e-5)


def test_fits_do_not_depend_on_reflector_parity(small):
    even = make_gaussianization_flow(2, 3, num_reflectors=2, num_components=4)
    odd = make_gaussianization_flow(2, 3, num_reflectors=3, num_components=4)
    info_e = initialize_flow_from_ig(even, small)
    info_o = initialize_flow_from_ig(odd, small)
    np.testing.assert_array_equal(info_e.train_nll, info_o.train_nll)
    assert all(np.linalg.det(b.matrix()) < 0 for b in odd.bijector_layers[::2])
    np.testing.assert_allclose(numpy(odd.log_prob(small)), numpy(even.log_prob(small)), atol=1e-5)
    np.testing.assert_allclose(np.abs(numpy(odd(small))), np.abs(numpy(even(small))), atol=1e-5)


# -- behaviour ------------------------------------------------------------------------
def test_ig_init_lowers_nll_and_matches_the_rbig_model(small):
    flow = make_gaussianization_flow(2, 3, 2, 4, mixture_init_data=small)
    before = -numpy(flow.log_prob(small)).mean()
    steps = []
    info = initialize_flow_from_ig(flow, small, information=information, progress=lambda block, d: steps.append(block))
    after = -numpy(flow.log_prob(small)).mean()
    assert steps == [0, 1, 2]
    assert after < before - 0.3, (before, after)
    assert abs(after - info.train_nll[-1]) < 1e-5
    assert np.all(np.diff(info.train_nll) < 0)
    assert info.negentropy.shape == info.total_correlation.shape == (4,)
    assert info.negentropy[-1] < info.negentropy[0] and info.pca_rotation.all()


def test_leading_pca_rotation_is_set(small):
    flow = make_gaussianization_flow(2, 2, 2, 4, pca_init_data=small[:, ::-1])
    initialize_flow_from_ig(flow, small)
    assert isinstance(flow.bijector_layers[0], FixedOrtho)
    np.testing.assert_allclose(numpy(flow.bijector_layers[0].matrix), pca_rotation(small), atol=1e-7)


def test_reproducible_with_same_random_state(small):
    flows = [make_gaussianization_flow(2, 2, 2, 4) for _ in range(2)]
    for flow in flows:
        initialize_flow_from_ig(flow, small, random_state=3)
    for a, b in zip(*(f.weights for f in flows)):
        np.testing.assert_array_equal(numpy(a), numpy(b))


def test_fallback_keeps_rotation_when_too_few_reflectors():
    x = np.random.default_rng(0).standard_normal((600, 3)) ** 3
    flow = make_gaussianization_flow(3, 2, num_reflectors=2, num_components=4)
    vectors = [numpy(layer.vectors).copy() for layer in flow.bijector_layers[::2]]
    info = initialize_flow_from_ig(flow, x)
    assert not info.pca_rotation.any()
    for layer, v in zip(flow.bijector_layers[::2], vectors):
        np.testing.assert_array_equal(numpy(layer.vectors), v)
    lp = numpy(flow.log_prob(x.astype("float32")))
    assert abs(-lp.mean() - info.train_nll[-1]) < 1e-4
    assert info.train_nll[-1] < info.train_nll[0] - 1.0


def test_early_stopping_leaves_identity_blocks(small):
    # held-out data from N(0, I): the base density itself is the best model for them
    held_out = np.random.default_rng(1).standard_normal((2000, 2))
    flow = make_gaussianization_flow(2, 3, 2, 4)
    info = initialize_flow_from_ig(flow, small, validation_data=held_out, early_stopping_patience=1)
    assert info.num_fitted_blocks == 0
    # Identity blocks (all components N(0, 1)) are identities up to float64 rounding: each moves the
    # held-out NLL by ~1e-17, so the last value equals the minimum to that rounding, not bitwise.
    assert info.validation_nll[-1] <= info.validation_nll.min() + 1e-12
    for layer in flow.bijector_layers[1::2]:
        assert not np.any(numpy(layer.means)) and not np.any(numpy(layer.log_scales))
    z = numpy(flow(held_out.astype("float32")))
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), np.linalg.norm(held_out, axis=1), atol=1e-5)


def test_information_is_nan_for_repeated_points(small):
    info = initialize_flow_from_ig(make_gaussianization_flow(2, 1, 2, 4), np.repeat(small[:100], 7, axis=0),
                                   information=information)
    assert np.isnan(info.negentropy).all() and np.isfinite(info.train_nll).all()


def test_defensive_tail_component():
    r = np.random.default_rng(0).standard_normal((500, 2)) * [1.0, 3.0]
    logits, means, log_scales, converged = fit_marginal_mixtures(r, 4, [0, 1], tail_weight=0.05)
    np.testing.assert_allclose(np.exp(logits).sum(1), 1.0)
    np.testing.assert_allclose(np.exp(logits[:, -1]), 0.05)
    np.testing.assert_allclose(means[:, -1], r.mean(0))
    np.testing.assert_allclose(np.exp(log_scales[:, -1]), r.std(0), rtol=1e-6)
    assert converged.all()


# -- bad input --------------------------------------------------------------------------
def test_bad_inputs_raise(small):
    flow = make_gaussianization_flow(2, 2, 2, 8)
    with pytest.raises(ValueError, match="too few samples"):
        initialize_flow_from_ig(flow, small[:15])
    with pytest.raises(ValueError, match="width"):
        initialize_flow_from_ig(flow, np.zeros((100, 3)))
    with pytest.raises(ValueError, match="shape"):
        initialize_flow_from_ig(flow, small[:, 0])
    bad = small.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        initialize_flow_from_ig(flow, bad)
    with pytest.raises(ValueError, match="needs validation_data"):
        initialize_flow_from_ig(flow, small, early_stopping_patience=2)
    with pytest.raises(ValueError, match="tail_weight"):
        initialize_flow_from_ig(flow, small, tail_weight=1.0)
    with pytest.raises(ValueError, match="K"):
        fit_rbig(small, 2, 0)
    with pytest.raises(ValueError, match="GaussianizationFlow"):
        initialize_flow_from_ig(object(), small)


def test_unrecognised_layer_patterns_raise(small):
    spline = make_spline_coupling_flow(2, 1)
    with pytest.raises(ValueError, match="spline_coupling_0a"):
        initialize_flow_from_ig(spline, small)
    no_rotation = GaussianizationFlow([MixtureCDFGaussianization(4)], input_dim=2)
    with pytest.raises(ValueError, match="expected a rotation"):
        initialize_flow_from_ig(no_rotation, small)
    cpl = make_coupling_flow(2, 1, num_components=4, hidden=(8,))
    half = GaussianizationFlow(cpl.bijector_layers[:2], input_dim=2)
    with pytest.raises(ValueError, match="exactly once"):
        initialize_flow_from_ig(half, small)
    with pytest.raises(ValueError, match="log_scale_bound"):
        initialize_flow_from_ig(cpl, small, log_scale_bound=5.0)
    shared = make_coupling_flow(3, 1, num_components=4, hidden=(8,), shared_mixture=True)
    with pytest.raises(ValueError, match="shared_mixture"):
        initialize_flow_from_ig(shared, np.random.default_rng(0).standard_normal((100, 3)))
