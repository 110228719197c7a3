"""A compiled Adam step and ``log_prob`` for a flow, each the way its Keras backend compiles best.

* TensorFlow: ``tf.function(jit_compile=True)`` (XLA) around a ``GradientTape`` step;
* JAX: ``jax.jit`` of a stateless step (Keras' ``StatelessScope`` and ``stateless_apply``, the
  pattern of Keras' own JAX training-loop guide), with XLA's cost analysis as the flop count;
* torch: eager (``loss.backward()`` and ``optimizer.apply``), as zuko runs.

Used by :mod:`benchmarks.speed`; the library itself does not depend on this module.
"""

from __future__ import annotations

from .common import LEARNING_RATE


def compiled(flow, x_batch, x_eval):
    """``(step(x) -> loss, log_prob(x) -> (n,), flops)`` for ``flow`` on the current backend.

    ``flops`` is ``{"step": ..., "log_prob_10k": ...}`` from XLA's cost analysis on JAX (flops plus
    transcendentals), else None. ``x_batch``/``x_eval`` fix the shapes to analyse.
    """
    import keras

    opt = keras.optimizers.Adam(LEARNING_RATE)
    variables = list(flow.trainable_variables)
    opt.build(variables)
    return {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}[keras.backend.backend()](
        flow, opt, variables, x_batch, x_eval)


def _tensorflow(flow, opt, variables, x_batch, x_eval):
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    log_prob = tf.function(flow.log_prob, jit_compile=True)
    return (lambda x: step(tf.constant(x))), (lambda x: log_prob(tf.constant(x))), None


def _jax(flow, opt, variables, x_batch, x_eval):
    import jax
    import keras

    others = [v for v in flow.variables if all(v is not t for t in variables)]

    def loss_fn(trainable, fixed, x):
        with keras.StatelessScope(state_mapping=list(zip(variables, trainable)) + list(zip(others, fixed))):
            return -keras.ops.mean(flow.log_prob(x))

    def step_fn(trainable, fixed, opt_state, x):
        loss, grads = jax.value_and_grad(loss_fn)(trainable, fixed, x)
        trainable, opt_state = opt.stateless_apply(opt_state, grads, trainable)
        return loss, trainable, opt_state

    def log_prob_fn(trainable, fixed, x):
        with keras.StatelessScope(state_mapping=list(zip(variables, trainable)) + list(zip(others, fixed))):
            return flow.log_prob(x)

    step_jit, log_prob_jit = jax.jit(step_fn), jax.jit(log_prob_fn)
    state = {"trainable": [v.value for v in variables], "fixed": [v.value for v in others],
             "opt": [v.value for v in opt.variables]}

    def step(x):
        loss, state["trainable"], state["opt"] = step_jit(state["trainable"], state["fixed"], state["opt"], x)
        return loss

    def log_prob(x):
        return log_prob_jit(state["trainable"], state["fixed"], x)

    def cost(fn, *args):
        analysis = fn.lower(*args).compile().cost_analysis()
        analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
        return float(analysis.get("flops", 0.0)) + float(analysis.get("transcendentals", 0.0))

    flops = {"step": cost(step_jit, state["trainable"], state["fixed"], state["opt"], x_batch),
             "log_prob_10k": cost(log_prob_jit, state["trainable"], state["fixed"], x_eval)}
    return step, log_prob, flops


def _torch(flow, opt, variables, x_batch, x_eval):
    import torch

    def step(x):
        x = torch.from_numpy(x)
        loss = -flow.log_prob(x).mean()
        flow.zero_grad()
        loss.backward()
        with torch.no_grad():
            opt.apply([v.value.grad for v in variables], variables)
        return loss.detach()

    def log_prob(x):
        with torch.no_grad():
            return flow.log_prob(torch.from_numpy(x))

    return step, log_prob, None
