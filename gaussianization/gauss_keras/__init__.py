"""Gaussianization flows in Keras 3.

Forward maps data ``x`` to latent ``z``; ``log_det`` is ``log|det J|`` per example,
shape ``(batch,)``. Layers are registered Keras objects, so flows save to ``.keras``
files and reload exactly.
"""

from .bijectors import (
    Bijector,
    CouplingBijector,
    FixedOrtho,
    GaussianizationFlow,
    Householder,
    MixtureCDFCoupling,
    MixtureCDFGaussianization,
    RQSplineCoupling,
)
from .conditioners import make_mlp_conditioner, make_shared_mlp_conditioner, make_spline_conditioner
from .diagnostics import round_trip_error_scale
from .factories import make_coupling_flow, make_gaussianization_flow, make_spline_coupling_flow
from .ig_init import initialize_flow_from_ig
from .losses import base_log_prob, base_nll_loss
from .rbig import RBIGDiagnostics, fit_rbig
from .training import NLLHistory, NoisyBatches

__all__ = [
    "Bijector",
    "CouplingBijector",
    "FixedOrtho",
    "GaussianizationFlow",
    "Householder",
    "MixtureCDFCoupling",
    "MixtureCDFGaussianization",
    "NLLHistory",
    "NoisyBatches",
    "RBIGDiagnostics",
    "RQSplineCoupling",
    "base_log_prob",
    "base_nll_loss",
    "fit_rbig",
    "initialize_flow_from_ig",
    "make_coupling_flow",
    "make_gaussianization_flow",
    "make_mlp_conditioner",
    "make_shared_mlp_conditioner",
    "make_spline_conditioner",
    "make_spline_coupling_flow",
    "round_trip_error_scale",
]
