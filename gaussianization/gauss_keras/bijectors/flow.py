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

import warnings

import keras
import numpy as np
from keras import ops

from .._backend import compile_function, distribution_scope, num_replicas
from ..distributions import StandardNormal
from ..losses import base_nll_loss
from ..training import StopOnNonFinite
from ..validation import cast_results, check_int, check_seed, nonfinite_rows_message
from .base import Bijector, check_input
from .chain import Chain


#: Stand-in for ``±inf`` input coordinates while the rest of the row is mapped (see
#: :meth:`Flow.forward_and_log_det`): far outside any standardised data, small enough that no layer overflows.
FAR_INPUT = 1e4


@keras.saving.register_keras_serializable(package="gaussianization")
class Flow(keras.Model):
    """A ``keras.Model`` holding a bijector and a base distribution.

    Args:
        layers: a list of :class:`Bijector` (first applied first, composed as a :class:`Chain`)
            or one :class:`Bijector` (e.g. a :class:`Chain`, so flows nest).
        input_dim: data dimension ``d``; inputs are ``(batch, d)``.
        base: base distribution with ``log_prob(z)`` and ``sample(n, d, seed, dtype)``;
            default :class:`~gaussianization.gauss_keras.distributions.StandardNormal`.

    Inputs follow the library's input policy (:mod:`~gaussianization.gauss_keras.validation`): float32
    and float64 as they are, float16/bfloat16 computed in float32 and cast back, ints and bools cast
    to the flow's dtype, lists and other array-likes accepted (also by ``flow(x)``). NaN inputs
    propagate: an example with a NaN coordinate gets NaN ``z`` and ``log_prob``; other examples of the
    batch are unaffected. A row with an infinite coordinate gets ``log_prob = -inf``.

    Raises TypeError for a non-integer ``input_dim`` or an input dtype the policy rejects;
    ValueError for no layers, a non-bijector, ``input_dim < 1``, a wrong input shape, or a loss
    other than the NLL at :meth:`compile`.
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
        self.input_dim = check_int(input_dim, "input_dim", 1, type(self).__name__)
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
        """``(tensor, result_dtype)`` by the library's input policy (:mod:`..validation`)."""
        return check_input(x, self.input_dim, f"{type(self).__name__}.{who}", self.compute_dtype)

    def __call__(self, x, *args, **kwargs):
        """``flow(x)`` also for lists and other array-likes (converted by the input policy)."""
        if not (hasattr(x, "shape") and hasattr(x, "dtype")):
            x = self._check(x, "__call__")[0]
        return super().__call__(x, *args, **kwargs)

    # -- maps -----------------------------------------------------------------------
    def forward_and_log_det(self, x):
        """``(z, log_det)``: latent ``(batch, d)`` and ``log|det J_f(x)|`` ``(batch,)``.

        A row with an infinite coordinate (and no NaN) is a point at infinity: its ``log_det`` is
        ``-inf`` (so ``log_prob`` is ``-inf``) and its ``z`` is ``±inf`` in every coordinate, with the
        signs of the flow's output at the row with ``±inf`` replaced by ``±`` :data:`FAR_INPUT`.
        """
        x, result_dtype = self._check(x, "forward_and_log_det")
        return cast_results(result_dtype, *self._forward_checked(x))

    def _forward_checked(self, x):
        """:meth:`forward_and_log_det` of an input already converted by :meth:`_check`."""
        infinite = ops.any(ops.isinf(x), axis=-1) & ~ops.any(ops.isnan(x), axis=-1)
        proxy = ops.where(ops.isinf(x), ops.sign(x) * FAR_INPUT, x)
        z, log_det = self.transform.forward_and_log_det(proxy)
        rows = ops.expand_dims(infinite, -1)
        z = ops.where(rows, ops.where(z >= 0.0, ops.ones_like(z), -ops.ones_like(z)) * float("inf"), z)
        return z, ops.where(infinite, float("-inf"), log_det)

    def inverse_and_log_det(self, z):
        """``(x, log_det)``: ``x = f⁻¹(z)`` and ``log|det J_{f⁻¹}(z)|``, ``(batch,)``."""
        z, result_dtype = self._check(z, "inverse_and_log_det")
        return cast_results(result_dtype, *self.transform.inverse_and_log_det(z))

    def log_prob_from_latent(self, z, log_det):
        """``log p(x) = log p_base(z) + log|det J_f(x)|`` from ``z = f(x)`` and its log-det."""
        return self.base.log_prob(z) + log_det

    def log_prob(self, x):
        """Exact ``log p(x)`` under the flow, shape ``(batch,)`` (for float16/bfloat16 input computed
        in float32 and rounded once at the end)."""
        x, result_dtype = self._check(x, "log_prob")
        return cast_results(result_dtype, self.log_prob_from_latent(*self._forward_checked(x)))[0]

    def call(self, x, training=None):
        """``z = f(x)``; registers the mean NLL ``-mean(log p(x))`` of the batch as the loss."""
        z, log_det = self.forward_and_log_det(x)
        self.add_loss(-ops.mean(self.log_prob_from_latent(z, log_det)))
        return z

    def invert(self, z):
        """``x = f⁻¹(z)`` for latent points ``z`` of shape ``(batch, d)`` (run as a compiled graph)."""
        z, result_dtype = self._check(z, "invert")
        if self._compiled_inverse is None:
            self._compiled_inverse = compile_function(lambda t: self.inverse_and_log_det(t)[0], self.input_dim,
                                                      self.variables)
        return cast_results(result_dtype, self._compiled_inverse(z))[0]

    def sample(self, num_samples: int, seed=None):
        """``num_samples`` draws ``x = f⁻¹(z)``, ``z ~ p_base``; shape ``(num_samples, d)``.

        ``num_samples``: an int ``≥ 1``; ``seed``: None or an int ``≥ 0`` (NumPy integers accepted)
        makes the draw reproducible. TypeError / ValueError otherwise.
        """
        who = f"{type(self).__name__}.sample"
        num_samples = check_int(num_samples, "num_samples", 1, who)
        seed = check_seed(seed, "seed", who)
        return self.invert(self.base.sample(num_samples, self.input_dim, seed=seed, dtype=self.compute_dtype))

    def forward_with_intermediates(self, x):
        """``[x, f_1(x), f_2(f_1(x)), …, z]``: the input and the state after every bijector."""
        x = self._check(x, "forward_with_intermediates")[0]
        states = [x]
        for layer in self.bijector_layers:
            states.append(layer.forward(states[-1]))
        return states

    # -- training -------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, jit_compile=False, **kwargs):
        """``keras.Model.compile``; the loss is always the exact NLL, so ``loss`` may only be
        None or :func:`~gaussianization.gauss_keras.losses.base_nll_loss` (accepted for the seeds; it adds nothing).

        XLA is opt-in (``jit_compile=False`` by default, not Keras' ``"auto"``): on TensorFlow it
        makes a training step faster (``make profile`` times a step with and without it), but
        compiling the step takes longer than tracing the plain graph (``benchmarks/speed.py`` records
        the compile time), so it pays only for long runs. ``jit_compile=True`` gives the same maths
        (tests/test_xla.py).
        """
        if loss not in (None, base_nll_loss, "base_nll_loss"):
            raise ValueError(f"{type(self).__name__} trains on its exact negative log-likelihood; compile it "
                             f"without a loss (or with loss=base_nll_loss); got loss={loss!r}.")
        super().compile(optimizer=optimizer, loss=None, jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        """Re-compile a loaded flow from its saved compile config (optimizer state is restored by Keras)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if getattr(self, "optimizer", None) is not None:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, *args, stop_on_nonfinite: bool = True, drop_nonfinite: bool = False, **kwargs):
        """``keras.Model.fit`` with two checks; targets ``y`` are ignored (``fit(X, X)`` works).

        * Array data (NumPy arrays, lists, tensors) must be finite: rows with NaN or ±inf raise
          ValueError naming how many and which, unless ``drop_nonfinite=True``, which drops them
          with a ``UserWarning`` saying how many. ``validation_data`` arrays are checked the same way.
        * ``stop_on_nonfinite`` (default True) adds a :class:`~gaussianization.gauss_keras.training.StopOnNonFinite`
          callback: the first non-finite loss or weight stops training with ``FloatingPointError``,
          the last finite weights restored.

        The optimizer's slots are created first, so that the training step is traced once instead
        of twice (Adam would otherwise create them inside the first trace); for a flow built under a
        ``tf.distribute`` strategy they are created in that strategy's scope, so ``fit`` may be called
        outside it. On more than one replica with ``clipnorm``, ``global_clipnorm`` or ``clipvalue``
        set, a ``UserWarning`` says that Keras clips each replica's share of the gradient before the
        shares are summed (book/scaling_out.md).
        """
        if _is_array(x):
            n = len(x)
            x, kept = _finite_training_rows(x, "x", drop_nonfinite)
            if _is_array(y) and kept is not None and len(y) == n:
                y = np.asarray(y)[kept]
        validation = kwargs.get("validation_data")
        for data in (validation if isinstance(validation, tuple) else (validation,)):
            if _is_array(data):
                _finite_training_rows(data, "validation_data", False)
        if stop_on_nonfinite:
            callbacks = list(kwargs.get("callbacks") or [])
            if not any(isinstance(c, StopOnNonFinite) for c in callbacks):
                callbacks.append(StopOnNonFinite())
            kwargs["callbacks"] = callbacks
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            with distribution_scope(self):  # mirrored slots under a tf.distribute strategy
                optimizer.build(self.trainable_variables)
        _warn_if_clipping_per_replica(self, optimizer)
        return super().fit(x, y, *args, **kwargs)

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


def _warn_if_clipping_per_replica(flow, optimizer):
    """UserWarning when Keras would clip each replica's gradient before the all-reduce.

    Keras 3 on TensorFlow applies ``clipnorm``, ``global_clipnorm`` and ``clipvalue`` to every
    replica's share of the gradient before summing the shares (``keras.optimizers`` clips in
    ``_backend_apply_gradients``, ahead of the all-reduce in ``_backend_update_step``), so the
    same recipe trains differently on 1 and on several devices whenever clipping is active.
    """
    if optimizer is None or num_replicas(flow) < 2:
        return
    clipping = {name: getattr(optimizer, name, None) for name in ("clipnorm", "global_clipnorm", "clipvalue")}
    clipping = {name: value for name, value in clipping.items() if value is not None}
    if clipping:
        settings = ", ".join(f"{name}={value}" for name, value in clipping.items())
        warnings.warn(
            f"{type(flow).__name__}.fit on {num_replicas(flow)} replicas with {settings}: Keras clips each "
            "replica's share of the gradient before the shares are summed, so training differs from one "
            "device whenever clipping is active (book/scaling_out.md). Train without gradient clipping "
            "to get the one-device trajectory.", UserWarning, stacklevel=3)


def _is_array(data) -> bool:
    """Whether ``fit`` data is an in-memory array (checked up front), not a dataset or generator."""
    return isinstance(data, (list, np.ndarray)) or (hasattr(data, "shape") and hasattr(data, "dtype")
                                                     and not isinstance(data, keras.utils.PyDataset))


def _finite_training_rows(x, name, drop):
    """``(x, kept)``: ``x`` unchanged when finite (``kept`` None); else ValueError, or with ``drop``
    the finite rows and their indices (with a UserWarning)."""
    array = np.asarray(x)
    if array.dtype.kind != "f" or array.ndim != 2:
        return x, None
    finite = np.isfinite(array).all(axis=1)
    if finite.all():
        return x, None
    bad = np.flatnonzero(~finite)
    message = nonfinite_rows_message(bad, name, array.shape[0])
    if not drop:
        raise ValueError(f"Flow.fit: {message}. Remove them, or pass drop_nonfinite=True to train without them.")
    warnings.warn(f"Flow.fit: dropped {len(bad)} rows with NaN or infinite values ({message}).", UserWarning,
                  stacklevel=3)
    kept = np.flatnonzero(finite)
    return array[kept], kept


@keras.saving.register_keras_serializable(package="gaussianization")
class GaussianizationFlow(Flow):
    """The seeds' name of :class:`Flow` (identical behaviour; kept so their code runs unchanged)."""
