"""Iterative-Gaussianization (RBIG) warm start for diagonal and coupling flows.

:func:`initialize_flow_from_ig` fits the RBIG sequence of :mod:`.rbig` once, in float64,
and writes it into a flow of the pattern ``[FixedOrtho] + L × (rotation, marginal)`` with
rotation = ``Householder(m)`` | ``FixedOrtho`` and marginal = ``MixtureCDFGaussianization``
(diagonal flow) | ``MixtureCDFCoupling`` layers whose transformed halves partition the ``d``
dimensions, e.g. ``Coupling(m), Coupling(¬m)`` (coupling flow). A leading FixedOrtho gets
the PCA axes of ``X``. A coupling with a zeroed final conditioner kernel is a constant
marginal map of its transformed half, so the pair holding the per-dimension fits *is* the
diagonal layer (zero-kernel equivalence): flows of the same depth get the same fits.

**Rotations.** Block ℓ's rotation is the canonical PCA ``R_ℓ`` of the state. A product of
``m`` reflections has ``det = (-1)^m``, so a Householder with ``m ≥ d`` receives
``Q = diag(s) R_ℓ diag(t)``, decomposed exactly by :func:`~gaussianization.gauss_keras.bijectors.rotation.householder_vectors`: ``t`` flips
the last principal axis when ``det R_ℓ ≠ (-1)^m`` (PCA signs are arbitrary), a flipped axis
gets the mirrored mixture (``μ → -μ``, output ``-y_ℓ,i``), and the next block's ``s = t``
undoes it. The flow's state is the RBIG state up to coordinate signs; ``log p`` is the same.
*Fallback* when ``m < d``: the Householder keeps its current matrix and the marginals are
fitted to the state rotated by it (random-rotation RBIG, still valid); such fits depend on
the flow's own rotation (``diagnostics.pca_rotation`` is False for those blocks).

**Log-scales** are clipped to ``±(1 - 10⁻⁶)·B`` and snapped (by about one ulp) to values that
the coupling parametrisation ``log σ = B·tanh(raw)`` reproduces exactly in the flow's dtype
(:meth:`~gaussianization.gauss_keras.transformers.MixtureCDF.exact_log_scales`), so a diagonal and a
coupling flow hold bit-identical parameters.
``B`` is the couplings' ``log_scale_bound``, and the coupling default (3.0) for diagonal
flows. A ``shared_mixture`` coupling holds one mixture for its transformed half, so it takes
an RBIG fit only when ``d_b = 1`` (otherwise ValueError).

**Over-fitting.** Greedy RBIG keeps lowering the training NLL while the held-out NLL turns
up after some blocks: held-out points beyond the training range fall in the tail of the
narrowest edge component, and every block pushes them further out. Remedies
(:func:`~.rbig.fit_rbig`): ``validation_data`` reports held-out NLL per block;
``early_stopping_patience`` keeps the best prefix of blocks and gives the rest identity
marginals (all components ``N(0, 1)``, so ``Φ⁻¹(Φ(x)) = x``; their identical components then
move together under gradient training); ``tail_weight`` adds a defensive wide component to
every fit; ``min_scale`` / ``reg_covar`` floor the component variances.

**Bad data** (:mod:`.checks`). Rows with NaN or inf raise ValueError naming them. A column of
zero variance in some block (a constant column of ``X``; collinear columns, whose last principal
axis has zero variance) gets a near-identity unit-variance mixture instead of an EM spike, and a
UserWarning; the flow stays finite on training and held-out data. Data far from standardised
(a fitted ``σ`` more than twice ``e^B``; measured costs in :mod:`.checks`) give a UserWarning
naming the clipped log-scales per block: standardise ``X`` or raise ``B``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..bijectors.coupling import MixtureCDFCoupling
from ..bijectors.marginal import MixtureCDFGaussianization
from ..bijectors.rotation import FixedOrtho, Householder, pca_rotation
from ..transformers.mixture_cdf import DEFAULT_LOG_SCALE_BOUND, PACK_MARGIN, MixtureCDF
from .checks import check_bound, check_options, check_samples
from .rbig import RBIGDiagnostics, fit_rbig

__all__ = ["initialize_flow_from_ig"]


@dataclasses.dataclass
class _Block:
    rotation: object          # Householder or FixedOrtho
    marginals: list           # [MixtureCDFGaussianization] or [MixtureCDFCoupling, ...]

    @property
    def exact(self) -> bool:
        """Whether the rotation layer can hold any rotation (PCA is written)."""
        return isinstance(self.rotation, FixedOrtho) or self.rotation.num_reflectors >= self.rotation.input_dim

    @property
    def required_det(self):
        return (-1) ** self.rotation.num_reflectors if isinstance(self.rotation, Householder) else None


def _describe(layers, i):
    return f"layer {i} ({layers[i].name!r}, {type(layers[i]).__name__})" if i < len(layers) else "the end"


def _parse(flow):
    """``(leading FixedOrtho or None, [_Block, ...])``; ValueError naming an unrecognised layer."""
    layers, d = list(flow.bijector_layers), flow.input_dim
    is_rot = lambda layer: isinstance(layer, (Householder, FixedOrtho))  # noqa: E731
    i, leading, blocks = 0, None, []
    if len(layers) > 1 and isinstance(layers[0], FixedOrtho) and is_rot(layers[1]):
        leading, i = layers[0], 1
    pattern = "[FixedOrtho] + blocks of (Householder | FixedOrtho, MixtureCDFGaussianization | MixtureCDFCoupling...)"
    while i < len(layers):
        if not is_rot(layers[i]):
            raise ValueError(f"initialize_flow_from_ig: expected a rotation (Householder or FixedOrtho) at "
                             f"{_describe(layers, i)}; recognised pattern: {pattern}.")
        rotation, i = layers[i], i + 1
        if i < len(layers) and isinstance(layers[i], MixtureCDFGaussianization):
            blocks.append(_Block(rotation, [layers[i]]))
            i += 1
            continue
        group, covered = [], np.zeros(d, dtype=int)
        while i < len(layers) and isinstance(layers[i], MixtureCDFCoupling) and not covered.all():
            group.append(layers[i])
            covered[layers[i].transformed_indices] += 1
            i += 1
        if not group:
            raise ValueError(f"initialize_flow_from_ig: expected MixtureCDFGaussianization or MixtureCDFCoupling "
                             f"after the rotation, got {_describe(layers, i)}; recognised pattern: {pattern}.")
        if (covered != 1).any():
            raise ValueError(f"initialize_flow_from_ig: the couplings {[c.name for c in group]} must transform each "
                             f"of the d={d} dimensions exactly once per block; counts per dimension: "
                             f"{covered.tolist()}.")
        for c in group:
            if c.shared_mixture and c.d_b > 1:
                raise ValueError(f"initialize_flow_from_ig: {c.name!r} has shared_mixture=True with d_b={c.d_b}; one "
                                 f"shared mixture cannot hold the per-dimension RBIG fits (use shared_mixture=False).")
        blocks.append(_Block(rotation, group))
    if not blocks:
        raise ValueError("initialize_flow_from_ig: the flow has no (rotation, marginal) block.")
    return leading, blocks


def _signs(blocks, rotations):
    """Per block ``(s, t)``: written rotation ``diag(s) R diag(t)``; the next block's ``s`` is ``t``."""
    d = rotations[0].shape[0] if rotations else 0
    s, out = np.ones(d), []
    for block, rotation in zip(blocks, rotations):
        t = np.ones(d)
        if block.exact and block.required_det is not None:
            if np.sign(np.linalg.det(rotation)) * np.prod(s) != block.required_det:
                t[-1] = -1.0
        out.append((s, t))
        s = t
    return out


