"""A normalizing flow: a composition of bijectors with a standard-normal base.

``GaussianizationFlow(layers, input_dim)`` maps data ``x`` to latent
``z = f_L ∘ ⋯ ∘ f_1(x)`` and gives the exact log-density by change of variables::

    log p(x) = log N(f(x); 0, I) + Σ_l log|det J_{f_l}|.

Training: ``flow.compile(optimizer, loss=base_nll_loss)`` (or just
``flow.compile(optimizer)``: the base NLL is the default) then ``flow.fit(X, X)``
(the targets are ignored) or ``flow.fit(X)``. The model output is ``z`` and each
forward pass registers ``-mean(log_det)`` with ``add_loss``, so the loss Keras
minimises is exactly the mean negative log-likelihood ``-mean(log p(x))``.
"""

from __future__ import annotations

import keras
from keras import ops

from ..losses import base_log_prob, base_nll_loss
from ..special import compile_function
from .base import Bijector, check_input


@keras.saving.register_keras_serializable(package="gaussianization")
class GaussianizationFlow(keras.Model):
    """A ``keras.Model`` holding a list of :class:`Bijector` layers applied in order.

    Args:
        layers: the bijectors, first applied first (data side).
        input_dim: data dimension ``d``; inputs are ``(batch, d)``.

    NaN inputs propagate: an example with a NaN coordinate gets NaN ``z`` and
    ``log_prob``; other examples of the batch are unaffected.
    """

    def __init__(self, layers, input_dim: int, **kwargs):
        super().__init__(**kwargs)
        layers = list(layers)
        if not layers:
            raise ValueError("GaussianizationFlow needs at least one bijector layer.")
        bad = [type(layer).__name__ for layer in layers if not isinstance(layer, Bijector)]
        if bad:
            raise ValueError(f"GaussianizationFlow layers must be Bijector instances; got {bad}.")
        if int(input_dim) < 1:
            raise ValueError(f"input_dim must be >= 1; got {input_dim}.")
        self.input_dim = int(input_dim)
        self._bijectors = layers
        self._compiled_inverse = None
        self.build((None, self.input_dim))

    @property
    def bijector_layers(self):
        """The bijectors, in forward (data → latent) order."""
        return list(self._bijectors)

    def build(self, input_shape):
        for layer in self._bijectors:
            if not layer.built:
                layer.build((None, self.input_dim))
                layer.built = True
        self.built = True

    def _check(self, x, who):
        return check_input(x, self.input_dim, f"{type(self).__name__}.{who}")

    # -- maps -----------------------------------------------------------------------
    def forward_and_log_det(self, x):
        """``(z, log_det)``: latent ``(batch, d)`` and total ``log|det J_f(x)|`` ``(batch,)``."""
        x = self._check(x, "forward_and_log_det")
        log_det = ops.zeros_like(x[:, 0])
        for layer in self._bijectors:
            x, ld = layer.forward_and_log_det(x)
            log_det = log_det + ld
        return x, log_det

    def inverse_and_log_det(self, z):
        """``(x, log_det)``: ``x = f⁻¹(z)`` and ``log|det J_{f⁻¹}(z)|``, ``(batch,)``."""
        z = self._check(z, "inverse_and_log_det")
        log_det = ops.zeros_like(z[:, 0])
        for layer in reversed(self._bijectors):
            z, ld = layer.inverse_and_log_det(z)
            log_det = log_det + ld
        return z, log_det

    def call(self, x, training=None):
        z, log_det = self.forward_and_log_det(x)
        self.add_loss(-ops.mean(log_det))
        return z

    def log_prob(self, x):
        """Exact ``log p(x)`` under the flow, shape ``(batch,)``."""
        z, log_det = self.forward_and_log_det(x)
        return base_log_prob(z) + log_det

    def invert(self, z):
        """``x = f⁻¹(z)`` for latent points ``z`` of shape ``(batch, d)`` (run as a compiled graph)."""
        z = self._check(z, "invert")
        if self._compiled_inverse is None:
            self._compiled_inverse = compile_function(lambda t: self.inverse_and_log_det(t)[0], self.input_dim)
        return self._compiled_inverse(z)

    def sample(self, num_samples: int, seed=None):
        """``num_samples`` draws ``x = f⁻¹(z)``, ``z ~ N(0, I)``; shape ``(num_samples, d)``.

        ``seed`` (int) makes the draw reproducible.
        """
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1; got {num_samples}.")
        z = keras.random.normal((int(num_samples), self.input_dim), seed=seed)
        return self.invert(z)

    def forward_with_intermediates(self, x):
        """``[x, f_1(x), f_2(f_1(x)), …, z]``: the input and the state after every bijector."""
        x = self._check(x, "forward_with_intermediates")
        states = [x]
        for layer in self._bijectors:
            states.append(layer.forward(states[-1]))
        return states

    # -- training -------------------------------------------------------------------
    def fit(self, *args, **kwargs):
        """``keras.Model.fit``; the optimizer's slots are created first, so that the
        training step is traced once instead of twice (Adam would otherwise create its
        variables inside the first trace)."""
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.trainable_variables)
        return super().fit(*args, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The exact mean NLL: base NLL of ``z`` (compiled loss, or ``base_nll_loss``
        when compiled without one) plus the ``-mean(log_det)`` added in :meth:`call`.
        ``fit(X)`` passes no targets, which the base NLL does not need."""
        if y is None:
            y = y_pred
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if getattr(self, "loss", None) is None:
            loss = loss + ops.mean(base_nll_loss(y, y_pred))
        return loss

    # -- serialization ------------------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "input_dim": self.input_dim,
            "layers": [keras.saving.serialize_keras_object(layer) for layer in self._bijectors],
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layers = [keras.saving.deserialize_keras_object(c) for c in config.pop("layers")]
        return cls(layers=layers, **config)
