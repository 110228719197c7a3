"""Composition of bijectors: ``Chain([f_1, …, f_L])`` is ``f_L ∘ ⋯ ∘ f_1``."""

from __future__ import annotations

import keras

from .base import Bijector, zero_log_det


@keras.saving.register_keras_serializable(package="gaussianization")
class Chain(Bijector):
    """``z = f_L(⋯ f_1(x))`` with ``log|det J| = Σ_l log|det J_{f_l}|``; a chain is a bijector,
    so chains nest.

    Args:
        bijectors: non-empty list of :class:`Bijector`, first applied first (data side).

    The inverse applies ``f_L⁻¹`` first. Raises ValueError for an empty list or a non-bijector.
    """

    def __init__(self, bijectors, **kwargs):
        super().__init__(**kwargs)
        bijectors = list(bijectors)
        if not bijectors:
            raise ValueError("Chain needs at least one bijector.")
        bad = [type(b).__name__ for b in bijectors if not isinstance(b, Bijector)]
        if bad:
            raise ValueError(f"Chain entries must be Bijector instances; got {bad}.")
        self.bijectors = bijectors

    def build_for_dim(self, dim):
        for bijector in self.bijectors:
            if not bijector.built:
                bijector.build((None, dim))
                bijector.built = True

    def _forward(self, x):
        log_det = zero_log_det(x)
        for bijector in self.bijectors:
            x, ld = bijector.forward_and_log_det(x)
            log_det = log_det + ld
        return x, log_det

    def _inverse(self, z):
        log_det = zero_log_det(z)
        for bijector in reversed(self.bijectors):
            z, ld = bijector.inverse_and_log_det(z)
            log_det = log_det + ld
        return z, log_det

    def forward_with_intermediates(self, x):
        """``[x, f_1(x), f_2(f_1(x)), …]``: the input and the state after every bijector."""
        states = [self._ensure_built(x)[0]]
        for bijector in self.bijectors:
            states.append(bijector.forward(states[-1]))
        return states

    def get_config(self):
        return {**super().get_config(),
                "bijectors": [keras.saving.serialize_keras_object(b) for b in self.bijectors]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["bijectors"] = [keras.saving.deserialize_keras_object(c) for c in config["bijectors"]]
        return cls(**config)
