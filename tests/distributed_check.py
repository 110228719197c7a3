"""Data-parallel training on 2 logical CPU devices against 1 device, on TensorFlow or JAX.

Run by tests/test_distributed.py in a subprocess, because the devices must be configured before
the backend starts (TensorFlow: ``tf.config.set_logical_device_configuration``; JAX:
``XLA_FLAGS=--xla_force_host_platform_device_count=2``, set here before JAX is imported):

    KERAS_BACKEND=tensorflow python tests/distributed_check.py OUT_DIR
    KERAS_BACKEND=jax        python tests/distributed_check.py OUT_DIR

Two devices means ``tf.distribute.MirroredStrategy`` on TensorFlow (build, warm start and compile
in its scope, ``fit`` outside it, as book/scaling_out.md shows) and ``keras.distribution.DataParallel``
on JAX (everything in its scope). For a diagonal flow with the IG warm start (computed once, on the
data in their original order) and a coupling flow from its default start, it trains with Adam for
100 steps of one global batch of 1,024 points, and records the per-step loss

* on 1 device, on the batch as given;
* on 1 device, on the same batch in another row order (the same loss up to float rounding: the
  size of a difference that rounding alone makes);
* on 2 devices (512 rows per device);
* for the diagonal flow, on 1 and on 2 devices with ``clipnorm=1``.

It checks ``log_prob``, ``invert`` and ``sample`` on the distributed flow, saves it, reloads it on
one device, and writes everything to ``OUT_DIR/result.json`` (plus ``OUT_DIR/<name>.keras`` and
the weights as ``OUT_DIR/<name>.npz``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from pathlib import Path

BACKEND = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
else:
    import tensorflow as tf

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


def two_devices():
    """The 2-device distribution: a ``MirroredStrategy`` or a ``DataParallel`` over both devices.
    One for every run: a second MirroredStrategy in the same process reuses the collective
    instance keys of the first, and its all-reduce fails with a shape mismatch."""
    if BACKEND == "jax":
        return keras.distribution.DataParallel(devices=keras.distribution.list_devices("cpu"))
    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])


def train(name, data, distribution=None, clipnorm=None):
    """(per-step losses, flow, warnings, history): ``STEPS`` Adam steps on ``data`` as one global
    batch, on ``distribution`` (default: one device)."""
    factory, warm_start = FLOWS[name]
    keras.utils.set_random_seed(0)
    scope = distribution.scope() if distribution is not None else contextlib.nullcontext()
    with scope:
        flow = factory()
        if warm_start:  # always from the data in their original order: the same start for every run
            initialize_flow_from_ig(flow, WARM_START_DATA, random_state=0)
        flow.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE, clipnorm=clipnorm))
    history = NLLHistory({"train": data}, every=50)
    # JAX: data are sharded inside the distribution's scope; TensorFlow: fit outside the
    # strategy's scope, as users write it (the flow remembers the strategy it was built under).
    fit_scope = distribution.scope() if BACKEND == "jax" and distribution is not None else contextlib.nullcontext()
    with warnings.catch_warnings(record=True) as caught, fit_scope:
        warnings.simplefilter("always")
        fit = flow.fit(data, batch_size=len(data), epochs=STEPS, shuffle=False, verbose=0, callbacks=[history])
    return np.array(fit.history["loss"]), flow, sorted({str(w.message) for w in caught}), history


def copies(variable) -> list[np.ndarray]:
    """The per-device copies of a variable."""
    value = variable.value
    if BACKEND == "jax":
        return [np.asarray(shard.data) for shard in value.addressable_shards]
    return [component.numpy() for component in value.values]


def main(out: Path) -> None:
    global WARM_START_DATA
    data = WARM_START_DATA = load("moons").train[:ROWS].astype("float32")
    reordered = data[np.random.default_rng(1).permutation(ROWS)]
    distributed = two_devices()
    result = {"backend": BACKEND, "devices": len(keras.distribution.list_devices("cpu")) if BACKEND == "jax"
              else len(distributed.extended.worker_devices), "steps": STEPS, "rows": ROWS, "flows": {}}
    for name in FLOWS:
        one, _, _, _ = train(name, data)
        shuffled, _, _, _ = train(name, reordered)
        two, flow, _, history = train(name, data, distributed)
        if name == "diagonal_ig":  # clipping is active in its first steps (large gradients at the IG start)
            one_clip, _, _, _ = train(name, data, clipnorm=1.0)
            two_clip, _, clip_warnings, _ = train(name, data, distributed, clipnorm=1.0)
            result["clipnorm"] = {"one_device": one_clip.tolist(), "two_devices": two_clip.tolist(),
                                  "warnings": clip_warnings}
        x = data[:500]
        x_back = keras.ops.convert_to_numpy(flow.invert(flow(x)))
        samples = keras.ops.convert_to_numpy(flow.sample(300, seed=1))
        log_prob = keras.ops.convert_to_numpy(flow.log_prob(x))
        flow.save(out / f"{name}.keras")
        np.savez(out / f"{name}.npz", *[keras.ops.convert_to_numpy(w) for w in flow.weights], log_prob=log_prob)
        per_device = [copies(v) for v in flow.variables]
        if BACKEND == "jax":
            keras.distribution.set_distribution(None)
        reloaded = keras.saving.load_model(out / f"{name}.keras")
        result["flows"][name] = {
            "one_device": one.tolist(),
            "reordered": shuffled.tolist(),
            "two_devices": two.tolist(),
            "mirrored": all(len(c) == 2 for c in per_device),
            "replicas_equal": all(np.array_equal(c[0], c[1]) for c in per_device),
            "history_epochs": list(history.epochs),
            "history_train": list(history.history["train"]),
            "round_trip_max": float(np.abs(x_back - x).max()),
            "samples_shape": list(samples.shape),
            "samples_finite": bool(np.isfinite(samples).all()),
            "log_prob_finite": bool(np.isfinite(log_prob).all()),
            "reloaded_log_prob_equal": bool(np.array_equal(keras.ops.convert_to_numpy(reloaded.log_prob(x)),
                                                           log_prob)),
        }
    (out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
