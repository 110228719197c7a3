"""The library's only TensorFlow code: graph compilation, a shape-changing loop, batch Jacobians.

Everything else is written with ``keras.ops``; porting the library to another Keras backend
means re-implementing the three functions of this module.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["batch_jacobian", "compile_function", "while_loop_shrinking"]


def compile_function(fn, input_dim: int | None = None):
    """Trace ``fn`` (tensors in, tensors out) into a reusable graph.

    Used for the iterative inverses, whose loop is slow op by op in eager mode. With
    ``input_dim``, ``fn`` takes one ``(batch, input_dim)`` tensor and is traced once per
    dtype for every batch size (no retracing when the batch size changes).
    """
    if input_dim is None:
        return tf.function(fn, reduce_retracing=True, autograph=False)
    traced = {}

    def call(x):
        x = tf.convert_to_tensor(x)
        if x.dtype not in traced:
            spec = tf.TensorSpec((None, int(input_dim)), x.dtype)
            traced[x.dtype] = tf.function(fn, input_signature=[spec], autograph=False)
        return traced[x.dtype](x)

    return call


def while_loop_shrinking(cond, body, loop_vars):
    """``while cond(*v): v = body(*v)`` where tensors may change their leading dimension
    between iterations (a loop that drops the entries that are done). ``loop_vars`` is a flat
    tuple of tensors (or numbers); the final values are returned as a tuple."""
    loop_vars = tuple(tf.convert_to_tensor(v) for v in loop_vars)
    invariants = tuple(tf.TensorShape([None, *v.shape[1:]]) if v.shape.rank else v.shape for v in loop_vars)
    return tf.while_loop(cond, lambda *v: tuple(body(*v)), loop_vars, shape_invariants=invariants)


def batch_jacobian(fn, x):
    """Per-example Jacobians ``∂fn(x)_i/∂x_j`` by autodiff: ``x`` ``(n, d)`` → ``((n, d_out, d), fn(x))``.

    ``fn`` must act on each row of ``x`` independently (as every bijector does).
    """
    x = tf.convert_to_tensor(x)
    with tf.GradientTape(persistent=True) as tape:  # persistent: a loop over outputs, no pfor retracing
        tape.watch(x)
        y = fn(x)
    jacobian = tape.batch_jacobian(y, x, experimental_use_pfor=False)
    del tape
    return jacobian, y
