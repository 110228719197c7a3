"""Plain helpers shared by the test modules (importable as ``from .helpers import ...``).

Fixtures built on them live in ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import warnings

import keras
import numpy as np
import pytest
from keras import ops

from gaussianization.gauss_keras._backend import BACKEND, batch_jacobian


def moons(n: int = 2000, seed: int = 0) -> np.ndarray:
    """``n`` two-moons points (noise 0.05), standardised per column, float32 ``(n, 2)``."""
    from sklearn.datasets import make_moons

    x, _ = make_moons(n, noise=0.05, random_state=seed)
    return ((x - x.mean(0)) / x.std(0)).astype("float32")


def tensorflow_only(reason: str):
    """Mark a test that is about TensorFlow itself (its graphs, XLA, its log lines): skipped on
    the other Keras backends, with ``reason``."""
    return pytest.mark.skipif(BACKEND != "tensorflow", reason=f"TensorFlow only: {reason}")


def numpy(t) -> np.ndarray:
    """A backend tensor (or array, or Keras variable) as a NumPy array, on every backend."""
    return np.asarray(ops.convert_to_numpy(t))


def gradients(fn, *xs):
    """``(fn(*xs), [∂fn/∂x for x in xs])`` by autodiff, for a scalar-valued ``fn`` of tensors.

    ``xs`` are arrays or tensors (each converted to a tensor of its own dtype). The gradients are
    backend tensors; the derivative of ``gradients(...)[1]`` can be taken again (``batch_jacobian``
    of a gradient gives Hessians) on every backend.
    """
    xs = [ops.convert_to_tensor(x) for x in xs]
    if BACKEND == "jax":
        import jax

        value, grads = jax.value_and_grad(lambda args: fn(*args))(xs)
        return value, list(grads)
    if BACKEND == "torch":
        import torch.func

        grads, value = torch.func.grad_and_value(lambda args: fn(*args))(xs)
        return value, list(grads)
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(xs)
        value = fn(*xs)
    return value, tape.gradient(value, xs)


def variable_gradients(fn, variables):
    """``(fn(), [∂fn/∂v for v in variables])`` for a scalar-valued ``fn`` that reads the Keras
    ``variables`` (e.g. a loss of a model and ``model.trainable_variables``)."""
    variables = list(variables)
    if BACKEND == "jax":
        import jax

        def stateless(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn()

        value, grads = jax.value_and_grad(stateless)([v.value for v in variables])
        return value, list(grads)
    if BACKEND == "torch":
        import torch

        value = fn()
        return value, list(torch.autograd.grad(value, [v.value for v in variables], allow_unused=True))
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = fn()
    return value, tape.gradient(value, variables)


def autodiff_jacobian(fn, x) -> np.ndarray:
    """Per-example Jacobians ``∂fn(x)_i/∂x_j`` by autodiff, float64 NumPy ``(n, d_out, d)``.

    The Jacobian is computed in the dtype of ``x`` (pass float64 ``x`` to a float64 map for a
    float64 check) and returned as float64.
    """
    jacobian, _ = batch_jacobian(fn, ops.convert_to_tensor(x))
    return np.asarray(ops.convert_to_numpy(jacobian), dtype="float64")


def autodiff_log_det(fn, x) -> np.ndarray:
    """``log|det ∂fn(x)/∂x|`` per example from the autodiff Jacobian (NumPy ``slogdet``), float64 ``(n,)``."""
    return np.linalg.slogdet(autodiff_jacobian(fn, x))[1]


def num_trainable(model) -> int:
    """Number of trainable scalars of a layer or model."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def round_trip_errors(flow, x):
    """``(max, median)`` over the rows of ``‖f⁻¹(f(x)) - x‖₂`` (``flow.invert`` after ``flow``)."""
    back = ops.convert_to_numpy(flow.invert(flow(x)))
    err = np.linalg.norm(back - np.asarray(x), axis=1)
    return float(err.max()), float(np.median(err))


@contextlib.contextmanager
def warnings_as_errors():
    """Turn every warning into an error inside the block, except one that is not the library's:
    NumPy 2's DeprecationWarning that torch's ``Tensor.__array__`` takes no ``copy`` keyword
    (every ``keras.ops.convert_to_numpy`` of a torch tensor raises it with torch 2.13)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        yield


@contextlib.contextmanager
def floatx(dtype: str):
    """Build layers in ``dtype`` inside the block: sets ``keras.config.floatx`` *and* the global
    dtype policy (``set_floatx`` alone does not change the policy once Keras has cached it, so
    layers would silently keep float32 weights), and restores both afterwards."""
    previous = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


def residual_trunk(d_a: int, width: int = 8, name: str | None = None, dtype=None):
    """A small residual functional ``keras.Model`` ``(batch, d_a) → (batch, width)``:
    ``h = tanh(W₁x + b₁)``, output ``tanh(W₂h + b₂) + h``; a user trunk of any width for a coupling.
    ``dtype`` (default: the global policy) must match the coupling's."""
    inputs = keras.Input(shape=(int(d_a),), dtype=dtype)
    h = keras.layers.Dense(width, activation="tanh", dtype=dtype)(inputs)
    out = keras.layers.Add(dtype=dtype)([keras.layers.Dense(width, activation="tanh", dtype=dtype)(h), h])
    return keras.Model(inputs, out, name=name)


def perturb(layer, rng, scale=0.5):
    """Add ``scale``·N(0, 1) noise to every trainable weight of a built layer or model."""
    for w in layer.trainable_weights:
        value = np.asarray(ops.convert_to_numpy(w), dtype="float64")
        w.assign((value + scale * rng.standard_normal(value.shape)).astype(w.dtype))
    return layer
