"""Marginal (per-dimension) Gaussianization by a Gaussian-mixture CDF."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..transformers import MixtureCDF
from ..validation import check_finite, check_int, finite_rows
from .base import Bijector


def quantile_means(x, num_components: int):
    """``(d, K)`` component means at the ``(k + ½)/K`` quantiles of each column of ``x``."""
    x = finite_rows(x, "mixture_init_data", "quantile_means")
    levels = (np.arange(num_components) + 0.5) / num_components
    return np.quantile(x, levels, axis=0).T


@keras.saving.register_keras_serializable(package="gaussianization")
class MixtureCDFGaussianization(Bijector):
    """Per-dimension ``z_i = Φ⁻¹(F_i(x_i))`` with ``F_i`` a ``K``-component Gaussian-mixture CDF.

    Weights (all ``(d, K)``, trainable): ``logits`` (mixture weights
    ``π = softmax(logits)``), ``means`` and ``log_scales``. Log-det per example:
    ``Σ_i [log f_i(x_i) - log φ(z_i)]``. The maps are those of the
    :class:`~gaussianization.gauss_keras.transformers.MixtureCDF` transformer (also used by
    :class:`~.coupling.MixtureCDFCoupling`), with the weights as its parameters; the inverse
    solves ``F_i(x_i) = Φ(z_i)`` by a bracketed, safeguarded Newton iteration in float64.

    Args:
        num_components: ``K ≥ 1``.
        init_means: optional ``(d, K)`` initial means (e.g. :func:`quantile_means`
            of the data this layer will see); default: ``K`` points evenly spaced
            on ``[-2, 2]`` in every dimension.
        init_log_scale: initial ``log σ`` of every component (default 0, σ = 1).

    Raises TypeError for a non-integer ``num_components``; ValueError for ``K < 1``, non-finite
    ``init_means`` / ``init_log_scale`` or ``init_means`` of the wrong shape.
    """

    def __init__(self, num_components: int = 8, init_means=None, init_log_scale: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        who = "MixtureCDFGaussianization"
        self.num_components = check_int(num_components, "num_components (K)", 1, who)
        self.transformer = MixtureCDF(self.num_components)
        self.init_means = None if init_means is None else finite_rows(init_means, "init_means", who)
        if self.init_means is not None and (
            self.init_means.ndim != 2 or self.init_means.shape[1] != self.num_components
        ):
            raise ValueError(
                f"init_means must have shape (d, K={self.num_components}); got {self.init_means.shape}."
            )
        self.init_log_scale = check_finite(init_log_scale, "init_log_scale", who)

    def build_for_dim(self, dim):
        k = self.num_components
        if self.init_means is not None and self.init_means.shape[0] != dim:
            raise ValueError(f"init_means has {self.init_means.shape[0]} rows but the input width is d={dim}.")
        means = self.init_means if self.init_means is not None else np.tile(np.linspace(-2.0, 2.0, k), (dim, 1))
        self.logits = self.add_weight(name="logits", shape=(dim, k), initializer="zeros")
        self.means = self.add_weight(name="means", shape=(dim, k), initializer=keras.initializers.Constant(means))
        self.log_scales = self.add_weight(
            name="log_scales", shape=(dim, k), initializer=keras.initializers.Constant(self.init_log_scale)
        )

    def mixture_parameters(self, dtype):
        """``(logits, means, log_scales)`` cast to ``dtype``, each ``(d, K)``."""
        return tuple(ops.cast(w, dtype) for w in (self.logits, self.means, self.log_scales))

    def set_mixture_parameters(self, logits, means, log_scales):
        """Assign all three ``(d, K)`` parameter arrays (used by the IG warm start)."""
        for weight, value in zip((self.logits, self.means, self.log_scales), (logits, means, log_scales)):
            weight.assign(np.asarray(value, dtype=weight.dtype).reshape(weight.shape))

    def _forward(self, x):
        z, log_dz = self.transformer.forward(x, self.mixture_parameters(x.dtype))
        return z, ops.sum(log_dz, axis=-1)

    def _inverse(self, z):
        x, log_dx = self.transformer.inverse(z, self.mixture_parameters(z.dtype))
        return x, ops.sum(log_dx, axis=-1)

    def get_config(self):
        config = {**super().get_config(), "num_components": self.num_components,
                  "init_log_scale": self.init_log_scale}
        if self.init_means is not None:
            config["init_means"] = self.init_means.tolist()
        return config
