"""Losses and the standard-normal base density."""

from __future__ import annotations

import keras
from keras import ops

from .special import HALF_LOG_2PI


def base_log_prob(z):
    """``log N(z; 0, I) = -½‖z‖² - (d/2) log 2π`` per example; ``z`` ``(batch, d)`` → ``(batch,)``."""
    z = ops.convert_to_tensor(z)
    return -0.5 * ops.sum(ops.square(z), axis=-1) - z.shape[-1] * HALF_LOG_2PI


@keras.saving.register_keras_serializable(package="gaussianization")
def base_nll_loss(y_true, y_pred):
    """Per-example ``-log N(z; 0, I)`` of the latent ``y_pred = z``; ``y_true`` is ignored.

    Keras averages it over the batch. Together with the ``-mean(log_det)`` that
    :class:`GaussianizationFlow` adds in its forward pass, the training loss is
    the exact mean negative log-likelihood of the data.
    """
    del y_true
    return -base_log_prob(y_pred)
