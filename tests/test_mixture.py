"""The mixture-CDF inverse ``ungaussianize``: accuracy contract, tails, NaN, iteration cap; the
shared log-derivative; the parametrisation and its argument checks. Extreme inputs (far tails
against mpmath, saturation, infinities) are in ``test_extreme_values.py``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussianization.gauss_keras import MixtureCDF, mixture
from gaussianization.gauss_keras.root_finding import BracketState, solve_increasing
from gaussianization.gauss_keras.transformers.mixture_cdf import PACK_MARGIN


def random_mixture(rng, rows, k, spread=3.0):
    """Parameters ``(rows, 1, k)``: unequal weights, well-separated means, scales over two decades."""
    logits = rng.normal(0.0, 1.5, (rows, 1, k))
    means = rng.normal(0.0, spread, (rows, 1, k))
    log_scales = rng.uniform(np.log(0.05), np.log(5.0), (rows, 1, k))
    return logits, means, log_scales


def implied_x_error(x, z, params):
    """``|z(x) - z| / (dz/dx)``: the distance of ``x`` from the exact root, to first order."""
    z_x, log_dzdx = mixture.gaussianize(x, *params)
    return np.abs(np.asarray(z_x) - z) / np.exp(np.asarray(log_dzdx))


@pytest.mark.parametrize("tol", [None, 1e-9])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_inverse_meets_its_tolerance_in_float64(k, tol):
    rng = np.random.default_rng(k)
    z = np.concatenate([np.linspace(-30.0, 30.0, 1201), rng.standard_normal(800)])[:, None]
    params = random_mixture(rng, len(z), k)
    x = np.asarray(mixture.ungaussianize(z, *params, tol=tol))
    assert x.dtype == np.float64 and np.isfinite(x).all()
    lo, hi = (np.asarray(b) for b in mixture.inverse_bracket(z, params[1], params[2]))
    assert (lo <= x).all() and (x <= hi).all()
    # Default tolerance 1e-13 (float64 results); the forward map's own rounding adds ~1e-14.
    bound = 1e-12 if tol is None else tol
    rel = implied_x_error(x, z, params) / (1.0 + np.abs(x))
    assert rel.max() <= bound, (float(rel.max()), float(z[np.argmax(rel), 0]))


def test_inverse_in_the_far_tails():
    rng = np.random.default_rng(7)
    z = np.array([-1e3, -200.0, -38.0, 38.0, 200.0, 1e3])[:, None]
    params = random_mixture(rng, len(z), 4)
    x = np.asarray(mixture.ungaussianize(z, *params))
    z_back = np.asarray(mixture.gaussianize(x, *params)[0])
    np.testing.assert_allclose(z_back, z, rtol=1e-12)


def test_float32_results_are_float32_rounded_roots():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((2000, 1)).astype("float32")
    params = tuple(p.astype("float32") for p in random_mixture(rng, len(z), 8))
    x32 = np.asarray(mixture.ungaussianize(z, *params))
    x64 = np.asarray(mixture.ungaussianize(z.astype("float64"), *(p.astype("float64") for p in params)))
    assert x32.dtype == np.float32
    # The float64 root rounded to float32: within one float32 ulp of |x|.
    assert (np.abs(x32 - x64) <= np.spacing(np.abs(x64).astype("float32")).astype("float64")).all()


def test_nan_entries_give_nan_and_leave_the_others_alone():
    rng = np.random.default_rng(0)
    z = np.array([[0.3], [np.nan], [-1.2]])
    params = random_mixture(rng, 3, 5)
    x = np.asarray(mixture.ungaussianize(z, *params))
    assert np.isnan(x[1, 0]) and np.isfinite(x[[0, 2]]).all()
    clean = np.asarray(mixture.ungaussianize(z[[0, 2]], *(p[[0, 2]] for p in params)))
    np.testing.assert_array_equal(x[[0, 2]], clean)


def test_iteration_cap_returns_a_point_in_the_bracket():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((500, 1)) * 5.0
    params = random_mixture(rng, len(z), 8)
    x = np.asarray(mixture.ungaussianize(z, *params, max_iterations=1))
    lo, hi = (np.asarray(b) for b in mixture.inverse_bracket(z, params[1], params[2]))
    assert np.isfinite(x).all() and (lo <= x).all() and (x <= hi).all()


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 8), seed=st.integers(0, 10_000), spread=st.floats(0.01, 50.0),
       z_scale=st.floats(0.1, 20.0))
def test_property_inverse_is_accurate_for_any_mixture(k, seed, spread, z_scale):
    rng = np.random.default_rng(seed)
    z = z_scale * rng.standard_normal((256, 1))
    params = random_mixture(rng, len(z), k, spread=spread)
    x = np.asarray(mixture.ungaussianize(z, *params))
    rel = implied_x_error(x, z, params) / (1.0 + np.abs(x))
    assert np.isfinite(x).all() and rel.max() <= 1e-12


# -- the parametrisation (MixtureCDF transformer) and the root finder -------------------------
@pytest.mark.parametrize("shared", [False, True])
def test_mixture_cdf_pack_and_unpack_are_inverse(shared):
    rng = np.random.default_rng(0)
    transformer = MixtureCDF(3, shared=shared, log_scale_bound=2.0)
    rows = transformer.rows(4)
    assert rows == (1 if shared else 4) and transformer.num_params(4) == 3 * 3 * rows
    logits, means, log_scales = rng.standard_normal((3, rows, 3))
    theta = transformer.pack(logits, means, log_scales)
    assert theta.shape == (transformer.num_params(4),)
    got = [np.asarray(p)[0] for p in transformer.unpack(np.tile(theta, (2, 1)), 4)]
    for a, b in zip(got, (logits, means, log_scales)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # log σ beyond the bound is clipped to ±(1 - 1e-6)·B, which B·tanh(raw) can reach
    clipped = np.asarray(transformer.unpack(transformer.pack(logits, means, np.full((rows, 3), 5.0))[None], 4)[2])
    np.testing.assert_allclose(clipped, 2.0 * (1 - PACK_MARGIN), rtol=1e-9)


def test_mixture_cdf_forward_and_inverse_match_the_module_maths():
    rng = np.random.default_rng(1)
    transformer = MixtureCDF(4)
    params = tuple(np.asarray(p) for p in transformer.unpack(rng.normal(0, 0.5, (32, transformer.num_params(2))), 2))
    x = 2.0 * rng.standard_normal((32, 2))
    z, log_dz = transformer.forward(x, params)
    expected = mixture.gaussianize(x, *params)
    np.testing.assert_array_equal(np.asarray(z), np.asarray(expected[0]))
    back, log_dx = transformer.inverse(z, params)
    np.testing.assert_allclose(np.asarray(back), x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(log_dx), -np.asarray(log_dz), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="K"):
        MixtureCDF(0)
    with pytest.raises(ValueError, match="log_scale_bound"):
        MixtureCDF(2, log_scale_bound=-1.0)


def test_mixture_cdf_checks_its_arguments():
    assert MixtureCDF(np.int64(3), log_scale_bound=2).num_components == 3
    for bad in (2.5, True, "3", None):
        with pytest.raises(TypeError, match="num_components"):
            MixtureCDF(bad)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="num_components"):
            MixtureCDF(bad)
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="log_scale_bound"):
            MixtureCDF(2, log_scale_bound=bad)
    for bad in (True, "3"):
        with pytest.raises(TypeError, match="log_scale_bound"):
            MixtureCDF(2, log_scale_bound=bad)


@pytest.mark.parametrize("k", [1, 4])
def test_log_dz_dx_at_the_image_is_the_forward_log_det(k):
    """One formula for both directions: log_dz_dx(x, z(x)) reproduces the forward log-det."""
    rng = np.random.default_rng(k)
    x = np.concatenate([np.linspace(-60.0, 60.0, 241), 3.0 * rng.standard_normal(200)])[:, None]
    params = random_mixture(rng, len(x), k)
    z, log_det = (np.asarray(t) for t in mixture.gaussianize(x, *params))
    np.testing.assert_allclose(np.asarray(mixture.log_dz_dx(x, z, *params)), log_det, rtol=1e-12, atol=1e-12)


def test_solve_increasing_finds_roots_in_their_brackets():
    # x³ + x - c = 0 (increasing), one equation per row, bracket [-|c| - 1, |c| + 1].
    c = np.concatenate([np.linspace(-50.0, 50.0, 101), [0.0, 1e-8]])

    def residual(x, target):
        return x**3 + x - target, 3.0 * x**2 + 1.0

    bound = np.abs(c) + 1.0
    x = np.asarray(solve_increasing(residual, np.zeros_like(c), -bound, bound, (c,), tol=1e-14, max_iterations=100))
    np.testing.assert_allclose(x**3 + x, c, rtol=1e-12, atol=1e-14)
    capped = np.asarray(solve_increasing(residual, np.zeros_like(c), -bound, bound, (c,), tol=1e-14, max_iterations=1))
    assert np.all(capped >= -bound) and np.all(capped <= bound)
    state = BracketState.start(np.zeros(3), -np.ones(3), np.ones(3))
    assert state._fields[:3] == ("x", "lo", "hi") and np.array_equal(np.asarray(state.step), [2.0, 2.0, 2.0])
