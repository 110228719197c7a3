"""Factories for the flows used throughout the book."""

from __future__ import annotations

import numpy as np
from keras import ops

from .bijectors import (
    FixedOrtho,
    GaussianizationFlow,
    Householder,
    MixtureCDFCoupling,
    MixtureCDFGaussianization,
    RQSplineCoupling,
    quantile_means,
)
from .bijectors.coupling import as_mask, default_half_mask
from .transformers.mixture_cdf import DEFAULT_LOG_SCALE_BOUND
from .validation import check_finite, check_hidden, check_int, check_positive, finite_rows


def _as_data(x, input_dim, who):
    if x is None:
        return None
    x = finite_rows(x, who, "make_gaussianization_flow", dtype="float32")
    if x.shape[1] != input_dim:
        raise ValueError(f"{who} must have shape (n, {input_dim}); got {x.shape}.")
    if x.shape[0] < 2:
        raise ValueError(f"{who} needs at least 2 samples; got {x.shape[0]}.")
    return x


def make_gaussianization_flow(input_dim: int, num_blocks: int, num_reflectors: int = 2,
                              num_components: int = 8, pca_init_data=None, mixture_init_data=None,
                              init_log_scale: float = -0.6931471805599453, name: str | None = None):
    """A diagonal Gaussianization flow.

    Layers: ``[FixedOrtho(PCA of pca_init_data)]`` (only when that data is given),
    then ``num_blocks`` × ``(Householder(num_reflectors) → MixtureCDFGaussianization(K))``.
    Trainable parameters: ``num_blocks · (num_reflectors·d + 3·d·K)``.

    With ``mixture_init_data`` (``(n, d)``), the data are pushed through the flow as it
    is built and every mixture layer starts with its means at the quantiles of the
    state it receives (quantile init); otherwise means start evenly spaced on [-2, 2].
    Every component starts with scale ``exp(init_log_scale)`` (default ½): on
    standardised data this starts each layer close to a smoothed empirical-CDF
    Gaussianization, which trains markedly better than σ = 1 (measured on two moons:
    test NLL 1.200 vs 1.287 after the seed recipe).

    Raises TypeError for a count that is not an int (bools and floats included) or a non-number
    ``init_log_scale``; ValueError for a count below 1, a non-finite ``init_log_scale``, or init
    data of the wrong shape, with fewer than 2 rows, or with NaN/inf rows (naming them).
    """
    who = "make_gaussianization_flow"
    input_dim = check_int(input_dim, "input_dim", 1, who)
    num_blocks = check_int(num_blocks, "num_blocks", 1, who)
    num_reflectors = check_int(num_reflectors, "num_reflectors", 1, who)
    num_components = check_int(num_components, "num_components (K)", 1, who)
    init_log_scale = check_finite(init_log_scale, "init_log_scale", who)
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


# -- coupling flows ---------------------------------------------------------------------


def _coupling_masks(input_dim, mask, who):
    """``(m, ¬m)``; default ``m`` = first ``⌈d/2⌉`` dimensions True (``[True, False]`` for d = 2)."""
    if input_dim < 2:
        raise ValueError(f"{who} needs input_dim >= 2 (a coupling splits the dimensions); got {input_dim}.")
    if mask is None:
        mask = default_half_mask(input_dim)
    mask = as_mask(mask, who)
    if mask.size != input_dim:
        raise ValueError(f"{who}: mask has length {mask.size} but input_dim is {input_dim}.")
    return mask, ~mask


def _coupling_flow(who, input_dim, num_blocks, num_reflectors, mask, make_coupling, prefix, name):
    """``num_blocks`` × ``[Householder, make_coupling(m), make_coupling(¬m)]`` as a flow."""
    input_dim = check_int(input_dim, "input_dim", 1, who)
    num_blocks = check_int(num_blocks, "num_blocks", 1, who)
    num_reflectors = check_int(num_reflectors, "num_reflectors", 1, who)
    masks = _coupling_masks(input_dim, mask, who)
    layers = []
    for block in range(num_blocks):
        layers.append(Householder(num_reflectors, name=f"householder_{block}"))
        layers += [make_coupling(m, f"{prefix}_{block}{half}") for half, m in zip("ab", masks)]
    return GaussianizationFlow(layers, input_dim=input_dim, name=name)


def make_coupling_flow(input_dim: int, num_blocks: int, num_components: int = 8, hidden=(64, 64),
                       shared_mixture: bool = False, num_reflectors: int = 2, log_scale_bound: float = DEFAULT_LOG_SCALE_BOUND,
                       mask=None, name: str | None = None):
    """A mixture-CDF coupling flow.

    Layers: ``num_blocks`` × ``[Householder(num_reflectors), MixtureCDFCoupling(m),
    MixtureCDFCoupling(¬m)]``, each coupling with an MLP trunk of widths ``hidden`` and its own
    zero-kernel head. ``m`` defaults to the first ``⌈d/2⌉`` dimensions True.
    Trainable parameters per block: ``num_reflectors·d`` plus, per coupling,
    ``Σ (n_in + 1)·n_out`` over ``d_a → hidden… → 3·d_b·K`` (``3·K`` shared); e.g.
    d = 2, 4 blocks, K = 8, hidden (64, 64): 12 bijectors and 46,800 parameters.
    """
    who = "make_coupling_flow"
    num_components = check_int(num_components, "num_components (K)", 1, who)
    log_scale_bound = check_positive(log_scale_bound, "log_scale_bound", who)
    hidden = check_hidden(hidden, "hidden", who)

    def coupling(m, name):
        return MixtureCDFCoupling(m, num_components=num_components, shared_mixture=shared_mixture,
                                  log_scale_bound=log_scale_bound, hidden=hidden, name=name)

    return _coupling_flow("make_coupling_flow", input_dim, num_blocks, num_reflectors, mask, coupling, "coupling",
                          name or "coupling_flow")


def make_spline_coupling_flow(input_dim: int, num_blocks: int, num_bins: int = 8, hidden=(16,),
                              bound: float = 3.0, num_reflectors: int = 2, name: str | None = None, mask=None):
    """A rational-quadratic spline coupling flow (identity at initialisation, up to the rotations).

    Layers: ``num_blocks`` × ``[Householder(num_reflectors), RQSplineCoupling(m),
    RQSplineCoupling(¬m)]``, each with an MLP trunk of widths ``hidden`` and its own zero head
    (output ``d_b·(3·num_bins - 1)``); ``m`` as in
    :func:`make_coupling_flow`.
    """
    who = "make_spline_coupling_flow"
    num_bins = check_int(num_bins, "num_bins", 1, who)
    bound = check_positive(bound, "bound", who)
    hidden = check_hidden(hidden, "hidden", who)

    def coupling(m, name):
        return RQSplineCoupling(m, num_bins=num_bins, bound=bound, hidden=hidden, name=name)

    return _coupling_flow("make_spline_coupling_flow", input_dim, num_blocks, num_reflectors, mask, coupling,
                          "spline_coupling", name or "spline_coupling_flow")
