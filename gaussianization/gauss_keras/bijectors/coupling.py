"""Coupling bijectors: one part of the coordinates conditions the map of the other part.

A boolean ``mask`` of length ``d`` splits ``x`` (``(batch, d)``) into the identity
(conditioning) part ``x_a = x[:, mask]`` and the transformed part ``x_b = x[:, ~mask]``. A
conditioner network reads ``x_a`` and outputs the parameters ``θ(x_a)`` of an element-wise
monotone map (a :class:`~gaussianization.gauss_keras.transformers.Transformer`) of ``x_b``::

    z_a = x_a,    z_b = T(x_b; θ(x_a)),    log|det J| = Σ_{i∈b} log ∂T_i/∂x_{b,i}.

The Jacobian is block-triangular, so the conditioner's own Jacobian never enters the
determinant (Dinh et al. 2017, "Density estimation using Real NVP"). The conditioner is
``θ = head(trunk(x_a))``: the user supplies the trunk (any Keras layer, or the default MLP)
and the coupling builds the head, a Dense layer with a zero kernel whose bias is the
transformer's initial parameters, so at initialisation every ``x_a`` gets the same map.
A complete conditioner that already outputs all ``num_params(d_b)`` values is accepted too.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..conditioners import make_mlp_trunk
from ..transformers import MixtureCDF, Transformer
from ..transformers.mixture_cdf import DEFAULT_LOG_SCALE_BOUND
from ..validation import check_hidden
from .base import Bijector

#: The conditioner network reads ``clip(x_a, ±CONDITIONER_INPUT_BOUND)``: standardised data never
#: come near it, and a finite input of any size (up to the float maximum) cannot overflow the network.
#: The map stays triangular, so it is still a bijection with the same log-det formula.
CONDITIONER_INPUT_BOUND = 1e6


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


def default_half_mask(dim: int):
    """The first ``⌈d/2⌉`` dimensions True (identity), the rest False: ``[True, False]`` for d = 2."""
    if int(dim) < 2:
        raise ValueError(f"a coupling mask needs d >= 2; got {dim}.")
    return np.arange(int(dim)) < (int(dim) + 1) // 2


def _readonly(a):
    a = np.array(a, dtype="int64")
    a.setflags(write=False)
    return a


def _linear_head(conditioner):
    """The final Dense of a complete conditioner when it provably produces the output
    (a ``Sequential`` ending in a Dense without activation), else None."""
    if isinstance(conditioner, keras.Sequential) and conditioner.layers:
        last = conditioner.layers[-1]
        if isinstance(last, keras.layers.Dense) and last.use_bias and last.activation is keras.activations.linear:
            return last
    return None


@keras.saving.register_keras_serializable(package="gaussianization")
class Coupling(Bijector):
    """``z_a = x_a``, ``z_b = T(x_b; θ(x_a))`` for a :class:`~gaussianization.gauss_keras.transformers.Transformer` ``T``.

    Args:
        mask: length-``d`` booleans, ``True`` = identity/conditioning part, ``False`` =
            transformed part; neither all True nor all False.
        transformer: the element-wise map and its parametrisation.
        conditioner: optional complete conditioner ``(batch, d_a) → (batch, num_params(d_b))``
            (seed-compatible); its width is checked at build.
        trunk: optional Keras layer ``(batch, d_a) → (batch, h)``, any ``h``; the coupling adds
            the zero-kernel head. Default: :func:`~gaussianization.gauss_keras.conditioners.make_mlp_trunk` of ``hidden``, ``activation``.

    Raises ValueError for a bad mask, both ``conditioner`` and ``trunk``, or (at build) a
    conditioner whose width is not ``num_params(d_b)`` (naming both widths).
    """

    def __init__(self, mask, transformer, conditioner=None, *, trunk=None, hidden=(64, 64), activation="tanh",
                 **kwargs):
        super().__init__(**kwargs)
        who = type(self).__name__
        self.mask = as_mask(mask, who)
        if not isinstance(transformer, Transformer):
            raise ValueError(f"{who}: transformer must be a Transformer; got {type(transformer).__name__}.")
        self.transformer = transformer
        for label, net in (("conditioner", conditioner), ("trunk", trunk)):
            if net is not None and not isinstance(net, keras.layers.Layer):
                raise ValueError(f"{who}: {label} must be a keras Layer or Model; got {type(net).__name__}.")
        if conditioner is not None and trunk is not None:
            raise ValueError(f"{who}: pass either a complete conditioner or a trunk, not both.")
        self._identity = _readonly(np.flatnonzero(self.mask))
        self._transformed = _readonly(np.flatnonzero(~self.mask))
        self._merge_order = _readonly(np.argsort(np.concatenate([self._identity, self._transformed])))
        self.hidden, self.activation = check_hidden(hidden, "hidden", who), activation
        self.conditioner, self.trunk, self.head = conditioner, None, None
        if conditioner is None:
            self.trunk = trunk if trunk is not None else make_mlp_trunk(self.hidden, activation, dtype=self.dtype_policy,
                                                                        name="trunk")
            bias = keras.initializers.Constant(self.transformer.initial_params(self.d_b).tolist())
            self.head = keras.layers.Dense(self.num_params, kernel_initializer="zeros", bias_initializer=bias,
                                           dtype=self.dtype_policy, name="head")

    # -- structure ------------------------------------------------------------------
    @property
    def identity_indices(self):
        """Indices of the identity (conditioning) part ``x_a``, ascending (read-only array)."""
        return self._identity

    @property
    def transformed_indices(self):
        """Indices of the transformed part ``x_b``, ascending (read-only array)."""
        return self._transformed

    d_a = property(lambda self: int(self._identity.size), doc="Width of the identity part.")
    d_b = property(lambda self: int(self._transformed.size), doc="Width of the transformed part.")
    num_params = property(lambda self: self.transformer.num_params(self.d_b),
                          doc="Width of θ(x_a): the transformer's parameter count for d_b dimensions.")

    def build_for_dim(self, dim):
        who = type(self).__name__
        if dim != self.mask.size:
            raise ValueError(f"{who}: mask has length {self.mask.size} but the input width is d={dim}.")
        spec = keras.KerasTensor((None, self.d_a), dtype=self.compute_dtype)
        if self.conditioner is not None:
            shape = tuple(self.conditioner(spec).shape)
            if len(shape) != 2 or shape[-1] != self.num_params:
                raise ValueError(
                    f"{who}: conditioner output width mismatch: expected {self.num_params} "
                    f"({self.transformer.describe_num_params(self.d_b)}, with d_a={self.d_a}, d_b={self.d_b}), "
                    f"but the conditioner maps (None, {self.d_a}) to shape {shape} (width {shape[-1]})."
                )
            return
        shape = (None, self.d_a) if self.trunk is None else tuple(self.trunk(spec).shape)
        if len(shape) != 2 or shape[-1] is None:
            raise ValueError(f"{who}: the trunk must map (None, {self.d_a}) to a (None, h) tensor; got shape {shape}.")
        self.head.build(shape)

    # -- split / merge ----------------------------------------------------------------
    def split(self, x):
        """``(x_a, x_b)`` = identity and transformed columns of ``x`` (``(batch, d)``)."""
        return ops.take(x, self._identity, axis=1), ops.take(x, self._transformed, axis=1)

    def merge(self, x_a, x_b):
        """Inverse of :meth:`split`: ``(batch, d)`` with the columns back in mask order."""
        return ops.take(ops.concatenate([x_a, x_b], axis=1), self._merge_order, axis=1)

    def conditioner_output(self, x_a):
        """``θ(x_a)`` of shape ``(batch, num_params)`` in ``x_a``'s dtype.

        The network reads ``x_a`` clipped to ``±``:data:`CONDITIONER_INPUT_BOUND`, so no finite
        input overflows it (NaN stays NaN); the coupling stays a bijection with the same log-det.
        """
        x_a = ops.clip(x_a, -CONDITIONER_INPUT_BOUND, CONDITIONER_INPUT_BOUND)
        if self.conditioner is not None:
            theta = self.conditioner(x_a)
        else:
            theta = self.head(x_a if self.trunk is None else self.trunk(x_a))
        return ops.cast(theta, x_a.dtype)

    def transformer_parameters(self, x_a):
        """The transformer's parameters at ``x_a`` (:meth:`Transformer.unpack` of ``θ(x_a)``)."""
        return self.transformer.unpack(self.conditioner_output(x_a), self.d_b)

    # -- maps -----------------------------------------------------------------------
    def _forward(self, x):
        x_a, x_b = self.split(x)
        z_b, log_dz = self.transformer.forward(x_b, self.transformer_parameters(x_a))
        return self.merge(x_a, z_b), ops.sum(log_dz, axis=-1)

    def _inverse(self, z):
        z_a, z_b = self.split(z)
        x_b, log_dx = self.transformer.inverse(z_b, self.transformer_parameters(z_a))
        return self.merge(z_a, x_b), ops.sum(log_dx, axis=-1)

    # -- constant conditioner ------------------------------------------------------------
    def set_constant_output(self, values):
        """Make ``θ(x_a) = values`` for every ``x_a``: head kernel := 0, head bias := ``values``.

        ``values``: ``(num_params,)``. Needs a built layer whose head is known: the coupling's own,
        or the final Dense of a ``Sequential`` conditioner with no activation after it
        (ValueError otherwise, and for a wrong length).
        """
        who = type(self).__name__
        if not self.built:
            raise ValueError(f"{who}: build the layer before setting constant parameters.")
        head = self.head if self.conditioner is None else _linear_head(self.conditioner)
        if head is None:
            raise ValueError(f"{who}: the conditioner ({type(self.conditioner).__name__}) does not end in a known "
                             f"linear head, so its output cannot be set to constants; pass trunk=... instead, and the "
                             f"coupling builds and owns the head.")
        values = np.asarray(values, dtype="float64").reshape(-1)
        if values.shape != (self.num_params,):
            raise ValueError(f"{who}: constant output must have {self.num_params} values; got {values.size}.")
        head.kernel.assign(np.zeros(head.kernel.shape, dtype=head.kernel.dtype))
        head.bias.assign(values.astype(head.bias.dtype))

    # -- serialization ------------------------------------------------------------
    def get_config(self):
        config = {**super().get_config(), "mask": self.mask.tolist()}
        if type(self) is Coupling:
            config["transformer"] = keras.saving.serialize_keras_object(self.transformer)
        if self.conditioner is not None:
            config["conditioner"] = keras.saving.serialize_keras_object(self.conditioner)
        elif self.trunk is not None:
            config["trunk"] = keras.saving.serialize_keras_object(self.trunk)
        else:
            config["hidden"] = []
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("transformer", "conditioner", "trunk"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


@keras.saving.register_keras_serializable(package="gaussianization")
class MixtureCDFCoupling(Coupling):
    """Coupling whose transformer is the mixture-CDF Gaussianization (:class:`~gaussianization.gauss_keras.transformers.MixtureCDF`).

    ``z_b,i = Φ⁻¹(F_i(x_b,i; θ_i(x_a)))``; log-det ``Σ_{i∈b} [log f_i(x_b,i) - log φ(z_b,i)]``.
    ``θ`` has ``3·d_b·K`` values (``3·K`` with ``shared_mixture``: one mixture for all of
    ``x_b``), and ``log σ = B·tanh(raw)``. The inverse solves ``F_i(x) = Φ(z)`` by the bracketed
    solver of :func:`~gaussianization.gauss_keras.mixture.ungaussianize` with ``θ(z_a)``.

    Args:
        mask, conditioner, trunk, hidden, activation: see :class:`Coupling`.
        num_components: ``K ≥ 1``.
        shared_mixture: one mixture for all transformed dimensions.
        log_scale_bound: ``B > 0``.
    """

    def __init__(self, mask, conditioner=None, num_components: int = 8, shared_mixture: bool = False,
                 log_scale_bound: float = DEFAULT_LOG_SCALE_BOUND, **kwargs):
        kwargs.pop("transformer", None)
        transformer = MixtureCDF(num_components, shared_mixture, log_scale_bound)  # checks the arguments
        super().__init__(mask, transformer, conditioner, **kwargs)

    num_components = property(lambda self: self.transformer.num_components, doc="K.")
    shared_mixture = property(lambda self: self.transformer.shared, doc="One mixture for all of x_b.")
    log_scale_bound = property(lambda self: self.transformer.log_scale_bound, doc="B of log σ = B·tanh(raw).")

    def mixture_parameters(self, theta):
        """``(logits, means, log_scales)`` from a conditioner output, each ``(batch, d_b or 1, K)``."""
        return self.transformer.unpack(theta, self.d_b)

    def set_constant_parameters(self, logits, means, log_scales):
        """Make the coupling ignore ``x_a``: the same mixture for every example.

        Each argument is ``(d_b, K)`` (or broadcasts to it, e.g. ``(K,)``); with
        ``shared_mixture`` it must be ``(K,)`` or ``(1, K)``. Sets the head to "kernel = 0,
        bias = packed parameters" (:meth:`~gaussianization.gauss_keras.transformers.MixtureCDF.pack`; ``log σ`` clipped to
        ``±(1 - 10⁻⁶)·B``), so the layer equals :class:`~.marginal.MixtureCDFGaussianization`
        with these parameters on ``x_b``.
        """
        rows = self.transformer.rows(self.d_b)
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
        self.set_constant_output(self.transformer.pack(*arrays))

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components,
                "shared_mixture": self.shared_mixture, "log_scale_bound": self.log_scale_bound}
