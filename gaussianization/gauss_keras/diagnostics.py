"""Numerical diagnostics of a trained flow: how accurate can its round trip be?

The round trip ``f⁻¹(f(x))`` of a flow ``f = g_L ∘ … ∘ g_1`` makes a relative rounding
error of about ``ε`` (the float epsilon) in every state ``x_ℓ = h_ℓ(x)``, ``h_ℓ = g_ℓ ∘ … ∘ g_1``,
and the error made in ``x_ℓ`` reaches ``x`` through ``h_ℓ⁻¹``, which stretches it by at most
``‖J_{h_ℓ⁻¹}‖₂ = 1 / σ_min(J_{h_ℓ}(x))``. To first order the round-trip error is therefore
of the size of

    s(x) = ε Σ_{ℓ=0}^{L} max(1, ‖x_ℓ‖_∞) / σ_min(J_{h_ℓ}(x))        (h_0 = identity),

a scale, not a bound: where the map compresses space, no inverse can do better
(chapter 6 of the book derives it).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from ._backend import batch_jacobian

__all__ = ["round_trip_error_scale"]


def round_trip_error_scale(flow, x, eps: float | None = None) -> np.ndarray:
    """The first-order rounding scale ``s(x)`` of ``flow.invert(flow(x))``, per point.

    Args:
        flow: a :class:`~gaussianization.gauss_keras.GaussianizationFlow` (its
            ``bijector_layers`` are composed in order).
        x: points, array of shape ``(n, d)``.
        eps: the relative rounding error per state; default: the epsilon of ``x``'s
            float dtype (``1.19e-7`` for float32).

    Returns:
        ``s(x)``, float64 array of shape ``(n,)``.

    Raises:
        ValueError: ``x`` is not a non-empty 2-D array.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty array of shape (n, d), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype("float32")
    eps = float(np.finfo(x.dtype).eps) if eps is None else float(eps)
    state = ops.convert_to_tensor(x)
    jacobian = np.broadcast_to(np.eye(x.shape[1]), (x.shape[0], x.shape[1], x.shape[1])).astype("float64")
    total = np.maximum(1.0, np.abs(x).max(axis=1)).astype("float64")  # l = 0: rounding of x itself
    for layer in flow.bijector_layers:
        layer_jacobian, state = batch_jacobian(lambda v, layer=layer: layer.forward_and_log_det(v)[0], state)
        jacobian = ops.convert_to_numpy(layer_jacobian).astype("float64") @ jacobian
        sigma_min = np.linalg.svd(jacobian, compute_uv=False)[:, -1]
        total += np.maximum(1.0, np.abs(ops.convert_to_numpy(state)).max(axis=1)) / sigma_min
    return eps * total
