"""Reusable hypothesis strategies for snnref tests (models, networks, spike inputs).

Import them in any test file::

    from strategies import antlr_models, tsslbp_models, cases

Main entry point: :func:`cases` draws a :class:`Case` (net, x) whose weights are scaled by the
neuron model so that neurons spike a lot (spec 1.3: a weight of theta / max eps makes one input
spike reach threshold), with optional spikes at t = 0 and t = T-1 and bursts of consecutive spikes.
Large arrays are generated from a drawn seed (fast, reproducible, shrinkable through the seed and
the shape); scalars are drawn directly so hypothesis explores the parameter edges (alpha = 0 and 1,
tau = 1, ...).
"""
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from snnref import Network, NeuronModel
from snnref.neuron import eps

__all__ = [
    "alphas", "positive", "antlr_models", "tsslbp_models", "models", "spike_raster", "real_input",
    "network_for", "cases", "Case", "weight_scale",
]


def alphas():
    """A decay factor in [0, 1], with the edges 0 and 1 drawn often."""
    return st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0, allow_subnormal=False))


def positive(lo=0.1, hi=2.0):
    """A strictly positive scalar (betas, theta)."""
    return st.floats(lo, hi, allow_subnormal=False)


@st.composite
def antlr_models(draw, T=None, reset_current=None, strict_threshold=False, beta_auto=None):
    """ANTLR-family NeuronModel (psp_output=False).

    ``reset_current`` / ``strict_threshold`` / ``beta_auto``: a fixed value, or None to draw it.
    ``beta_auto`` needs ``T`` (the normaliser depends on it, spec 1.1); it is never drawn without T.
    """
    alpha_I = draw(alphas())
    alpha_V = draw(alphas())
    theta = draw(positive(0.2, 2.0))
    rc = draw(st.booleans()) if reset_current is None else reset_current
    strict = draw(st.booleans()) if strict_threshold is None else strict_threshold
    auto = (draw(st.booleans()) if beta_auto is None else beta_auto) and T is not None
    if auto:
        base = NeuronModel.antlr(alpha_I, alpha_V, T=T, beta_auto=True, theta=theta)
        return base.replace(reset_current=rc, strict_threshold=strict)
    return NeuronModel(alpha_I=alpha_I, alpha_V=alpha_V, beta_I=draw(positive()), beta_V=draw(positive()),
                       beta_bias=draw(st.one_of(st.just(0.0), positive())), theta=theta,
                       reset_current=rc, strict_threshold=strict)


@st.composite
def tsslbp_models(draw, tau_s=None):
    """TSSL-BP NeuronModel: tau_m, tau_s >= 1 (1 drawn often), theta > 0. ``tau_s`` fixes tau_s."""
    tau = st.one_of(st.just(1.0), st.floats(1.0, 20.0, allow_subnormal=False))
    tm = draw(tau)
    ts = draw(tau) if tau_s is None else tau_s
    return NeuronModel.tsslbp(tau_m=tm, tau_s=ts, theta=draw(positive(0.3, 2.0)))


def models(T=None):
    """Any model: ANTLR family (reset_current drawn) or TSSL-BP."""
    return st.one_of(antlr_models(T=T, reset_current=None), tsslbp_models())


def weight_scale(model, T, window=5):
    """theta / max_{tau < min(T, window)} eps[tau]: a weight that lets one spike reach threshold soon."""
    e = eps(model, max(1, min(T, window)))
    return model.theta / max(float(e.max()), 1e-12)


@st.composite
def spike_raster(draw, T, B, N, density=None, edges=None, bursts=None):
    """A (T, B, N) float64 raster in {0, 1}.

    density: probability of a spike per entry (drawn from 0.02 .. 1 if None). edges: force spikes at
    t = 0 and t = T-1 on some neurons (drawn if None). bursts: add runs of consecutive spikes
    (drawn if None).
    """
    p = draw(st.sampled_from([0.02, 0.1, 0.3, 0.6, 1.0])) if density is None else density
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = (rng.random((T, B, N)) < p).astype(np.float64)
    if (draw(st.booleans()) if edges is None else edges):
        for b in range(B):
            x[0, b, rng.integers(N)] = 1.0
            x[T - 1, b, rng.integers(N)] = 1.0
    if (draw(st.booleans()) if bursts is None else bursts):
        for _ in range(rng.integers(1, 4)):
            start = int(rng.integers(T))
            length = int(rng.integers(2, T + 2))
            x[start:start + length, rng.integers(B), rng.integers(N)] = 1.0
    return x


