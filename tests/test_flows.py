"""Flow-level invariants, run over every flow of ``flow_registry.py``, and the factories' architectures.

Layer-level invariants are in ``test_bijectors.py`` (over ``bijector_registry.py``); what is
specific to one layer (masks, constant parameters, spline knots, ...) is in ``test_coupling.py``
and ``test_spline.py``.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gaussianization.gauss_keras as gk
from gaussianization.gauss_keras import (
    Chain,
    FixedOrtho,
    Flow,
    GaussianizationFlow,
    Householder,
    MixtureCDFGaussianization,
    StandardNormal,
    base_nll_loss,
    make_coupling_flow,
    make_gaussianization_flow,
    make_spline_coupling_flow,
)

from .flow_registry import FLOWS, REGISTRY, flow_data
from .helpers import (
    autodiff_jacobian,
    autodiff_log_det,
    floatx,
    num_trainable,
    numpy,
    round_trip_errors,
    tensorflow_only,
    variable_gradients,
)

NAMES = sorted(REGISTRY)
HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


@functools.lru_cache(maxsize=None)
def shared_flow(name, dtype="float32"):
    """``(flow, dim)`` of registry entry ``name`` (seed 0), built once per module: tests that
    use it must not change its weights (those that train build their own)."""
    return FLOWS[name](seed=0, dtype=dtype)


def held_out(dim, n=1000, dtype="float32"):
    """Data from the flows' distribution that they were not initialised on (seed 1)."""
    return flow_data(dim, n, seed=1).astype(dtype)


