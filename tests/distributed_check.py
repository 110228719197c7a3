"""Data-parallel training on 2 logical CPU devices against 1 device (TensorFlow, MirroredStrategy).

Run by tests/test_distributed.py in a subprocess, because TensorFlow's logical devices must be
configured before anything initialises the runtime:

    python tests/distributed_check.py OUT_DIR

For a diagonal flow with the IG warm start (computed once, written into the mirrored weights) and
a coupling flow from its default start, it trains with Adam for 100 steps of one global batch of
1,024 points, and records the per-step loss

* on 1 device, on the batch as given;
* on 1 device, on the same batch in another row order (the same loss up to float rounding: the
  size of a difference that rounding alone makes);
* on 2 devices (``tf.distribute.MirroredStrategy``, 512 rows per replica);
* for the diagonal flow, on 1 and on 2 devices with ``clipnorm=1``, which Keras applies per replica.

It checks ``log_prob``, ``invert`` and ``sample`` on the distributed flow, saves it, and writes
everything to ``OUT_DIR/result.json`` (plus ``OUT_DIR/<name>.keras`` and the weights as
``OUT_DIR/<name>.npz``).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from gaussianization.datasets import load  # noqa: E402
from gaussianization.gauss_keras import (  # noqa: E402
    NLLHistory,
    initialize_flow_from_ig,
    make_coupling_flow,
    make_gaussianization_flow,
)

STEPS, ROWS, LEARNING_RATE = 100, 1024, 3e-3
WARM_START_DATA = None  # set by main()
FLOWS = {
    "diagonal_ig": (lambda: make_gaussianization_flow(2, 4), True),
    "coupling": (lambda: make_coupling_flow(2, 2, hidden=(16,)), False),
}


def train(name, data, strategy=None, clipnorm=None):
    """(per-step losses, flow, warnings, history): ``STEPS`` Adam steps on ``data`` as one global
    batch, under ``strategy`` (default: one device)."""
    factory, warm_start = FLOWS[name]
    keras.utils.set_random_seed(0)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        flow = factory()
        if warm_start:  # always from the data in their original order: the same start for every run
            initialize_flow_from_ig(flow, WARM_START_DATA, random_state=0)
        flow.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE, clipnorm=clipnorm))
    history = NLLHistory({"train": data}, every=50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = flow.fit(data, batch_size=len(data), epochs=STEPS, shuffle=False, verbose=0, callbacks=[history])
    return np.array(fit.history["loss"]), flow, [str(w.message) for w in caught], history


def main(out: Path) -> None:
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    # One strategy for every run: a second MirroredStrategy in the same process reuses the
    # collective instance keys of the first and its all-reduce fails with a shape mismatch.
    mirrored = tf.distribute.MirroredStrategy(devices)
    global WARM_START_DATA
    data = WARM_START_DATA = load("moons").train[:ROWS].astype("float32")
    reordered = data[np.random.default_rng(1).permutation(ROWS)]
    result = {"devices": devices, "steps": STEPS, "rows": ROWS, "flows": {}}
    for name in FLOWS:
        one, _, _, _ = train(name, data)
        shuffled, _, _, _ = train(name, reordered)
        two, flow, _, history = train(name, data, mirrored)
        if name == "diagonal_ig":  # clipping is active in its first steps (large gradients at the IG start)
            one_clip, _, _, _ = train(name, data, clipnorm=1.0)
            two_clip, _, clip_warnings, _ = train(name, data, mirrored, clipnorm=1.0)
            result["clipnorm"] = {"one_device": one_clip.tolist(), "two_devices": two_clip.tolist(),
                                  "warnings": clip_warnings}
        x = data[:500]
        x_back = keras.ops.convert_to_numpy(flow.invert(flow(x)))
        samples = keras.ops.convert_to_numpy(flow.sample(300, seed=1))
        log_prob = keras.ops.convert_to_numpy(flow.log_prob(x))
        flow.save(out / f"{name}.keras")
        np.savez(out / f"{name}.npz", *[keras.ops.convert_to_numpy(w) for w in flow.weights], log_prob=log_prob)
        replicas = [v.value.values for v in flow.variables]
        result["flows"][name] = {
            "one_device": one.tolist(),
            "reordered": shuffled.tolist(),
            "two_devices": two.tolist(),
            "mirrored": all(len(r) == 2 for r in replicas),
            "replicas_equal": all(np.array_equal(r[0].numpy(), r[1].numpy()) for r in replicas),
            "history_epochs": list(history.epochs),
            "history_train": list(history.history["train"]),
            "round_trip_max": float(np.abs(x_back - x).max()),
            "samples_shape": list(samples.shape),
            "samples_finite": bool(np.isfinite(samples).all()),
            "log_prob_finite": bool(np.isfinite(log_prob).all()),
        }
    (out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
