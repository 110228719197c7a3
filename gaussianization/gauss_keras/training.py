"""Training helpers for flows: noisy mini-batches and a held-out likelihood history.

:class:`NoisyBatches` feeds ``fit`` with input-noise-regularised mini-batches. Every
epoch it draws a fresh permutation ``π`` of the ``n`` training points and fresh noise::

    x̃_j = x_{π(j)} + σ ⊙ ε_j,    ε_j ~ N(0, I_d),    σ ∈ ℝ^d (or a scalar),

then serves ``x̃`` in consecutive batches of ``batch_size`` rows (the last one shorter).
A model fitted to ``x̃`` fits the smoothed density ``p_σ = p * N(0, diag σ²)`` rather
than ``p``; even a perfect fit then pays ``KL(p || p_σ)`` on clean data. Across a
direction in which ``p`` is Gaussian with scale ``s`` (e.g. across a curve blurred by
noise of scale ``s``), ``p_σ`` has scale ``√(s² + σ²)`` and the cost is
``½[log(1 + r) - r/(1 + r)] ≈ r²/4`` with ``r = σ²/s²``: it grows like ``σ⁴``, so small
noise costs almost nothing, and it keeps a flow from shrinking its density onto the
training points. Noise is added only during
``fit``: evaluation and ``log_prob`` see the data as they are.

:class:`NLLHistory` is a callback that, every ``every`` epochs, records the exact mean
negative log-likelihood ``-(1/m) Σ log q(x_i)`` of a flow on named data sets (e.g. the
clean training set and a test subset), with one compiled evaluation of ``log_prob`` per set.

:class:`StopOnNonFinite` stops ``fit`` with a ``FloatingPointError`` the first time the loss or a
weight is NaN or infinite, and puts back the last finite weights; :meth:`Flow.fit
<gaussianization.gauss_keras.Flow.fit>` adds it unless ``stop_on_nonfinite=False``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ._backend import compile_function
from .validation import check_int, check_seed, finite_rows

__all__ = ["NLLHistory", "NoisyBatches", "StopOnNonFinite"]


class NoisyBatches(keras.utils.PyDataset):
    """Shuffled mini-batches of ``x + σ ⊙ ε`` with new noise every epoch, for ``flow.fit``.

    Args:
        x: training data ``(n, d)``, finite.
        noise_std: ``σ``, a scalar or a ``(d,)`` array of standard deviations ``≥ 0``
            (``0`` gives plain shuffled batches).
        batch_size: rows per batch; an epoch has ``⌈n / batch_size⌉`` batches.
        seed: seed of the NumPy generator that draws the permutations and the noise,
            so a run is reproducible.
        **kwargs: passed to ``keras.utils.PyDataset`` (``workers``, ...).

    Each item is a float32 ``(batch, d)`` array (inputs only: a flow's ``fit`` needs
    no targets). An epoch's batches are drawn together, so items can be read in any
    order and as often as needed; ``on_epoch_end`` draws the next epoch.
    """

    def __init__(self, x, noise_std=0.0, batch_size: int = 512, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        x = finite_rows(x, "x", "NoisyBatches", dtype="float32")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"NoisyBatches: x must have shape (n, d) with n, d >= 1; got {x.shape}.")
        std = np.asarray(noise_std, dtype="float64")
        if std.ndim > 1 or (std.ndim == 1 and std.shape[0] != x.shape[1]):
            raise ValueError(f"NoisyBatches: noise_std must be a scalar or have shape ({x.shape[1]},); "
                             f"got shape {std.shape}.")
        if not (np.all(np.isfinite(std)) and np.all(std >= 0.0)):
            raise ValueError(f"NoisyBatches: noise_std must be finite and >= 0; got {std.tolist()}.")
        self.x = x
        self.noise_std = np.broadcast_to(std, (x.shape[1],)).astype("float32")
        self.batch_size = check_int(batch_size, "batch_size", 1, "NoisyBatches")
        self._rng = np.random.default_rng(check_seed(seed, "seed", "NoisyBatches"))
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(self.x.shape[0] / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"NoisyBatches has {len(self)} batches; got index {index}.")
        start = index * self.batch_size
        return self._epoch[start:start + self.batch_size]

    def on_epoch_end(self):
        """Draw the next epoch: a new permutation ``π`` and new noise ``σ ⊙ ε``."""
        self.permutation = self._rng.permutation(self.x.shape[0])
        noise = self._rng.standard_normal(self.x.shape).astype("float32")
        self._epoch = self.x[self.permutation] + self.noise_std * noise


class NLLHistory(keras.callbacks.Callback):
    """Record a flow's exact mean NLL on named data sets every ``every`` epochs.

    Args:
        data: ``{name: (m, d) array}``, e.g. ``{"train": X, "test": X_test[:5000]}``.
        every: evaluate after epochs ``every, 2·every, ...`` (counted from 1 in each ``fit``).

    After training, ``epochs`` lists the recorded epochs and ``history[name]`` the
    values ``-(1/m) Σ_i log q(x_i)`` in nats: the exact mean over the whole set, computed by
    one compiled graph (traced once per ``fit``) that evaluates ``model.log_prob``.
    """

    def __init__(self, data, every: int = 10):
        super().__init__()
        if not data:
            raise ValueError("NLLHistory needs at least one named data set.")
        self.data = {name: finite_rows(x, f"data[{name!r}]", "NLLHistory", dtype="float32") for name, x in data.items()}
        self.every = check_int(every, "every", 1, "NLLHistory")
        self.epochs = []
        self.history = {name: [] for name in self.data}
        self._mean_nll = None

    def on_train_begin(self, logs=None):
        model = self.model
        self._mean_nll = compile_function(lambda x: -ops.mean(model.log_prob(x)), getattr(model, "input_dim", None),
                                          model.variables)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        self.epochs.append(epoch + 1)
        for name, x in self.data.items():
            self.history[name].append(float(ops.convert_to_numpy(self._mean_nll(x))))


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop training the first time the loss or a trainable weight is not finite.

    Every training step's loss is read as it completes (Keras runs this check in its callback
    thread, so training does not wait for it); at the end of every epoch every trainable weight is
    checked too (on the copy that is saved). At the first NaN or ±inf loss the callback asks Keras to
    stop; at the end of that epoch it restores the weights saved at the end of the last good epoch
    (or at the start of ``fit``) and raises ``FloatingPointError`` naming the epoch, the step and the
    loss. :meth:`Flow.fit <gaussianization.gauss_keras.Flow.fit>` adds one by default, so a flow is
    never left with NaN weights.
    """

    #: Keras may run :meth:`on_train_batch_end` in a worker thread: it only reads the loss.
    async_safe = True

    def __init__(self):
        super().__init__()
        self._saved = None
        self._saved_at = "the start of training"
        self._epoch = 0
        self._first_bad = None

    def on_train_begin(self, logs=None):
        self._saved = self.model.get_weights()
        self._saved_at = "the start of training"
        self._first_bad = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = None if logs is None else logs.get("loss")
        if loss is None or self._first_bad is not None:
            return
        loss = float(np.asarray(ops.convert_to_numpy(loss)))
        if not math.isfinite(loss):
            self._first_bad = f"at epoch {self._epoch + 1}, step {batch + 1}: the loss became {loss}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        weights = self.model.get_weights()
        if self._first_bad is None and not all(np.isfinite(w).all() for w in weights):
            self._first_bad = f"at the end of epoch {epoch + 1}: a weight became NaN or infinite"
        if self._first_bad is not None:
            self.model.set_weights(self._saved)
            self.model.stop_training = True
            raise FloatingPointError(
                f"Training stopped {self._first_bad}. The weights were restored to those at {self._saved_at}. "
                f"Usual causes: NaN, infinite or extreme values in the data (flow.log_prob(x) is -inf or NaN "
                f"for such rows), unstandardised data, or too large a learning rate. Pass "
                f"stop_on_nonfinite=False to Flow.fit to train without this check.")
        self._saved = weights
        self._saved_at = f"the end of epoch {epoch + 1}"
