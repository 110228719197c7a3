"""Rotation-based iterative Gaussianization (RBIG), fitted in float64, independent of any flow.

RBIG (Laparra, Camps-Valls & Malo 2011) maps data ``y_0 = x`` of shape ``(n, d)``
through ``L`` blocks. Block ``ℓ = 1..L`` does::

    r     = y_{ℓ-1} R_ℓ                      R_ℓ (d, d) orthogonal; default: principal axes
    y_ℓ,i = Φ⁻¹(F_ℓ,i(r_i)),  i = 1..d      F_ℓ,i a K-component 1-D Gaussian-mixture CDF

with every ``F_ℓ,i`` fitted by EM (scikit-learn ``GaussianMixture``) to the column
``r_i``, seeded by ``random_state + 1000·(ℓ-1) + i`` (block and dimension counted
from 0). The model after ``ℓ`` blocks has the exact log-density::

    log p_ℓ(x) = log N(y_ℓ; 0, I) + Σ_{j≤ℓ} Σ_i log ∂y_j,i/∂r_i      (|det R_j| = 1)

A mixture whose components are all ``N(0, 1)`` has ``F = Φ``: that marginal map is the
identity, which is how blocks left unfitted by early stopping are represented.
The marginal map is the library's own :func:`~gaussianization.gauss_keras.mixture.gaussianize`,
run in float64. This module knows no flow: writing a fit into one is :mod:`.ig_init`.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from keras import ops

from ..bijectors.rotation import pca_rotation
from ..distributions import StandardNormal
from ..mixture import gaussianize
from ..transformers.mixture_cdf import unit_variance_mixture
from .checks import MIN_SAMPLES, MIN_SAMPLES_PER_COMPONENT, check_bound, check_options, check_samples  # noqa: F401
from .checks import degenerate_columns, warn_about_fits


@dataclasses.dataclass
class RBIGBlock:
    """One fitted block: ``rotation`` ``(d, d)``; ``logits``, ``means``, ``log_scales`` ``(d, K)``.

    ``fitted`` is False for an identity marginal (all components ``N(0, 1)``);
    ``converged`` ``(d,)``: EM convergence flags; ``num_clipped``: log-scales clipped (of which
    ``num_clipped_above`` at the upper bound); ``max_log_scale``: the largest fitted ``log σ``
    before clipping; ``num_degenerate``: zero-variance columns.
    """

    rotation: np.ndarray
    logits: np.ndarray
    means: np.ndarray
    log_scales: np.ndarray
    fitted: bool = True
    converged: np.ndarray | None = None
    num_clipped: int = 0
    num_clipped_above: int = 0
    max_log_scale: float = -np.inf
    num_degenerate: int = 0

    @property
    def mixture_parameters(self):
        return self.logits, self.means, self.log_scales


@dataclasses.dataclass
class RBIGDiagnostics:
    """Per-block diagnostics; index ``ℓ = 0..L`` is the state after ``ℓ`` blocks (0 = input).

    ``train_nll`` / ``validation_nll`` ``(L+1,)``: ``-mean log p_ℓ`` in nats on the
    training / held-out data (``validation_nll`` is None without validation data).
    ``negentropy`` and ``total_correlation`` ``(L+1,)``: the estimates of the ``information``
    function passed to :func:`fit_rbig` for the training state ``y_ℓ`` (None without one, NaN
    where it raised ValueError, e.g. a k-NN estimator on repeated points).
    ``num_fitted_blocks``: blocks with fitted marginals (the rest are identity marginals,
    after early stopping). ``converged`` ``(L, d)``: EM convergence per fit (True for
    identity blocks). ``num_clipped``: log-scales clipped to ``±log_scale_clip``; ``num_degenerate``:
    fitted columns of zero variance (:func:`fit_marginal_mixtures`). ``pca_rotation`` ``(L,)``
    (set by :func:`~.ig_init.initialize_flow_from_ig`; None from :func:`fit_rbig`): True where the block's PCA rotation
    was written into the flow, False where the flow's own rotation was kept.
    """

    train_nll: np.ndarray
    validation_nll: np.ndarray | None
    negentropy: np.ndarray | None
    total_correlation: np.ndarray | None
    num_fitted_blocks: int
    converged: np.ndarray
    num_clipped: int = 0
    pca_rotation: np.ndarray | None = None
    num_degenerate: int = 0


def identity_mixture(dim: int, num_components: int):
    """``(logits, means, log_scales)``, all zeros ``(d, K)``: every component ``N(0, 1)``, so ``F = Φ``."""
    zeros = np.zeros((dim, num_components))
    return zeros, zeros.copy(), zeros.copy()


def fit_marginal_mixtures(r, num_components: int, seeds, *, min_scale: float = 0.0,
                          reg_covar: float = 1e-6, tail_weight: float = 0.0, max_iter: int = 500):
    """Per-column 1-D Gaussian mixtures by EM: ``r`` ``(n, d)`` → ``(logits, means, log_scales, converged)``.

    Column ``i`` is fitted by ``GaussianMixture(K', covariance_type="spherical",
    reg_covar=reg_covar + (min_scale·std(r_i))², random_state=seeds[i])``, so every
    component variance is at least ``reg_covar + (min_scale·std(r_i))²``.

    ``tail_weight = ε > 0`` (and ``K > 1``) makes the mixture *defensive*: EM fits
    ``K' = K - 1`` components, which get weights ``(1 - ε) π_k``, and the K-th component
    is the single-Gaussian fit ``N(mean(r_i), std(r_i)²)`` with weight ``ε``. It dominates
    the far tails, so ``Φ⁻¹(F(r))`` has slope about ``1/std(r_i)`` outside the data instead
    of ``1/σ`` of the narrowest edge component; this stops held-out points beyond the
    training range from being pushed further out by every block. Otherwise ``K' = K``.

    A *zero-variance* column (``std ≤ DEGENERATE_RTOL·max|r|``, :mod:`.checks`: a constant
    column, or a principal axis of collinear columns) is not fitted by EM, whose variances would
    collapse to ``reg_covar``: it gets the :func:`~..transformers.mixture_cdf.unit_variance_mixture`
    (equal weights, unit variance, distinct components) centred on the column's mean, a
    near-identity map ``y ≈ r - mean`` with log-det about 0 (:func:`fit_rbig` warns).

    Returns ``logits = log π``, ``means = μ`` and ``log_scales = log σ``, each ``(d, K)``,
    and ``converged`` ``(d,)`` (EM's own flag, True for zero-variance columns; non-convergence
    is reported, not warned).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    r = np.asarray(r, dtype="float64")
    defensive = tail_weight > 0.0 and num_components > 1
    k_em = num_components - 1 if defensive else num_components
    out = np.empty((3, r.shape[1], num_components))
    converged = np.ones(r.shape[1], dtype=bool)
    degenerate = degenerate_columns(r)
    unit_means, unit_scale = unit_variance_mixture(num_components)
    for i in range(r.shape[1]):
        col = r[:, i : i + 1]
        if degenerate[i]:
            out[0, i], out[1, i], out[2, i] = 0.0, unit_means + col.mean(), np.log(unit_scale)
            continue
        reg = float(reg_covar) + (float(min_scale) * float(col.std())) ** 2
        gmm = GaussianMixture(k_em, covariance_type="spherical", max_iter=max_iter,
                              random_state=int(seeds[i]), reg_covar=reg)
        # One column is tiny work: extra BLAS/OpenMP threads only contend (3x slower on 2 cores).
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit(col)
        out[0, i, :k_em] = np.log(gmm.weights_)
        out[1, i, :k_em] = gmm.means_[:, 0]
        out[2, i, :k_em] = 0.5 * np.log(gmm.covariances_)
        converged[i] = gmm.converged_
        if defensive:
            out[0, i, :k_em] += np.log1p(-tail_weight)
            out[:, i, k_em] = np.log(tail_weight), col.mean(), 0.5 * np.log(col.var() + reg)
    return out[0], out[1], out[2], converged


