"""Target densities for the affine-coupling chapter (NumPy, float64).

:class:`BananaTarget` is the banana-shaped density that :mod:`gaussianization.tutorial.newton` fits
an affine coupling to; its gradient and Hessian are derived by hand (and checked against
autodiff in the tests and in notebook 01).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["BananaTarget", "as_points"]

_LOG_2PI = math.log(2.0 * math.pi)


def as_points(x, name: str) -> np.ndarray:
    """``x`` as a finite float64 ``(n, 2)`` array with ``n ≥ 1``, or a ``ValueError`` naming ``name``."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, 2) with n >= 1, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


@dataclass(frozen=True)
class BananaTarget:
    """A banana-shaped density on R^2 with hand-derived gradient and Hessian.

    ``x1 ~ N(0, x1_scale^2)`` and ``x2 | x1 ~ N(m(x1), sigma(x1)^2)`` with
    ``m = curvature x1^2 + tilt x1 + shift`` and ``sigma = scale exp(fan x1)``.
    Writing ``l = log sigma``, ``r = (x2 - m) e^{-l}`` and ``q = m' e^{-l} + fan r``::

        log p = -x1^2 / (2 x1_scale^2) - r^2 / 2 - l - log x1_scale - log(2 pi)
        d/dx1 = -x1 / x1_scale^2 + r q - fan,                d/dx2 = -r e^{-l}
        d2/dx1^2 = -1/x1_scale^2 - q^2 + r (m'' e^{-l} - fan m' e^{-l} - fan q)
        d2/dx1dx2 = e^{-l} (m' e^{-l} + 2 fan r),            d2/dx2^2 = -e^{-2l}
    """

    curvature: float = 0.5
    tilt: float = 0.0
    shift: float = 0.0
    scale: float = 0.5
    fan: float = 0.0
    x1_scale: float = 1.0

    def __post_init__(self):
        values = [self.curvature, self.tilt, self.shift, self.scale, self.fan, self.x1_scale]
        if not all(math.isfinite(float(v)) for v in values):
            raise ValueError(f"BananaTarget parameters must be finite, got {values}")
        if self.scale <= 0 or self.x1_scale <= 0:
            raise ValueError("BananaTarget scale and x1_scale must be positive")

    def log_prob_expression(self, x, ops=np):
        """``log p(x)`` of ``(n, 2)`` ``x`` -> ``(n,)``, unvalidated; ``ops`` is NumPy or keras.ops."""
        x1, x2 = x[:, 0], x[:, 1]
        log_sigma = math.log(self.scale) + self.fan * x1
        mean = self.curvature * x1 * x1 + self.tilt * x1 + self.shift
        r = (x2 - mean) * ops.exp(-log_sigma)
        return (-0.5 * (x1 / self.x1_scale) ** 2 - 0.5 * r * r - log_sigma
                - math.log(self.x1_scale) - _LOG_2PI)

    def _parts(self, x):
        x = as_points(x, "x")
        x1, x2 = x[:, 0], x[:, 1]
        inv_sigma = np.exp(-(math.log(self.scale) + self.fan * x1))
        dmean = 2.0 * self.curvature * x1 + self.tilt
        r = (x2 - (self.curvature * x1**2 + self.tilt * x1 + self.shift)) * inv_sigma
        return x1, inv_sigma, dmean, r, dmean * inv_sigma + self.fan * r

    def log_prob(self, x) -> np.ndarray:
        """Normalised log-density of ``(n, 2)`` points -> ``(n,)``."""
        return self.log_prob_expression(as_points(x, "x"))

    def grad(self, x) -> np.ndarray:
        """Gradient of ``log p`` at ``(n, 2)`` points -> ``(n, 2)``."""
        x1, inv_sigma, _, r, q = self._parts(x)
        return np.stack([-x1 / self.x1_scale**2 + r * q - self.fan, -r * inv_sigma], axis=-1)

    def hessian(self, x) -> np.ndarray:
        """Hessian of ``log p`` at ``(n, 2)`` points -> ``(n, 2, 2)``."""
        x1, inv_sigma, dmean, r, q = self._parts(x)
        h11 = (-1.0 / self.x1_scale**2 - q * q
               + r * ((2.0 * self.curvature - self.fan * dmean) * inv_sigma - self.fan * q))
        h12 = inv_sigma * (dmean * inv_sigma + 2.0 * self.fan * r)
        h22 = -inv_sigma**2
        return np.stack([np.stack([h11, h12], -1), np.stack([h12, h22], -1)], -2)

    def sample(self, n: int, seed=None) -> np.ndarray:
        """``n`` exact samples -> ``(n, 2)``."""
        rng = np.random.default_rng(seed)
        x1 = self.x1_scale * rng.standard_normal(n)
        mean = self.curvature * x1**2 + self.tilt * x1 + self.shift
        x2 = mean + self.scale * np.exp(self.fan * x1) * rng.standard_normal(n)
        return np.stack([x1, x2], axis=-1)
