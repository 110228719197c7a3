"""Tests for gaussianization.metrics: likelihood measures and RBIG diagnostics.

Tolerances for the k-NN information estimators come from their measured
behaviour at n = 10,000 in 2-D (10 seeds, k = 5): spread ≈ 0.01 nat, bias
≲ 0.01 nat for Gaussians and ≈ −0.015 nat for a uniform square; the bounds
below are about 4 spreads plus the bias.
"""

from __future__ import annotations

import numpy as np
import pytest

from gaussianization import metrics as M

N = 10_000


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(0)
    gauss = rng.standard_normal((N, 2))
    uniform = rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), (N, 2))  # unit variance
    corr = gauss @ np.linalg.cholesky(np.array([[1.0, 0.8], [0.8, 1.0]])).T
    return {"gauss": gauss, "uniform": uniform, "corr": corr}


# ----------------------------------------------------------- likelihoods
def test_mean_nll():
    assert M.mean_nll([-1.0, -2.0, -3.0]) == pytest.approx(2.0)


def test_kl_gap_of_identical_models_is_zero():
    lp = np.random.default_rng(1).normal(-1.0, 1.0, 500)
    assert M.kl_gap(lp, lp) == (0.0, 0.0)


def test_kl_gap_constant_offset_and_known_gaussian_kl():
    lp = np.random.default_rng(2).normal(-1.0, 1.0, 500)
    mean, se = M.kl_gap(lp, lp - 0.25)
    assert mean == pytest.approx(0.25) and se == pytest.approx(0.0, abs=1e-15)
    # p = N(0, 1), q = N(μ, 1): KL(p || q) = μ²/2; paired per-point differences
    # D = −x²/2 + (x − μ)²/2 = μ²/2 − μx, so se = μ·std(x)/√n.
    mu, x = 0.5, np.random.default_rng(3).standard_normal(40_000)
    mean, se = M.kl_gap(-0.5 * x**2, -0.5 * (x - mu) ** 2)
    assert se == pytest.approx(mu / np.sqrt(x.size), rel=0.02)
    assert abs(mean - mu**2 / 2) < 4 * se


def test_kl_gap_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        M.kl_gap(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="1-D"):
        M.kl_gap(np.zeros((3, 1)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="at least 2"):
        M.kl_gap([0.0], [0.0])
    with pytest.raises(ValueError, match="non-empty"):
        M.mean_nll([])


def test_round_trip_errors():
    x = np.array([[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(M.round_trip_errors(x, x + [[3.0, 4.0], [0.0, 0.0]]), [5.0, 0.0])
    with pytest.raises(ValueError, match="same shape"):
        M.round_trip_errors(x, x[:1])
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        M.round_trip_errors(np.zeros(3), np.zeros(3))


# ---------------------------------------------- information estimators
def test_entropy_of_known_densities(samples):
    h_gauss = 0.5 * np.log(2 * np.pi * np.e)  # per coordinate
    h_unif = np.log(2 * np.sqrt(3.0))
    np.testing.assert_allclose(M.marginal_entropy(samples["gauss"]), h_gauss, atol=0.03)
    np.testing.assert_allclose(M.marginal_entropy(samples["uniform"]), h_unif, atol=0.03)
    assert abs(M.joint_entropy(samples["gauss"]) - 2 * h_gauss) < 0.04


def test_negentropy_near_zero_for_standard_gaussian(samples):
    z = samples["gauss"]
    assert abs(M.gaussian_negentropy(z)) < 0.04
    np.testing.assert_allclose(M.marginal_negentropy(z), 0.0, atol=0.03)
    assert abs(M.total_correlation(z)) < 0.05


def test_negentropy_of_uniform(samples):
    """J = 2·(½ log 2πe − log 2√3) = 0.3530 nats for the unit-variance uniform square."""
    exact = 2 * (0.5 * np.log(2 * np.pi * np.e) - np.log(2 * np.sqrt(3.0)))
    j = M.gaussian_negentropy(samples["uniform"])
    assert j > 0.25 and abs(j - exact) < 0.06
    np.testing.assert_allclose(M.marginal_negentropy(samples["uniform"]), exact / 2, atol=0.03)


def test_total_correlation_of_correlated_gaussian(samples):
    """ρ = 0.8: T = J = −½ log(1 − ρ²) = 0.5108 nats (unit marginals, so Σ J_i = 0)."""
    exact = -0.5 * np.log(1 - 0.8**2)
    assert abs(M.total_correlation(samples["corr"]) - exact) < 0.05
    assert abs(M.gaussian_negentropy(samples["corr"]) - exact) < 0.05


def test_decomposition_and_rotation_invariance(samples):
    z = samples["uniform"]
    j = M.gaussian_negentropy(z)
    assert j == pytest.approx(M.total_correlation(z) + M.marginal_negentropy(z).sum(), abs=1e-12)
    c, s = np.cos(0.3), np.sin(0.3)
    zr = z @ np.array([[c, -s], [s, c]])
    assert M.gaussian_negentropy(zr) == pytest.approx(j, abs=1e-9)
    # a rotation moves information between the marginals and the dependence
    assert M.total_correlation(zr) > M.total_correlation(z) + 0.05


def test_information_estimators_bad_inputs():
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        M.gaussian_negentropy(np.zeros(10))
    with pytest.raises(ValueError, match="at least"):
        M.total_correlation(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="NaN"):
        M.marginal_negentropy(np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 1.0]]))
    with pytest.raises(ValueError, match="k must"):
        M.joint_entropy(np.random.default_rng(0).standard_normal((5, 2)), k=5)
    with pytest.raises(ValueError, match="identical"):
        M.joint_entropy(np.zeros((20, 2)))


def test_sorted_marginal_entropy_equals_the_kd_tree_estimate_per_column():
    """The sorted-column k-NN of marginal_entropy is the same estimator as joint_entropy in 1-D."""
    rng = np.random.default_rng(4)
    z = np.column_stack([rng.standard_normal(3000), rng.uniform(size=3000), rng.laplace(size=3000)])
    for k in (1, 5, 20):
        per_column = [M.joint_entropy(z[:, i : i + 1], k=k) for i in range(3)]
        np.testing.assert_allclose(M.marginal_entropy(z, k=k), per_column, rtol=0, atol=1e-12)
        np.testing.assert_allclose(M.marginal_entropy(np.sort(z, axis=0), k=k, presorted=True),
                                   per_column, rtol=0, atol=1e-12)
