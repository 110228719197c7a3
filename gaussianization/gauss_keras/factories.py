"""Factories for the flows used throughout the book."""

from __future__ import annotations

import numpy as np
from keras import ops

from .bijectors import (
    FixedOrtho,
    GaussianizationFlow,
    Householder,
    MixtureCDFGaussianization,
    quantile_means,
)


def _as_data(x, input_dim, who):
    if x is None:
        return None
    x = np.asarray(x, dtype="float32")
    if x.ndim != 2 or x.shape[1] != input_dim:
        raise ValueError(f"{who} must have shape (n, {input_dim}); got {x.shape}.")
    if x.shape[0] < 2:
        raise ValueError(f"{who} needs at least 2 samples; got {x.shape[0]}.")
    return x


def make_gaussianization_flow(input_dim: int, num_blocks: int, num_reflectors: int = 2,
                              num_components: int = 8, pca_init_data=None, mixture_init_data=None,
                              init_log_scale: float = 0.0, name: str | None = None):
    """A diagonal Gaussianization flow.

    Layers: ``[FixedOrtho(PCA of pca_init_data)]`` (only when that data is given),
    then ``num_blocks`` × ``(Householder(num_reflectors) → MixtureCDFGaussianization(K))``.
    Trainable parameters: ``num_blocks · (num_reflectors·d + 3·d·K)``.

    With ``mixture_init_data`` (``(n, d)``), the data are pushed through the flow as it
    is built and every mixture layer starts with its means at the quantiles of the
    state it receives (quantile init); otherwise means start evenly spaced on [-2, 2].
    """
    input_dim, num_blocks = int(input_dim), int(num_blocks)
    if input_dim < 1 or num_blocks < 1:
        raise ValueError(f"input_dim and num_blocks must be >= 1; got {input_dim} and {num_blocks}.")
    if int(num_components) < 1:
        raise ValueError(f"num_components (K) must be >= 1; got {num_components}.")
    pca_data = _as_data(pca_init_data, input_dim, "pca_init_data")
    state = _as_data(mixture_init_data, input_dim, "mixture_init_data")

    layers = []

    def push(layer):
        nonlocal state
        layer.build((None, input_dim))
        layers.append(layer)
        if state is not None:
            state = ops.convert_to_numpy(layer.forward(state))

    if pca_data is not None:
        push(FixedOrtho.from_pca(pca_data, name="pca_rotation"))
    for block in range(num_blocks):
        push(Householder(num_reflectors, name=f"householder_{block}"))
        means = None if state is None else quantile_means(state, num_components)
        push(MixtureCDFGaussianization(num_components, init_means=means, init_log_scale=init_log_scale,
                                       name=f"mixture_cdf_{block}"))
    return GaussianizationFlow(layers, input_dim=input_dim, name=name or "gaussianization_flow")
