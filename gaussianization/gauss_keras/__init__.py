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

from .bijectors import CouplingBijector, MixtureCDFCoupling, RQSplineCoupling  # noqa: E402
from .conditioners import (  # noqa: E402
    make_mlp_conditioner,
    make_shared_mlp_conditioner,
    make_spline_conditioner,
)
from .factories import make_coupling_flow, make_spline_coupling_flow  # noqa: E402

__all__ += [
    "CouplingBijector",
    "MixtureCDFCoupling",
    "RQSplineCoupling",
    "make_coupling_flow",
    "make_mlp_conditioner",
    "make_shared_mlp_conditioner",
    "make_spline_conditioner",
    "make_spline_coupling_flow",
]

from .ig_init import initialize_flow_from_ig  # noqa: E402
from .rbig import RBIGDiagnostics, fit_rbig  # noqa: E402

__all__ += ["RBIGDiagnostics", "fit_rbig", "initialize_flow_from_ig"]

from .training import NLLHistory, NoisyBatches  # noqa: E402

__all__ += ["NLLHistory", "NoisyBatches"]
