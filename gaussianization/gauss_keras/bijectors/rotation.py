"""Orthogonal layers: trainable Householder products and frozen rotations.

Both have ``|det Q| = 1``, so their log-det is zero: they only move
non-Gaussianity between coordinates so that the next marginal layer can remove it.
Row-vector convention: ``z = x Q`` for a batch ``x`` of shape ``(batch, d)``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..validation import check_int, check_seed, finite_rows
from .base import Bijector, zero_log_det

#: :func:`householder_vectors` skips column ``k`` when ``‖a_{>k}‖ ≤ SKIP_TOLERANCE·‖a‖`` and ``a_k > 0``:
#: the column is ``e_k`` up to rounding (a reflector built from it would be pure rounding noise).
SKIP_TOLERANCE = 64 * np.finfo("float64").eps


@keras.saving.register_keras_serializable(package="gaussianization")
class Householder(Bijector):
    """Product of ``num_reflectors`` Householder reflections, ``Q = H_1 H_2 ⋯ H_m``.

    ``H_j = I - 2 v_j v_jᵀ / ‖v_j‖²`` with trainable ``v_j ∈ ℝ^d`` (weight
    ``vectors`` of shape ``(m, d)``). Forward applies ``H_1`` first:
    ``x ← x - 2 (x·v̂_j) v̂_j`` for ``j = 1..m``; the inverse applies them in
    reverse order (each reflection is its own inverse). Log-det 0.
    """

    def __init__(self, num_reflectors: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.num_reflectors = check_int(num_reflectors, "num_reflectors", 1, "Householder")

    def build_for_dim(self, dim):
        self.vectors = self.add_weight(
            name="vectors", shape=(self.num_reflectors, dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0), trainable=True,
        )

    def _unit_vectors(self, dtype):
        v = ops.cast(self.vectors, dtype)
        # The tiny floor leaves every ordinary v unchanged and keeps a v trained to 0 from giving NaN.
        return v / ops.sqrt(ops.sum(ops.square(v), axis=-1, keepdims=True) + 1e-30)

    @staticmethod
    def _reflect(x, v):
        return x - 2.0 * ops.sum(x * v, axis=-1, keepdims=True) * v

    def _forward(self, x):
        v = self._unit_vectors(x.dtype)
        for j in range(self.num_reflectors):
            x = self._reflect(x, v[j])
        return x, zero_log_det(x)

    def _inverse(self, z):
        v = self._unit_vectors(z.dtype)
        for j in reversed(range(self.num_reflectors)):
            z = self._reflect(z, v[j])
        return z, zero_log_det(z)

    def matrix(self):
        """The ``(d, d)`` orthogonal matrix ``Q`` with ``forward(x) = x Q``, as NumPy."""
        eye = np.eye(self.input_dim, dtype="float64")
        return ops.convert_to_numpy(self._forward(ops.convert_to_tensor(eye))[0])

    def set_matrix(self, matrix):
        """Make ``Q = matrix`` exactly (up to rounding): writes :func:`householder_vectors`.

        Needs a built layer, an orthogonal ``(d, d)`` matrix, ``num_reflectors ≥ d`` and
        ``det(matrix) = (-1)^num_reflectors`` (ValueError otherwise).
        """
        if not self.built:
            raise ValueError("Householder: build the layer before setting its matrix.")
        q = _check_orthogonal(matrix, who="Householder")
        if q.shape[0] != self.input_dim:
            raise ValueError(f"Householder: matrix is {q.shape[0]}x{q.shape[0]} but the input width is d={self.input_dim}.")
        self.vectors.assign(householder_vectors(q, self.num_reflectors).astype(self.vectors.dtype))

    def get_config(self):
        return {**super().get_config(), "num_reflectors": self.num_reflectors}


def _check_orthogonal(matrix, tol=1e-5, who="FixedOrtho"):
    q = np.asarray(matrix, dtype="float64")
    if q.ndim != 2 or q.shape[0] != q.shape[1]:
        raise ValueError(f"{who} needs a square (d, d) matrix; got shape {q.shape}.")
    if not np.isfinite(q).all():
        raise ValueError(f"{who} needs a finite orthogonal matrix; got {int(np.sum(~np.isfinite(q)))} NaN or "
                         f"infinite entries.")
    err = np.abs(q.T @ q - np.eye(q.shape[0])).max()
    if err > tol:
        raise ValueError(f"{who} needs an orthogonal matrix; max |QᵀQ - I| = {err:.2e} > {tol:g}.")
    return q


def householder_vectors(rotation, num_reflectors: int) -> np.ndarray:
    """Reflectors ``v`` ``(m, d)`` with ``H_1 H_2 ⋯ H_m = rotation``, ``H_j = I - 2 v_j v_jᵀ/‖v_j‖²``.

    Needs ``m ≥ d`` and ``det(rotation) = (-1)^m``. Column ``k = 0..d-1`` of the current
    matrix ``A`` (initially ``rotation``) is reflected onto ``e_k`` by ``v = a - ‖a‖e_k``
    (restricted to rows ``≥ k``; ``a_k - ‖a‖`` by the cancellation-free form
    ``-Σ_{j>k} a_j² / (a_k + ‖a‖)`` when ``a_k > 0``) and ``A ← H A``; a column that
    equals ``e_k`` up to rounding (``a_k > 0``, ``‖a_{>k}‖ ≤`` :data:`SKIP_TOLERANCE` ``·‖a‖``) is
    skipped. Then ``H_r ⋯ H_1 R = I``, i.e. ``R = H_1 ⋯ H_r`` with ``(-1)^r = det R``, and the
    remaining ``m - r`` (even) slots are filled with identical pairs ``(e_j, e_j)``, whose
    product is the identity. Every returned ``v`` has unit norm: the layer normalises ``v`` in
    its own dtype, and a ``v`` of tiny norm (e.g. ``1e-31`` from a column ``e_k`` up to
    rounding) would square to 0 in float32 and make the flow NaN.
    """
    q = np.array(rotation, dtype="float64")
    if q.ndim != 2 or q.shape[0] != q.shape[1]:
        raise ValueError(f"rotation must be a square (d, d) matrix; got shape {q.shape}.")
    d, m = q.shape[0], int(num_reflectors)
    if m < d:
        raise ValueError(f"{m} reflectors cannot represent every {d}x{d} rotation (need m >= d).")
    if np.sign(np.linalg.det(q)) != (-1) ** m:
        raise ValueError(f"A product of m={m} reflections has det {(-1) ** m}; the rotation has det "
                         f"{np.linalg.det(q):+.3f}.")
    vectors = []
    for k in range(d):
        a = q[k:, k]
        sigma = float(np.sum(a[1:] ** 2))
        norm = np.sqrt(a[0] ** 2 + sigma)
        if a[0] > 0.0 and np.sqrt(sigma) <= SKIP_TOLERANCE * norm:
            continue
        v = np.zeros(d)
        v[k] = a[0] - norm if a[0] <= 0.0 else -sigma / (a[0] + norm)
        v[k + 1:] = a[1:]
        v = v / np.linalg.norm(v)
        q = q - np.outer(2.0 * v, v @ q)
        vectors.append(v)
    vectors += [np.eye(d)[(j // 2) % d] for j in range(m - len(vectors))]
    return np.stack(vectors)


@keras.saving.register_keras_serializable(package="gaussianization")
class FixedOrtho(Bijector):
    """A frozen orthogonal matrix ``Q`` (non-trainable weight ``matrix``, ``(d, d)``).

    Forward ``z = x Q``, inverse ``x = z Qᵀ``, log-det 0. Build one with
    :meth:`from_pca` (principal axes of data) or :meth:`random_haar`. With no
    matrix it starts as the identity and is set later (e.g. by the IG warm start).
    """

    def __init__(self, matrix=None, **kwargs):
        super().__init__(**kwargs)
        self._initial = None if matrix is None else _check_orthogonal(matrix)

    @classmethod
    def from_pca(cls, x, **kwargs):
        """Columns = principal axes of ``x`` (``(n, d)``), by decreasing variance.

        Signs are fixed so that each axis' largest-magnitude entry is positive. ValueError
        naming the rows of ``x`` that hold NaN or inf.
        """
        return cls(pca_rotation(x, who="FixedOrtho.from_pca"), **kwargs)

    @classmethod
    def random_haar(cls, dim: int, seed: int = 0, **kwargs):
        """A Haar-distributed random orthogonal ``(dim, dim)`` matrix (QR of a Gaussian).

        ``dim``: an int ``≥ 1``; ``seed``: None or an int ``≥ 0`` (NumPy ints accepted).
        """
        dim = check_int(dim, "dim", 1, "FixedOrtho.random_haar")
        seed = check_seed(seed, "seed", "FixedOrtho.random_haar")
        g = np.random.default_rng(seed).standard_normal((dim, dim))
        q, r = np.linalg.qr(g)
        return cls(q * np.sign(np.diag(r)), **kwargs)

    def build_for_dim(self, dim):
        if self._initial is not None and self._initial.shape[0] != dim:
            raise ValueError(
                f"FixedOrtho holds a {self._initial.shape[0]}x{self._initial.shape[0]} matrix but the input "
                f"width is d={dim}."
            )
        init = self._initial if self._initial is not None else np.eye(dim)
        self.matrix = self.add_weight(
            name="matrix", shape=(dim, dim), trainable=False,
            initializer=keras.initializers.Constant(init),
        )

    def set_matrix(self, matrix):
        """Replace ``Q`` (checked to be orthogonal)."""
        self.matrix.assign(_check_orthogonal(matrix).astype(self.matrix.dtype))

    def _forward(self, x):
        return ops.matmul(x, ops.cast(self.matrix, x.dtype)), zero_log_det(x)

    def _inverse(self, z):
        return ops.matmul(z, ops.transpose(ops.cast(self.matrix, z.dtype))), zero_log_det(z)

    def get_config(self):
        config = super().get_config()
        if self._initial is not None:
            config["matrix"] = self._initial.tolist()
        return config


def pca_rotation(x, who: str = "pca_rotation"):
    """Principal axes of ``x`` (``(n, d)``) as the columns of a ``(d, d)`` orthogonal matrix.

    Columns are sorted by decreasing variance, each with its largest-magnitude entry
    positive so that the result is deterministic. ``x`` is centred first. ValueError for
    rows with NaN or inf (naming them) and for ``n < 2``; ``who`` prefixes the messages.
    """
    x = finite_rows(x, "x", who)
    if x.shape[0] < 2:
        raise ValueError(f"PCA needs an (n, d) array with n >= 2; got shape {x.shape}.")
    cov = np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])
    eigvals, eigvecs = np.linalg.eigh(cov)
    eigvecs = eigvecs[:, np.argsort(eigvals)[::-1]]
    signs = np.sign(eigvecs[np.argmax(np.abs(eigvecs), axis=0), np.arange(x.shape[1])])
    return eigvecs * np.where(signs == 0, 1.0, signs)
