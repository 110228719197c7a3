"""The normal special functions against SciPy, in both tails and both float widths."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

from gaussianization.gauss_keras import _backend, quantile, special

from .helpers import gradients, numpy, tensorflow_only

# Relative-error bounds: float32 ~ a few ulp through erfc/log; float64 near machine precision.
REL = {"float32": 2e-6, "float64": 1e-13}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_ndtr_matches_scipy_everywhere(dtype):
    x = np.concatenate([-np.logspace(3, -3, 2000), np.linspace(-40, 40, 8001), np.logspace(-3, 3, 2000)])
    x = x.astype(dtype)
    ref = sp.log_ndtr(x.astype("float64"))
    for got in (special.log_ndtr(x), special.log_ndtr_pair(x)[0], special.log_ndtr_pair(-x)[1]):
        got = np.asarray(got, dtype="float64")
        assert np.isfinite(got).all()
        err = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-3)
        assert err.max() <= REL[dtype], (dtype, float(err.max()), float(x[np.argmax(err)]))


@pytest.mark.parametrize("dtype, rel", [("float32", 1e-5), ("float64", 1e-12)])
def test_log_ndtr_upper_tail_keeps_relative_accuracy(dtype, rel):
    """Beyond the switch (x > 7.5 / 37) log Φ(x) ≈ -Φ(-x) is tiny but not 0. Measured on 0..40:
    worst relative error 6.4e-6 (float32, at x = 11.7: the rounding of x²/2 ≈ 69 inside exp) and
    2.8e-13 (float64), wherever the value is representable."""
    x = np.linspace(0.0, 40.0, 4001).astype(dtype)
    ref = sp.log_ndtr(x.astype("float64"))
    got = np.asarray(special.log_ndtr(x), dtype="float64")
    representable = np.abs(ref) > 1e3 * np.finfo(dtype).tiny
    assert (got[representable] < 0.0).all()
    assert (np.abs(got - ref)[representable] / np.abs(ref[representable])).max() <= rel


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ndtri_from_log_inverts_log_ndtr(dtype):
    # Down to L = -1e300 in float64 (z ≈ -1.4e150), where log Φ - log φ cancels completely.
    log_p = -np.logspace(-6, 300 if dtype == "float64" else 37, 6000)
    log_p = log_p[log_p <= np.log(0.5)].astype(dtype)
    z = np.asarray(quantile.ndtri_from_log(log_p), dtype="float64")
    assert np.isfinite(z).all() and (z <= 0).all()
    back = sp.log_ndtr(z)
    np.testing.assert_allclose(back, log_p.astype("float64"), rtol=REL[dtype] * 2)


@pytest.mark.parametrize("dtype, rel", [("float32", 5e-6), ("float64", 2e-13)])
def test_log_mills_ratio_and_scaled_tails_match_scipy(dtype, rel):
    """log(Φ(x)/φ(x)) = log(erfcx(-x/√2)/2) + log √(2π), with no cancellation in either tail
    (float32: the rounding of log Φ and x²/2 below the switch, each < 32 there, bounds the error)."""
    x = np.concatenate([-np.logspace(4, -3, 1500), np.linspace(-30.0, 30.0, 3001)]).astype(dtype)
    ref = np.log(sp.erfcx(-x.astype("float64") * np.sqrt(0.5)) / 2) + 0.5 * np.log(2 * np.pi)
    scale = np.maximum(np.abs(ref), 1.0)
    got = np.asarray(special.log_mills_ratio(x), dtype="float64")
    assert (np.abs(got - ref) / scale).max() <= rel
    log_cdf, scaled = (np.asarray(t, "float64") for t in special.log_ndtr_scaled(x))
    np.testing.assert_array_equal(log_cdf, np.asarray(special.log_ndtr(x), "float64"))
    assert (np.abs(scaled + 0.5 * np.log(2 * np.pi) - ref) / scale).max() <= rel
    # the halved argument x/√2 gives the same quantities, up to its own rounding
    x64 = x.astype("float64")
    halved = [np.asarray(t, "float64") for t in special.log_ndtr_by_size((x64 * np.sqrt(0.5)).astype(dtype), halved=True)]
    plain = [np.asarray(t, "float64") for t in special.log_ndtr_by_size(x)]
    for h, p in zip(halved, plain):
        assert (np.abs(h - p) / np.maximum(np.abs(p), 1.0)).max() <= 4 * rel


def test_ndtri_log_mills_is_that_of_the_returned_quantile():
    log_p = -np.logspace(-6, 300, 3000)
    log_p = log_p[log_p <= np.log(0.5)]
    z, log_mills = (np.asarray(t) for t in quantile.ndtri_and_log_mills_from_log(log_p))
    np.testing.assert_array_equal(z, np.asarray(quantile.ndtri_from_log(log_p)))
    np.testing.assert_allclose(log_mills, np.asarray(special.log_mills_ratio(z)), rtol=1e-13, atol=1e-14)
    z2, log_mills2 = quantile.normal_quantile_two_tailed(log_p, np.log(-np.expm1(log_p)), return_log_mills=True)
    np.testing.assert_array_equal(np.asarray(z2), z)
    np.testing.assert_array_equal(np.asarray(log_mills2), log_mills)


def test_two_tailed_quantile_is_antisymmetric_and_unclamped():
    z = np.linspace(-30, 30, 601)
    log_cdf, log_sf = sp.log_ndtr(z), sp.log_ndtr(-z)
    got = np.asarray(quantile.normal_quantile_two_tailed(log_cdf, log_sf))
    np.testing.assert_allclose(got, z, rtol=1e-13, atol=1e-13)


def test_quantile_gradient_is_implicit_derivative():
    log_p = np.linspace(-800.0, np.log(0.5), 200)
    grad = numpy(gradients(lambda t: ops.sum(quantile.ndtri_from_log(t)), log_p)[1][0])
    z = numpy(quantile.ndtri_from_log(log_p))
    expected = np.exp(sp.log_ndtr(z) - (-0.5 * z**2 - 0.5 * np.log(2 * np.pi)))  # Φ(z)/φ(z)
    np.testing.assert_allclose(grad, expected, rtol=1e-10)


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False))
def test_log_ndtr_pair_is_finite_with_finite_gradients(x):
    total, (grad,) = gradients(lambda t: ops.sum(sum(special.log_ndtr_pair(t))), np.array([x], "float32"))
    assert np.isfinite(numpy(total)).all()
    assert np.isfinite(numpy(grad)).all()


@tensorflow_only("compares tf.function with and without XLA (jit_compile=True)")
def test_ndtri_from_log_under_xla_matches_the_graph():
    """XLA's own ``ndtri`` returns NaN below p ≈ 5e-17; ours must be finite and identical there."""
    log_p = -np.logspace(-6, 300, 3000)
    import tensorflow as tf

    log_p = tf.constant(log_p[log_p <= np.log(0.5)])
    graph = numpy(tf.function(quantile.ndtri_from_log)(log_p))
    xla = numpy(tf.function(quantile.ndtri_from_log, jit_compile=True)(log_p))
    assert np.isfinite(xla).all()
    np.testing.assert_allclose(xla, graph, rtol=1e-13)
    np.testing.assert_allclose(sp.log_ndtr(xla), numpy(log_p), rtol=REL["float64"])


