"""Bijective layers and the flow model that composes them."""

from .base import Bijector
from .coupling import CouplingBijector, MixtureCDFCoupling
from .flow import GaussianizationFlow
from .marginal import MixtureCDFGaussianization, quantile_means
from .rotation import FixedOrtho, Householder, pca_rotation
from .spline import RQSplineCoupling

__all__ = [
    "Bijector",
    "CouplingBijector",
    "FixedOrtho",
    "GaussianizationFlow",
    "Householder",
    "MixtureCDFCoupling",
    "MixtureCDFGaussianization",
    "RQSplineCoupling",
    "pca_rotation",
    "quantile_means",
]
