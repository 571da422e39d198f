"""Shared hypothesis strategies, case builder and tolerances of the tests/test_tsslbp_*.py files (no tests here)."""
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from snnref import Network, NeuronModel, forward

#: float64 kernel vs literal oracle; float32 vs float64
RTOL64, ATOL64 = 1e-12, 1e-12
RTOL32, ATOL32 = 1e-4, 1e-5
#: finite differences of the (polynomial) surrogate models, h = 1e-6
FD_RTOL, FD_ATOL = 1e-6, 1e-8


@dataclass
class Case:
    net: Network
    x: np.ndarray
    trace: object
    dL_da: np.ndarray
    seed: int


def make_case(seed, T, B, sizes, tau_m, tau_s, theta, dtype=np.float64, w_mean=0.4, w_std=1.2, spike_input=False):
    """A TSSL-BP network whose layers spike a fair amount, its trace and a random output error."""
    rng = np.random.default_rng(seed)
    ws = [rng.normal(w_mean, w_std, (sizes[l], sizes[l + 1])) * theta * tau_s / 2 for l in range(len(sizes) - 1)]
    net = Network(ws, model=NeuronModel.tsslbp(tau_m, tau_s, theta), dtype=dtype)
    if spike_input:
        x = (rng.random((T, B, sizes[0])) < 0.4).astype(np.float64)
    else:
        x = rng.random((T, B, sizes[0])) * 2.0
    trace = forward(net, x)
    dL_da = rng.normal(0.0, 1.0, (T, B, sizes[-1]))
    return Case(net, x, trace, dL_da, seed)


@st.composite
def cases(draw, T=None, max_layers=3, dtype=np.float64, tau_s=None):
    seed = draw(st.integers(0, 2**31 - 1))
    T = draw(st.integers(1, 20)) if T is None else T
    B = draw(st.integers(1, 3))
    L = draw(st.integers(1, max_layers))
    sizes = [draw(st.integers(1, 6)) for _ in range(L + 1)]
    tau_m = draw(st.one_of(st.just(1.0), st.floats(1.0, 10.0)))
    tau_s = draw(st.one_of(st.sampled_from([1.0, 2.0, 3.0, 4.0]), st.floats(1.0, 6.0))) if tau_s is None else tau_s
    theta = draw(st.floats(0.3, 2.0))
    w_mean = draw(st.sampled_from([-0.2, 0.4, 1.0]))
    spike_input = draw(st.booleans())
    return make_case(seed, T, B, sizes, tau_m, tau_s, theta, dtype=dtype, w_mean=w_mean, spike_input=spike_input)


def layer_dicts(trace):
    """The trace as the oracle's per-layer dicts (float64)."""
    return [dict(x=np.asarray(lt.I, float), u=np.asarray(lt.u, float), du=np.asarray(lt.du, float),
                 s=np.asarray(lt.S, float), a=np.asarray(lt.a, float)) for lt in trace.layers]
