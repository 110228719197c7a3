"""Composite Gauss–Legendre quadrature for the exact densities of :mod:`gaussianization.datasets`.

A curve blurred by isotropic Gaussian noise has the density of a Gaussian mixture whose
components sit at the quadrature nodes of the curve's parameter; these two helpers build
the nodes and evaluate that mixture's log-density in a numerically safe way. NumPy only.
"""

from __future__ import annotations

import numpy as np

#: Gauss–Legendre nodes per panel (panels are about one noise s.d. of arc length long).
NODES_PER_PANEL = 20
#: Point–node pairs evaluated at once (2 MiB of float64).
CHUNK_ELEMENTS = 2**18


def gauss_legendre_panels(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre rule on the panels ``[edges[i], edges[i+1]]``.

    Returns nodes t (P·k,) and weights w (P·k,) with Σ w = edges[-1] − edges[0].
    """
    u, v = np.polynomial.legendre.leggauss(NODES_PER_PANEL)
    half = 0.5 * np.diff(edges)[:, None]
    mid = 0.5 * (edges[1:] + edges[:-1])[:, None]
    return (mid + half * u).ravel(), (half * v).ravel()


def gaussian_mixture_log_prob(x: np.ndarray, centres: np.ndarray, log_w: np.ndarray, noise: float) -> np.ndarray:
    """log Σ_j exp(log_w[j]) N(x; centres[j], noise² I), for x (n, 2) → (n,).

    Chunked over points so that at most ``CHUNK_ELEMENTS`` point–node pairs
    are held at once; squared distances are formed from differences (no
    ``|x|² + |c|² − 2 x·c`` cancellation).
    """
    out = np.empty(x.shape[0])
    chunk = max(1, CHUNK_ELEMENTS // centres.shape[0])
    log_norm = -np.log(2.0 * np.pi * noise**2)
    inv_two_var = 0.5 / noise**2
    for start in range(0, x.shape[0], chunk):
        xs = x[start : start + chunk]
        q = xs[:, 0:1] - centres[:, 0]
        q *= q
        d1 = xs[:, 1:2] - centres[:, 1]
        d1 *= d1
        q += d1
        q *= -inv_two_var
        q += log_w
        peak = q.max(axis=1, keepdims=True)
        peak[~np.isfinite(peak)] = 0.0
        q -= peak
        np.exp(q, out=q)
        with np.errstate(divide="ignore"):  # ±inf input → log p = −inf
            out[start : start + chunk] = peak[:, 0] + np.log(q.sum(axis=1))
    return out + log_norm
