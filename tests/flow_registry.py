"""The one registry of flows that the battery in ``test_flows.py`` runs over.

``FLOWS[name](seed=0, dtype="float32")`` returns ``(flow, dim)``: a built flow of every kind the
library can make (each factory, each way of giving a coupling its conditioner, nested chains,
the RBIG warm start) and its data dimension. The flows are small (hidden ≤ (16, 16), 1-2 blocks,
K ≤ 4) so that the battery is fast. Unless the entry says ``noise=0``, every trainable weight is
moved off its initial value (so the couplings' zero-kernel heads become non-zero and θ depends
on x_a): the invariants are checked on generic maps, and loading must restore every weight.
``dtype="float64"`` builds the same flow under float64 floatx *and* dtype policy
(:func:`tests.helpers.floatx`; the factories take no dtype, every layer follows the policy). ``flow_data(dim, n, seed)`` is the data a
flow of that dimension was initialised on (PCA, quantile init, RBIG). Add every new kind here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

from gaussianization.gauss_keras import (
    Chain,
    Coupling,
    Flow,
    GaussianizationFlow,
    Householder,
    MixtureCDFCoupling,
    MixtureCDFGaussianization,
    RationalQuadraticSpline,
    initialize_flow_from_ig,
    make_coupling_flow,
    make_gaussianization_flow,
    make_mlp_conditioner,
    make_spline_coupling_flow,
)

from .helpers import floatx, moons, perturb, residual_trunk

MASK = np.array([True, False])


def flow_data(dim: int, n: int = 1000, seed: int = 0) -> np.ndarray:
    """Standardised float32 ``(n, dim)`` data: two moons (d = 2), or two moons and a third
    coordinate that depends non-linearly on them (d = 3)."""
    x = moons(n, seed)
    if dim == 2:
        return x
    if dim != 3:
        raise ValueError(f"flow_data: dim must be 2 or 3; got {dim}.")
    third = np.sin(2.0 * x[:, 0]) * x[:, 1] + 0.3 * np.random.default_rng(seed + 1).standard_normal(n)
    y = np.column_stack([x, third])
    return ((y - y.mean(0)) / y.std(0)).astype("float32")


@dataclass(frozen=True)
class FlowEntry:
    build: Callable          # build(x) -> flow, x = flow_data(dim, seed=seed)
    dim: int = 2
    noise: float = 0.1       # std of the weight perturbation; 0: the flow as built


def _diagonal(x):
    return make_gaussianization_flow(2, 2, num_reflectors=2, num_components=4, pca_init_data=x, mixture_init_data=x)


def _coupling(x):
    return make_coupling_flow(2, 1, num_components=4, hidden=(16, 16))


def _shared_coupling(x):
    return make_coupling_flow(3, 1, num_components=4, hidden=(16,), shared_mixture=True, num_reflectors=3)


def _spline_coupling(x):
    return make_spline_coupling_flow(2, 1, num_bins=4, hidden=(16,))


def _custom_trunk(x):
    layers = []
    for block, mask in enumerate((MASK, ~MASK)):  # two (Householder, coupling) pairs
        layers.append(Householder(2, name=f"householder_{block}"))
        layers.append(MixtureCDFCoupling(mask, trunk=residual_trunk(1, 8, name=f"trunk_{block}"), num_components=3,
                                         name=f"coupling_{block}"))
    return GaussianizationFlow(layers, input_dim=2, name="custom_trunk_flow")


def _seed_conditioner(x):
    k = 3
    layers = [Householder(2, name="householder_0")]
    for half, mask in zip("ab", (MASK, ~MASK)):
        layers.append(MixtureCDFCoupling(mask, make_mlp_conditioner(1, k, (8,)), num_components=k,
                                         name=f"coupling_0{half}"))
    return GaussianizationFlow(layers, input_dim=2, name="seed_conditioner_flow")


def _nested(x):
    inner = Chain([Householder(2, name="householder_0"), MixtureCDFGaussianization(3, name="marginal_0")],
                  name="inner_chain")
    outer = Chain([inner, Householder(2, name="householder_1"),
                   MixtureCDFCoupling(MASK, num_components=3, hidden=(8,), name="coupling_1")], name="outer_chain")
    generic = Coupling(~MASK, RationalQuadraticSpline(num_bins=4), hidden=(8,), name="spline_2")
    return Flow([outer, generic], input_dim=2, name="nested_flow")


def _ig_diagonal(x):
    flow = make_gaussianization_flow(2, 2, num_reflectors=2, num_components=4)
    initialize_flow_from_ig(flow, x)
    return flow


def _ig_coupling(x):
    flow = make_coupling_flow(2, 2, num_components=4, hidden=(8,))
    initialize_flow_from_ig(flow, x)
    return flow


REGISTRY: dict[str, FlowEntry] = {
    "diagonal": FlowEntry(_diagonal),
    "coupling": FlowEntry(_coupling),
    "shared_coupling": FlowEntry(_shared_coupling, dim=3),
    "spline_coupling": FlowEntry(_spline_coupling),
    "custom_trunk": FlowEntry(_custom_trunk),
    "seed_conditioner": FlowEntry(_seed_conditioner),
    "nested": FlowEntry(_nested),
    "ig_diagonal": FlowEntry(_ig_diagonal, noise=0.0),
    "ig_coupling": FlowEntry(_ig_coupling, noise=0.0),
}


def make_flow(name: str, seed: int = 0, dtype: str = "float32"):
    """``(flow, dim)`` for registry entry ``name``: built in ``dtype``, reproducible for ``seed``."""
    entry = REGISTRY[name]
    x = flow_data(entry.dim, seed=seed)
    with floatx(dtype):
        keras.utils.set_random_seed(seed)
        flow = entry.build(x)
        if entry.noise:
            perturb(flow, np.random.default_rng(seed), entry.noise)
    assert flow.input_dim == entry.dim and flow.built
    return flow, entry.dim


#: name → ``factory(seed=0, dtype="float32") -> (flow, dim)``.
FLOWS: dict[str, Callable] = {name: functools.partial(make_flow, name) for name in REGISTRY}
