"""Gaussianization flows in Keras 3.

Forward maps data ``x`` to latent ``z``; ``log_det`` is ``log|det J|`` per example, shape
``(batch,)``. Layers are registered Keras objects, so flows save to ``.keras`` files and reload
exactly. The package layout (one job per module) is listed on the book's API page.

The library runs unchanged on the ``tensorflow``, ``jax`` and ``torch`` backends of Keras
(``KERAS_BACKEND``); the little that differs between them is in :mod:`._backend`. Under JAX
and torch, importing the library keeps float64 computations in float64 (it turns on JAX's
``jax_enable_x64`` and stops Keras demoting float64 results; see :mod:`._backend`).
"""

from .bijectors import (
    Bijector,
    Chain,
    Coupling,
    CouplingBijector,
    FixedOrtho,
    Flow,
    GaussianizationFlow,
    Householder,
    MixtureCDFCoupling,
    MixtureCDFGaussianization,
    RQSplineCoupling,
    default_half_mask,
)
from .conditioners import (
    make_mlp_conditioner,
    make_mlp_trunk,
    make_shared_mlp_conditioner,
    make_spline_conditioner,
)
from .diagnostics import round_trip_error_scale
from .distributions import StandardNormal
from .factories import make_coupling_flow, make_gaussianization_flow, make_spline_coupling_flow
from .losses import base_log_prob, base_nll_loss
from .saving import load_flow
from .training import NLLHistory, NoisyBatches, StopOnNonFinite
from .transformers import MixtureCDF, RationalQuadraticSpline, Transformer
from .warm_start import RBIGDiagnostics, fit_rbig, initialize_flow_from_ig

#: The upstream ``gauss_keras`` name of the mixture primitive shared by the marginal and the
#: coupling layer: here the :class:`MixtureCDF` transformer.
MixtureOfGaussians = MixtureCDF

__all__ = [
    # bijectors, their composition and the flow model
    "Bijector", "Chain", "Coupling", "CouplingBijector", "FixedOrtho", "Flow", "GaussianizationFlow",
    "Householder", "MixtureCDFCoupling", "MixtureCDFGaussianization", "RQSplineCoupling", "default_half_mask",
    # transformers, conditioners, base distribution and loss
    "MixtureCDF", "MixtureOfGaussians", "RationalQuadraticSpline", "Transformer", "StandardNormal",
    "make_mlp_conditioner", "make_mlp_trunk", "make_shared_mlp_conditioner", "make_spline_conditioner",
    "base_log_prob", "base_nll_loss",
    # ready-made flows, warm start, training and diagnostics
    "make_coupling_flow", "make_gaussianization_flow", "make_spline_coupling_flow",
    "RBIGDiagnostics", "fit_rbig", "initialize_flow_from_ig",
    "NLLHistory", "NoisyBatches", "StopOnNonFinite", "round_trip_error_scale",
    # saving
    "load_flow",
]
