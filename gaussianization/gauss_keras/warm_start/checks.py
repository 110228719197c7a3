"""Checks and warnings of the RBIG warm start: data, options, degenerate columns, clipped scales.

**Degenerate columns.** A column ``r_i`` of a rotated RBIG state whose standard deviation is at
most :data:`DEGENERATE_RTOL` ``· max|r|`` is numerically constant: a constant column of the data,
or a principal axis of zero variance (collinear columns). It carries no scale, and a float32 flow
cannot resolve its spread (float32 ``eps = 1.2e-7``). An EM fit would put every component at
``σ² = reg_covar`` (``log σ ≈ -6.9``): a spike that adds ``B`` nats per block to the training
likelihood and multiplies the held-out spread along that axis by ``e^B`` per block.

**Clipped log-scales.** A fitted ``log σ`` above the clip ``c`` means the data are wider than
``e^c``: the clipped mixture leaves near-empty gaps between its components, in which the map is
almost flat (and numerically not invertible). The cost grows with how far ``σ`` exceeds ``e^c``.
Measured on two moons (n = 2000, 4 blocks, ``c = 3``), excess NLL over the unclipped fit against
the largest fitted ``log σ``: K = 8, data × 200: 3.68, +0.26 nats; × 250: 3.90, +0.53; × 500:
4.60, +4.9; × 1000: 5.29, +25.7 (16 of 64 clipped, all in block 0); K = 2, × 50: 3.33, +0.07;
× 80: 3.80, +0.84. Heavy tails clip a stray component at little cost (cubed Gaussians, std 4,
K = 4: 3.04, +0.006). Hence the warning fires when some ``σ`` exceeds the bound by more than
:data:`CLIP_WARN_FACTOR` (``log σ > c + log 2``); smaller excesses are only counted
(``num_clipped``). Clipping at the lower bound ``-c`` is benign and never warns: data scaled by
0.001 … 0.5 stay within 0.33 nats of the standardised NLL, and standardised data with K = 16
clip a few narrow components.
"""

from __future__ import annotations

import math
import os
import sys
import warnings

import numpy as np

from ..validation import check_finite, check_int, check_positive, finite_rows

#: RBIG needs at least ``max(MIN_SAMPLES, MIN_SAMPLES_PER_COMPONENT · K)`` samples.
MIN_SAMPLES = 10
MIN_SAMPLES_PER_COMPONENT = 2
#: A column with ``std ≤ DEGENERATE_RTOL · max|state|`` is treated as constant (about 8 float32 ulp).
DEGENERATE_RTOL = 1e-6
#: Warn when a fitted ``σ`` exceeds the upper clip ``e^c`` by more than this factor (module docstring).
CLIP_WARN_FACTOR = 2.0

_HERE = os.path.dirname(os.path.abspath(__file__))


def check_samples(x, num_components: int, name: str = "X", dim: int | None = None, who: str = "RBIG") -> np.ndarray:
    """``x`` as a finite float64 ``(n, d)`` array with enough samples for K-component fits.

    ValueError naming how many rows (and which) hold NaN or inf, for a wrong shape, width or
    too few samples; TypeError for non-numeric data.
    """
    x = finite_rows(x, name, who)
    if x.shape[1] < 1:
        raise ValueError(f"{who}: {name} must have shape (n, d); got shape {x.shape}.")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{who}: {name} must have width d={dim}; got shape {x.shape}.")
    need = max(MIN_SAMPLES, MIN_SAMPLES_PER_COMPONENT * num_components)
    if x.shape[0] < need:
        raise ValueError(
            f"{who}: {name} has too few samples for RBIG with K={num_components}: n={x.shape[0]} < "
            f"max(MIN_SAMPLES={MIN_SAMPLES}, MIN_SAMPLES_PER_COMPONENT={MIN_SAMPLES_PER_COMPONENT}·K) = {need}."
        )
    return x


