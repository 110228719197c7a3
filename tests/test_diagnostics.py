"""round_trip_error_scale: the first-order rounding scale of a round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from gaussianization.gauss_keras import GaussianizationFlow, Householder, make_coupling_flow, round_trip_error_scale

EPS32 = float(np.finfo("float32").eps)


def test_orthogonal_flow_scale_is_rounding_of_each_state():
    x = np.random.default_rng(0).standard_normal((64, 3)).astype("float32")
    flow = GaussianizationFlow([Householder(3), Householder(2)], input_dim=3)
    states = [keras.ops.convert_to_numpy(s) for s in flow.forward_with_intermediates(x)]
    expected = EPS32 * sum(np.maximum(1.0, np.abs(s).max(axis=1)) for s in states)  # sigma_min = 1
    np.testing.assert_allclose(round_trip_error_scale(flow, x), expected, rtol=1e-5)


def test_scale_bounds_the_round_trip_of_a_coupling_flow():
    x = np.random.default_rng(1).standard_normal((256, 2)).astype("float32")
    flow = make_coupling_flow(2, 2, 4, hidden=(8,))
    flow(x)
    error = np.abs(keras.ops.convert_to_numpy(flow.invert(flow(x))) - x).max(axis=1)
    scale = round_trip_error_scale(flow, x)
    assert scale.shape == (256,) and np.all(scale >= 2 * EPS32)
    assert np.all(error <= 100 * scale)


@pytest.mark.parametrize("bad", [np.zeros((0, 2)), np.zeros(3)])
def test_bad_input_is_a_clear_error(bad):
    flow = GaussianizationFlow([Householder(2)], input_dim=2)
    with pytest.raises(ValueError, match="shape"):
        round_trip_error_scale(flow, bad)
