"""Bijective layers, their composition, and the flow model."""

from .base import Bijector
from .chain import Chain
from .coupling import Coupling, MixtureCDFCoupling, default_half_mask
from .flow import Flow, GaussianizationFlow
from .marginal import MixtureCDFGaussianization, quantile_means
from .rotation import FixedOrtho, Householder, pca_rotation
from .spline import RQSplineCoupling

CouplingBijector = Coupling  # the name of v0.1

__all__ = [
    "Bijector",
    "Chain",
    "Coupling",
    "CouplingBijector",
    "FixedOrtho",
    "Flow",
    "GaussianizationFlow",
    "Householder",
    "MixtureCDFCoupling",
    "MixtureCDFGaussianization",
    "RQSplineCoupling",
    "default_half_mask",
    "pca_rotation",
    "quantile_means",
]
