"""RBIG / IG warm start on bad data: degenerate columns, unstandardised data, NaN rows, bad options."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaussianization.gauss_keras import (
    FixedOrtho,
    Householder,
    fit_rbig,
    initialize_flow_from_ig,
    make_coupling_flow,
    make_gaussianization_flow,
)
from gaussianization.gauss_keras.bijectors.rotation import householder_vectors, pca_rotation

from .helpers import floatx, moons, numpy, warnings_as_errors


@pytest.fixture(scope="module")
def data():
    """Training and held-out two moons, standardised, float64."""
    return moons(600, seed=0).astype("float64"), moons(300, seed=1).astype("float64")


def with_degenerate_column(x, kind):
    if kind == "constant":
        return np.c_[x, np.full(len(x), 0.7)]
    return np.c_[x, 2.0 * x[:, 0] - 0.5]  # collinear: a principal axis of zero variance


def make_flow(family, dtype):
    with floatx(dtype):
        if family == "diagonal":
            return make_gaussianization_flow(3, 3, num_reflectors=3, num_components=4)
        return make_coupling_flow(3, 2, num_components=4, hidden=(8,), num_reflectors=3)


def reflector_norms(flow):
    return np.concatenate([np.linalg.norm(numpy(layer.vectors), axis=1)
                           for layer in flow.bijector_layers if isinstance(layer, Householder)])


# -- degenerate columns -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("family", ["diagonal", "coupling"])
@pytest.mark.parametrize("kind", ["constant", "collinear"])
def test_degenerate_columns_give_a_finite_working_flow(data, kind, family, dtype):
    x, held = (with_degenerate_column(a, kind) for a in data)
    off = held + [0.0, 0.0, 0.1]  # held-out points off the degenerate set
    flow = make_flow(family, dtype)
    with pytest.warns(UserWarning, match="zero variance"):
        info = initialize_flow_from_ig(flow, x, validation_data=held)
    assert info.num_degenerate >= 1 and info.num_clipped == 0
    assert np.isfinite(info.train_nll).all() and np.isfinite(info.validation_nll).all()
    np.testing.assert_allclose(reflector_norms(flow), 1.0, rtol=1e-6)
    lp = numpy(flow.log_prob(x.astype(dtype)))
    assert np.isfinite(lp).all() and abs(-lp.mean() - info.train_nll[-1]) < 1e-3
    assert np.isfinite(numpy(flow.log_prob(held.astype(dtype)))).all()
    assert np.isfinite(numpy(flow.log_prob(off.astype(dtype)))).all()
    # training continues (float64 and the other kind are the same code; slow to trace on 2 cores)
    if dtype == "float32" and (kind, family) in (("constant", "coupling"), ("collinear", "diagonal")):
        flow.compile(keras.optimizers.Adam(1e-3))
        history = flow.fit(x.astype(dtype), epochs=2, batch_size=200, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        assert np.isfinite(numpy(flow.log_prob(off.astype(dtype)))).all()


@pytest.mark.parametrize("angle", [1e-31, 1e-20, 1e-17, 1e-12, 1e-6])
def test_reflectors_of_near_axis_columns_are_unit_vectors(angle):
    c, s = np.cos(angle), np.sin(angle)
    r = np.array([[0.6, -0.8, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
        [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    vectors = householder_vectors(r, 4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-12)
    for dtype, atol in (("float32", 1e-6), ("float64", 1e-12)):
        layer = Householder(4, dtype=dtype)
        layer.build((None, 3))
        layer.set_matrix(r)
        np.testing.assert_allclose(layer.matrix(), r, atol=atol)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), d=st.integers(2, 4), constant=st.integers(0, 3), collinear=st.integers(0, 3),
       offset=st.floats(-3.0, 3.0))
def test_ig_init_is_finite_with_constant_or_collinear_columns(seed, d, constant, collinear, offset):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((200, d)) ** 3 / 3.0
    for j in rng.choice(d, size=min(collinear, d - 1), replace=False):
        source = (j + 1) % d
        x[:, j] = rng.uniform(-2.0, 2.0) * x[:, source] + offset
    for j in rng.choice(d, size=min(constant, d), replace=False):
        x[:, j] = offset
    held = x + 0.05 * rng.standard_normal(x.shape)
    flow = make_gaussianization_flow(d, 2, num_reflectors=d, num_components=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        info = initialize_flow_from_ig(flow, x, validation_data=held)
    assert np.isfinite(info.train_nll).all() and np.isfinite(info.validation_nll).all()
    np.testing.assert_allclose(reflector_norms(flow), 1.0, rtol=1e-6)
    assert np.isfinite(numpy(flow.log_prob(x.astype("float32")))).all()
    assert np.isfinite(numpy(flow.log_prob(held.astype("float32")))).all()


# -- unstandardised data ------------------------------------------------------------------------
def test_unstandardised_data_warn_about_clipped_log_scales(data):
    wide = data[0] * 1000.0
    diagonal = make_gaussianization_flow(2, 2, 2, 8)
    with pytest.warns(UserWarning, match=r"log-scales exceeded the bound .*block 0: \d+ of 16.*Standardise X"):
        info = initialize_flow_from_ig(diagonal, wide)
    assert info.num_clipped > 0
    with pytest.warns(UserWarning, match="log_scale_bound"):
        initialize_flow_from_ig(make_coupling_flow(2, 1, num_components=8, hidden=(8,)), wide)
    with pytest.warns(UserWarning, match="clipped"):
        fit_rbig(wide, 1, 8, log_scale_clip=3.0)
    with warnings_as_errors():
        fit_rbig(wide, 1, 8)  # no clip, nothing to warn about
        info = initialize_flow_from_ig(diagonal, wide, log_scale_bound=float("inf"))
    assert info.num_clipped == 0


def test_standardised_and_narrow_data_do_not_warn(data):
    x = data[0]
    with warnings_as_errors():
        initialize_flow_from_ig(make_gaussianization_flow(2, 2, 2, 8), x)
        initialize_flow_from_ig(make_coupling_flow(2, 1, num_components=8, hidden=(8,)), x)
        # clipping at the lower bound is benign (checks.py): no warning, but it is counted
        info = initialize_flow_from_ig(make_gaussianization_flow(2, 2, 2, 8), x * 0.01)
        assert info.num_clipped > 0
        # so is a stray wide component of heavy-tailed data (σ within twice the bound)
        heavy = np.random.default_rng(0).standard_normal((800, 3)) ** 3
        info = initialize_flow_from_ig(make_gaussianization_flow(3, 2, num_reflectors=3, num_components=4), heavy)
        assert info.num_clipped > 0


# -- non-finite rows ----------------------------------------------------------------------------
def test_nonfinite_rows_are_named(data):
    x, held = data[0].copy(), data[1].copy()
    x[[3, 17], 1] = np.nan
    x[40, 0] = np.inf
    held[5, 0] = -np.inf
    flow = make_gaussianization_flow(2, 1, 2, 4)
    before = [numpy(w).copy() for w in flow.weights]
    message = r"X has 3 of 600 rows with NaN or infinite values \(rows 3, 17, 40\)"
    with pytest.raises(ValueError, match=message):
        initialize_flow_from_ig(flow, x)
    with pytest.raises(ValueError, match=r"validation_data has 1 of 300 rows .*\(rows 5\)"):
        initialize_flow_from_ig(flow, data[0], validation_data=held)
    for w, b in zip(flow.weights, before):
        np.testing.assert_array_equal(numpy(w), b)
    with pytest.raises(ValueError, match=message):
        fit_rbig(x, 1, 2)
    with pytest.raises(ValueError, match=r"validation_data has 1 of 300 rows"):
        fit_rbig(data[0], 1, 2, validation_data=held)
    with pytest.raises(ValueError, match=r"x has 3 of 600 rows .*\(rows 3, 17, 40\)"):
        pca_rotation(x)
    with pytest.raises(ValueError, match=r"FixedOrtho.from_pca: x has 3 of 600 rows"):
        FixedOrtho.from_pca(x)


# -- bad options -------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs, error, match", [
    ((1.5, 2), {}, TypeError, "num_blocks"),
    ((True, 2), {}, TypeError, "num_blocks"),
    ((1, "2"), {}, TypeError, r"num_components \(K\)"),
    ((1, 2), dict(random_state=1.0), TypeError, "random_state"),
    ((1, 2), dict(random_state=None), TypeError, "random_state"),
    ((1, 2), dict(random_state=-1), ValueError, "random_state"),
    ((1, 2), dict(early_stopping_patience=0), ValueError, "early_stopping_patience"),
    ((1, 2), dict(early_stopping_patience=1.5), TypeError, "early_stopping_patience"),
    ((1, 2), dict(min_scale=float("nan")), ValueError, "min_scale must be finite"),
    ((1, 2), dict(min_scale=-0.1), ValueError, "min_scale must be >= 0"),
    ((1, 2), dict(reg_covar=float("inf")), ValueError, "reg_covar must be finite"),
    ((1, 2), dict(tail_weight=float("nan")), ValueError, "tail_weight must be finite"),
    ((1, 2), dict(tail_weight="0.1"), TypeError, "tail_weight"),
    ((1, 2), dict(log_scale_clip=float("nan")), ValueError, "log_scale_clip"),
    ((1, 2), dict(log_scale_clip=0.0), ValueError, "log_scale_clip"),
    ((1, 2), dict(log_scale_clip="3"), TypeError, "log_scale_clip"),
])
def test_fit_rbig_rejects_bad_options(data, args, kwargs, error, match):
    held = data[1] if "early_stopping_patience" in kwargs else None
    with pytest.raises(error, match=match):
        fit_rbig(data[0], *args, validation_data=held, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(random_state=1.5), TypeError, "random_state"),
    (dict(min_scale=float("nan")), ValueError, "min_scale"),
    (dict(reg_covar=-1.0), ValueError, "reg_covar"),
    (dict(log_scale_bound=float("nan")), ValueError, "log_scale_bound"),
    (dict(log_scale_bound=-float("inf")), ValueError, "log_scale_bound"),
    (dict(log_scale_bound=0), ValueError, "log_scale_bound"),
])
def test_initialize_flow_from_ig_rejects_bad_options(data, kwargs, error, match):
    with pytest.raises(error, match=match):
        initialize_flow_from_ig(make_gaussianization_flow(2, 1, 2, 4), data[0], **kwargs)


def test_numpy_integers_are_accepted(data):
    _, a = fit_rbig(data[0], np.int64(1), np.int32(2), random_state=np.int64(3))
    _, b = fit_rbig(data[0], 1, 2, random_state=3)
    np.testing.assert_array_equal(a.train_nll, b.train_nll)


# -- rotations ----------------------------------------------------------------------------------
def test_rotation_layers_reject_bad_arguments():
    for bad in (np.full((2, 2), np.nan), np.array([[1.0, 0.0], [0.0, np.inf]])):
        with pytest.raises(ValueError, match="finite orthogonal"):
            FixedOrtho(bad)
        fixed = FixedOrtho()
        fixed.build((None, 2))
        with pytest.raises(ValueError, match="finite orthogonal"):
            fixed.set_matrix(bad)
        householder = Householder(2)
        householder.build((None, 2))
        with pytest.raises(ValueError, match="finite orthogonal"):
            householder.set_matrix(bad)
    for num_reflectors, error in ((1.5, TypeError), (True, TypeError), ("2", TypeError), (0, ValueError)):
        with pytest.raises(error, match="num_reflectors"):
            Householder(num_reflectors)
    assert Householder(np.int64(3)).num_reflectors == 3
    for dim, seed, error, match in ((2.0, 0, TypeError, "dim"), (0, 0, ValueError, "dim"),
                                    (2, 1.5, TypeError, "seed"), (2, -1, ValueError, "seed")):
        with pytest.raises(error, match=match):
            FixedOrtho.random_haar(dim, seed)
    np.testing.assert_array_equal(FixedOrtho.random_haar(np.int64(3), np.int64(7))._initial,
                                  FixedOrtho.random_haar(3, 7)._initial)
