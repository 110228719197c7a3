"""Invariants every bijector must satisfy, run over the whole registry."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from gaussianization.gauss_keras import GaussianizationFlow

from .bijector_registry import REGISTRY, make
from .helpers import autodiff_log_det, numpy

NAMES = sorted(REGISTRY)
DIMS = [1, 2, 3, 5]


def inputs(dim, n=64, dtype="float32", seed=1, scale=2.0):
    return (scale * np.random.default_rng(seed).standard_normal((n, dim))).astype(dtype)


def width(layer):
    return layer.input_dim


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dim", DIMS)
def test_shapes_and_dtypes(name, dim):
    layer = make(name, dim)
    x = inputs(width(layer))
    z, log_det = layer.forward_and_log_det(x)
    assert tuple(z.shape) == x.shape and keras.backend.standardize_dtype(z.dtype) == "float32"
    assert tuple(log_det.shape) == (x.shape[0],)
    back, inv_log_det = layer.inverse_and_log_det(z)
    assert tuple(back.shape) == x.shape and tuple(inv_log_det.shape) == (x.shape[0],)
    assert tuple(layer(x).shape) == x.shape


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dim", DIMS)
def test_round_trip_float32(name, dim):
    layer = make(name, dim)
    x = inputs(width(layer), n=256, scale=3.0)
    back = numpy(layer.inverse(layer.forward(x)))
    err = np.abs(back - x).max(axis=1)
    assert err.max() <= 1e-4 and np.median(err) <= 1e-5, (err.max(), np.median(err))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dim", [1, 3])
def test_round_trip_float64(name, dim):
    layer = make(name, dim, dtype="float64")
    x = inputs(width(layer), n=128, dtype="float64", scale=3.0)
    back = numpy(layer.inverse(layer.forward(x)))
    assert np.abs(back - x).max() <= 1e-10


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dim", [1, 2, 4])
def test_log_det_matches_autodiff_jacobian(name, dim):
    layer = make(name, dim, dtype="float64", seed=3)
    assert all(w.dtype == "float64" for w in layer.weights)
    x = inputs(width(layer), n=32, dtype="float64", seed=4, scale=2.5)
    _, log_det = layer.forward_and_log_det(x)
    expected = autodiff_log_det(lambda t: layer.forward_and_log_det(t)[0], x)
    np.testing.assert_allclose(numpy(log_det), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dim", [1, 3])
def test_inverse_log_det_is_minus_forward(name, dim):
    layer = make(name, dim, dtype="float64", seed=5)
    x = inputs(width(layer), n=64, dtype="float64", seed=6)
    z, log_det = layer.forward_and_log_det(x)
    _, inv_log_det = layer.inverse_and_log_det(z)
    np.testing.assert_allclose(numpy(inv_log_det), -numpy(log_det), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_get_config_round_trip(name):
    layer = make(name, 3)
    clone = type(layer).from_config(layer.get_config())
    clone.build((None, width(layer)))
    clone.set_weights(layer.get_weights())
    x = inputs(width(layer))
    np.testing.assert_array_equal(numpy(clone.forward(x)), numpy(layer.forward(x)))


@pytest.mark.parametrize("name", NAMES)
def test_keras_save_load_gives_identical_outputs(name, tmp_path):
    layer = make(name, 2)
    flow = GaussianizationFlow([layer], input_dim=width(layer))
    x = inputs(width(layer))
    path = tmp_path / f"{name}.keras"
    flow.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(numpy(loaded.log_prob(x)), numpy(flow.log_prob(x)))
    # The eager inverse: a compiled `invert` (tested on whole flows in test_flows.py) costs a trace each.
    np.testing.assert_array_equal(numpy(loaded.inverse_and_log_det(x)[0]), numpy(flow.inverse_and_log_det(x)[0]))


@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_stay_finite(name):
    layer = make(name, 2)
    x = np.array([[1e3, -1e3], [-1e3, 1e3], [0.0, 0.0], [40.0, -40.0]], dtype="float32")
    x = x[:, : width(layer)] if width(layer) <= 2 else np.pad(x, ((0, 0), (0, width(layer) - 2)))
    z, log_det = layer.forward_and_log_det(x)
    assert np.isfinite(numpy(z)).all() and np.isfinite(numpy(log_det)).all()


@pytest.mark.parametrize("name", NAMES)
def test_wrong_width_and_rank_raise(name):
    layer = make(name, 2)
    d = width(layer)
    with pytest.raises(ValueError, match="width"):
        layer.forward(np.zeros((4, d + 1), "float32"))
    with pytest.raises(ValueError, match="rank"):
        layer.forward(np.zeros((4,), "float32"))
    with pytest.raises(ValueError, match="rank"):
        layer.inverse(np.zeros((2, 4, d), "float32"))
