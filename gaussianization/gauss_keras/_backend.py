"""The library's only backend-specific code: compilation, a shape-changing loop, batch Jacobians,
the distribution scope of a model.

Everything else is written with ``keras.ops``. Each function below has one implementation per
Keras backend (``keras.backend.backend()``: ``tensorflow``, ``jax`` or ``torch``); JAX and torch
are imported only under their own backend, so a TensorFlow-only install never imports them.

The library computes its iterative inverses in float64 (and float64 layers stay float64
throughout), so under JAX and torch importing this module changes two process-wide
settings: JAX's ``jax_enable_x64`` is turned on (JAX would otherwise silently compute in float32),
and Keras's type promotion keeps float64 (outside TensorFlow, Keras 3 demotes a float64 result
of ``keras.ops.maximum`` and others to float32, mimicking JAX without x64). Float32 stays the
default dtype of layers and data (``keras.config.floatx``), as on TensorFlow.
"""

from __future__ import annotations

import contextlib
import functools

import keras

__all__ = ["BACKEND", "STATIC_SHAPES", "batch_jacobian", "compile_eager", "compile_function", "distribution_scope",
           "num_replicas", "while_loop_shrinking"]

#: The Keras backend this module was imported under.
BACKEND = keras.backend.backend()

#: Whether a loop must keep its tensors' shapes (JAX: ``jit`` and ``lax.while_loop`` need
#: static shapes); then :func:`while_loop_shrinking` is not available and a loop that drops
#: finished rows must mask them instead.
STATIC_SHAPES = BACKEND == "jax"

if BACKEND not in ("tensorflow", "jax", "torch"):  # pragma: no cover - numpy / openvino cannot differentiate
    raise ImportError(f"gauss_keras runs on the tensorflow, jax and torch backends of Keras; got {BACKEND!r}.")
if BACKEND == "tensorflow":
    import tensorflow as tf
else:
    from keras.src.backend.common import dtypes as _keras_dtypes

    _keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
if BACKEND == "jax":
    import jax

    jax.config.update("jax_enable_x64", True)
if BACKEND == "torch":
    import torch


def compile_function(fn, input_dim: int | None = None, variables=()):
    """``fn`` (tensors in, tensors out) compiled for repeated calls, or ``fn`` itself on torch.

    Used for the iterative inverses, whose loop is slow op by op. TensorFlow traces a graph; with
    ``input_dim``, ``fn`` takes one ``(batch, input_dim)`` tensor and is traced once per dtype for
    every batch size. JAX compiles with ``jax.jit`` (once per input shape and dtype); the Keras
    ``variables`` that ``fn`` reads are passed in as arguments, so later changes to their values
    (training, loading) are seen. Torch runs ``fn`` eagerly.
    """
    if BACKEND == "torch":
        return fn
    if BACKEND == "jax":
        variables = list(variables)

        def stateless(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*args)

        jitted = jax.jit(stateless)
        return lambda *args: jitted([v.value for v in variables], *args)
    # TensorFlow counts traces per Python code object, across tf.function instances: one flow
    # traces its inverse once, but the sixth flow built from the same code (a sweep, a test
    # suite) would log "5 out of the last 5 calls ... triggered tf.function retracing" although
    # no function retraced. A functools.partial has no __code__, so each compiled function is
    # counted on its own and the warning keeps its meaning (one function tracing again and again).
    if input_dim is None:
        return tf.function(functools.partial(fn), reduce_retracing=True, autograph=False)
    traced = {}

    def call(x):
        x = tf.convert_to_tensor(x)
        if x.dtype not in traced:
            spec = tf.TensorSpec((None, int(input_dim)), x.dtype)
            traced[x.dtype] = tf.function(functools.partial(fn), input_signature=[spec], autograph=False)
        return traced[x.dtype](x)

    return call


def compile_eager(fn, variables=()):
    """``fn`` compiled where running it op by op is slow: on JAX, whose eager mode compiles every
    op anew for every input shape, :func:`compile_function` (one compilation per shape instead);
    ``fn`` itself on TensorFlow and torch, whose eager ops need no compilation."""
    return compile_function(fn, variables=variables) if BACKEND == "jax" else fn


def while_loop_shrinking(cond, body, loop_vars):
    """``while cond(*v): v = body(*v)`` where tensors may change their leading dimension
    between iterations (a loop that drops the entries that are done). ``loop_vars`` is a flat
    tuple of tensors (or numbers); the final values are returned as a tuple.

    TensorFlow: ``tf.while_loop`` (graph or eager); torch: a Python loop. Not on JAX
    (:data:`STATIC_SHAPES`): NotImplementedError.
    """
    if BACKEND == "jax":
        raise NotImplementedError("JAX needs static shapes: mask finished rows instead (see STATIC_SHAPES).")
    if BACKEND == "torch":
        loop_vars = tuple(loop_vars)
        while bool(cond(*loop_vars)):
            loop_vars = tuple(body(*loop_vars))
        return loop_vars
    loop_vars = tuple(tf.convert_to_tensor(v) for v in loop_vars)
    invariants = tuple(tf.TensorShape([None, *v.shape[1:]]) if v.shape.rank else v.shape for v in loop_vars)
    return tf.while_loop(cond, lambda *v: tuple(body(*v)), loop_vars, shape_invariants=invariants)


def batch_jacobian(fn, x):
    """Per-example Jacobians ``∂fn(x)_i/∂x_j`` by autodiff: ``x`` ``(n, d)`` → ``((n, d_out, d), fn(x))``.

    ``fn`` must act on each row of ``x`` independently (as every bijector does). JAX and torch
    differentiate ``fn`` applied to one row at a time (``vmap`` of forward-mode ``jacfwd`` on JAX,
    which also goes through ``lax.while_loop``; of ``jacrev`` on torch).
    """
    x = keras.ops.convert_to_tensor(x)
    if BACKEND == "jax":
        return jax.vmap(jax.jacfwd(lambda row: fn(row[None])[0]))(x), fn(x)
    if BACKEND == "torch":
        return torch.func.vmap(torch.func.jacrev(lambda row: fn(row[None])[0]))(x), fn(x)
    with tf.GradientTape(persistent=True) as tape:  # persistent: a loop over outputs, no pfor retracing
        tape.watch(x)
        y = fn(x)
    jacobian = tape.batch_jacobian(y, x, experimental_use_pfor=False)
    del tape
    return jacobian, y


def distribution_scope(model):
    """The context in which ``model``'s training state must be created.

    TensorFlow: the scope of the ``tf.distribute`` strategy the model was built under (its
    ``distribute_strategy``; the default strategy when none), so that optimizer slots created
    outside ``fit`` are mirrored like the model's variables. JAX and torch: no context needed
    (``keras.distribution`` lays variables out when they are created).
    """
    if BACKEND == "tensorflow":
        return model.distribute_strategy.scope()
    return contextlib.nullcontext()


def num_replicas(model) -> int:
    """How many replicas compute a gradient of their own before it is summed: the
    ``num_replicas_in_sync`` of the model's ``tf.distribute`` strategy on TensorFlow, 1 elsewhere
    (``keras.distribution.DataParallel`` on JAX traces one program over the global batch, so the
    optimizer sees the global gradient)."""
    if BACKEND == "tensorflow":
        return int(model.distribute_strategy.num_replicas_in_sync)
    return 1