def check_bound(value, name: str, who: str):
    """``None``, ``inf`` or a finite ``value > 0`` (as a float); TypeError / ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)) and math.isinf(value) and value > 0:
        return math.inf
    return check_positive(value, name, who)


def check_options(who: str, num_blocks, num_components, random_state, early_stopping_patience,
                  min_scale, reg_covar, tail_weight, has_validation: bool) -> dict:
    """The options of :func:`~.rbig.fit_rbig`, checked and normalised (ints and floats)."""
    out = dict(num_blocks=check_int(num_blocks, "num_blocks", 1, who),
               num_components=check_int(num_components, "num_components (K)", 1, who),
               random_state=check_int(random_state, "random_state", 0, who))
    if early_stopping_patience is not None:
        early_stopping_patience = check_int(early_stopping_patience, "early_stopping_patience", 1, who)
        if not has_validation:
            raise ValueError(f"{who}: early_stopping_patience needs validation_data.")
    out["early_stopping_patience"] = early_stopping_patience
    for name, value in (("min_scale", min_scale), ("reg_covar", reg_covar)):
        out[name] = check_finite(value, name, who)
        if out[name] < 0.0:
            raise ValueError(f"{who}: {name} must be >= 0; got {out[name]}.")
    out["tail_weight"] = check_finite(tail_weight, "tail_weight", who)
    if not 0.0 <= out["tail_weight"] < 1.0:
        raise ValueError(f"{who}: tail_weight must be in [0, 1); got {out['tail_weight']}.")
    return out


def degenerate_columns(r) -> np.ndarray:
    """``(d,)`` mask of the numerically constant columns of ``r`` ``(n, d)`` (module docstring)."""
    r = np.asarray(r, dtype="float64")
    return r.std(axis=0) <= DEGENERATE_RTOL * float(np.abs(r).max(initial=0.0))


def _warn(message: str):
    """``warnings.warn(message, UserWarning)`` attributed to the first caller outside this package."""
    frame, level = sys._getframe(0), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _HERE:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _per_block(counts, of):
    return ", ".join(f"block {b}: {n} of {of}" for b, n in enumerate(counts) if n)


def warn_about_fits(blocks, x, clip):
    """Warn (UserWarning) about degenerate columns and log-scales far above the upper bound ``clip``."""
    if not blocks:
        return
    d, k = blocks[0].means.shape
    degenerate = [b.num_degenerate for b in blocks]
    if sum(degenerate):
        _warn(f"RBIG: {sum(degenerate)} of {d * len(blocks)} fitted columns have zero variance (std <= "
              f"{DEGENERATE_RTOL:g}·max|state|; {_per_block(degenerate, d)}): a constant column of X, or "
              f"collinear columns (a principal axis of zero variance). They get a unit-variance mixture "
              f"centred on their value (a near-identity map, log-det about 0) instead of an EM fit, whose "
              f"variance would collapse to reg_covar. The data lie on a lower-dimensional set: drop the "
              f"constant or redundant columns for a proper density.")
    above = [b.num_clipped_above for b in blocks]
    largest = max(b.max_log_scale for b in blocks)
    if clip is not None and largest > clip + math.log(CLIP_WARN_FACTOR):
        std = np.asarray(x).std(axis=0)
        _warn(f"RBIG: fitted log-scales exceeded the bound {clip:.6g} (σ <= {math.exp(clip):.3g}) by up to "
              f"{largest - clip:.3g} (σ up to {math.exp(largest):.3g}); {sum(above)} of {d * k * len(blocks)} were "
              f"clipped ({_per_block(above, d * k)}). The data are far from standardised (column std of X: "
              f"{std.min():.3g} to {std.max():.3g}), and a mixture clipped this far fits them poorly. Standardise X "
              f"first, e.g. X = (X - X.mean(0)) / X.std(0) (and the validation data with the same mean and std), "
              f"or allow larger scales: initialize_flow_from_ig(log_scale_bound=float('inf')) for diagonal flows, "
              f"a larger log_scale_bound of the couplings (e.g. make_coupling_flow(..., log_scale_bound=6.0)) for "
              f"coupling flows, log_scale_clip of fit_rbig.")
