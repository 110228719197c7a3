"""The standard-normal base NLL as a Keras loss (seed-compatible)."""

from __future__ import annotations

import keras

from .distributions import StandardNormal

_BASE = StandardNormal()


def base_log_prob(z):
    """``log N(z; 0, I)`` per example; ``z`` ``(batch, d)`` → ``(batch,)`` (:class:`StandardNormal`)."""
    return _BASE.log_prob(z)


@keras.saving.register_keras_serializable(package="gaussianization")
def base_nll_loss(y_true, y_pred):
    """Per-example ``-log N(z; 0, I)`` of the latent ``y_pred = z``; ``y_true`` is ignored.

    ``flow.compile(optimizer, loss=base_nll_loss)`` is the seeds' way of training a flow; a
    :class:`~.bijectors.flow.Flow` already trains on its exact NLL
    (``-mean(log p(x))``, :meth:`~.bijectors.flow.Flow.log_prob`), so compiling with this loss
    is the same as compiling with none.
    """
    del y_true
    return -_BASE.log_prob(y_pred)
