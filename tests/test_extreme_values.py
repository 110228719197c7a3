"""Extreme inputs of the mixture-CDF Gaussianization: far tails against mpmath, saturation, no NaN.

The reference is computed with mpmath at 60 digits from the float values the layer sees (the
float32 or float64 ``x`` and parameters, exactly): ``F``, ``S`` and ``f`` from ``erfc``, ``z`` by
Newton's method on ``log Φ(z) = log T`` for the tail ``T = min(F, S)``, and
``log dz/dx = log f(x) - log φ(z)``, exact at that precision. Measured worst relative errors of the
log-derivative for ``|x|`` in [10, 1e6] (float32) and [10, 1e12] (float64), on dense grids:
6e-6 and 6e-13.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

from gaussianization.gauss_keras import MixtureCDF, mixture, quantile, special

from .helpers import gradients, numpy

#: (logits, means, log σ): one component, and two three-component mixtures with unequal
#: weights, means and scales (the widest component dominates both far tails).
MIXTURES = {
    "K1": ([0.0], [0.5], [math.log(2.0)]),
    "K3": ([0.3, -0.5, 1.0], [-1.5, 0.2, 2.0], [math.log(0.6), math.log(1.7), math.log(1.1)]),
    "K3-wide": ([-1.0, 0.5, 0.0], [-3.0, 0.0, 4.0], [math.log(2.5), math.log(0.7), math.log(1.3)]),
}
#: Largest |x| of the far-tail checks, and the tolerances (relative) on log dz/dx and z.
TOP = {"float32": 1e6, "float64": 1e12}
LOG_DET_REL = {"float32": 1e-5, "float64": 1e-10}
Z_REL = {"float32": 1e-6, "float64": 1e-13}


def params(name, dtype):
    """The mixture ``name`` as ``(1, 1, K)`` arrays of ``dtype``."""
    return tuple(np.asarray(p, dtype)[None, None] for p in MIXTURES[name])


def _log_ndtr_mp(u):
    return mpmath.log(mpmath.erfc(-u / mpmath.sqrt(2)) / 2)


def _lower_quantile_mp(log_t):
    """``z ≤ 0`` with ``log Φ(z) = log_t``: Newton from ``-√(-2L)``, which lies left of the root
    (``log Φ`` is concave, so the iterates then increase monotonically to it)."""
    z = -mpmath.sqrt(-2 * log_t) if log_t < -1 else mpmath.mpf(-1)
    for _ in range(200):
        log_cdf = _log_ndtr_mp(z)
        step = (log_cdf - log_t) * mpmath.exp(log_cdf + z * z / 2 + mpmath.log(2 * mpmath.pi) / 2)
        z -= step
        if abs(step) <= mpmath.mpf(10) ** -45 * (1 + abs(z)):
            break
    return z


def reference(x, logits, means, log_scales):
    """``(z, log dz/dx)`` of one scalar ``x`` by mpmath (module docstring), as floats."""
    with mpmath.workdps(60):
        x = mpmath.mpf(float(x))
        lg = [mpmath.mpf(float(v)) for v in np.ravel(logits)]
        mu = [mpmath.mpf(float(v)) for v in np.ravel(means)]
        ls = [mpmath.mpf(float(v)) for v in np.ravel(log_scales)]

        def lse(terms):
            m = max(terms)
            return m + mpmath.log(sum(mpmath.exp(t - m) for t in terms))

        log_w = [v - lse(lg) for v in lg]
        u = [(x - m) / mpmath.exp(s) for m, s in zip(mu, ls)]
        log_cdf = lse([w + _log_ndtr_mp(v) for w, v in zip(log_w, u)])
        log_sf = lse([w + _log_ndtr_mp(-v) for w, v in zip(log_w, u)])
        half_log_2pi = mpmath.log(2 * mpmath.pi) / 2
        log_pdf = lse([w - s - v * v / 2 for w, v, s in zip(log_w, u, ls)]) - half_log_2pi
        z = _lower_quantile_mp(log_cdf) if log_cdf <= log_sf else -_lower_quantile_mp(log_sf)
        return float(z), float(log_pdf + z * z / 2 + half_log_2pi)


def relative_errors(x, name, dtype):
    """Max relative errors ``(z, log dz/dx)`` of :func:`mixture.gaussianize` over the 1-D ``x``."""
    p = params(name, dtype)
    x = np.asarray(x, dtype)
    z, log_det = (np.asarray(t, "float64")[:, 0] for t in mixture.gaussianize(x[:, None], *p))
    ref = np.array([reference(xi, *p) for xi in x])
    assert np.isfinite(z).all() and np.isfinite(log_det).all()
    rel_z = np.abs(z - ref[:, 0]) / np.abs(ref[:, 0])
    rel_ld = np.abs(log_det - ref[:, 1]) / np.abs(ref[:, 1])
    return float(rel_z.max()), float(rel_ld.max())


# -- far tails against mpmath ---------------------------------------------------------------
@pytest.mark.parametrize("name", list(MIXTURES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_far_tail_log_det_matches_mpmath_on_a_grid(dtype, name):
    """Old formula log f - log φ(z): 0.0 instead of -0.69 at x = 1e6 (float32); now ~1e-6."""
    mags = np.concatenate([np.linspace(10.0, 40.0, 61), np.logspace(math.log10(40.0), math.log10(TOP[dtype]), 60)])
    x = np.concatenate([-mags[::-1], mags])
    rel_z, rel_ld = relative_errors(x, name, dtype)
    assert rel_ld <= LOG_DET_REL[dtype], (dtype, name, rel_ld)
    assert rel_z <= Z_REL[dtype], (dtype, name, rel_z)


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from(["float32", "float64"]), name=st.sampled_from(sorted(MIXTURES)),
       fraction=st.floats(0.0, 1.0), negative=st.booleans())
def test_property_far_tail_log_det_is_relatively_accurate(dtype, name, fraction, negative):
    magnitude = 10.0 ** (1.0 + fraction * (math.log10(TOP[dtype]) - 1.0))
    rel_z, rel_ld = relative_errors([-magnitude if negative else magnitude], name, dtype)
    assert rel_ld <= LOG_DET_REL[dtype] and rel_z <= Z_REL[dtype], (magnitude, negative, rel_z, rel_ld)


# -- huge and infinite inputs ---------------------------------------------------------------
HUGE = {"float32": [1e19, 1e30, float(np.finfo("float32").max) / 10],
        "float64": [1e155, 1e300, float(np.finfo("float64").max) / 10]}


def saturated(x, means, log_scales, dtype):
    """The saturation rule of :mod:`mixture`: some ``|x - μ_k| > U σ_k``."""
    bound = mixture.SATURATION_BOUND[dtype]
    x = np.asarray(x, "float64")[..., None]
    with np.errstate(over="ignore", invalid="ignore"):
        return (np.abs(x - np.asarray(means, "float64")) > bound * np.exp(np.asarray(log_scales, "float64"))).any(-1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_inputs_give_no_nan_and_saturate(dtype):
    k = 7
    logits = np.linspace(-1.0, 1.0, k).astype(dtype)
    means = np.linspace(-2.0, 2.0, k).astype(dtype)
    log_scales = np.linspace(-3.0, 3.0, k).astype(dtype)
    big = np.array(HUGE[dtype], dtype)
    x = np.concatenate([-big[::-1], [0.0, 1.5], big]).astype(dtype)
    z, log_det = (np.asarray(t)[:, 0] for t in mixture.gaussianize(x[:, None], logits, means, log_scales))
    assert np.isfinite(z).all() and not np.isnan(log_det).any()
    sat = saturated(x, means, log_scales, dtype)
    assert sat.sum() == 2 * len(big)
    assert (log_det[sat] == -np.inf).all() and np.isfinite(log_det[~sat]).all()
    # Saturated: the map with x clipped, so z is constant there (and odd-signed, increasing).
    assert (z[-len(big):] == z[-1]).all() and (z[:len(big)] == z[0]).all()
    assert z[0] < z[len(big)] < z[len(big) + 1] < z[-1]


@settings(max_examples=25, deadline=None)
@given(dtype=st.sampled_from(["float32", "float64"]), k=st.integers(1, 6), seed=st.integers(0, 10_000),
       which=st.integers(0, 2), negative=st.booleans())
def test_property_any_scales_and_huge_x_give_no_nan(dtype, k, seed, which, negative):
    """σ from e^-3 to e^3: u = (x - μ)/σ itself overflows for x = max/10 and σ < 1."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, k).astype(dtype)
    means = rng.normal(0.0, 3.0, k).astype(dtype)
    log_scales = rng.uniform(-3.0, 3.0, k).astype(dtype)
    x = np.array([HUGE[dtype][which] * (-1.0 if negative else 1.0), 0.25, 7.0], dtype)
    z, log_det = (np.asarray(t)[:, 0] for t in mixture.gaussianize(x[:, None], logits, means, log_scales))
    assert np.isfinite(z).all() and not np.isnan(log_det).any()
    sat = saturated(x, means, log_scales, dtype)
    assert (log_det[sat] == -np.inf).all() and np.isfinite(log_det[~sat]).all()


