"""XLA (``jit_compile=True``) gives the library's own numerics, for every flow of the registry.

The bijectors once opted out of XLA because XLA's CPU kernel of ``tf.math.ndtri`` returns NaN for
probabilities below about 5e-17 (pinned in ``test_special.py``); the library's quantile is its
own (``quantile.py``), so every op the flows use is XLA-safe. TensorFlow only: the flag is TF's.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from .flow_registry import FLOWS, REGISTRY, flow_data

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="jit_compile is TensorFlow's XLA flag")

#: XLA fuses and reorders the element-wise graph, so results differ from the plain graph by
#: float32 rounding: measured over the registry (seeds 0-2, TF_ENABLE_ONEDNN_OPTS=0 and 1) at most
#: 6.0e-6 relative to max(1, |log p|) on held-out data and points up to 1e6 from the data, never a
#: difference in which points are finite; the bound is about 3x the worst measured.
REL = 2e-5


def _points(dim):
    x = flow_data(dim, 500, seed=1)
    far = np.concatenate([np.eye(dim) * s for s in (-1e6, -1e3, -30.0, 30.0, 1e3, 1e6)]).astype("float32")
    return np.concatenate([x, far])


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_xla_log_prob_matches_the_graph(name):
    import tensorflow as tf

    flow, dim = FLOWS[name](seed=0)
    x = tf.constant(_points(dim))
    graph = tf.function(flow.log_prob)(x).numpy().astype("float64")
    xla = tf.function(flow.log_prob, jit_compile=True)(x).numpy().astype("float64")
    np.testing.assert_array_equal(np.isfinite(xla), np.isfinite(graph))
    np.testing.assert_array_equal(np.isnan(xla), np.isnan(graph))
    ok = np.isfinite(graph)
    rel = np.abs(xla[ok] - graph[ok]) / np.maximum(1.0, np.abs(graph[ok]))
    assert rel.max() <= REL, f"{name}: max relative difference {rel.max():.3g}"


def test_xla_is_opt_in_and_trains():
    flow, dim = FLOWS["diagonal"](seed=0)
    flow.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert flow.jit_compile is False
    flow.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    assert flow.jit_compile is True
    history = flow.fit(flow_data(dim, 512, seed=2), batch_size=256, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
