"""Two-dimensional toy data sets with their exact log-densities.

Every data set here is a curve blurred by isotropic Gaussian noise,

    x = c(t) + ε,   t ~ U[t0, t1],   ε ~ N(0, σ² I),

(possibly a mixture of several curves), so its density is a 1-D integral

    p_raw(x) = Σ_k π_k · (1 / (t1 − t0)) ∫_{t0}^{t1} N(x; c_k(t), σ² I) dt.

The integral is evaluated by composite Gauss–Legendre quadrature: the curve is
cut into panels of arc length ≈ σ / refine, each carrying 20 nodes
(:mod:`gaussianization.datasets.quadrature`), and the sum over nodes is a logsumexp of
``log w_j + log N(x; c(t_j), σ² I)``, so no term underflows even far from the
curve. Accuracy (doubling the nodes, measured): |change in log p| ≤ 5e-12
for points in the box [−5, 5]² of standardised coordinates, ≤ 5e-10 in
[−6, 6]² (tested on [−4, 4]²). Far from the curve the integrand in t narrows like
σ / √(1 + κ d) (κ the curvature, d the distance), which is why 20 nodes per
panel are used. Cost: 2,520 nodes (moons) and 7,720 (spiral); 20,000 points
take about 0.5 s (moons) and 1.6 s (spiral) on one CPU core.

The public data sets follow SPEC section 7: the train sample fixes a
standardisation ``x_std = (x_raw − m) / s`` (m, s the train mean and ddof-0
std); the test sample uses the same m, s; and the exact log-density in
standardised coordinates is

    log p(x_std) = log p_raw(x_std ⊙ s + m) + Σ_i log s_i.

Modules: :mod:`~gaussianization.datasets.curves` (the raw densities and samplers),
:mod:`~gaussianization.datasets.quadrature` (the Gauss–Legendre rule and the mixture
log-density), :mod:`~gaussianization.datasets.dataset` (:class:`Dataset`, :func:`load`).
Everything is re-exported here. Only NumPy/SciPy/scikit-learn are used.
"""

from __future__ import annotations

# The node builders are private; tests/test_datasets.py checks quadrature convergence with them.
from .curves import _moons_nodes, _spiral_nodes  # noqa: F401
from .curves import moons_log_prob_raw, sample_moons, sample_spiral, spiral_log_prob_raw
from .dataset import Dataset, load, spiral, two_moons

__all__ = [
    "Dataset",
    "load",
    "moons_log_prob_raw",
    "sample_moons",
    "sample_spiral",
    "spiral",
    "spiral_log_prob_raw",
    "two_moons",
]
