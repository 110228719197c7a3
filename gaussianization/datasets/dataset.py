"""The standardised train/test pairs (SPEC section 7) and their exact log-densities.

The train sample fixes ``x_std = (x_raw − m) / s`` (m, s the train mean and ddof-0 std), the
test sample uses the same m, s, and :meth:`Dataset.log_prob` adds the Jacobian term
``Σ_i log s_i`` to the raw density of :mod:`gaussianization.datasets.curves`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

from gaussianization.gauss_keras.validation import check_int, check_positive, check_seed

from .curves import (
    _check_points,
    _make_moons,
    moons_log_prob_raw,
    sample_moons,
    sample_spiral,
    spiral_log_prob_raw,
)

__all__ = ["Dataset", "load", "spiral", "two_moons"]


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A standardised train/test pair with its exact density.

    Attributes:
        name: data-set name.
        train: (n_train, 2) float32, (x_raw − shift) / scale.
        test: (n_test, 2) float32, standardised with the *train* shift/scale.
        shift: (2,) float64 train mean m.  scale: (2,) float64 train std s (ddof 0).
        raw_log_prob: x_raw (n, 2) → log p_raw (n,).
        raw_sampler: (n, seed) → (n, 2) raw population samples.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    shift: np.ndarray
    scale: np.ndarray
    raw_log_prob: Callable[[np.ndarray], np.ndarray] = dataclasses.field(repr=False)
    raw_sampler: Callable[[int, int | None], np.ndarray] = dataclasses.field(repr=False)

    def standardize(self, x_raw) -> np.ndarray:
        """(x_raw − m) / s, (n, 2) → (n, 2) float64."""
        return (_check_points(x_raw) - self.shift) / self.scale

    def unstandardize(self, x) -> np.ndarray:
        """x ⊙ s + m, (n, 2) → (n, 2) float64."""
        return _check_points(x) * self.scale + self.shift

    def log_prob(self, x) -> np.ndarray:
        """Exact log p(x) in standardised coordinates, (n, 2) → (n,) float64.

        log p(x) = log p_raw(x ⊙ s + m) + Σ_i log s_i.
        """
        return self.raw_log_prob(self.unstandardize(x)) + np.sum(np.log(self.scale))

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """(n, 2) float64 standardised samples from the population."""
        return self.standardize(self.raw_sampler(n, seed))

    def entropy(self, n: int = 100_000, seed: int | None = 12345) -> tuple[float, float]:
        """Monte Carlo differential entropy in standardised coordinates (nats).

        H = −E[log p(X)] ≈ −(1/n) Σ log p(x_i), x_i fresh population samples;
        returns (estimate, standard error = std(log p, ddof=1) / √n).
        """
        lp = self.log_prob(self.sample(n, seed))
        return float(-lp.mean()), float(lp.std(ddof=1) / np.sqrt(n))


def _standardised(name, x_train, x_test, raw_log_prob, raw_sampler) -> Dataset:
    shift = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    return Dataset(
        name=name,
        train=((x_train - shift) / scale).astype(np.float32),
        test=((x_test - shift) / scale).astype(np.float32),
        shift=shift,
        scale=scale,
        raw_log_prob=raw_log_prob,
        raw_sampler=raw_sampler,
    )


def _curve_dataset(name, make, raw_log_prob, raw_sampler, n_train, n_test, noise, train_seed, test_seed) -> Dataset:
    """Train and test draws ``make(n, seed, noise)`` of a noisy curve, standardised by the training set.

    TypeError / ValueError for ``n_train < 2`` (the standardisation needs a spread), ``n_test < 1``,
    a non-finite or non-positive ``noise`` (the exact density needs noise), or a bad seed.
    """
    n_train = check_int(n_train, "n_train", 2, name)
    n_test = check_int(n_test, "n_test", 1, name)
    noise = check_positive(noise, "noise", name)
    train_seed, test_seed = check_seed(train_seed, "train_seed", name), check_seed(test_seed, "test_seed", name)
    return _standardised(name, make(n_train, train_seed, noise), make(n_test, test_seed, noise),
                         functools.partial(raw_log_prob, noise=noise), functools.partial(raw_sampler, noise=noise))


def two_moons(n_train=5000, n_test=20000, noise=0.05, train_seed=0, test_seed=1) -> Dataset:
    """SPEC §7 two moons: ``make_moons(n, noise, random_state=seed)`` for train/test.

    Nuance: scikit-learn does not draw t at random; it puts ⌊n/2⌋ and ⌈n/2⌉
    points on ``linspace(0, π)`` grids (then shuffles and adds noise). With
    thousands of points per moon that grid is a very fine stratified sample
    of t ~ U[0, π], so the population density (uniform t) is the right exact
    density, and :meth:`Dataset.sample` draws from that population.
    """
    return _curve_dataset("moons", _make_moons, moons_log_prob_raw, sample_moons, n_train, n_test, noise,
                          train_seed, test_seed)


def spiral(n_train=4000, n_test=20000, noise=0.08, train_seed=0, test_seed=1) -> Dataset:
    """SPEC §7 two-arm spiral: :func:`sample_spiral` with seed 0 (train) and 1 (test)."""
    return _curve_dataset("spiral", sample_spiral, spiral_log_prob_raw, sample_spiral, n_train, n_test, noise,
                          train_seed, test_seed)


_LOADERS = {"moons": two_moons, "spiral": spiral}


def load(name: str, **kwargs) -> Dataset:
    """Load a data set by name (``"moons"`` or ``"spiral"``); kwargs go to its builder."""
    if name not in _LOADERS:
        raise ValueError(f"unknown data set {name!r}; valid names: {sorted(_LOADERS)}")
    return _LOADERS[name](**kwargs)
