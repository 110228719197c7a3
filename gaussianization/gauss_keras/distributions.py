"""The base distribution of a flow: the standard normal ``N(0, I_d)``."""

from __future__ import annotations

import keras
from keras import ops

from .special import HALF_LOG_2PI


@keras.saving.register_keras_serializable(package="gaussianization")
class StandardNormal:
    """``N(0, I_d)``: ``log_prob(z) = -½‖z‖² - (d/2) log 2π`` per example.

    The one place a flow's base density is written; a flow holds one as ``flow.base``.
    """

    def log_prob(self, z):
        """``z`` ``(batch, d)`` → ``(batch,)``."""
        z = ops.convert_to_tensor(z)
        return -0.5 * ops.sum(ops.square(z), axis=-1) - z.shape[-1] * HALF_LOG_2PI

    def sample(self, num_samples: int, dim: int, seed=None, dtype=None):
        """``(num_samples, dim)`` draws; ``seed`` (int or ``keras.random.SeedGenerator``) as in ``keras.random``."""
        return keras.random.normal((int(num_samples), int(dim)), seed=seed, dtype=dtype)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