def apply_marginals(r, logits, means, log_scales):
    """``y_i = Φ⁻¹(F_i(r_i))`` in float64: ``r`` ``(n, d)`` → ``(y (n, d), Σ_i log ∂y_i/∂r_i (n,))``."""
    params = [ops.convert_to_tensor(np.asarray(p, dtype="float64")) for p in (logits, means, log_scales)]
    y, log_dydr = gaussianize(ops.convert_to_tensor(np.asarray(r, dtype="float64")), *params)
    return ops.convert_to_numpy(y), ops.convert_to_numpy(ops.sum(log_dydr, axis=-1))


def _mean_log_likelihood(y, log_det):
    return float(np.mean(ops.convert_to_numpy(StandardNormal().log_prob(y))) + np.mean(log_det))


def _information(information, y):
    """``information(y)`` as ``(negentropy, total correlation)``; NaN where it raises ValueError."""
    try:
        negentropy, total_correlation = information(y)
        return float(negentropy), float(total_correlation)
    except ValueError:
        return np.nan, np.nan


def fit_rbig(x, num_blocks: int, num_components: int, *, random_state: int = 0, rotation_fn=None,
             validation_data=None, min_scale: float = 0.0, reg_covar: float = 1e-6,
             tail_weight: float = 0.0, log_scale_clip: float | None = None, adjust_log_scales=None,
             early_stopping_patience: int | None = None, information=None, progress=None):
    """Fit ``num_blocks`` RBIG blocks to ``x`` ``(n, d)``; returns ``(blocks, RBIGDiagnostics)``.

    Args:
        rotation_fn: ``rotation_fn(block, state, previous_rotations) -> R`` ``(d, d)``;
            default: :func:`~.bijectors.rotation.pca_rotation` of the state (canonical signs).
        validation_data: ``(m, d)`` held-out data pushed through the same blocks.
        min_scale, reg_covar: variance floor of the EM fits (:func:`fit_marginal_mixtures`).
        tail_weight: weight ``ε`` of the defensive tail component (:func:`fit_marginal_mixtures`).
        log_scale_clip: if given, fitted ``log σ`` are clipped to ``[-c, c]`` before use.
        adjust_log_scales: optional ``(d, K) -> (d, K)`` map applied to the (clipped) ``log σ``
            before use, e.g. rounding to values a parametrisation represents exactly.
        early_stopping_patience: with ``validation_data``, stop fitting once the held-out
            NLL has not improved on its best for this many consecutive blocks; the blocks
            after the best one get identity marginals (their rotations are kept: a
            rotation does not change the likelihood under the isotropic base).
        information: optional ``information(y) -> (negentropy, total_correlation)`` of a state
            ``y`` ``(n, d)``, e.g. :func:`gaussianization.metrics.information`; evaluated on the
            training state after every block.
        progress: optional ``progress(block, info_dict)`` called after each block.

    Warns (UserWarning, :mod:`.checks`) about zero-variance columns and about log-scales clipped
    far above ``log_scale_clip`` (by more than ``log 2``: data far from standardised). Raises TypeError for
    counts that are not integers (``num_blocks``, ``num_components``, ``random_state``,
    ``early_stopping_patience``) or options that are not numbers; ValueError for non-finite
    data (naming the rows), too few samples, and options out of range (``min_scale``,
    ``reg_covar``, ``tail_weight`` must be finite, ``log_scale_clip`` > 0).
    """
    opts = check_options("fit_rbig", num_blocks, num_components, random_state, early_stopping_patience,
                         min_scale, reg_covar, tail_weight, validation_data is not None)
    num_blocks, num_components = opts["num_blocks"], opts["num_components"]
    early_stopping_patience = opts["early_stopping_patience"]
    log_scale_clip = check_bound(log_scale_clip, "log_scale_clip", "fit_rbig")
    x = check_samples(x, num_components, who="fit_rbig")
    val = None if validation_data is None else check_samples(validation_data, 1, "validation_data", x.shape[1],
                                                             who="fit_rbig")
    rotation_fn = rotation_fn or (lambda block, state, previous: pca_rotation(state))
    run = dict(x=x, val=val, num_blocks=num_blocks, k=num_components, random_state=opts["random_state"],
               rotation_fn=rotation_fn, clip=log_scale_clip, snap=adjust_log_scales,
               fit_options={name: opts[name] for name in ("min_scale", "reg_covar", "tail_weight")})
    if early_stopping_patience is None:
        blocks, diag = _run(**run, information=information, progress=progress)
    else:
        # Pass 1 fits until the patience runs out; pass 2 replays the best prefix (no refits).
        blocks, diag = _run(**run, patience=early_stopping_patience, information=None)
        best = int(np.argmin(diag.validation_nll))
        blocks, diag = _run(**run, reuse=blocks[:best], limit=best, information=information, progress=progress)
    warn_about_fits(blocks, x, log_scale_clip)
    return blocks, diag