# -- the battery ---------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_log_prob_is_base_plus_log_det(name):
    flow, d = shared_flow(name)
    x = held_out(d, 200)
    z, log_det = (numpy(t) for t in flow.forward_and_log_det(x))
    assert z.shape == x.shape and log_det.shape == (len(x),) and z.dtype == np.float32
    expected = -0.5 * np.sum(z.astype("float64") ** 2, axis=1) - d * HALF_LOG_2PI + log_det
    np.testing.assert_allclose(numpy(flow.log_prob(x)), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(numpy(flow(x)), z)


@pytest.mark.parametrize("name", NAMES)
def test_log_det_matches_autodiff_jacobian_float64(name):
    """The same flow built in float64 (every layer's weights float64): the exact log-det equals
    ``log|det J|`` of the autodiff Jacobian, on data points and on wider N(0, 2.5²) points."""
    flow, d = shared_flow(name, "float64")
    assert all(w.dtype == "float64" for w in flow.weights)
    rng = np.random.default_rng(0)
    x = np.concatenate([held_out(d, 48, "float64"), 2.5 * rng.standard_normal((16, d))])
    z, log_det = flow.forward_and_log_det(x)
    assert keras.backend.standardize_dtype(z.dtype) == "float64"
    expected = autodiff_log_det(lambda t: flow.forward_and_log_det(t)[0], x)
    # Measured: at most 6.1e-14 absolute over the registry (the tolerance leaves room for other CPUs).
    np.testing.assert_allclose(numpy(log_det), expected, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_on_data_and_samples(name):
    """SPEC targets for float32: ‖f⁻¹(f(x)) - x‖ at most 1e-4, median at most 1e-5."""
    flow, d = shared_flow(name)
    for x in (held_out(d), numpy(flow.sample(1000, seed=3))):
        worst, median = round_trip_errors(flow, x)
        assert worst <= 1e-4 and median <= 1e-5, (worst, median)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_gives_bit_identical_log_prob(name, tmp_path):
    flow, d = shared_flow(name)
    x = held_out(d, 200)
    path = tmp_path / f"{name}.keras"
    flow.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(flow) and loaded.input_dim == d
    assert [type(b) for b in loaded.bijector_layers] == [type(b) for b in flow.bijector_layers]
    assert loaded.count_params() == flow.count_params()
    np.testing.assert_array_equal(numpy(loaded.log_prob(x)), numpy(flow.log_prob(x)))
    np.testing.assert_array_equal(numpy(loaded(x)), numpy(flow(x)))


@pytest.mark.parametrize("name", NAMES)
def test_fit_lowers_the_nll_and_keeps_the_round_trip(name):
    flow, d = FLOWS[name](seed=0)
    x, x_test = flow_data(d, 1000, seed=0), held_out(d)
    before = -float(np.mean(numpy(flow.log_prob(x))))
    flow.compile(keras.optimizers.Adam(1e-2))
    history = flow.fit(x, batch_size=250, epochs=3, verbose=0)
    after = -float(np.mean(numpy(flow.log_prob(x))))
    # Measured drops after 3 epochs: 0.16 (RBIG-initialised diagonal flow) to 0.99 nats.
    assert after < before - 0.1, (before, after)
    losses = history.history["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    # The trained flow's round trip, through the eager inverse (the compiled `invert` is covered
    # by test_round_trip_on_data_and_samples; tracing it again here would cost 1-3 s per flow).
    back = numpy(flow.inverse_and_log_det(flow(x_test))[0])
    err = np.linalg.norm(back - x_test, axis=1)
    assert err.max() <= 1e-4 and np.median(err) <= 1e-5, (err.max(), np.median(err))


@pytest.mark.parametrize("name", NAMES)
def test_sample_shape_and_seeds(name):
    flow, d = shared_flow(name)
    a, b, c = (numpy(flow.sample(50, seed=s)) for s in (7, 7, 8))
    assert a.shape == (50, d) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert numpy(flow.sample(1, seed=7)).shape == (1, d)
    with pytest.raises(ValueError, match="num_samples"):
        flow.sample(0)


@pytest.mark.parametrize("name", NAMES)
def test_forward_with_intermediates(name):
    flow, d = shared_flow(name)
    x = held_out(d, 10)
    states = flow.forward_with_intermediates(x)
    assert len(states) == len(flow.bijector_layers) + 1
    np.testing.assert_array_equal(numpy(states[0]), x)
    assert all(tuple(s.shape) == x.shape for s in states)
    np.testing.assert_allclose(numpy(states[-1]), numpy(flow(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_input_width_and_rank_errors(name):
    flow, d = shared_flow(name)
    for method in (flow.log_prob, flow.forward_and_log_det, flow.invert, flow.forward_with_intermediates):
        with pytest.raises(ValueError, match="width"):
            method(np.zeros((3, d + 1), "float32"))
        with pytest.raises(ValueError, match="rank"):
            method(np.zeros((3,), "float32"))
        with pytest.raises(ValueError, match="rank"):
            method(np.zeros((2, 3, d), "float32"))


@pytest.mark.parametrize("name", NAMES)
def test_nan_rows_stay_local(name):
    flow, d = shared_flow(name)
    x = held_out(d, 6)
    x[2, 0] = np.nan
    log_p = numpy(flow.log_prob(x))
    assert np.isnan(log_p[2]) and np.isfinite(np.delete(log_p, 2)).all()
    np.testing.assert_allclose(np.delete(log_p, 2), numpy(flow.log_prob(np.delete(x, 2, 0))), rtol=1e-6)
    z = numpy(flow(held_out(d, 6)))
    z[1, -1] = np.nan
    back = numpy(flow.invert(z))
    assert np.isnan(back[1]).any() and np.isfinite(np.delete(back, 1, 0)).all()


@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_and_large_latents(name):
    flow, d = shared_flow(name)
    x = np.array([[1e3, -1e3, 0.0], [-1e3, 1e3, 5.0], [1e3, 1e3, -1e3]], "float32")[:, :d]
    z, log_det = flow.forward_and_log_det(x)
    assert np.isfinite(numpy(z)).all() and np.isfinite(numpy(log_det)).all()
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    z = np.zeros((64, d), "float32")
    z[:, 0], z[:, 1] = 8.0 * np.cos(angles), 8.0 * np.sin(angles)
    x_back = numpy(flow.invert(z))
    assert np.isfinite(x_back).all()
    # Measured: at most 1.8e-5 over the registry (radius-8 latents, float32).
    assert np.abs(numpy(flow(x_back)) - z).max() <= 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_every_weight_gets_a_finite_gradient(name):
    flow, d = shared_flow(name)
    x = flow_data(d, 200, seed=0)
    _, grads = variable_gradients(lambda: -keras.ops.mean(flow.log_prob(x)), flow.trainable_variables)
    assert flow.trainable_variables and len(grads) == len(flow.trainable_variables)
    for v, g in zip(flow.trainable_variables, grads):
        assert g is not None and np.isfinite(numpy(g)).all(), v.path


# The perturbed coupling flows put visible mass outside the box (components with σ up to e³), so
# the check runs on the flows whose mass lies inside [-8, 8]² (measured 1 - 2e-6 or closer).
@pytest.mark.parametrize("name", ["diagonal", "ig_coupling", "spline_coupling"])
def test_density_integrates_to_one(name):
    flow, _ = shared_flow(name)
    grid = np.linspace(-8, 8, 321)
    xx, yy = np.meshgrid(grid, grid)
    pts = np.stack([xx.ravel(), yy.ravel()], 1).astype("float32")
    mass = np.exp(numpy(flow.log_prob(pts)).astype("float64")).sum() * (grid[1] - grid[0]) ** 2
    assert abs(mass - 1.0) < 2e-3, mass


def test_registry_covers_every_bijector_class():
    seen = set()

    def visit(layers):
        for layer in layers:
            seen.add(type(layer))
            if isinstance(layer, Chain):
                visit(layer.bijectors)

    for name in NAMES:
        visit(shared_flow(name)[0].bijector_layers)
    exported = {obj for obj in vars(gk).values() if isinstance(obj, type) and issubclass(obj, gk.Bijector)}
    assert exported - {gk.Bijector} <= seen, exported - seen


# -- flow structure and training -------------------------------------------------------------
def test_flow_holds_a_chain_and_a_standard_normal_base():
    flow, _ = shared_flow("diagonal")
    assert isinstance(flow, Flow) and issubclass(GaussianizationFlow, Flow)
    assert isinstance(flow.transform, Chain) and flow.bijector_layers == flow.transform.bijectors
    assert isinstance(flow.base, StandardNormal)
    nested, _ = shared_flow("nested")
    assert isinstance(nested.bijector_layers[0], Chain) and isinstance(nested.bijector_layers[0].bijectors[0], Chain)
    single = Flow(Householder(2), input_dim=2)
    assert [type(b) for b in single.bijector_layers] == [Householder]


def test_flow_of_one_bijector_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    flow = Flow(MixtureCDFGaussianization(3, name="marginal"), input_dim=2)
    x = held_out(2, 50)
    flow.save(tmp_path / "one.keras")
    loaded = keras.saving.load_model(tmp_path / "one.keras")
    np.testing.assert_array_equal(numpy(loaded(x)), numpy(flow(x)))
    np.testing.assert_array_equal(numpy(loaded.log_prob(x)), numpy(flow.log_prob(x)))


def test_fit_with_targets_and_evaluate_report_the_exact_nll():
    """The seeds' spelling: ``compile(loss=base_nll_loss)`` and ``fit(X, X)`` (targets ignored);
    the battery above fits without targets."""
    keras.utils.set_random_seed(0)
    x = flow_data(2, 1000, seed=0)
    flow = make_gaussianization_flow(2, 1, 2, 4, pca_init_data=x, mixture_init_data=x)
    flow.compile(keras.optimizers.Adam(1e-2), loss=base_nll_loss)
    history = flow.fit(x, x, batch_size=500, epochs=2, verbose=0)
    exact = -float(np.mean(numpy(flow.log_prob(x))))
    assert history.history["loss"][-1] < history.history["loss"][0]
    evaluated = flow.evaluate(x, batch_size=len(x), verbose=0)
    assert abs(evaluated - exact) < 1e-4, (evaluated, exact)


@tensorflow_only("the chapters, whose spelling this compares with the seeds', run on TensorFlow")
def test_seed_spelling_trains_exactly_as_the_book_does():
    """``compile(loss=base_nll_loss)`` + ``fit(X, X)`` (the seeds) and ``compile()`` + ``fit(X)``
    (every chapter) are the same training, to the bit: same losses, same weights."""
    x = flow_data(2, 1000, seed=0)
    runs = []
    for seeds_spelling in (True, False):
        keras.utils.set_random_seed(0)
        flow = make_gaussianization_flow(2, 2, 2, 4, pca_init_data=x, mixture_init_data=x)
        if seeds_spelling:
            flow.compile(keras.optimizers.Adam(1e-2), loss=base_nll_loss)
            history = flow.fit(x, x, batch_size=250, epochs=2, verbose=0)
        else:
            flow.compile(keras.optimizers.Adam(1e-2))
            history = flow.fit(x, batch_size=250, epochs=2, verbose=0)
        runs.append((history.history["loss"], [numpy(w) for w in flow.weights]))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_compile_accepts_only_the_nll():
    flow = make_gaussianization_flow(2, 1, 2, 2)
    for loss in (None, base_nll_loss, "base_nll_loss"):
        flow.compile("adam", loss=loss)
    for loss in ("mse", keras.losses.MeanSquaredError()):
        with pytest.raises(ValueError, match="negative log-likelihood"):
            flow.compile("adam", loss=loss)


# -- the factories' architectures (the seeds' parameter counts) ------------------------------
def test_diagonal_seed_architecture_parameter_counts(moons_2000):
    flow = make_gaussianization_flow(2, 8, 2, 8, pca_init_data=moons_2000, mixture_init_data=moons_2000)
    assert len(flow.bijector_layers) == 17 and num_trainable(flow) == 416
    assert isinstance(flow.bijector_layers[0], FixedOrtho)
    small = make_gaussianization_flow(2, 4, 2, 8)
    assert len(small.bijector_layers) == 8 and num_trainable(small) == 208


def test_coupling_seed_architecture_parameter_counts():
    flow = make_coupling_flow(2, 4, num_components=8, hidden=(64, 64))
    kinds = [type(b).__name__ for b in flow.bijector_layers]
    assert len(kinds) == 12 and kinds.count("Householder") == 4 and kinds.count("MixtureCDFCoupling") == 8
    assert all(b.num_reflectors == 2 for b in flow.bijector_layers if isinstance(b, Householder))
    assert num_trainable(flow) == 46_800
    assert num_trainable(make_coupling_flow(2, 4, num_components=8, hidden=(32, 32))) == 15_312
    # d_b = 1: the shared mixture has the same width 3·K.
    assert num_trainable(make_coupling_flow(2, 4, 8, (64, 64), shared_mixture=True)) == 46_800


def test_spline_flow_parameter_count():
    flow = make_spline_coupling_flow(2, 2, num_bins=8, hidden=(16,))
    # per block: 2·2 reflector weights + 2 couplings × [(1+1)·16 + (16+1)·23]
    assert len(flow.bijector_layers) == 6
    assert num_trainable(flow) == 2 * (4 + 2 * (32 + 17 * 23))


# -- random flows invert everywhere ----------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(
    dim=st.integers(1, 4),
    blocks=st.integers(1, 3),
    k=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 30.0),
)
def test_property_random_flows_invert_everywhere(dim, blocks, k, seed, scale):
    """Random parameters can make a mixture CDF almost flat between two narrow, distant
    modes (dz/dx down to 1e-15): there z cannot resolve x in any precision, since an x-error
    δ moves z by only δ·dz/dx. Where the flow stretches space instead, the rounding of f⁻¹(z)
    to the working precision moves f(f⁻¹(z)) by up to ‖J‖·ε·|x|. So the latent consistency
    f(f⁻¹(z)) = z is checked for every point in both precisions with that rounding allowance
    (‖J‖ the spectral norm of the autodiff Jacobian at f⁻¹(z)), and the x-space round trip in
    float64 wherever the flow does not squash volume by more than 1e6 (|det J| > 1e-6)."""
    rng = np.random.default_rng(seed)
    noise = None
    for dtype in ("float64", "float32"):
        with floatx(dtype):
            keras.utils.set_random_seed(seed)
            flow = make_gaussianization_flow(dim, blocks, 2, k)
            assert all(w.dtype == dtype for w in flow.weights)
            noise = noise or [0.5 * rng.standard_normal(w.shape) for w in flow.trainable_weights]
            for w, n in zip(flow.trainable_weights, noise):
                w.assign((numpy(w) + n).astype(dtype))
            x = (scale * np.random.default_rng(seed + 1).standard_normal((64, dim))).astype(dtype)
            z, log_det = (numpy(t) for t in flow.forward_and_log_det(x))
            back = numpy(flow.inverse_and_log_det(z)[0])  # eager: a compiled `invert` per example costs 1-2 s
            z_again = numpy(flow.forward_and_log_det(back)[0])
            stretch = np.linalg.norm(autodiff_jacobian(lambda t: flow.forward_and_log_det(t)[0], back),
                                     ord=2, axis=(1, 2))
        assert np.isfinite(z).all() and np.isfinite(log_det).all()
        tol = 1e-10 if dtype == "float64" else 1e-4
        rounding = 4 * np.finfo(dtype).eps * np.maximum(1.0, np.abs(back).max(axis=1)) * stretch
        allowed = tol * (1 + np.abs(z)) + rounding[:, None]
        assert np.all(np.abs(z_again - z) <= allowed)
        if dtype == "float64":
            well_posed = log_det > np.log(1e-6)
            np.testing.assert_allclose(back[well_posed], x[well_posed], rtol=1e-7, atol=1e-7 * max(1.0, scale))


# -- bad arguments ---------------------------------------------------------------------------
def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="K"):
        MixtureCDFGaussianization(0)
    with pytest.raises(ValueError, match="K"):
        make_gaussianization_flow(2, 2, 2, 0)
    with pytest.raises(ValueError, match="num_blocks"):
        make_gaussianization_flow(2, 0)
    with pytest.raises(ValueError, match="num_reflectors"):
        Householder(0)
    with pytest.raises(ValueError, match="orthogonal"):
        FixedOrtho(np.array([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="Bijector"):
        GaussianizationFlow([keras.layers.Dense(2)], input_dim=2)
    with pytest.raises(ValueError, match="at least one"):
        GaussianizationFlow([], input_dim=2)
    with pytest.raises(ValueError, match="input_dim"):
        Flow([Householder(2)], input_dim=0)
    with pytest.raises(ValueError, match="at least one"):
        Chain([])
    with pytest.raises(ValueError, match="Bijector"):
        Chain([Householder(2), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        make_gaussianization_flow(2, 2, pca_init_data=np.zeros((10, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        make_gaussianization_flow(2, 2, mixture_init_data=np.zeros((1, 2)))
    with pytest.raises(ValueError, match="input_dim >= 2"):
        make_coupling_flow(1, 2)
    with pytest.raises(ValueError, match="num_blocks"):
        make_coupling_flow(2, 0)
    with pytest.raises(ValueError, match="K"):
        make_coupling_flow(2, 2, num_components=0)
    with pytest.raises(ValueError, match="length 3"):
        make_coupling_flow(2, 1, 2, (4,), mask=[True, False, True])
    with pytest.raises(ValueError, match="input_dim >= 2"):
        make_spline_coupling_flow(1, 2)
    with pytest.raises(ValueError, match="num_blocks"):
        make_spline_coupling_flow(2, 0)


@tensorflow_only("TensorFlow's frequent-retracing detector and its log line")
def test_many_flows_inverted_once_each_log_no_retracing_warning():
    """A sweep builds many flows and inverts each once: that is one trace per flow, not
    retracing, and TensorFlow must not say otherwise (it counts traces per code object)."""
    import logging

    import tensorflow as tf

    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    tf.get_logger().addHandler(handler)
    try:
        x = np.random.default_rng(0).standard_normal((16, 2)).astype("float32")
        for _ in range(7):  # TensorFlow warns from the fifth trace of one code object on
            flow = make_gaussianization_flow(2, 1, num_components=2)
            flow.invert(flow(x))
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [r.getMessage() for r in records if "retracing" in r.getMessage()]
