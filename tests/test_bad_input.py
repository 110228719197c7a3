"""Bad and extreme input over the flow registry: the input policy, non-finite rows, huge values,
training on bad data, argument checks, and saving/loading.

Every flow of ``flow_registry.py`` runs through the same checks; what the policy promises is in
``gaussianization/gauss_keras/validation.py``.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gaussianization.gauss_keras as gk
from gaussianization import datasets, metrics
from gaussianization.gauss_keras import (
    Flow,
    Householder,
    MixtureCDFGaussianization,
    NLLHistory,
    NoisyBatches,
    load_flow,
    make_coupling_flow,
    make_gaussianization_flow,
    make_mlp_conditioner,
    make_spline_coupling_flow,
)

from . import bijector_registry
from .flow_registry import FLOWS, REGISTRY, flow_data
from .helpers import tensorflow_only

NAMES = sorted(REGISTRY)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.lru_cache(maxsize=None)
def shared_flow(name, dtype="float32"):
    """``(flow, dim)`` of a registry entry, built once (tests here never change its weights)."""
    return FLOWS[name](seed=0, dtype=dtype)


def numpy(t):
    return keras.ops.convert_to_numpy(t)


def data(dim, n=64, seed=3):
    return flow_data(dim, 1000, seed=seed)[:n]


# -- the input policy --------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_half_precision_is_computed_in_float32_and_cast_back(name):
    flow, d = shared_flow(name)
    x16 = data(d).astype("float16")
    reference = numpy(flow.log_prob(x16.astype("float32")))
    for dtype in ("float16", "bfloat16"):
        x = keras.ops.cast(keras.ops.convert_to_tensor(x16.astype("float32")), dtype)
        if dtype == "float16":
            x = x16  # NumPy float16 as well as a bfloat16 tensor
        log_p = flow.log_prob(x)
        assert keras.backend.standardize_dtype(log_p.dtype) == dtype
        values = numpy(keras.ops.cast(log_p, "float32"))
        assert np.all(np.isfinite(values))
        # bfloat16 rounds the input more coarsely than float16, so compare with its own input
        expected = reference if dtype == "float16" else numpy(
            flow.log_prob(numpy(keras.ops.cast(x, "float32"))))
        # the float32 value rounded once to the output dtype: within half an ulp (8 / 11 significant bits)
        rel = 2.0 ** -8 if dtype == "bfloat16" else 2.0 ** -11
        np.testing.assert_allclose(values, expected, rtol=rel * (1 + 1e-6), atol=0.0)


@pytest.mark.parametrize("name", NAMES)
def test_ints_bools_and_lists_are_cast_to_the_flow_dtype(name):
    flow, d = shared_flow(name)
    ints = np.arange(-2, 2)[:, None] * np.ones(d, dtype="int64")
    for x in (ints, ints.astype("int32"), ints[2:].astype("uint8"), ints.tolist()):
        got = numpy(flow.log_prob(x))
        np.testing.assert_array_equal(got, numpy(flow.log_prob(np.asarray(x).astype("float32"))))
        assert got.dtype == np.float32
    booleans = np.array([[True] * d, [False] * d])
    np.testing.assert_array_equal(numpy(flow.log_prob(booleans)), numpy(flow.log_prob(booleans.astype("float32"))))
    floats = data(d, 5)
    np.testing.assert_array_equal(numpy(flow(floats.tolist())), numpy(flow(floats)))
    np.testing.assert_array_equal(numpy(flow.log_prob(floats.tolist())), numpy(flow.log_prob(floats)))


@pytest.mark.parametrize("bad", [np.zeros((2, 2), complex), [["a", "b"]], [[object(), 1.0]]])
def test_other_dtypes_raise_type_error_naming_the_dtype(bad):
    flow, _ = shared_flow("diagonal")
    with pytest.raises(TypeError, match="float32 or float64|numbers"):
        flow.log_prob(bad)
    with pytest.raises(TypeError, match="float32 or float64|numbers"):
        flow.transform.forward(bad)


@pytest.mark.parametrize("name", sorted(bijector_registry.REGISTRY))
def test_every_bijector_follows_the_input_policy(name):
    """Each layer alone (not only inside a flow): ints are cast (a FixedOrtho on int input once
    returned rounded integers), float16 is computed in float32 and cast back, strings are refused."""
    layer = bijector_registry.make(name, 3)
    d = layer.input_dim
    ints = (np.arange(12).reshape(4, 3)[:, :d] % 5 - 2).astype("int64")
    for method in (layer.forward_and_log_det, layer.inverse_and_log_det):
        got = [numpy(t) for t in method(ints)]
        want = [numpy(t) for t in method(ints.astype("float32"))]
        for g, w in zip(got, want):
            assert g.dtype == np.float32
            np.testing.assert_array_equal(g, w)
        half = [numpy(t) for t in method(ints.astype("float16"))]
        for h, w in zip(half, want):
            assert h.dtype == np.float16
            np.testing.assert_array_equal(h, w.astype("float16"))
    with pytest.raises(TypeError, match="float32 or float64"):
        layer.forward(np.zeros((2, d), dtype="complex64"))


# -- non-finite and extreme values ----------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_nan_stays_in_its_row_and_infinity_has_zero_density(name, dtype):
    flow, d = shared_flow(name, dtype)
    x = data(d, 8).astype(dtype)
    clean = numpy(flow.log_prob(x))
    x[1, 0] = np.nan
    x[2, -1] = np.inf
    x[3, :] = -np.inf
    x[4, 0], x[4, -1] = np.nan, np.inf
    z, log_det = (numpy(t) for t in flow.forward_and_log_det(x))
    log_p = numpy(flow.log_prob(x))
    assert np.isnan(log_p[[1, 4]]).all()
    assert np.isneginf(log_p[[2, 3]]).all() and np.isinf(z[[2, 3]]).all()
    keep = [0, 5, 6, 7]
    np.testing.assert_array_equal(log_p[keep], clean[keep])
    assert np.isfinite(z[keep]).all() and np.isfinite(log_det[keep]).all()


def _extreme_rows(d, dtype, exponents, signs):
    big = np.finfo(dtype).max / 10.0
    values = [min(10.0 ** e, big) for e in exponents] + [big]
    rows = [s * v * np.ones(d) for v in values for s in signs]
    mixed = [np.array([v, -v, 0.3][:d]) for v in values]
    return np.array(rows + mixed, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_no_nan_from_any_finite_input_up_to_a_tenth_of_the_float_maximum(name, dtype):
    flow, d = shared_flow(name, dtype)
    top = int(np.log10(np.finfo(dtype).max / 10.0))
    x = _extreme_rows(d, dtype, range(0, top + 1, 3 if dtype == "float32" else 20), (1.0, -1.0))
    z, log_det = (numpy(t) for t in flow.forward_and_log_det(x))
    log_p = numpy(flow.log_prob(x))
    assert not np.isnan(z).any(), x[np.isnan(z).any(axis=1)]
    assert not np.isnan(log_det).any(), x[np.isnan(log_det)]
    assert not np.isnan(log_p).any() and not np.isposinf(log_p).any(), x[np.isnan(log_p)]


@settings(deadline=None, max_examples=25)
@given(log_magnitude=st.floats(0.0, 37.5), sign=st.sampled_from([1.0, -1.0]), column=st.integers(0, 1),
       name=st.sampled_from(NAMES))
def test_property_a_huge_coordinate_never_gives_nan(log_magnitude, sign, column, name):
    flow, d = shared_flow(name)
    x = data(d, 4)
    clean = numpy(flow.log_prob(x))
    x[0, column] = sign * np.float32(10.0 ** log_magnitude)
    log_p = numpy(flow.log_prob(x))
    assert not np.isnan(log_p).any() and log_p[0] < np.inf
    np.testing.assert_array_equal(log_p[1:], clean[1:])  # the other rows of the batch are unaffected


# -- training on bad data -------------------------------------------------------------------


def _fresh(name):
    flow, d = FLOWS[name](seed=0, dtype="float32")
    flow.compile(keras.optimizers.Adam(1e-3))
    return flow, d


def test_fit_rejects_nonfinite_rows_naming_them_or_drops_them_on_request():
    flow, d = _fresh("coupling")
    x = flow_data(d, 256)
    x[[7, 100], 1] = [np.nan, -np.inf]
    with pytest.raises(ValueError, match=r"2 of 256 rows .* \(rows 7, 100\).*drop_nonfinite"):
        flow.fit(x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="validation_data has 2 of 256"):
        flow.fit(flow_data(d, 256), epochs=1, verbose=0, validation_data=(x, x))
    with pytest.warns(UserWarning, match="dropped 2 rows"):
        history = flow.fit(x, x, epochs=1, verbose=0, batch_size=64, drop_nonfinite=True)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(w).all() for w in flow.get_weights())


@pytest.mark.parametrize("name", NAMES)
def test_an_extreme_outlier_stops_training_with_the_weights_restored(name):
    flow, d = _fresh(name)
    before = [w.copy() for w in flow.get_weights()]
    x = flow_data(d, 256)
    x[200] = 1e30
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 4: the loss became"):
        flow.fit(x, epochs=2, verbose=0, batch_size=64, shuffle=False)
    after = flow.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_the_guard_can_be_turned_off_and_is_not_added_twice():
    flow, d = _fresh("diagonal")
    x = flow_data(d, 128)
    x[0] = 1e30
    history = flow.fit(x, epochs=1, verbose=0, stop_on_nonfinite=False)
    assert not np.isfinite(history.history["loss"][0])
    flow, d = _fresh("diagonal")
    guard = gk.StopOnNonFinite()
    flow.fit(flow_data(d, 128), epochs=2, verbose=0, callbacks=[guard])
    assert guard._saved_at == "the end of epoch 2"


@tensorflow_only("about TensorFlow's tf.function retracing warnings")
def test_the_guard_traces_nothing_so_many_fits_stay_quiet(caplog):
    """Chapter 06 fits many flows in one kernel: a graph traced per ``fit`` made TensorFlow log
    "triggered tf.function retracing" onto the rendered page."""
    import logging

    flow, d = _fresh("diagonal")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for _ in range(7):
            flow.fit(flow_data(d, 128), epochs=1, verbose=0, batch_size=64)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


# -- argument checks --------------------------------------------------------------------------


BAD_ARGUMENTS = [
    (lambda: make_gaussianization_flow(2.5, 1), TypeError, "input_dim must be an integer"),
    (lambda: make_gaussianization_flow(2, 1.5), TypeError, "num_blocks must be an integer"),
    (lambda: make_gaussianization_flow(2, True), TypeError, "num_blocks must be an integer"),
    (lambda: make_gaussianization_flow(2, 0), ValueError, "num_blocks must be >= 1"),
    (lambda: make_gaussianization_flow(2, 1, num_components=2.0), TypeError, "num_components"),
    (lambda: make_gaussianization_flow(2, 1, init_log_scale=float("nan")), ValueError, "init_log_scale must be finite"),
    (lambda: make_gaussianization_flow(2, 1, pca_init_data=np.full((5, 2), np.nan)), ValueError,
     "pca_init_data has 5 of 5 rows"),
    (lambda: make_gaussianization_flow(2, 1, mixture_init_data=[[0.0, 1.0], [np.inf, 0.0], [1.0, 1.0]]),
     ValueError, r"mixture_init_data has 1 of 3 rows .*\(rows 1\)"),
    (lambda: make_coupling_flow(2, 1, hidden=64), TypeError, "hidden must be a sequence"),
    (lambda: make_coupling_flow(2, 1, hidden="64"), TypeError, "hidden must be a sequence"),
    (lambda: make_coupling_flow(2, 1, hidden=(16, 0)), ValueError, r"hidden\[1\] is 0"),
    (lambda: make_coupling_flow(2, 1, hidden=(16.0,)), TypeError, r"integers >= 1; hidden\[0\] is 16.0"),
    (lambda: make_coupling_flow(2, 1, log_scale_bound=float("inf")), ValueError, "log_scale_bound must be finite"),
    (lambda: make_coupling_flow(2, 1, log_scale_bound=0.0), ValueError, "log_scale_bound must be > 0"),
    (lambda: make_coupling_flow(np.float64(2.0), 1), TypeError, "input_dim must be an integer"),
    (lambda: make_spline_coupling_flow(2, 1, bound=float("inf")), ValueError, "bound must be finite"),
    (lambda: make_spline_coupling_flow(2, 1, bound=float("nan")), ValueError, "bound must be finite"),
    (lambda: make_spline_coupling_flow(2, 1, num_bins=8.0), TypeError, "num_bins must be an integer"),
    (lambda: make_mlp_conditioner(1, 8, hidden=64), TypeError, "hidden must be a sequence"),
    (lambda: make_mlp_conditioner(1.5, 8), TypeError, "d_b must be an integer"),
    (lambda: MixtureCDFGaussianization(3.5), TypeError, "num_components"),
    (lambda: MixtureCDFGaussianization(3, init_log_scale=float("inf")), ValueError, "init_log_scale must be finite"),
    (lambda: Flow([Householder(2)], input_dim=2.5), TypeError, "input_dim must be an integer"),
    (lambda: NoisyBatches(np.zeros((4, 2)), batch_size=2.5), TypeError, "batch_size must be an integer"),
    (lambda: NoisyBatches(np.zeros((4, 2)), seed=-1), ValueError, "seed must be >= 0"),
    (lambda: NLLHistory({"train": np.zeros((4, 2))}, every=1.5), TypeError, "every must be an integer"),
    (lambda: NLLHistory({"train": np.full((4, 2), np.nan)}), ValueError, r"data\['train'\] has 4 of 4 rows"),
    # the book's helpers share the checks: a one-point training set once gave NaN data
    (lambda: datasets.load("moons", n_train=1), ValueError, "n_train must be >= 2"),
    (lambda: datasets.load("spiral", n_test=2.5), TypeError, "n_test must be an integer"),
    (lambda: datasets.load("moons", noise=0.0), ValueError, "noise must be > 0"),
    (lambda: metrics.joint_entropy(np.random.default_rng(0).standard_normal((50, 2)), k=2.5), TypeError,
     "k must be an integer"),
]


@pytest.mark.parametrize("index", range(len(BAD_ARGUMENTS)))
def test_bad_arguments_get_a_clear_error(index):
    build, error, message = BAD_ARGUMENTS[index]
    with pytest.raises(error, match=message):
        build()


def test_sample_counts_and_seeds():
    flow, d = shared_flow("diagonal")
    for bad, error in ((2.7, TypeError), (True, TypeError), (0, ValueError), ("3", TypeError)):
        with pytest.raises(error, match="num_samples"):
            flow.sample(bad)
    with pytest.raises(TypeError, match="seed must be an integer"):
        flow.sample(3, seed=1.5)
    np.testing.assert_array_equal(numpy(flow.sample(4, seed=np.int64(3))), numpy(flow.sample(np.int32(4), seed=3)))


# -- saving and loading ---------------------------------------------------------------------


def test_import_gaussianization_alone_registers_every_class(tmp_path):
    flow, _ = shared_flow("ig_coupling")
    path = tmp_path / "flow.keras"
    flow.save(path)
    script = (f"import keras, gaussianization\n"
              f"flow = keras.saving.load_model({str(path)!r})\n"
              f"print(type(flow).__name__, flow.input_dim)\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == [type(flow).__name__, "2"]


def test_every_public_keras_class_is_registered():
    classes = [obj for obj in vars(gk).values()
               if isinstance(obj, type) and issubclass(obj, (keras.layers.Layer, gk.Transformer, gk.StandardNormal))]
    assert len(classes) >= 12
    for cls in classes:
        if cls in (gk.Transformer, gk.Bijector):  # abstract bases: never saved themselves
            continue
        assert keras.saving.get_registered_name(cls).startswith("gaussianization>"), cls


def test_load_flow_says_when_a_file_is_not_a_flow(tmp_path):
    flow, _ = shared_flow("diagonal")
    good = tmp_path / "good.keras"
    flow.save(good)
    loaded = load_flow(good)
    np.testing.assert_array_equal(numpy(loaded.log_prob(data(2))), numpy(flow.log_prob(data(2))))
    payload = good.read_bytes()
    cases = {"empty.keras": b"", "truncated.keras": payload[: len(payload) // 2], "text.keras": b"not a flow"}
    for file_name, content in cases.items():
        (tmp_path / file_name).write_bytes(content)
        with pytest.raises(ValueError, match="is not a valid saved flow"):
            load_flow(tmp_path / file_name)
    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(other)
    with pytest.raises(ValueError, match="not a gaussianization flow"):
        load_flow(other)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_flow(tmp_path / "missing.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_flow(good)
