"""Flows saved by v0.1 (before the redesign) load with today's code and compute the same outputs.

The ``.keras`` files and ``expected.npz`` in ``tests/fixtures/legacy_0_1/`` were written once by
the old code (``tests/fixtures/make_legacy_fixtures.py`` documents how); never regenerate them.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from gaussianization.gauss_keras import Flow

FIXTURES = Path(__file__).parent / "fixtures" / "legacy_0_1"
NAMES = sorted(path.stem for path in FIXTURES.glob("*.keras"))


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "expected.npz") as record:
        return dict(record)


def test_every_fixture_has_a_record(expected):
    assert NAMES == ["coupling", "custom_conditioner", "diagonal", "shared_coupling", "spline_coupling"]
    assert sorted({key.split("/")[0] for key in expected}) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_legacy_file_loads_and_computes_the_recorded_outputs(name, expected):
    flow = keras.saving.load_model(FIXTURES / f"{name}.keras")
    assert isinstance(flow, Flow)
    x = expected[f"{name}/x"]
    assert flow.input_dim == x.shape[1]
    assert flow.count_params() == int(expected[f"{name}/num_params"])
    z, log_det = (keras.ops.convert_to_numpy(t) for t in flow.forward_and_log_det(x))
    log_prob = keras.ops.convert_to_numpy(flow.log_prob(x))
    # Measured against the v0.1 record: z identical, log_det and log_prob within 4.8e-7 absolute
    # (float32 rounding: the new code adds the log-det terms in another order).
    np.testing.assert_allclose(z, expected[f"{name}/z"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(log_det, expected[f"{name}/log_det"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(log_prob, expected[f"{name}/log_prob"], rtol=1e-6, atol=1e-6)