# -- the backend module (compilation, shrinking loop, batch Jacobians) -------------------------
def test_compile_function_traces_once_per_dtype():
    traces = []

    def fn(x):
        traces.append(x.dtype)
        return 2.0 * x

    compiled = _backend.compile_function(fn, input_dim=3)
    for n in (1, 5, 17):
        np.testing.assert_array_equal(numpy(compiled(np.ones((n, 3), "float32"))), 2.0 * np.ones((n, 3)))
    compiled(np.ones((4, 3), "float64"))
    # TensorFlow: one trace per dtype, whatever the batch size; JAX: one per shape; torch: a call each.
    assert len(traces) == (2 if _backend.BACKEND == "tensorflow" else 4)
    free = _backend.compile_function(lambda a, b: a + b)
    assert float(free(ops.convert_to_tensor(1.0), ops.convert_to_tensor(2.0))) == 3.0


def test_compile_function_sees_the_current_values_of_its_variables():
    variable = keras.Variable(np.ones(3), dtype="float64")
    compiled = _backend.compile_function(lambda x: x * variable, input_dim=3, variables=[variable])
    np.testing.assert_array_equal(numpy(compiled(np.ones((2, 3)))), np.ones((2, 3)))
    variable.assign(np.full(3, 2.0))
    np.testing.assert_array_equal(numpy(compiled(np.ones((2, 3)))), np.full((2, 3), 2.0))


def test_float64_is_kept_by_type_promotion():
    x = ops.convert_to_tensor(np.ones(2))
    for result in (ops.maximum(x, x), ops.minimum(x, 0.5), ops.where(x > 0, x, 0.0), x + 1.0):
        assert keras.backend.standardize_dtype(result.dtype) == "float64"


def test_while_loop_shrinking_lets_tensors_change_length():
    def cond(i, values):
        return ops.shape(values)[0] > 1

    def body(i, values):
        return i + 1, values[: ops.shape(values)[0] // 2]

    loop_vars = (0, ops.arange(16.0))
    if _backend.STATIC_SHAPES:
        with pytest.raises(NotImplementedError, match="static shapes"):
            _backend.while_loop_shrinking(cond, body, loop_vars)
        return
    steps, rest = _backend.while_loop_shrinking(cond, body, loop_vars)
    assert int(steps) == 4 and numpy(rest).tolist() == [0.0]


def test_batch_jacobian_of_a_row_wise_map():
    x = np.random.default_rng(0).standard_normal((6, 3))
    w = np.random.default_rng(1).standard_normal((3, 2))
    jacobian, y = _backend.batch_jacobian(lambda t: ops.tanh(ops.matmul(t, w)), x)
    assert tuple(jacobian.shape) == (6, 2, 3)
    expected = (1.0 - np.tanh(x @ w) ** 2)[:, :, None] * w.T[None]
    np.testing.assert_allclose(numpy(jacobian), expected, rtol=1e-12)
    np.testing.assert_allclose(numpy(y), np.tanh(x @ w), rtol=1e-12)
