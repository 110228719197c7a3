"""The :class:`Transformer` interface (after FlowJAX's transformers and BayesFlow's ``Transform``)."""

from __future__ import annotations


class Transformer:
    """A family of element-wise monotone maps ``y_i = T(x_i; θ_i)``.

    Subclasses implement:

    * ``num_params(d)``: length of the flat parameter vector for ``d`` dimensions;
    * ``unpack(theta, d)``: ``(batch, num_params(d))`` → the parameter tuple the maps take,
      each broadcasting against ``(batch, d, ·)``;
    * ``initial_params(d)``: the flat ``(num_params(d),)`` NumPy vector a layer starts from;
    * ``forward(x, params)`` and ``inverse(y, params)``: ``(output, log|∂output/∂input|)``,
      both ``(batch, d)`` (per dimension, not summed);
    * ``get_config()``; the class must be registered with Keras serialization.

    ``pack`` (constant parameters → flat vector) is optional: the default raises ValueError.
    """

    def num_params(self, dim: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe_num_params(self, dim: int) -> str:
        """The formula of :meth:`num_params` with numbers, for error messages."""
        return str(self.num_params(dim))

    def unpack(self, theta, dim: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def pack(self, *params):
        raise ValueError(f"{type(self).__name__} cannot pack constant parameters.")

    def initial_params(self, dim: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x, params):  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, y, params):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
