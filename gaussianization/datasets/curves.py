"""The two curves, two moons and the two-arm spiral: exact raw log-densities and samplers.

Each density is that of a curve blurred by isotropic Gaussian noise: a 1-D integral over the curve's
parameter evaluated by :mod:`gaussianization.datasets.quadrature` (panels of arc length
≈ σ / refine, 20 Gauss–Legendre nodes each); the accuracy and cost are stated in
:mod:`gaussianization.datasets`. Everything here works in *raw* coordinates; the standardised
train/test pairs are built in :mod:`gaussianization.datasets.dataset`. NumPy/scikit-learn only.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_moons

from .quadrature import gauss_legendre_panels, gaussian_mixture_log_prob

__all__ = ["moons_log_prob_raw", "sample_moons", "sample_spiral", "spiral_log_prob_raw"]

_SPIRAL_T = (0.5, 3.5)
_SPIRAL_RATE = 2.5  # angle = 2.5 t


def _check_points(x, noise: float = 1.0, refine: int = 1) -> np.ndarray:
    """Return ``x`` as a float64 array of shape (n, 2), or raise ValueError."""
    if not noise > 0:
        raise ValueError(f"noise must be > 0, got {noise}")
    if int(refine) != refine or refine < 1:
        raise ValueError(f"refine must be a positive integer, got {refine}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"expected points of shape (n, 2), got shape {x.shape}")
    return x


# ----------------------------------------------------------------- two moons
def _moons_nodes(noise: float, refine: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes (centres (N, 2), log-weights (N,)) for both moons.

    Each moon has unit speed in t, so arc length = t ∈ [0, π]; panels of
    length ≈ σ / refine. Weights include the ½ moon prior and the 1/π of U[0, π].
    """
    n_panels = int(np.ceil(np.pi / noise)) * refine
    t, w = gauss_legendre_panels(np.linspace(0.0, np.pi, n_panels + 1))
    c1 = np.stack([np.cos(t), np.sin(t)], axis=1)
    c2 = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    log_w = np.log(w) - np.log(2.0 * np.pi)
    return np.concatenate([c1, c2]), np.concatenate([log_w, log_w])


def moons_log_prob_raw(x, noise: float = 0.05, *, refine: int = 1) -> np.ndarray:
    """Exact two-moons log-density in raw coordinates, x (n, 2) → (n,) float64.

    p(x) = ½ Σ_{k=1,2} (1/π) ∫_0^π N(x; c_k(t), σ² I) dt with
    c1(t) = (cos t, sin t), c2(t) = (1 − cos t, ½ − sin t). ``refine`` divides
    the panel length (for convergence checks). NaN rows give NaN; rows
    with ±inf give −inf.
    """
    x = _check_points(x, noise, refine)
    return gaussian_mixture_log_prob(x, *_moons_nodes(noise, int(refine)), noise)


def sample_moons(n: int, seed: int | None = None, noise: float = 0.05) -> np.ndarray:
    """Draw (n, 2) float64 points from the two-moons *population*.

    Moon k ∈ {1, 2} with probability ½, t ~ U[0, π], x = c_k(t) + σ ε. (This
    differs from :func:`sklearn.datasets.make_moons`, which places t on a
    deterministic ``linspace`` grid; see :func:`~gaussianization.datasets.two_moons`.)
    """
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, np.pi, n)
    second = rng.integers(0, 2, n).astype(bool)
    xy = np.stack([np.cos(t), np.sin(t)], axis=1)
    xy[second] = np.stack([1.0 - xy[second, 0], 0.5 - xy[second, 1]], axis=1)
    return xy + noise * rng.standard_normal((n, 2))


def _make_moons(n: int, seed: int | None, noise: float) -> np.ndarray:
    return make_moons(n, noise=noise, random_state=seed)[0]


# -------------------------------------------------------------------- spiral
def _spiral_arc_length(t: np.ndarray) -> np.ndarray:
    """s(t) = ∫_0^t |c'(τ)| dτ for c(t) = t (cos at, sin at): |c'| = √(1 + a²t²)."""
    a = _SPIRAL_RATE
    return 0.5 * (t * np.sqrt(1.0 + (a * t) ** 2) + np.arcsinh(a * t) / a)


def _spiral_nodes(noise: float, refine: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes for both arms: panels of equal arc length ≈ σ / refine.

    Panel edges come from inverting s(t) by interpolation on a dense grid
    (any partition is exact for Gauss–Legendre; only the panel sizes matter).
    Weights include the ½ arm prior and the 1/3 of U[0.5, 3.5].
    """
    t0, t1 = _SPIRAL_T
    dense = np.linspace(t0, t1, 20001)
    s = _spiral_arc_length(dense)
    n_panels = int(np.ceil((s[-1] - s[0]) / noise)) * refine
    edges = np.interp(np.linspace(s[0], s[-1], n_panels + 1), s, dense)
    edges[0], edges[-1] = t0, t1
    t, w = gauss_legendre_panels(edges)
    c = t[:, None] * np.stack([np.cos(_SPIRAL_RATE * t), np.sin(_SPIRAL_RATE * t)], axis=1)
    log_w = np.log(w) - np.log(2.0 * (t1 - t0))
    return np.concatenate([c, -c]), np.concatenate([log_w, log_w])


def spiral_log_prob_raw(x, noise: float = 0.08, *, refine: int = 1) -> np.ndarray:
    """Exact two-arm spiral log-density in raw coordinates, x (n, 2) → (n,) float64.

    p(x) = ½ Σ_{a=±1} (1/3) ∫_{0.5}^{3.5} N(x; a·c(t), σ² I) dt,
    c(t) = t (cos 2.5t, sin 2.5t). ``refine`` divides the panel length.
    """
    x = _check_points(x, noise, refine)
    return gaussian_mixture_log_prob(x, *_spiral_nodes(noise, int(refine)), noise)


def sample_spiral(n: int, seed: int | None = None, noise: float = 0.08) -> np.ndarray:
    """Draw (n, 2) float64 spiral points with the SPEC §7 recipe (order matters).

    rng = default_rng(seed); t ~ U[0.5, 3.5]; arm = ±1; x = arm · t (cos 2.5t,
    sin 2.5t) + σ ε. This is both the data recipe and the population sampler.
    """
    rng = np.random.default_rng(seed)
    t = rng.uniform(*_SPIRAL_T, n)
    arm = (rng.integers(0, 2, n) * 2 - 1)[:, None]
    xy = arm * np.stack([t * np.cos(_SPIRAL_RATE * t), t * np.sin(_SPIRAL_RATE * t)], axis=1)
    xy += noise * rng.standard_normal((n, 2))
    return xy