def test_unsaturated_huge_inputs_stay_exact():
    """K = 1, σ = e³: x = 1e19 is not saturated in float32 (U σ ≈ 2.3e19): z = u, log-det = -log σ."""
    p = (np.zeros((1, 1, 1), "float32"), np.full((1, 1, 1), 0.5, "float32"), np.full((1, 1, 1), 3.0, "float32"))
    x = np.array([[-1e19], [1e19]], "float32")
    z, log_det = (np.asarray(t, "float64")[:, 0] for t in mixture.gaussianize(x, *p))
    u = (x[:, 0].astype("float64") - 0.5) / math.exp(3.0)
    np.testing.assert_allclose(z, u, rtol=1e-6)
    np.testing.assert_allclose(log_det, -3.0, rtol=LOG_DET_REL["float32"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_infinite_inputs_give_infinite_z_and_nan_stays_in_its_element(dtype):
    p = params("K3", dtype)
    x = np.array([[np.inf], [-np.inf], [np.nan], [1.0], [-2.0]], dtype)
    z, log_det = (np.asarray(t)[:, 0] for t in mixture.gaussianize(x, *p))
    assert z[0] == np.inf and z[1] == -np.inf and (log_det[:2] == -np.inf).all()
    assert np.isnan(z[2]) and np.isnan(log_det[2])
    clean_z, clean_ld = (np.asarray(t)[:, 0] for t in mixture.gaussianize(x[3:], *p))
    rtol = 1e-6 if dtype == "float32" else 1e-14  # equal up to the vector/scalar paths of the kernels
    np.testing.assert_allclose(z[3:], clean_z, rtol=rtol)
    np.testing.assert_allclose(log_det[3:], clean_ld, rtol=rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradients_are_finite_for_finite_inputs_including_saturated_ones(dtype):
    p = params("K3-wide", dtype)
    x = np.array([-HUGE[dtype][2], -1e4, -30.0, -3.0, 0.0, 2.0, 9.0, 50.0, 1e5, HUGE[dtype][0]], dtype)[:, None]

    def total(*args):
        z, log_det = mixture.gaussianize(*args)
        return ops.sum(z) + ops.sum(ops.where(ops.isfinite(log_det), log_det, 0.0))

    for grad in gradients(total, x, *p)[1]:
        assert np.isfinite(numpy(grad)).all()


# -- the inverse ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inverse_round_trip_in_the_bulk_and_infinite_z(dtype):
    rng = np.random.default_rng(0)
    p = params("K3", dtype)
    transformer = MixtureCDF(3)
    x = (2.0 * rng.standard_normal((400, 1))).astype(dtype)
    z, log_det = transformer.forward(x, p)
    back, log_det_inverse = transformer.inverse(z, p)
    rtol = 1e-5 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(np.asarray(back), x, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(np.asarray(log_det_inverse), -np.asarray(log_det), rtol=rtol, atol=rtol)
    x_inf, log_det_inf = transformer.inverse(np.array([[np.inf], [-np.inf]], dtype), p)
    assert np.asarray(x_inf)[:, 0].tolist() == [np.inf, -np.inf]
    assert not np.isnan(np.asarray(log_det_inf)).any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inverse_of_huge_finite_z_has_no_nan(dtype):
    top = float(np.finfo(dtype).max) / 10
    z = np.array([1e10, 1e19, 1e25, 1e38 if dtype == "float32" else 1e200, top], dtype)
    z = np.concatenate([-z, z])[:, None]
    for name in MIXTURES:
        x, log_det = MixtureCDF(len(MIXTURES[name][0])).inverse(z, params(name, dtype))
        x, log_det = np.asarray(x)[:, 0], np.asarray(log_det)[:, 0]
        assert not np.isnan(x).any() and not np.isnan(log_det).any()
        assert (np.sign(x) == np.sign(z[:, 0])).all()
        # Where x is finite, the forward map gives z back (or saturates there).
        finite = np.isfinite(x) & (np.abs(z[:, 0]) < 1e15)
        z_back = np.asarray(mixture.gaussianize(x[finite, None], *params(name, dtype))[0])[:, 0]
        np.testing.assert_allclose(z_back, z[finite, 0], rtol=1e-6 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inverse_log_det_has_no_cancellation_for_large_z(dtype):
    """K = 1: the inverse log-det is log σ exactly; log φ(z) - log f(x) was 0 or garbage at |z| = 1e5."""
    p = params("K1", dtype)
    z = np.array([-1e5, -1e3, -40.0, 40.0, 1e3, 1e5], dtype)[:, None]
    x, log_det = MixtureCDF(1).inverse(z, p)
    np.testing.assert_allclose(np.asarray(log_det, "float64")[:, 0], math.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(x, "float64")[:, 0], 0.5 + 2.0 * z[:, 0].astype("float64"), rtol=1e-6)


# -- the quantile at its end points and switch points ------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ndtri_from_log_of_minus_infinity_is_minus_infinity(dtype):
    log_p = ops.convert_to_tensor(np.array([-np.inf, np.nan, -1.0], dtype))
    z, log_mills = (np.asarray(t) for t in quantile.ndtri_and_log_mills_from_log(log_p))
    assert z[0] == -np.inf and log_mills[0] == -np.inf
    assert np.isnan(z[1]) and np.isfinite(z[2])
    assert np.asarray(quantile.ndtri_from_log(log_p))[0] == -np.inf


def test_ndtri_gradients_are_finite_and_implicit_near_the_switch_points():
    """The start switches at log 0.02425 (central/tail) and -600 (rational/asymptotic), the Newton
    step's log Φ at z = -37 (erfc/series; log p ≈ -689.4), the far form at -1e30."""
    switches = [math.log(0.02425), -600.0, float(special.log_ndtr(np.float64(-37.0))), -1e30]
    log_p = np.concatenate([[s * (1 - 1e-12), s, s * (1 + 1e-12)] for s in switches] + [[-1e300, math.log(0.5)]])

    def gradient(i):  # of output i (z or log Φ/φ) with respect to log p
        return numpy(gradients(lambda t: ops.sum(quantile.ndtri_and_log_mills_from_log(t)[i]), log_p)[1][0])

    dz, dlog_mills = gradient(0), gradient(1)
    z, log_mills = (numpy(t) for t in quantile.ndtri_and_log_mills_from_log(log_p))
    assert np.isfinite(dz).all() and np.isfinite(dlog_mills).all()
    ratio = []
    for v in z:  # Φ(z)/φ(z): erfc(-z/√2) e^{z²/2} needs the digits of z²/2 on top of the result's
        with mpmath.workdps(40 + int(math.log10(1.0 + v * v))):
            v = mpmath.mpf(float(v))
            ratio.append(float(mpmath.erfc(-v / mpmath.sqrt(2)) / 2 * mpmath.sqrt(2 * mpmath.pi) * mpmath.exp(v * v / 2)))
    # dz/dL = Φ(z)/φ(z) and the returned log(Φ/φ) at z, both to float64 precision
    np.testing.assert_allclose(dz, ratio, rtol=1e-12)
    np.testing.assert_allclose(log_mills, np.log(ratio), rtol=1e-12, atol=1e-14)
    # d log(Φ/φ)/dL = (d log(Φ/φ)/dz)·(Φ/φ) = (1/r + z)·r = 1 + z r
    np.testing.assert_allclose(dlog_mills, 1.0 + z * np.array(ratio), rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_ndtr_family_has_finite_gradients_at_its_switch_points(dtype):
    switch = 7.5 if dtype == "float32" else 37.0
    x = np.array([s * switch * f for s in (-1, 1) for f in (1 - 1e-6, 1.0, 1 + 1e-6)] + [0.0, 1e3, -1e3], dtype)

    def total(t):
        outs = special.log_ndtr_by_size(t) + special.log_ndtr_by_size(t * math.sqrt(0.5), halved=True)
        return sum(ops.sum(o) for o in outs) + ops.sum(special.log_mills_ratio(t))

    value, (grad,) = gradients(total, x)
    assert np.isfinite(numpy(value)) and np.isfinite(numpy(grad)).all()
