"""Transformers: families of scalar monotone maps ``y = T(x; θ)`` applied element-wise.

A transformer owns everything about its map: how many parameters it needs per dimension,
how a flat parameter vector is read (``unpack``) and written (``pack``), which parameters
start a layer, and the forward and inverse maps with their per-dimension log-Jacobians. The
element-wise layer and the coupling layer both delegate to it, so each map is written once.
"""

from .base import Transformer
from .mixture_cdf import MixtureCDF
from .spline import RationalQuadraticSpline

__all__ = ["MixtureCDF", "RationalQuadraticSpline", "Transformer"]
