"""Shared fixtures. Plain helpers (``moons``, ``autodiff_log_det``, ...) are functions in
``tests/helpers.py``, imported as ``from .helpers import ...``: a conftest is not importable."""

from __future__ import annotations

from gaussianization.notebook import quiet_tensorflow_import

quiet_tensorflow_import()  # before Keras imports TensorFlow: no start-up notice on stderr

import keras  # noqa: E402
import pytest

from .helpers import moons


@pytest.fixture(autouse=True)
def _restore_floatx():
    """A test that changes ``keras.config.floatx`` or the dtype policy must not leak it into the next one."""
    previous = keras.config.floatx(), keras.config.dtype_policy()
    yield
    keras.config.set_floatx(previous[0])
    keras.config.set_dtype_policy(previous[1])


@pytest.fixture(scope="session")
def moons_2000():
    """2000 standardised two-moons points (seed 0), float32 ``(2000, 2)``; shared: do not modify."""
    x = moons(2000, 0)
    x.setflags(write=False)
    return x
