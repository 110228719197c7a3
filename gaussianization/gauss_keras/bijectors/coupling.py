"""Coupling bijectors: one half of the coordinates conditions the map of the other half.

A boolean ``mask`` of length ``d`` splits ``x`` (``(batch, d)``) into the identity
(conditioning) half ``x_a = x[:, mask]`` (``(batch, d_a)``) and the transformed half
``x_b = x[:, ~mask]`` (``(batch, d_b)``). A conditioner network reads ``x_a`` and
outputs the parameters ``θ(x_a)`` of an element-wise monotone map ``T`` of ``x_b``::

    z_a = x_a,    z_b = T(x_b; θ(x_a)),    log|det J| = Σ_{i∈b} log ∂T_i/∂x_{b,i}.

The Jacobian is block-triangular, so the conditioner's own Jacobian never enters
the determinant, and the inverse is ``x_a = z_a``, ``x_b = T⁻¹(z_b; θ(z_a))``.

:class:`CouplingBijector` holds the mask, the conditioner and the split/merge
(static index lists: ``ops.take`` along axis 1, and a merge that concatenates
``[z_a, z_b]`` and applies one fixed column permutation, so nothing is scattered).
:class:`MixtureCDFCoupling` is the coupling whose ``T`` is the mixture-CDF
Gaussianization ``Φ⁻¹(F(x_b; θ(x_a)))`` of :mod:`~gaussianization.gauss_keras.mixture`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .. import mixture
from .base import Bijector


def as_mask(mask, who: str = "coupling"):
    """``mask`` (booleans, or 0/1) as a 1-D NumPy bool array; ValueError if trivial."""
    m = np.asarray(mask)
    if m.ndim != 1 or m.size == 0:
        raise ValueError(f"{who}: mask must be a non-empty 1-D list of booleans; got shape {m.shape}.")
    if m.dtype != bool:
        if not np.all(np.isin(m, (0, 1))):
            raise ValueError(f"{who}: mask entries must be booleans (or 0/1); got {m.tolist()}.")
        m = m.astype(bool)
    if m.all() or not m.any():
        raise ValueError(f"{who}: mask is all {bool(m[0])}; a coupling needs at least one identity (True) and "
                         f"one transformed (False) dimension; got mask {m.tolist()}.")
    return m


def _readonly(a):
    a = np.array(a, dtype="int64")
    a.setflags(write=False)
    return a


class CouplingBijector(Bijector):
    """Base of coupling layers: mask handling, conditioner build/check, split and merge.

    Args:
        mask: length-``d`` booleans, ``True`` = identity/conditioning half ``x_a``,
            ``False`` = transformed half ``x_b``; neither all True nor all False.
        conditioner: a Keras layer/model mapping ``(batch, d_a)`` to
            ``(batch, conditioner_width(d_b))``. It is built on ``(None, d_a)`` when this
            layer is built, and its output width is checked then.

    Subclasses implement ``conditioner_width(d_b)``, ``_transform(x_b, theta)`` and
    ``_untransform(z_b, theta)``; the last two return ``(output (batch, d_b),
    log dT/dx_b of the map applied, summed over b → (batch,))``.
    """

    def __init__(self, mask, conditioner, **kwargs):
        super().__init__(**kwargs)
        self.mask = as_mask(mask, type(self).__name__)
        if not isinstance(conditioner, keras.layers.Layer):
            raise ValueError(f"{type(self).__name__}: conditioner must be a keras Layer or Model; "
                             f"got {type(conditioner).__name__}.")
        self.conditioner = conditioner
        self._identity = _readonly(np.flatnonzero(self.mask))
        self._transformed = _readonly(np.flatnonzero(~self.mask))
        self._merge_order = _readonly(np.argsort(np.concatenate([self._identity, self._transformed])))

    # -- structure ------------------------------------------------------------------
    @property
    def identity_indices(self):
        """Indices of the identity (conditioning) half ``x_a``, ascending (read-only array)."""
        return self._identity

    @property
    def transformed_indices(self):
        """Indices of the transformed half ``x_b``, ascending (read-only array)."""
        return self._transformed

    d_a = property(lambda self: int(self._identity.size), doc="Width of the identity half.")
    d_b = property(lambda self: int(self._transformed.size), doc="Width of the transformed half.")

    def conditioner_width(self, d_b: int) -> int:  # pragma: no cover - abstract
        """Number of conditioner outputs per example that this coupling needs."""
        raise NotImplementedError

    def describe_width(self) -> str:
        """Formula of :meth:`conditioner_width`, for error messages (override)."""
        return "the expected width"

    def build_for_dim(self, dim):
        who = type(self).__name__
        if dim != self.mask.size:
            raise ValueError(f"{who}: mask has length {self.mask.size} but the input width is d={dim}.")
        expected = self.conditioner_width(self.d_b)
        spec = self.conditioner(keras.KerasTensor((None, self.d_a), dtype=self.compute_dtype))
        shape = tuple(spec.shape)
        if len(shape) != 2 or shape[-1] != expected:
            raise ValueError(
                f"{who}: conditioner output width mismatch: expected {expected} "
                f"({self.describe_width()}, with d_a={self.d_a}, d_b={self.d_b}), "
                f"but the conditioner maps (None, {self.d_a}) to shape {shape} (width {shape[-1]})."
            )

    # -- split / merge ----------------------------------------------------------------
    def split(self, x):
        """``(x_a, x_b)`` = identity and transformed columns of ``x`` (``(batch, d)``)."""
        return ops.take(x, self._identity, axis=1), ops.take(x, self._transformed, axis=1)

    def merge(self, x_a, x_b):
        """Inverse of :meth:`split`: ``(batch, d)`` with the columns back in mask order."""
        return ops.take(ops.concatenate([x_a, x_b], axis=1), self._merge_order, axis=1)

    def conditioner_output(self, x_a):
        """``θ(x_a)`` of shape ``(batch, conditioner_width)`` in ``x_a``'s dtype."""
        return ops.cast(self.conditioner(x_a), x_a.dtype)

    # -- maps -----------------------------------------------------------------------
    def _forward(self, x):
        x_a, x_b = self.split(x)
        z_b, log_det = self._transform(x_b, self.conditioner_output(x_a))
        return self.merge(x_a, z_b), log_det

    def _inverse(self, z):
        z_a, z_b = self.split(z)
        x_b, log_det = self._untransform(z_b, self.conditioner_output(z_a))
        return self.merge(z_a, x_b), log_det

    def _transform(self, x_b, theta):  # pragma: no cover - abstract
        raise NotImplementedError

    _untransform = _transform

    # -- constant conditioner ------------------------------------------------------------
    def _final_dense(self):
        """The Dense layer that produces the conditioner output (last Dense, searched recursively)."""

        def last_dense(layer):
            if isinstance(layer, keras.layers.Dense):
                return layer
            for sub in reversed(list(getattr(layer, "layers", []))):
                if isinstance(sub, keras.layers.InputLayer):
                    continue
                return last_dense(sub)
            return None

        dense = last_dense(self.conditioner)
        if dense is None:
            raise ValueError(
                f"{type(self).__name__}: the conditioner ({type(self.conditioner).__name__}) has no final "
                f"Dense layer, so its output cannot be set to constant parameters."
            )
        return dense

    def set_constant_output(self, values):
        """Make ``θ(x_a) = values`` for every ``x_a``: zero the final Dense kernel, bias := values.

        ``values`` is ``(conditioner_width,)``. The layer must be built. Raises
        ValueError (and restores the old weights) when the final Dense layer does
        not produce the conditioner output directly (e.g. an activation follows it).
        """
        who = type(self).__name__
        if not self.built:
            raise ValueError(f"{who}: build the layer before setting constant parameters.")
        values = np.asarray(values, dtype="float64").reshape(-1)
        dense = self._final_dense()
        if not dense.use_bias or tuple(dense.bias.shape) != values.shape:
            raise ValueError(f"{who}: the conditioner's final Dense layer must have a bias of shape {values.shape}.")
        old = dense.get_weights()
        dense.kernel.assign(np.zeros(dense.kernel.shape, dtype=dense.kernel.dtype))
        dense.bias.assign(values.astype(dense.bias.dtype))
        probe = np.random.default_rng(0).standard_normal((4, self.d_a)).astype(self.compute_dtype)
        out = ops.convert_to_numpy(self.conditioner(probe)).astype("float64")
        if not np.allclose(out, np.broadcast_to(values, out.shape), rtol=1e-5, atol=1e-5):
            dense.set_weights(old)
            raise ValueError(f"{who}: zeroing the final Dense kernel did not make the conditioner output "
                             f"constant; its last Dense layer must produce the output directly (no activation).")

    # -- serialization ------------------------------------------------------------
    def get_config(self):
        return {**super().get_config(), "mask": self.mask.tolist(),
                "conditioner": keras.saving.serialize_keras_object(self.conditioner)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["conditioner"] = keras.saving.deserialize_keras_object(config["conditioner"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="gaussianization")
class MixtureCDFCoupling(CouplingBijector):
    """Coupling whose transformer is the mixture-CDF Gaussianization of ``x_b``.

    ``z_b,i = Φ⁻¹(F_i(x_b,i; θ_i(x_a)))``, ``F_i = Σ_k π_ik Φ((x - μ_ik)/σ_ik)`` with
    per-example ``(batch, d_b, K)`` parameters read from the conditioner output
    ``(batch, 3·d_b·K)`` as ``(batch, 3, d_b, K)`` = [logits, means, raw], and
    ``log σ = B·tanh(raw)`` (``σ ∈ (e^{-B}, e^{B})``). With ``shared_mixture=True``
    the conditioner outputs ``(batch, 3·K)``, one mixture broadcast over the ``d_b``
    dimensions. Log-det: ``Σ_{i∈b} [log f_i(x_b,i) - log φ(z_b,i)]``. The inverse
    solves ``F_i(x) = Φ(z)`` by :func:`~gaussianization.gauss_keras.mixture.ungaussianize`
    (bracketed safeguarded Newton in float64) with the parameters ``θ(z_a)``, ``z_a = x_a``.

    Args:
        mask: see :class:`CouplingBijector`.
        conditioner: e.g. :func:`~gaussianization.gauss_keras.conditioners.make_mlp_conditioner`.
        num_components: ``K ≥ 1``.
        shared_mixture: one mixture for all transformed dimensions.
        log_scale_bound: ``B > 0``.
    """

    def __init__(self, mask, conditioner, num_components: int = 8, shared_mixture: bool = False,
                 log_scale_bound: float = 3.0, **kwargs):
        if int(num_components) < 1:
            raise ValueError(f"MixtureCDFCoupling needs num_components (K) >= 1; got {num_components}.")
        if not float(log_scale_bound) > 0.0:
            raise ValueError(f"MixtureCDFCoupling needs log_scale_bound > 0; got {log_scale_bound}.")
        super().__init__(mask, conditioner, **kwargs)
        self.num_components = int(num_components)
        self.shared_mixture = bool(shared_mixture)
        self.log_scale_bound = float(log_scale_bound)

    def conditioner_width(self, d_b):
        return 3 * self.num_components * (1 if self.shared_mixture else d_b)

    def describe_width(self):
        k = self.num_components
        return f"3·K = 3·{k}, shared mixture" if self.shared_mixture else f"3·d_b·K = 3·{self.d_b}·{k}"

    def mixture_parameters(self, theta):
        """``(logits, means, log_scales)`` from the conditioner output, each ``(batch, d_b or 1, K)``."""
        return mixture.unpack_mixture(theta, self.d_b, self.num_components, self.shared_mixture, self.log_scale_bound)

    def _transform(self, x_b, theta):
        z_b, log_dzdx = mixture.gaussianize(x_b, *self.mixture_parameters(theta))
        return z_b, ops.sum(log_dzdx, axis=-1)

    def _untransform(self, z_b, theta):
        params = self.mixture_parameters(theta)
        x_b = mixture.ungaussianize(z_b, *params)
        log_dzdx = mixture.mixture_log_pdf(x_b, *params) - (-0.5 * ops.square(z_b) - mixture.HALF_LOG_2PI)
        return x_b, -ops.sum(log_dzdx, axis=-1)

    def set_constant_parameters(self, logits, means, log_scales):
        """Make the coupling ignore ``x_a``: the same mixture for every example.

        Each argument is ``(d_b, K)`` (or anything that broadcasts to it, e.g. ``(K,)``);
        with ``shared_mixture`` it must be ``(K,)`` or ``(1, K)``. Zeroes the kernel of the
        conditioner's final Dense layer and sets its bias to the packed
        ``[logits, means, artanh(log σ / B)]``; then the layer equals
        :class:`~.marginal.MixtureCDFGaussianization` with these parameters on ``x_b``
        (``log σ`` clipped to ``±(1 - 1e-6)·B``, see :func:`~gaussianization.gauss_keras.mixture.pack_mixture`).
        """
        rows = 1 if self.shared_mixture else self.d_b
        shape = (rows, self.num_components)
        arrays = []
        for name, value in (("logits", logits), ("means", means), ("log_scales", log_scales)):
            value = np.asarray(value, dtype="float64")
            if self.shared_mixture and value.size != self.num_components:
                raise ValueError(f"set_constant_parameters: shared {name} must be (K,) or (1, K) with "
                                 f"K={self.num_components}; got shape {value.shape}.")
            try:
                arrays.append(np.broadcast_to(value.reshape(shape) if self.shared_mixture else value, shape))
            except ValueError:
                raise ValueError(f"set_constant_parameters: {name} must have shape {shape} "
                                 f"(d_b, K); got {value.shape}.") from None
        self.set_constant_output(mixture.pack_mixture(*arrays, self.log_scale_bound))

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components,
                "shared_mixture": self.shared_mixture, "log_scale_bound": self.log_scale_bound}
