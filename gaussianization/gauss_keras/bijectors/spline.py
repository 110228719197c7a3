"""Rational-quadratic spline coupling (Durkan et al. 2019, "Neural Spline Flows").

The spline and its parametrisation are the
:class:`~gaussianization.gauss_keras.transformers.RationalQuadraticSpline` transformer.
"""

from __future__ import annotations

import keras

from ..transformers import RationalQuadraticSpline
from ..transformers.spline import check_spline_arguments
from .coupling import Coupling


@keras.saving.register_keras_serializable(package="gaussianization")
class RQSplineCoupling(Coupling):
    """Coupling whose transformer is a monotone rational-quadratic spline on ``[-B, B]``.

    ``θ`` has ``d_b·(3·num_bins - 1)`` values; the head starts at zero, so the layer is the
    identity at initialisation. Log-det: ``Σ_{i∈b} log dy_i/dx_i`` (0 outside ``[-B, B]``).

    Args:
        mask, conditioner, trunk, hidden, activation: see :class:`~.coupling.Coupling`
            (default trunk: one hidden layer of 16).
        num_bins, bound, min_bin_width, min_bin_height, min_derivative: see
            :class:`~gaussianization.gauss_keras.transformers.RationalQuadraticSpline`
            (TypeError for a wrong type, ValueError for a value out of range, naming the argument).
    """

    def __init__(self, mask, conditioner=None, num_bins: int = 8, bound: float = 3.0, min_bin_width: float = 1e-3,
                 min_bin_height: float = 1e-3, min_derivative: float = 1e-3, hidden=(16,), **kwargs):
        kwargs.pop("transformer", None)
        checked = check_spline_arguments(num_bins, bound, min_bin_width, min_bin_height, min_derivative,
                                         type(self).__name__)
        transformer = RationalQuadraticSpline(*checked)
        super().__init__(mask, transformer, conditioner, hidden=hidden, **kwargs)

    num_bins = property(lambda self: self.transformer.num_bins, doc="M.")
    bound = property(lambda self: self.transformer.bound, doc="B: the spline acts on [-B, B].")

    def spline_parameters(self, theta):
        """``(xk, yk, derivs)``, each ``(batch, d_b, num_bins + 1)``."""
        return self.transformer.unpack(theta, self.d_b)

    def get_config(self):
        return {**super().get_config(), **self.transformer.get_config()}
