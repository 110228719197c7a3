"""Tests for gaussianization.datasets: recipes, exact densities, reference figures.

The reference figures of SPEC section 7 (mean exact log p on the test sets,
Monte Carlo entropies) are independent measurements; these tests recompute them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp, ndtr
from sklearn.datasets import make_moons

from gaussianization import datasets as D

# name → (raw log-density, population sampler, quadrature nodes, noise σ, raw box lo, raw box hi)
CASES = {
    "moons": (D.moons_log_prob_raw, D.sample_moons, D._moons_nodes, 0.05, (-1.6, -1.1), (2.6, 1.6)),
    "spiral": (D.spiral_log_prob_raw, D.sample_spiral, D._spiral_nodes, 0.08, (-4.3, -4.3), (4.3, 4.3)),
}
# SPEC §7: (entropy H, its standard error, exact mean log p on the 20,000 test points)
SPEC_FIGURES = {"moons": (1.1279, 0.0016, -1.1323), "spiral": (1.3912, 0.0019, -1.3922)}


@pytest.fixture(scope="module")
def data():
    return {name: D.load(name) for name in CASES}


@pytest.fixture(scope="module")
def test_log_probs(data):
    """Exact log p of the 20,000 standardised test points (computed once)."""
    return {name: ds.log_prob(ds.test) for name, ds in data.items()}


def _grid_integral(log_prob, lo, hi, h):
    """Σ exp(log_prob) h² over the grid lo + h·i inside [lo, hi] (2-D trapezoid rule).

    The integrand is a Gaussian blur (width σ) of a curve, so the rule is
    spectrally accurate: its aliasing error is about 4·exp(−2π²σ²/h²)
    (1e-8 at h = σ); with the box ≥ 12σ beyond the curve the truncated tail
    mass is below exp(−72). Any error above 1e-7 is a bug, not quadrature.
    """
    xs = np.arange(lo[0], hi[0] + h / 2, h)
    ys = np.arange(lo[1], hi[1] + h / 2, h)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    return np.exp(log_prob(np.column_stack([gx.ravel(), gy.ravel()]))).sum() * h * h


# ----------------------------------------------------------------- recipes
def test_moons_recipe_matches_spec(data):
    ds = data["moons"]
    train_raw = make_moons(5000, noise=0.05, random_state=0)[0]
    test_raw = make_moons(20000, noise=0.05, random_state=1)[0]
    assert ds.name == "moons"
    assert ds.train.shape == (5000, 2) and ds.test.shape == (20000, 2)
    assert ds.train.dtype == np.float32 and ds.test.dtype == np.float32
    np.testing.assert_array_equal(ds.shift, train_raw.mean(axis=0))
    np.testing.assert_array_equal(ds.scale, train_raw.std(axis=0, ddof=0))
    np.testing.assert_array_equal(ds.train, ((train_raw - ds.shift) / ds.scale).astype(np.float32))
    np.testing.assert_array_equal(ds.test, ((test_raw - ds.shift) / ds.scale).astype(np.float32))


def test_spiral_recipe_matches_spec(data):
    def recipe(n, seed):  # SPEC §7 verbatim
        rng = np.random.default_rng(seed)
        t = rng.uniform(0.5, 3.5, n)
        arm = (rng.integers(0, 2, n) * 2 - 1)[:, None]
        xy = arm * np.stack([t * np.cos(2.5 * t), t * np.sin(2.5 * t)], axis=1)
        xy += 0.08 * rng.standard_normal((n, 2))
        return xy

    ds = data["spiral"]
    train_raw, test_raw = recipe(4000, 0), recipe(20000, 1)
    assert ds.train.shape == (4000, 2) and ds.test.shape == (20000, 2)
    np.testing.assert_array_equal(D.sample_spiral(4000, 0), train_raw)
    np.testing.assert_array_equal(ds.shift, train_raw.mean(axis=0))
    np.testing.assert_array_equal(ds.scale, train_raw.std(axis=0))
    np.testing.assert_array_equal(ds.test, ((test_raw - ds.shift) / ds.scale).astype(np.float32))


@pytest.mark.parametrize("name", CASES)
def test_train_is_standardised(data, name):
    train = data[name].train.astype(np.float64)
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-6)


# ------------------------------------------------------- exact log-density
@pytest.mark.parametrize("name", CASES)
def test_raw_density_integrates_to_one(name):
    log_prob, _, _, sigma, lo, hi = CASES[name]
    assert abs(_grid_integral(log_prob, lo, hi, sigma) - 1.0) < 1e-7


@pytest.mark.parametrize("name", CASES)
def test_standardised_density_includes_jacobian(data, name):
    """∫ p_std = 1 on an isotropic grid in standardised coordinates (h = smallest σ/s)."""
    ds = data[name]
    _, _, _, sigma, lo, hi = CASES[name]
    lo_std, hi_std = (np.array(lo) - ds.shift) / ds.scale, (np.array(hi) - ds.shift) / ds.scale
    h = sigma / ds.scale.max()
    assert abs(_grid_integral(ds.log_prob, lo_std, hi_std, h) - 1.0) < 1e-7
    # and pointwise: log p_std(standardize(x)) = log p_raw(x) + Σ log s ≠ log p_raw(x)
    x = D.sample_moons(50, 3) if name == "moons" else D.sample_spiral(50, 3)
    expected = ds.raw_log_prob(x) + np.log(ds.scale).sum()
    np.testing.assert_allclose(ds.log_prob(ds.standardize(x)), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_density_is_the_node_mixture(name):
    """log_prob equals Σ_j w_j N(x; c_j, σ²I) evaluated independently with scipy.stats."""
    log_prob, sampler, nodes, sigma, _, _ = CASES[name]
    centres, log_w = nodes(sigma, 1)
    x = sampler(40, 7) + np.array([0.3, -0.2])  # on and off the curve
    terms = (
        stats.norm.logpdf(x[:, None, 0], centres[:, 0], sigma)
        + stats.norm.logpdf(x[:, None, 1], centres[:, 1], sigma)
        + log_w
    )
    np.testing.assert_allclose(log_prob(x), logsumexp(terms, axis=1), rtol=0, atol=1e-11)
    assert abs(np.exp(log_w).sum() - 1.0) < 1e-13


@pytest.mark.parametrize("name", CASES)
def test_quadrature_converges(data, name):
    """Doubling the quadrature nodes moves log p by ≤ 1e-10 on [−4, 4]² (standardised)."""
    log_prob = CASES[name][0]
    x = data[name].unstandardize(np.random.default_rng(11).uniform(-4.0, 4.0, (1000, 2)))
    assert np.max(np.abs(log_prob(x, refine=2) - log_prob(x))) <= 1e-10


def _chi_square(counts, probs):
    """Pearson χ² p-value and largest |standardised residual| over bins with ≥ 50 expected."""
    expected = counts.sum() * probs
    keep = expected >= 50
    resid = (counts[keep] - expected[keep]) / np.sqrt(expected[keep])
    return stats.chi2.sf(np.sum(resid**2), keep.sum()), np.abs(resid).max()


@pytest.mark.parametrize("name, bin_width", [("moons", 0.1), ("spiral", 0.4)])
def test_density_matches_histogram_of_large_sample(name, bin_width):
    """Histogram of 400,000 population draws vs the exact bin probabilities.

    Bin probabilities integrate the quadrature mixture exactly per bin,
    P(bin) = Σ_j w_j [Φ((b_x − c_jx)/σ)]·[Φ((b_y − c_jy)/σ)] differences, so the
    only discrepancy left is Poisson noise (χ² with ~200 bins). A fine grid of
    exp(log p) would add a midpoint-rule error of ~1 % per bin, visible at this n.
    """
    _, sampler, nodes, sigma, lo, hi = CASES[name]
    edges = [np.arange(lo[i], hi[i] + 1e-9, bin_width) for i in range(2)]
    centres, log_w = nodes(sigma, 1)
    fx, fy = (np.diff(ndtr((e[:, None] - centres[:, i]) / sigma), axis=0) for i, e in enumerate(edges))
    probs = np.einsum("j,aj,bj->ab", np.exp(log_w), fx, fy)
    samples = [sampler(400_000, 2)]
    if name == "moons":  # scikit-learn's linspace-in-t recipe follows the same density
        samples.append(make_moons(400_000, noise=0.05, random_state=2)[0])
    for x in samples:
        counts = np.histogram2d(x[:, 0], x[:, 1], edges)[0]
        assert counts.sum() == x.shape[0]  # the box holds every draw
        p_value, worst = _chi_square(counts, probs)
        assert p_value > 1e-3 and worst < 5.0


# ---------------------------------------------------- reference figures
@pytest.mark.parametrize("name", CASES)
def test_mean_exact_log_prob_on_test_set(test_log_probs, name):
    """SPEC §7: −1.1323 (moons), −1.3922 (spiral), the best any model can score."""
    lp = test_log_probs[name]
    assert lp.shape == (20000,) and lp.dtype == np.float64
    assert abs(lp.mean() - SPEC_FIGURES[name][2]) < 5e-4


@pytest.mark.parametrize("name", CASES)
def test_monte_carlo_entropy(data, name):
    """H = −E log p from 20,000 fresh draws, within 3 combined standard errors of SPEC §7."""
    h_spec, se_spec, _ = SPEC_FIGURES[name]
    h, se = data[name].entropy(n=20_000, seed=2024)
    assert 0.0 < se < 0.01
    assert abs(h - h_spec) < 3.0 * np.hypot(se, se_spec)


# ------------------------------------------------------------ interface
def test_load_rejects_unknown_name():
    with pytest.raises(ValueError, match="moons.*spiral"):
        D.load("circles")


def test_dataset_is_frozen(data):
    with pytest.raises(dataclasses.FrozenInstanceError):
        data["moons"].name = "x"


@pytest.mark.parametrize("bad", [np.zeros(2), np.zeros((4, 3)), np.zeros((2, 2, 2)), np.zeros((3, 1))])
def test_bad_shapes_raise(data, bad):
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        D.moons_log_prob_raw(bad)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        data["spiral"].log_prob(bad)


def test_bad_parameters_raise():
    x = np.zeros((1, 2))
    with pytest.raises(ValueError, match="noise"):
        D.spiral_log_prob_raw(x, noise=0.0)
    with pytest.raises(ValueError, match="refine"):
        D.moons_log_prob_raw(x, refine=0)


def test_edge_inputs(data):
    ds = data["moons"]
    assert ds.log_prob(np.zeros((0, 2))).shape == (0,)
    out = ds.log_prob(np.array([[np.nan, 0.0], [np.inf, 0.0], [0.0, 0.0]], dtype=np.float32))
    assert np.isnan(out[0]) and out[1] == -np.inf and np.isfinite(out[2])
    assert out.dtype == np.float64
    # far from the data the density is tiny but its logarithm is finite and exact
    assert np.isfinite(ds.log_prob(np.array([[40.0, -40.0]])))[0]
