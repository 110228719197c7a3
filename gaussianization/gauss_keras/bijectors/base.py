"""The :class:`Bijector` base layer: a differentiable bijection with its log-det.

Conventions used by every bijector of the library:

* **forward** maps data ``x`` to latent ``z``; **inverse** maps ``z`` back to ``x``;
* inputs are rank-2 tensors ``(batch, d)``; ``d`` is fixed at build time;
* ``log_det`` is ``log |det J|`` of the map that was applied, **per example**,
  shape ``(batch,)``; the inverse's log-det is minus the forward one.

Input checks (dtype policy, rank, width) live here, so subclasses implement only the maths in
``_forward(x)`` and ``_inverse(z)``, each returning ``(output, log_det)``.
"""

from __future__ import annotations

import keras
from keras import ops

from .._backend import compile_eager
from ..validation import as_float_input, cast_results


def check_input(x, expected_dim: int | None, who: str, compute_dtype=None):
    """``(tensor, result_dtype)``: ``x`` by the input policy of :mod:`..validation` (floats as they are,
    float16/bfloat16 promoted to float32 with ``result_dtype`` naming the dtype to cast results back
    to, ints and bools cast to ``compute_dtype``), checked to be ``(batch, expected_dim)``.

    Raises TypeError for a dtype the policy rejects, ValueError for a wrong rank or width.
    """
    x, result_dtype = as_float_input(x, compute_dtype or keras.config.floatx(), who)
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ValueError(
            f"{who} expects a rank-2 input of shape (batch, d); got rank {len(shape)} with shape {shape}."
        )
    if expected_dim is not None and shape[-1] is not None and shape[-1] != expected_dim:
        raise ValueError(
            f"{who} was built for inputs of width d={expected_dim}; got an input of width {shape[-1]} "
            f"(shape {shape})."
        )
    return x, result_dtype


class Bijector(keras.layers.Layer):
    """Base class of all bijective layers: ``z, log_det = forward_and_log_det(x)``.

    Calling the layer, ``bijector(x)``, returns ``z`` only (``bijector(z, inverse=True)``
    returns ``x``). Subclasses implement
    ``build_for_dim(d)`` (create weights), ``_forward(x)`` and ``_inverse(z)``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = None
        # Every bijector is XLA-safe (tests/test_xla.py); whether a Flow is compiled with XLA
        # is decided by Flow.compile, where it is opt-in.
        self.supports_jit = True

    # -- building -----------------------------------------------------------------
    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 2:
            raise ValueError(
                f"{self.__class__.__name__} expects inputs of shape (batch, d); got shape {shape}."
            )
        if shape[-1] is None:
            raise ValueError(f"{self.__class__.__name__} needs a known input width d; got shape {shape}.")
        self.input_dim = int(shape[-1])
        self.build_for_dim(self.input_dim)

    def build_for_dim(self, dim: int):
        """Create the weights for inputs of width ``dim`` (override)."""

    def _ensure_built(self, x):
        """``(tensor, result_dtype)`` of :func:`check_input`; builds the layer on first use."""
        x, result_dtype = check_input(x, self.input_dim, self.__class__.__name__, self.compute_dtype)
        if not self.built:
            self.build(tuple(x.shape))
            self.built = True
        return x, result_dtype

    def _compiled_map(self, name):
        """``self._forward`` or ``self._inverse`` through :func:`~.._backend.compile_eager` (compiled
        once per input shape on JAX, made on first use of the built layer)."""
        owner, compiled = self.__dict__.get("_compiled_maps", (None, {}))
        if owner is not self:  # first use, or a copy of a layer that had compiled its maps
            owner, compiled = self.__dict__["_compiled_maps"] = (self, {})
        if name not in compiled:
            compiled[name] = compile_eager(getattr(self, name), self.variables)
        return compiled[name]

    # -- public API -----------------------------------------------------------------
    def call(self, x, inverse: bool = False):
        """``bijector(x)`` is ``forward(x)``; ``bijector(z, inverse=True)`` is ``inverse(z)``."""
        return self.inverse(x) if inverse else self.forward(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward_and_log_det(self, x):
        """``(z, log_det)`` with ``z = f(x)`` of shape ``(batch, d)`` and ``log_det`` ``(batch,)``."""
        x, result_dtype = self._ensure_built(x)
        return cast_results(result_dtype, *self._compiled_map("_forward")(x))

    def inverse_and_log_det(self, z):
        """``(x, log_det)`` with ``x = f⁻¹(z)``; ``log_det = log|det J_{f⁻¹}(z)|``, ``(batch,)``."""
        z, result_dtype = self._ensure_built(z)
        return cast_results(result_dtype, *self._compiled_map("_inverse")(z))

    def forward(self, x):
        """``z = f(x)``, shape ``(batch, d)``."""
        return self.forward_and_log_det(x)[0]

    def inverse(self, z):
        """``x = f⁻¹(z)``, shape ``(batch, d)``."""
        return self.inverse_and_log_det(z)[0]

    # -- to implement ---------------------------------------------------------------
    def _forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _inverse(self, z):  # pragma: no cover - abstract
        raise NotImplementedError


def zero_log_det(x):
    """A ``(batch,)`` vector of zeros matching ``x``'s batch size and dtype."""
    return ops.zeros_like(x[:, 0])
