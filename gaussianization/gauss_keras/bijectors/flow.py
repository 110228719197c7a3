"""A normalizing flow: a bijector ``f`` (data → latent) and a base distribution.

``Flow(layers, input_dim)`` maps data ``x`` to latent ``z = f(x)``, ``f = f_L ∘ ⋯ ∘ f_1``
(a :class:`~.chain.Chain`), and gives the exact log-density by change of variables::

    log p(x) = log p_base(f(x)) + log|det J_f(x)|,      p_base = N(0, I) by default.

Training: ``flow.compile(optimizer)`` (or, as in the seeds, ``loss=base_nll_loss``), then
``flow.fit(X)`` or ``flow.fit(X, X)`` (targets are ignored). The loss is the exact mean negative
log-likelihood ``-mean(log p(x))``, computed in :meth:`Flow.call` from the same
:meth:`Flow.log_prob_from_latent` as :meth:`Flow.log_prob` (plus any regularisation losses).
"""

from __future__ import annotations

import keras
from keras import ops

from .._backend import compile_function
from ..distributions import StandardNormal
from ..losses import base_nll_loss
from .base import Bijector, check_input
from .chain import Chain


@keras.saving.register_keras_serializable(package="gaussianization")
class Flow(keras.Model):
    """A ``keras.Model`` holding a bijector and a base distribution.

    Args:
        layers: a list of :class:`Bijector` (first applied first, composed as a :class:`Chain`)
            or one :class:`Bijector` (e.g. a :class:`Chain`, so flows nest).
        input_dim: data dimension ``d``; inputs are ``(batch, d)``.
        base: base distribution with ``log_prob(z)`` and ``sample(n, d, seed, dtype)``;
            default :class:`~gaussianization.gauss_keras.distributions.StandardNormal`.

    NaN inputs propagate: an example with a NaN coordinate gets NaN ``z`` and ``log_prob``; other
    examples of the batch are unaffected. Raises ValueError for no layers, a non-bijector, or
    ``input_dim < 1``; a loss other than the NLL at :meth:`compile`.
    """

    def __init__(self, layers, input_dim: int, base=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(layers, Bijector):
            self.transform = layers
        else:
            layers = list(layers)
            if not layers:
                raise ValueError(f"{type(self).__name__} needs at least one bijector layer.")
            bad = [type(layer).__name__ for layer in layers if not isinstance(layer, Bijector)]
            if bad:
                raise ValueError(f"{type(self).__name__} layers must be Bijector instances; got {bad}.")
            self.transform = Chain(layers, name="chain")
        if int(input_dim) < 1:
            raise ValueError(f"input_dim must be >= 1; got {input_dim}.")
        self.input_dim = int(input_dim)
        self.base = base if base is not None else StandardNormal()
        self._compiled_inverse = None
        self.build((None, self.input_dim))

    @property
    def bijector_layers(self):
        """The bijectors, in forward (data → latent) order (the chain's entries)."""
        return list(self.transform.bijectors) if isinstance(self.transform, Chain) else [self.transform]

    def build(self, input_shape):
        if not self.transform.built:
            self.transform.build((None, self.input_dim))
            self.transform.built = True
        self.built = True

    def _check(self, x, who):
        return check_input(x, self.input_dim, f"{type(self).__name__}.{who}")

    # -- maps -----------------------------------------------------------------------
    def forward_and_log_det(self, x):
        """``(z, log_det)``: latent ``(batch, d)`` and ``log|det J_f(x)|`` ``(batch,)``."""
        return self.transform.forward_and_log_det(self._check(x, "forward_and_log_det"))

    def inverse_and_log_det(self, z):
        """``(x, log_det)``: ``x = f⁻¹(z)`` and ``log|det J_{f⁻¹}(z)|``, ``(batch,)``."""
        return self.transform.inverse_and_log_det(self._check(z, "inverse_and_log_det"))

    def log_prob_from_latent(self, z, log_det):
        """``log p(x) = log p_base(z) + log|det J_f(x)|`` from ``z = f(x)`` and its log-det."""
        return self.base.log_prob(z) + log_det

    def log_prob(self, x):
        """Exact ``log p(x)`` under the flow, shape ``(batch,)``."""
        return self.log_prob_from_latent(*self.forward_and_log_det(x))

    def call(self, x, training=None):
        """``z = f(x)``; registers the mean NLL ``-mean(log p(x))`` of the batch as the loss."""
        z, log_det = self.forward_and_log_det(x)
        self.add_loss(-ops.mean(self.log_prob_from_latent(z, log_det)))
        return z

    def invert(self, z):
        """``x = f⁻¹(z)`` for latent points ``z`` of shape ``(batch, d)`` (run as a compiled graph)."""
        z = self._check(z, "invert")
        if self._compiled_inverse is None:
            self._compiled_inverse = compile_function(lambda t: self.inverse_and_log_det(t)[0], self.input_dim)
        return self._compiled_inverse(z)

    def sample(self, num_samples: int, seed=None):
        """``num_samples`` draws ``x = f⁻¹(z)``, ``z ~ p_base``; shape ``(num_samples, d)``.

        ``seed`` (int) makes the draw reproducible.
        """
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1; got {num_samples}.")
        return self.invert(self.base.sample(int(num_samples), self.input_dim, seed=seed, dtype=self.compute_dtype))

    def forward_with_intermediates(self, x):
        """``[x, f_1(x), f_2(f_1(x)), …, z]``: the input and the state after every bijector."""
        x = self._check(x, "forward_with_intermediates")
        states = [x]
        for layer in self.bijector_layers:
            states.append(layer.forward(states[-1]))
        return states

    # -- training -------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        """``keras.Model.compile``; the loss is always the exact NLL, so ``loss`` may only be
        None or :func:`~gaussianization.gauss_keras.losses.base_nll_loss` (accepted for the seeds; it adds nothing)."""
        if loss not in (None, base_nll_loss, "base_nll_loss"):
            raise ValueError(f"{type(self).__name__} trains on its exact negative log-likelihood; compile it "
                             f"without a loss (or with loss=base_nll_loss); got loss={loss!r}.")
        super().compile(optimizer=optimizer, loss=None, **kwargs)

    def compile_from_config(self, config):
        """Re-compile a loaded flow from its saved compile config (optimizer state is restored by Keras)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if getattr(self, "optimizer", None) is not None:
            self.optimizer.build(self.trainable_variables)

    def fit(self, *args, **kwargs):
        """``keras.Model.fit``; the optimizer's slots are created first, so that the training step
        is traced once instead of twice (Adam would otherwise create them inside the first trace)."""
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.trainable_variables)
        return super().fit(*args, **kwargs)

    # -- serialization ------------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "layers": [keras.saving.serialize_keras_object(layer) for layer in self.bijector_layers],
            "base": keras.saving.serialize_keras_object(self.base),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layers = [keras.saving.deserialize_keras_object(c) for c in config.pop("layers")]
        base = config.pop("base", None)
        return cls(layers=layers, base=None if base is None else keras.saving.deserialize_keras_object(base), **config)


@keras.saving.register_keras_serializable(package="gaussianization")
class GaussianizationFlow(Flow):
    """The seeds' name of :class:`Flow` (identical behaviour; kept so their code runs unchanged)."""