def initialize_flow_from_ig(flow, X, random_state: int = 0, validation_data=None, *, min_scale: float = 0.0,
                            reg_covar: float = 1e-6, tail_weight: float = 0.0, early_stopping_patience=None,
                            log_scale_bound: float | None = None, information=None,
                            progress=None) -> RBIGDiagnostics:
    """RBIG warm start: write one PCA rotation and per-dimension GMM fits per block into ``flow``.

    Args:
        flow: a built :class:`~.bijectors.flow.GaussianizationFlow` of a recognised pattern
            (module docstring) whose mixture layers share one ``K``.
        X: training data ``(n, d)``, ``n ≥ max(MIN_SAMPLES, MIN_SAMPLES_PER_COMPONENT·K)``
            (:mod:`.rbig`), finite.
        random_state: the GMM of block ``ℓ``, dimension ``i`` uses seed ``random_state + 1000ℓ + i``.
        validation_data: held-out ``(m, d)`` data; adds ``validation_nll`` to the diagnostics.
        min_scale, reg_covar, tail_weight, early_stopping_patience: regularisation, see
            :func:`~.rbig.fit_rbig` and the module docstring. Zero-variance columns of a block
            (constant or collinear data) get a near-identity unit-variance mixture
            (:func:`~.rbig.fit_marginal_mixtures`) and a UserWarning.
        log_scale_bound: ``B``: fitted ``log σ`` are clipped to ``±(1 - 10⁻⁶)·B`` and snapped
            to the values ``B·tanh(raw)`` represents exactly (:meth:`MixtureCDF.exact_log_scales`). Default:
            the couplings' (smallest) ``log_scale_bound``, or for a diagonal flow the coupling
            default (3.0, i.e. ``σ ∈ (0.05, 20)``), so matched flows get bit-identical fits.
            ``float("inf")`` disables both (diagonal flows only). A fitted ``σ > 2e^B`` (data far
            from standardised; :mod:`.checks`) gives a UserWarning naming the clipped log-scales.
        information: optional ``information(y) -> (negentropy, total_correlation)`` evaluated on
            the RBIG state after every block (e.g. :func:`gaussianization.metrics.information`).
        progress: optional ``progress(block, info_dict)`` callback.

    Returns :class:`~.rbig.RBIGDiagnostics` of the float64 RBIG model (the flow computes it in
    its own dtype). The flow's weights are overwritten through the layers' setters
    (``set_matrix``, ``set_mixture_parameters``, ``set_constant_parameters``); nothing else
    changes. Raises ValueError for an unrecognised flow, mixed ``K``, bad data (NaN or inf rows
    are named) or options out of range, TypeError for counts that are not integers and options
    that are not numbers; the flow is left unchanged then.
    """
    if not hasattr(flow, "bijector_layers") or not hasattr(flow, "input_dim"):
        raise ValueError(f"initialize_flow_from_ig needs a GaussianizationFlow; got {type(flow).__name__}.")
    leading, blocks = _parse(flow)
    ks = {layer.num_components for b in blocks for layer in b.marginals}
    if len(ks) != 1:
        raise ValueError(f"initialize_flow_from_ig needs one num_components (K) for all mixture layers; got {sorted(ks)}.")
    k = ks.pop()
    who = "initialize_flow_from_ig"
    check_options(who, len(blocks), k, random_state, early_stopping_patience, min_scale, reg_covar, tail_weight,
                  validation_data is not None)
    x = check_samples(X, k, "X", flow.input_dim, who)
    val = None if validation_data is None else check_samples(validation_data, 1, "validation_data", flow.input_dim, who)
    bounds = [c.log_scale_bound for b in blocks for c in b.marginals if isinstance(c, MixtureCDFCoupling)]
    bound = check_bound(log_scale_bound, "log_scale_bound", who)
    bound = bound if bound is not None else float(min(bounds, default=DEFAULT_LOG_SCALE_BOUND))
    if bounds and bound > min(bounds):
        raise ValueError(f"log_scale_bound must be > 0 and at most the couplings' bound {min(bounds, default=np.inf)}; "
                         f"got {log_scale_bound}.")
    dtype = np.dtype(blocks[0].marginals[0].compute_dtype)
    clip, snap = (None, None) if np.isinf(bound) else (
        (1.0 - PACK_MARGIN) * bound, lambda v: MixtureCDF(v.shape[-1], log_scale_bound=bound).exact_log_scales(v, dtype)[0])
    if leading is not None:
        lead = pca_rotation(x)
        x = x @ lead
        val = None if val is None else val @ lead

    def rotation_fn(block, state, previous):
        if blocks[block].exact:
            return pca_rotation(state)
        s = _signs(blocks[:block], previous)[-1][1] if block else np.ones(state.shape[1])
        return s[:, None] * blocks[block].rotation.matrix().astype("float64")

    fitted, diagnostics = fit_rbig(
        x, len(blocks), k, random_state=random_state, rotation_fn=rotation_fn, validation_data=val,
        min_scale=min_scale, reg_covar=reg_covar, tail_weight=tail_weight, log_scale_clip=clip, adjust_log_scales=snap,
        early_stopping_patience=early_stopping_patience, information=information,
        progress=progress,
    )
    if leading is not None:
        leading.set_matrix(lead)
    for block, fit, (s, t) in zip(blocks, fitted, _signs(blocks, [f.rotation for f in fitted])):
        _write_block(block, fit, s, t, dtype)
    return dataclasses.replace(diagnostics, pca_rotation=np.array([b.exact for b in blocks]))


def _write_block(block, fit, s, t, dtype):
    """Write ``diag(s) R diag(t)`` and the (mirrored where ``t = -1``) mixtures of one block."""
    rotation = block.rotation
    if block.exact:
        q = s[:, None] * fit.rotation * t[None, :]
        rotation.set_matrix(q)
    logits, means, log_scales = fit.logits, fit.means * t[:, None], fit.log_scales
    for layer in block.marginals:
        if isinstance(layer, MixtureCDFGaussianization):
            layer.set_mixture_parameters(logits, means, log_scales)
        else:
            idx = np.asarray(layer.transformed_indices)
            encoded = layer.transformer.exact_log_scales(log_scales[idx], dtype)[1]
            layer.set_constant_parameters(logits[idx], means[idx], encoded)
