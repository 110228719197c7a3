"""Gaussianization flows in Keras 3.

Forward maps data ``x`` to latent ``z``; ``log_det`` is ``log|det J|`` per example.
"""

from .bijectors import (
    Bijector,
    FixedOrtho,
    GaussianizationFlow,
    Householder,
    MixtureCDFGaussianization,
)
from .factories import make_gaussianization_flow
from .losses import base_log_prob, base_nll_loss

__all__ = [
    "Bijector",
    "FixedOrtho",
    "GaussianizationFlow",
    "Householder",
    "MixtureCDFGaussianization",
    "base_log_prob",
    "base_nll_loss",
    "make_gaussianization_flow",
]
