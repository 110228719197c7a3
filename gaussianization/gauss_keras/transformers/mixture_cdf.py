"""The mixture-CDF Gaussianization ``z = Φ⁻¹(F(x))`` as a transformer.

The maths (log-space CDF, survival and density, the bracketed inverse) is
:mod:`gaussianization.gauss_keras.mixture`; this module owns the parametrisation. Per dimension,
``3·K`` numbers ``[logits, means, raw]`` give ``π = softmax(logits)``, ``μ = means`` and
``log σ = B·tanh(raw)`` with ``B = log_scale_bound``, so ``σ ∈ (e^{-B}, e^{B})``.

Valid range: every input (the mixture module's saturation rule): no NaN from a non-NaN ``x`` or
``z``; ``x`` beyond ``U·σ`` of the means (``U = 2**60`` in float32, ``2**500`` in float64) is
saturated (finite ``z``, log-Jacobian ``-inf``), ``x = ±inf`` gives ``z = ±inf`` and back.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from .. import mixture, validation
from .base import Transformer

#: Default ``B`` of ``log σ = B·tanh(raw)``: ``σ ∈ (0.05, 20)``.
DEFAULT_LOG_SCALE_BOUND = 3.0
#: The coupling parametrisation ``B·tanh(raw)`` cannot reach ``±B``: packed ``log σ`` are
#: clipped to ``±(1 - PACK_MARGIN)·B``.
PACK_MARGIN = 1e-6


def unit_variance_mixture(num_components: int):
    """``(means (K,), scale)`` of the equal-weight starting mixture with unit variance.

    ``K`` means evenly spaced on ``[-a, a]`` share one scale ``σ = 2a/(K-1)`` equal to their
    spacing (neighbours overlap, so the CDF has no flat stretch), with ``a`` chosen so that the
    mixture variance is 1: ``a² ((K+1)/(3(K-1)) + 4/(K-1)²) = 1`` (``K = 8``: ``a ≈ 1.40``,
    ``σ ≈ 0.40``; ``K = 1``: ``μ = 0``, ``σ = 1``). Then ``Φ⁻¹(F(x))`` is close to the identity on
    standardised data while the components stay distinct (identical components would receive
    identical gradients forever).
    """
    k = int(num_components)
    if k == 1:
        return np.zeros(1), 1.0
    half_range = 1.0 / math.sqrt((k + 1) / (3.0 * (k - 1)) + 4.0 / (k - 1) ** 2)
    return np.linspace(-half_range, half_range, k), 2.0 * half_range / (k - 1)


@keras.saving.register_keras_serializable(package="gaussianization")
class MixtureCDF(Transformer):
    """``z = Φ⁻¹(F(x))``, ``F = Σ_k π_k Φ((x - μ_k)/σ_k)``; log-Jacobian ``log f(x) - log φ(z)``.

    Both directions use the mixture module's one cancellation-free log-derivative: the forward
    at ``x`` and its ``z``, the inverse minus it at the solved ``x`` and the given ``z``
    (:func:`~gaussianization.gauss_keras.mixture.log_dz_dx`).

    Args:
        num_components: ``K ≥ 1``.
        shared: one mixture for all ``d`` dimensions (``3·K`` parameters instead of ``3·d·K``).
        log_scale_bound: ``B > 0`` of ``log σ = B·tanh(raw)``.

    Parameters, as taken by :meth:`forward` / :meth:`inverse`: ``(logits, means, log_scales)``,
    each broadcasting to ``(batch, d, K)``. Raises TypeError for a ``K`` that is not an integer
    (bools and floats included) or a ``B`` that is not a real number, ValueError for ``K < 1``
    or a ``B`` that is not finite and ``> 0``.
    Reference: Meng et al. (2020), "Gaussianization Flows", AISTATS.
    """

    def __init__(self, num_components: int = 8, shared: bool = False, log_scale_bound: float = DEFAULT_LOG_SCALE_BOUND):
        who = "MixtureCDF"
        self.num_components = validation.check_int(num_components, "num_components (K)", 1, who)
        self.shared = bool(shared)
        self.log_scale_bound = validation.check_positive(log_scale_bound, "log_scale_bound", who)

    def rows(self, dim: int) -> int:
        """Number of mixtures the parameter vector holds: 1 when shared, else ``dim``."""
        return 1 if self.shared else int(dim)

    def num_params(self, dim):
        return 3 * self.num_components * self.rows(dim)

    def describe_num_params(self, dim):
        k = self.num_components
        return f"3·K = 3·{k}, shared mixture" if self.shared else f"3·d_b·K = 3·{dim}·{k}"

    # -- parametrisation ---------------------------------------------------------------
    def unpack(self, theta, dim):
        """``(batch, num_params)`` read as ``(batch, 3, rows, K)`` → ``(logits, means, log σ)``."""
        t = ops.reshape(theta, (-1, 3, self.rows(dim), self.num_components))
        return t[:, 0], t[:, 1], self.log_scale_bound * ops.tanh(t[:, 2])

    def pack(self, logits, means, log_scales):
        """Inverse of :meth:`unpack` for constant ``(rows, K)`` NumPy parameters → flat vector.

        ``raw = artanh(log σ / B)`` after clipping ``log σ`` to ``±(1 - PACK_MARGIN)·B``.
        """
        bound = self.log_scale_bound
        ratio = np.clip(np.asarray(log_scales, "float64") / bound, -(1 - PACK_MARGIN), 1 - PACK_MARGIN)
        return np.stack([np.asarray(logits, "float64"), np.asarray(means, "float64"), np.arctanh(ratio)]).reshape(-1)

    def initial_params(self, dim):
        """The :func:`unit_variance_mixture` in every row, packed."""
        means, scale = unit_variance_mixture(self.num_components)
        if abs(math.log(scale)) >= self.log_scale_bound:
            raise ValueError(f"log_scale_bound={self.log_scale_bound} is too small for the initial scale {scale:.3g}.")
        rows, k = self.rows(dim), self.num_components
        return self.pack(np.zeros((rows, k)), np.tile(means, (rows, 1)), np.full((rows, k), math.log(scale)))

    def exact_log_scales(self, log_scales, dtype, steps: int = 8):
        """``(exact, to_pack)``: the log-scales this parametrisation reproduces exactly in ``dtype``.

        ``log σ = B·tanh(raw)`` is evaluated in ``dtype`` from ``raw = artanh(log σ/B)`` rounded to
        ``dtype``, so a packed value comes back a few ulp off. For each entry of ``log_scales``
        (``(rows, K)``, clipped to ``±(1 - PACK_MARGIN)·B``) this searches ``raw`` within ±``steps``
        ulp for the unpacked value nearest to it: ``exact`` (float64, ``(rows, K)``) is that value,
        which a layer storing ``log σ`` directly holds exactly, and ``to_pack`` the ``log σ`` that
        :meth:`pack` turns into it (so both layer kinds hold bit-identical ``σ``).
        """
        dtype = np.dtype(dtype)
        target = np.asarray(log_scales, dtype="float64")
        bound, lim = self.log_scale_bound, 1.0 - PACK_MARGIN
        lo = hi = np.arctanh(np.clip(target / bound, -lim, lim)).astype(dtype)
        raws = [lo]
        for _ in range(int(steps)):
            lo, hi = np.nextafter(lo, dtype.type(-np.inf)), np.nextafter(hi, dtype.type(np.inf))
            raws += [lo, hi]
        to_pack = bound * np.tanh(np.stack(raws).astype("float64"))  # (candidates, rows, K)
        zeros = np.zeros_like(target)
        unshared = MixtureCDF(target.shape[-1], False, bound)
        theta = np.stack([unshared.pack(zeros, zeros, p) for p in to_pack]).astype(dtype)
        exact = ops.convert_to_numpy(unshared.unpack(ops.convert_to_tensor(theta), target.shape[0])[2]).astype("float64")
        best = np.argmin(np.abs(exact - target), axis=0)[None]  # the first hit is the fewest ulps away
        return np.take_along_axis(exact, best, axis=0)[0], np.take_along_axis(to_pack, best, axis=0)[0]

    # -- maps ----------------------------------------------------------------------------
    def forward(self, x, params):
        return mixture.gaussianize(x, *params)

    def inverse(self, z, params):
        x = mixture.ungaussianize(z, *params)
        return x, -mixture.log_dz_dx(x, z, *params)

    def get_config(self):
        return {"num_components": self.num_components, "shared": self.shared,
                "log_scale_bound": self.log_scale_bound}