def _run(*, x, val, num_blocks, k, random_state, rotation_fn, fit_options, clip, snap,
         patience=None, reuse=None, limit=None, information=None, progress=None):
    """One pass; ``reuse`` supplies earlier fits, ``limit`` caps the number of fitted blocks."""
    d = x.shape[1]
    y, log_det = x, np.zeros(x.shape[0])
    yv, log_det_v = (val, np.zeros(val.shape[0])) if val is not None else (None, None)
    train, held, negent, tc = [_mean_log_likelihood(y, log_det)], [], [], []
    if val is not None:
        held.append(_mean_log_likelihood(yv, log_det_v))
    if information is not None:
        j, t = _information(information, y)
        negent.append(j)
        tc.append(t)
    blocks, since_best = [], 0
    for block in range(num_blocks):
        rotation = np.asarray(rotation_fn(block, y, [b.rotation for b in blocks]), dtype="float64")
        r = y @ rotation
        if reuse is not None and block < len(reuse):
            new = dataclasses.replace(reuse[block], rotation=rotation)
        elif limit is not None and block >= limit:
            new = RBIGBlock(rotation, *identity_mixture(d, k), fitted=False)
        else:
            seeds = random_state + 1000 * block + np.arange(d)
            logits, means, log_scales, converged = fit_marginal_mixtures(r, k, seeds, **fit_options)
            clipped, largest = (0, 0), float(log_scales.max())
            if clip is not None:
                clipped = int(np.sum(np.abs(log_scales) > clip)), int(np.sum(log_scales > clip))
                log_scales = np.clip(log_scales, -clip, clip)
            if snap is not None:
                log_scales = np.asarray(snap(log_scales), dtype="float64")
            new = RBIGBlock(rotation, logits, means, log_scales, converged=converged, num_clipped=clipped[0],
                            num_clipped_above=clipped[1], max_log_scale=largest,
                            num_degenerate=int(degenerate_columns(r).sum()))
        blocks.append(new)
        params = new.mixture_parameters
        y, ld = apply_marginals(r, *params)
        log_det = log_det + ld
        train.append(_mean_log_likelihood(y, log_det))
        if val is not None:
            yv, ld_v = apply_marginals(yv @ rotation, *params)
            log_det_v = log_det_v + ld_v
            held.append(_mean_log_likelihood(yv, log_det_v))
        if information is not None:
            j, t = _information(information, y)
            negent.append(j)
            tc.append(t)
        if patience is not None:
            since_best = 0 if held[-1] > max(held[:-1]) else since_best + 1
            if since_best >= patience:
                break
        if progress is not None:
            progress(block, {"train_nll": -train[-1], "validation_nll": -held[-1] if held else None,
                             "negentropy": negent[-1] if negent else None,
                             "total_correlation": tc[-1] if tc else None})
    diag = RBIGDiagnostics(
        train_nll=-np.asarray(train), validation_nll=-np.asarray(held) if val is not None else None,
        negentropy=np.asarray(negent) if information is not None else None,
        total_correlation=np.asarray(tc) if information is not None else None,
        num_fitted_blocks=sum(b.fitted for b in blocks), num_clipped=sum(b.num_clipped for b in blocks),
        num_degenerate=sum(b.num_degenerate for b in blocks),
        converged=np.array([np.ones(d, bool) if b.converged is None else b.converged for b in blocks]),
    )
    return blocks, diag
