"""Bijective layers and the flow model that composes them."""

from .base import Bijector
from .flow import GaussianizationFlow
from .marginal import MixtureCDFGaussianization, quantile_means
from .rotation import FixedOrtho, Householder, pca_rotation

__all__ = [
    "Bijector",
    "FixedOrtho",
    "GaussianizationFlow",
    "Householder",
    "MixtureCDFGaussianization",
    "pca_rotation",
    "quantile_means",
]

from .coupling import CouplingBijector, MixtureCDFCoupling  # noqa: E402
from .spline import RQSplineCoupling  # noqa: E402

__all__ += ["CouplingBijector", "MixtureCDFCoupling", "RQSplineCoupling"]