@st.composite
def real_input(draw, T, B, N):
    """Real-valued non-negative TSSL-BP input (T, B, N): constant images, noisy currents or spikes."""
    kind = draw(st.sampled_from(["constant", "noisy", "spikes"]))
    if kind == "spikes":
        return draw(spike_raster(T, B, N))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "constant":
        return np.broadcast_to(rng.random((1, B, N)), (T, B, N)).copy()
    return rng.random((T, B, N)) * (rng.random((T, B, N)) < 0.7)


@st.composite
def network_for(draw, model, T, n_in, max_layers=3, max_neurons=8, dtype=np.float64, with_bias=None):
    """A Network with 1..max_layers spiking layers whose weights make neurons spike a lot.

    W^l = scale * gain * (mu + N(0, 1)) with scale = :func:`weight_scale` (so a single input spike
    through a weight of ``scale`` reaches theta within a few steps), gain in [0.5, 3] and a positive
    mean mu, so that most neurons fire, some many times. Biases (ANTLR models with beta_bias > 0,
    drawn) are of the order of what reaches theta in a few steps, of both signs.
    """
    L = draw(st.integers(1, max_layers))
    sizes = [n_in] + [draw(st.integers(1, max_neurons)) for _ in range(L)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    gain = draw(st.floats(0.5, 3.0))
    mu = draw(st.sampled_from([0.3, 0.7, 1.5]))
    scale = weight_scale(model, T)
    weights = [scale * gain * (mu + rng.standard_normal((sizes[l], sizes[l + 1]))) for l in range(L)]
    biases = None
    use_bias = (draw(st.booleans()) if with_bias is None else with_bias) and model.beta_bias > 0
    if use_bias:
        geom = sum(model.alpha_V ** k for k in range(min(T, 5)))
        bscale = model.theta / (model.beta_bias * geom)
        biases = [bscale * rng.normal(0.1, 0.5, sizes[l + 1]) for l in range(L)]
    return Network(weights, biases, model, dtype=dtype)


@dataclass
class Case:
    """A drawn forward problem: ``net`` and its input ``x`` (T, B, N_0)."""

    net: Network
    x: np.ndarray

    @property
    def T(self):
        return self.x.shape[0]


@st.composite
def cases(draw, family="any", max_T=50, max_B=3, max_neurons=8, max_layers=3, dtype=np.float64,
          reset_current=None, model=None):
    """A :class:`Case` for ``family`` in {"antlr", "tsslbp", "any"} (or a fixed/drawn ``model``).

    ANTLR models get binary spike input; TSSL-BP models real-valued or spike input.
    """
    T = draw(st.integers(1, max_T))
    B = draw(st.integers(1, max_B))
    n_in = draw(st.integers(1, max_neurons))
    if model is None:
        if family == "any":
            family = draw(st.sampled_from(["antlr", "tsslbp"]))
        model = draw(antlr_models(T=T, reset_current=reset_current) if family == "antlr" else tsslbp_models())
    elif isinstance(model, st.SearchStrategy):
        model = draw(model)
    net = draw(network_for(model, T, n_in, max_layers=max_layers, max_neurons=max_neurons, dtype=dtype))
    x = draw(real_input(T, B, n_in) if model.psp_output else spike_raster(T, B, n_in))
    return Case(net, x)


def random_relaxed_case(rng, L, T, B, max_size):
    """A random network and a relaxed trace (spec 10.2): S real in [0, 1] with exact zeros and ones,
    random I and V, a real-valued input in [0, 1] with zeros. For checking that the activation rules
    use S arithmetically. Returns (net, trace, sizes)."""
    from snnref import LayerTrace, Trace

    sizes = list(rng.integers(1, max_size + 1, L + 1))
    m = NeuronModel(alpha_I=0.8, alpha_V=0.9, beta_I=1.2, beta_V=0.5, beta_bias=0.4)
    net = Network([rng.normal(size=(sizes[l], sizes[l + 1])) for l in range(L)],
                  [rng.normal(size=sizes[l + 1]) for l in range(L)], model=m)
    x = rng.random((T, B, sizes[0])) * (rng.random((T, B, sizes[0])) < 0.6)
    lts = []
    for l in range(L):
        shp = (T, B, sizes[l + 1])
        S = rng.choice([0.0, 1.0, 0.3, 0.9], size=shp) * rng.random(shp) ** 0.1
        lts.append(LayerTrace(rng.normal(size=shp), rng.normal(1.0, 0.5, size=shp), S))
    return net, Trace(layers=lts, x=x, a0=None, model=m, form="relaxed", T_full=T), sizes
