"""Quality measures for density models and diagnostics for iterative Gaussianization.

Likelihood measures (SPEC section 6), all in nats:

* :func:`mean_nll` — ``−(1/n) Σ log q(x_i)``.
* :func:`kl_gap` — the paired Monte Carlo estimate of KL(p || q) on a test
  sample from p: ``(1/n) Σ [log p(x_i) − log q(x_i)]`` with its standard error.

Information measures (Laparra, Camps-Valls & Malo 2011, "Iterative
Gaussianization: from ICA to random rotations"), for a sample z of shape (n, d):

* negentropy  J(Z) = KL(p_Z || N(0, I)) = −H(Z) + (d/2) log 2π + ½ E‖Z‖²,
* marginal negentropies  J(Z_i) = −H(Z_i) + ½ log 2π + ½ E Z_i²,
* total correlation  T(Z) = Σ_i H(Z_i) − H(Z) = KL(p_Z || Π_i p_{Z_i}),

which satisfy J(Z) = T(Z) + Σ_i J(Z_i). RBIG drives J to zero: each marginal
Gaussianization removes Σ_i J(Z_i) and leaves T, a rotation redistributes T into
new marginal negentropy.

Every entropy here, joint (d dimensions) and marginal (d = 1), is the
Kozachenko–Leonenko k-nearest-neighbour estimator (Kozachenko & Leonenko 1987;
Kraskov, Stögbauer & Grassberger 2004),

    H ≈ ψ(n) − ψ(k) + log V_d + (d/n) Σ_i log ε_i,

ε_i the Euclidean distance from z_i to its k-th nearest other point,
V_d = π^{d/2} / Γ(d/2 + 1) the volume of the unit d-ball, k = 5 by default.
Using one estimator for both makes J = T + Σ J_i hold exactly for the
estimates. It is consistent; at n = 10⁴ in two dimensions its bias is below
0.01 nat for Gaussians and about −0.015 nat for a uniform square (points near
the edges see too few neighbours), with a spread of about 0.01 nat
(see ``tests/test_metrics.py``). Repeated points make it −∞ and raise ValueError.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln

from gaussianization.gauss_keras.validation import check_int

__all__ = [
    "gaussian_negentropy",
    "joint_entropy",
    "kl_gap",
    "ksg_mutual_information",
    "marginal_entropy",
    "marginal_negentropy",
    "mean_nll",
    "round_trip_errors",
    "total_correlation",
]

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def _as_1d(values, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of per-point values, got shape {v.shape}")
    return v


def _as_sample(z, name: str = "z", min_n: int = 2) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n, d) with d ≥ 1, got shape {z.shape}")
    if z.shape[0] < min_n:
        raise ValueError(f"{name} needs at least {min_n} points, got {z.shape[0]}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return z


def mean_nll(log_q) -> float:
    """Mean negative log-likelihood in nats: ``−(1/n) Σ_i log q(x_i)``; log_q (n,)."""
    return float(-_as_1d(log_q, "log_q").mean())


def kl_gap(log_p_true, log_q) -> tuple[float, float]:
    """KL gap to the true density, in nats, with its standard error.

    For x_i ~ p, ``D_i = log p(x_i) − log q(x_i)`` has mean KL(p || q) ≥ 0.
    Returns ``(mean(D), std(D, ddof=1) / √n)``; log_p_true and log_q are (n,),
    n ≥ 2. The pairing removes the (large) spread of log p from the error bar.
    """
    lp = _as_1d(log_p_true, "log_p_true")
    lq = _as_1d(log_q, "log_q")
    if lp.shape != lq.shape:
        raise ValueError(f"log_p_true and log_q must have the same shape, got {lp.shape} and {lq.shape}")
    if lp.shape[0] < 2:
        raise ValueError("kl_gap needs at least 2 points for a standard error")
    d = lp - lq
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.shape[0]))


def joint_entropy(z, k: int = 5) -> float:
    """Joint differential entropy (nats) by the Kozachenko–Leonenko estimator.

    z (n, d) → scalar:  H = ψ(n) − ψ(k) + log V_d + (d/n) Σ_i log ε_i,
    ε_i the distance from z_i to its k-th nearest other point, V_d the volume
    of the unit d-ball. Requires 1 ≤ k < n.
    """
    z = _as_sample(z, min_n=2)
    n, d = z.shape
    k = check_int(k, "k", 1, "joint_entropy")
    if not 1 <= k < n:
        raise ValueError(f"k must satisfy 1 ≤ k < n = {n}, got {k}")
    eps = cKDTree(z).query(z, k=k + 1)[0][:, k]
    if np.any(eps <= 0.0):
        raise ValueError(
            f"z has k + 1 = {k + 1} or more identical points; the k-NN entropy estimate is −∞"
        )
    log_vd = 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1.0)
    return float(digamma(n) - digamma(k) + log_vd + d * np.log(eps).mean())


def marginal_entropy(z, k: int = 5, *, presorted: bool = False) -> np.ndarray:
    """Per-coordinate differential entropy (nats), z (n, d) → (d,).

    H_i = :func:`joint_entropy` of the column z[:, i] (the 1-D
    Kozachenko–Leonenko estimator, V_1 = 2), computed from the sorted column:
    the k-th nearest neighbour of a point lies in one of the k + 1 windows of
    k + 1 consecutive sorted values that contain it. ``presorted=True`` says every
    column of z is already in ascending order (the sort is skipped, not checked).
    Requires 1 ≤ k < n.
    """
    z = _as_sample(z, min_n=2)
    n = z.shape[0]
    k = check_int(k, "k", 1, "marginal_entropy")
    if not 1 <= k < n:
        raise ValueError(f"k must satisfy 1 ≤ k < n = {n}, got {k}")
    eps = _knn_distance_1d(z if presorted else np.sort(z, axis=0), k)
    if np.any(eps <= 0.0):
        raise ValueError(
            f"z has a column with k + 1 = {k + 1} or more identical values; the k-NN entropy estimate is −∞"
        )
    return digamma(n) - digamma(k) + np.log(2.0) + np.log(eps).mean(axis=0)


def _knn_distance_1d(s: np.ndarray, k: int) -> np.ndarray:
    """Distance from each value of every sorted column of s (n, d) to its k-th nearest other value."""
    n, d = s.shape
    pad = np.full((k, d), np.inf)
    padded = np.concatenate([-pad, s, pad])
    eps = np.full((n, d), np.inf)
    for left in range(k + 1):  # the window holds `left` values below the point and k - left above
        below = s - padded[k - left : k - left + n]
        above = padded[2 * k - left : 2 * k - left + n] - s
        eps = np.minimum(eps, np.maximum(below, above))
    return eps


def marginal_negentropy(z, k: int = 5) -> np.ndarray:
    """Per-coordinate negentropy J(Z_i) = KL(p_{Z_i} || N(0, 1)), z (n, d) → (d,).

    J_i = −H_i + ½ log 2π + ½ mean(z_i²), H_i from :func:`marginal_entropy`.
    Zero for a standard normal coordinate; note it also penalises a wrong
    mean or variance (it measures distance to N(0, 1), not to Gaussianity).
    """
    z = _as_sample(z, min_n=2)
    return -marginal_entropy(z, k=k) + _HALF_LOG_2PI + 0.5 * np.mean(z * z, axis=0)


def total_correlation(z, k: int = 5) -> float:
    """Total correlation T(Z) = Σ_i H(Z_i) − H(Z) in nats, z (n, d) → scalar.

    All entropies by Kozachenko–Leonenko with k neighbours. T ≥ 0, with
    T = 0 for independent coordinates (estimates can dip below 0 by the bias).
    """
    z = _as_sample(z, min_n=2)
    return float(marginal_entropy(z, k=k).sum() - joint_entropy(z, k=k))


def gaussian_negentropy(z, k: int = 5) -> float:
    """Negentropy J(Z) = KL(p_Z || N(0, I_d)) in nats, z (n, d) → scalar.

    J = −H(Z) + (d/2) log 2π + ½ mean(‖z‖²), H(Z) by Kozachenko–Leonenko;
    equals ``total_correlation(z, k) + marginal_negentropy(z, k).sum()``. Rotation
    invariant; zero only for a standard normal sample (up to estimator bias).
    """
    z = _as_sample(z, min_n=2)
    d = z.shape[1]
    return float(-joint_entropy(z, k=k) + d * _HALF_LOG_2PI + 0.5 * np.mean(np.sum(z * z, axis=1)))


def information(z, k: int = 5) -> tuple[float, float]:
    """``(gaussian_negentropy(z), total_correlation(z))``: the pair RBIG diagnostics record per block
    (pass it as ``information=`` to ``fit_rbig`` / ``initialize_flow_from_ig``)."""
    return gaussian_negentropy(z, k=k), total_correlation(z, k=k)


def ksg_mutual_information(x, y, k: int = 3) -> float:
    """Mutual information I(X; Y) in nats by the Kraskov–Stögbauer–Grassberger estimator (their
    algorithm 1; Kraskov, Stögbauer & Grassberger 2004).

    x (n, d_x), y (n, d_y) paired rows (1-D arrays are one column):
    I = ψ(k) + ψ(n) − mean_i [ψ(n_x,i + 1) + ψ(n_y,i + 1)], with ε_i the max-norm distance from
    (x_i, y_i) to its k-th nearest neighbour in the joint space and n_x,i (n_y,i) the number of
    other points strictly within ε_i of x_i (y_i). Requires 1 ≤ k < n; ValueError for unpaired
    rows and non-finite values.
    """
    x = _as_sample(np.asarray(x, dtype=np.float64).reshape(len(x), -1), "x", min_n=2)
    y = _as_sample(np.asarray(y, dtype=np.float64).reshape(len(y), -1), "y", min_n=2)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y need the same number of rows, got {x.shape[0]} and {y.shape[0]}")
    n = x.shape[0]
    k = check_int(k, "k", 1, "ksg_mutual_information")
    if not 1 <= k < n:
        raise ValueError(f"k must satisfy 1 ≤ k < n = {n}, got {k}")
    joint = np.concatenate([x, y], axis=1)
    eps = cKDTree(joint).query(joint, k=k + 1, p=np.inf)[0][:, k]
    radius = np.nextafter(eps, 0.0)  # "strictly within": exclude points at exactly ε_i
    n_x = cKDTree(x).query_ball_point(x, radius, p=np.inf, return_length=True) - 1
    n_y = cKDTree(y).query_ball_point(y, radius, p=np.inf, return_length=True) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(n_x + 1) + digamma(n_y + 1)))


def round_trip_errors(x, x_back) -> np.ndarray:
    """Per-point reconstruction error ‖x_i − x_back_i‖₂; x, x_back (n, d) → (n,)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(x_back, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"x must have shape (n, d), got shape {a.shape}")
    if a.shape != b.shape:
        raise ValueError(f"x and x_back must have the same shape, got {a.shape} and {b.shape}")
    return np.sqrt(np.sum((a - b) ** 2, axis=1))
