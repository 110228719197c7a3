"""Training throughput on 1 and on 2 logical CPU devices: ``python -m benchmarks.distributed``.

The CPU is split into two logical devices (``tf.config.set_logical_device_configuration``) and
each flow trains with ``fit`` for ``STEPS`` steps of one global batch (``BATCH`` rows), once
with the default strategy (1 device) and once with ``tf.distribute.MirroredStrategy`` over both
devices (half the batch each). Reported: the median milliseconds per step over three rounds of
``STEPS`` steps after a first, untimed ``fit`` that traces the graph, and their ratio, measured
in one run. The two logical devices share the machine's cores, so the ratio is no prediction for
two real devices; the point is that data-parallel training runs (``tests/test_distributed.py`` checks
that it agrees with one device). Writes ``benchmarks/distributed.json``;
:func:`distributed_section` renders it for the performance page. Part of ``make bench``.
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "distributed.json"
STEPS, ROUNDS, BATCH, DIM = 100, 3, 2048, 16
#: name: (factory in gaussianization.gauss_keras, positional arguments after d, keyword arguments)
FLOWS = {
    "diagonal, 8 blocks": ("make_gaussianization_flow", (8,), {}),
    "coupling, 4 blocks, hidden (64, 64)": ("make_coupling_flow", (4,), {"hidden": (64, 64)}),
}


def _step_ms(strategy, spec, data) -> list[float]:
    import keras

    from gaussianization import gauss_keras

    factory, args, kwargs = spec
    keras.utils.set_random_seed(0)
    with strategy.scope():
        flow = getattr(gauss_keras, factory)(DIM, *args, **kwargs)
        flow.compile(optimizer=keras.optimizers.Adam(1e-3))
    flow.fit(data[:BATCH], batch_size=BATCH, epochs=1, verbose=0)  # trace
    batches = data[: BATCH * STEPS]
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        flow.fit(batches, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        rounds.append(1000 * (time.perf_counter() - started) / STEPS)
    return rounds


def run() -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    mirrored = tf.distribute.MirroredStrategy(devices)  # one for every flow (see tests/distributed_check.py)
    data = np.random.default_rng(0).standard_normal((BATCH * STEPS, DIM)).astype("float32")
    rows = []
    for name, spec in FLOWS.items():
        one = _step_ms(tf.distribute.get_strategy(), spec, data)
        two = _step_ms(mirrored, spec, data)
        rows.append({"flow": name, "factory": spec[0],
                     "one_device_ms": statistics.median(one), "two_devices_ms": statistics.median(two),
                     "one_device_rounds_ms": one, "two_devices_rounds_ms": two})
        print(f"{name}: {rows[-1]['one_device_ms']:.1f} ms/step on 1 device, "
              f"{rows[-1]['two_devices_ms']:.1f} on 2", flush=True)
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": "python -m benchmarks.distributed", "cpu_count": os.cpu_count(),
            "load_average_at_end": list(os.getloadavg()), "tensorflow": tf.__version__,
            "steps": STEPS, "rounds": ROUNDS, "batch": BATCH, "d": DIM, "rows": rows}


def distributed_section() -> str:
    """Markdown for the performance page, or "" when the benchmark has not been run."""
    if not OUTPUT.exists():
        return ""
    r = json.loads(OUTPUT.read_text())
    lines = ["| flow | 1 device: ms / step | 2 logical devices: ms / step | 2 devices / 1 |", "|---|--:|--:|--:|"]
    for row in r["rows"]:
        lines.append(f"| {row['flow']} | {row['one_device_ms']:.1f} | {row['two_devices_ms']:.1f} | "
                     f"{row['two_devices_ms'] / row['one_device_ms']:.2f} |")
    table = "\n".join(lines)
    return f"""## One device or two

*From `benchmarks/distributed.json` (`python -m benchmarks.distributed`, part of `make bench`; {r['date']},
{r['cpu_count']} CPUs, load average at the end {', '.join(f'{x:.1f}' for x in r['load_average_at_end'])}).*
Training steps of one global batch of {r['batch']:,} points in d = {r['d']}, on the default strategy
and on `tf.distribute.MirroredStrategy` over two logical devices made from the same CPU; the median of
{r['rounds']} rounds of {r['steps']} steps. Both logical devices share the same cores, so the ratios say what
data parallelism costs or gains on this one CPU, not what two real devices would give; [scaling
out](scaling_out.md) explains the setup and what the tests check.

::::{{admonition}} Milliseconds per training step, 1 and 2 logical devices
:class: dropdown

{table}
::::"""


def main() -> None:
    result = run()
    OUTPUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUTPUT.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
