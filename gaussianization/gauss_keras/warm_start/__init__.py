"""Warm starts: fit RBIG in float64 (:mod:`.rbig`, knows no flow) and write it into a flow (:mod:`.ig_init`)."""

from .ig_init import initialize_flow_from_ig
from .rbig import RBIGBlock, RBIGDiagnostics, apply_marginals, fit_rbig

__all__ = ["RBIGBlock", "RBIGDiagnostics", "apply_marginals", "fit_rbig", "initialize_flow_from_ig"]
