"""Reusable hypothesis strategies and case builders for snnref tests (models, networks, inputs).

Import them in any test file::

    from strategies import antlr_models, tsslbp_models, cases

Every random network is built by ONE function, :func:`random_network`; the strategies differ only
in what they draw (sizes, models, weight distributions, loss gradients):

``cases``              forward problems of any family (weights scaled so that neurons spike a lot)
``antlr_rule_cases``   ANTLR-family backward problems (net, trace, dL_dS, dL_dt) for the rule tests
``fast_path_problems`` the same with loss-gradient kinds that exercise the fast path's t_end
``tsslbp_cases``       TSSL-BP backward problems (:class:`TsslCase`, built by :func:`make_tsslbp_case`)
``random_relaxed_case`` a relaxed trace (S real in [0, 1]) for the activation rules

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

from snnref import LayerTrace, Network, NeuronModel, Trace, forward, losses
from snnref.neuron import eps

__all__ = [
    "alphas", "positive", "antlr_models", "tsslbp_models", "models", "spike_raster", "real_input",
    "random_network", "network_for", "cases", "Case", "weight_scale", "antlr_rule_cases", "fast_path_problems",
    "TsslCase", "make_tsslbp_case", "tsslbp_cases", "layer_dicts", "make_trace", "random_relaxed_case",
]


def random_network(rng, sizes, model, *, w_loc=0.0, w_std=1.0, w_factors=(), bias=None, dtype=np.float64):
    """THE network builder of the tests: layer sizes ``sizes`` = [N_0, N_1, ..., N_L].

    W^l = N(w_loc, w_std) of shape (N_{l-1}, N_l), multiplied in turn by each of ``w_factors``
    (numbers, or functions of N_{l-1}); with ``bias=(loc, std, factor)`` the biases
    b^l = factor * N(loc, std). All weights are drawn from ``rng`` first, then all biases, layer by
    layer."""
    L = len(sizes) - 1
    weights = []
    for l in range(L):
        w = rng.normal(w_loc, w_std, (sizes[l], sizes[l + 1]))
        for f in w_factors:
            w = w * (f(sizes[l]) if callable(f) else f)
        weights.append(w)
    biases = None
    if bias is not None:
        loc, std, factor = bias
        biases = [factor * rng.normal(loc, std, sizes[l + 1]) for l in range(L)]
    return Network(weights, biases, model, dtype=dtype)


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
    bias = None
    use_bias = (draw(st.booleans()) if with_bias is None else with_bias) and model.beta_bias > 0
    if use_bias:
        geom = sum(model.alpha_V ** k for k in range(min(T, 5)))
        bias = (0.1, 0.5, model.theta / (model.beta_bias * geom))
    return random_network(rng, sizes, model, w_loc=mu, w_std=1.0, w_factors=(scale * gain,), bias=bias, dtype=dtype)


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


def make_trace(net, x, layers):
    """A Trace from given (I, V, S) arrays (e.g. random or relaxed states)."""
    lts = [LayerTrace(np.ascontiguousarray(I), np.ascontiguousarray(V), np.ascontiguousarray(S))
           for I, V, S in layers]
    return Trace(layers=lts, x=np.ascontiguousarray(x, dtype=net.dtype), a0=None, model=net.model, form="rnn",
                 T_full=x.shape[0])


def random_relaxed_case(rng, L, T, B, max_size):
    """A random network and a relaxed trace (spec 10.2): S real in [0, 1] with exact zeros and ones,
    random I and V, a real-valued input in [0, 1] with zeros. For checking that the activation rules
    use S arithmetically. Returns (net, trace, sizes)."""
    sizes = list(rng.integers(1, max_size + 1, L + 1))
    m = NeuronModel(alpha_I=0.8, alpha_V=0.9, beta_I=1.2, beta_V=0.5, beta_bias=0.4)
    net = random_network(rng, sizes, m, bias=(0.0, 1.0, 1.0))
    x = rng.random((T, B, sizes[0])) * (rng.random((T, B, sizes[0])) < 0.6)
    lts = []
    for l in range(L):
        shp = (T, B, sizes[l + 1])
        S = rng.choice([0.0, 1.0, 0.3, 0.9], size=shp) * rng.random(shp) ** 0.1
        lts.append(LayerTrace(rng.normal(size=shp), rng.normal(1.0, 0.5, size=shp), S))
    return net, Trace(layers=lts, x=x, a0=None, model=m, form="rnn", T_full=T), sizes


# --------------------------------------------------------------------------------------- rule problems
def _antlr_rule_model(draw, T, alpha_Is, alpha_Vs):
    alpha_I = draw(st.sampled_from(alpha_Is))
    alpha_V = draw(st.sampled_from(alpha_Vs))
    if draw(st.booleans()) and alpha_I + alpha_V > 0:
        return NeuronModel.antlr(alpha_I, alpha_V, T=T)
    return NeuronModel(alpha_I=alpha_I, alpha_V=alpha_V, beta_I=draw(st.sampled_from([0.5, 1.0, 1.5])),
                       beta_V=draw(st.sampled_from([0.3, 1.0])), beta_bias=draw(st.sampled_from([0.0, 0.7])),
                       theta=draw(st.sampled_from([0.5, 1.0])))


@st.composite
def antlr_rule_cases(draw, max_layers=3, min_layers=1):
    """(net, trace, dL_dS, dL_dt): a random ANTLR network, input raster, forward trace and output
    gradients (dL_dt only at output spikes)."""
    L = draw(st.integers(min_layers, max_layers))
    sizes = [draw(st.integers(1, 5)) for _ in range(L + 1)]
    T = draw(st.integers(1, 16).map(lambda n: 17 - n))  # shrinks towards long runs, still reaches T = 1
    B = draw(st.integers(1, 3))
    m = _antlr_rule_model(draw, T, [0.0, 0.5, 0.8, 0.9, 1.0], [0.0, 0.6, 0.85, 0.95, 1.0])
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.5, 1.5, 3.0]))
    loc = draw(st.sampled_from([0.8, 0.2, 1.5]))  # positive mean: deeper layers fire too
    with_bias = draw(st.booleans())
    density = draw(st.sampled_from([0.2, 0.5]))
    rng = np.random.default_rng(seed)
    net = random_network(rng, sizes, m, w_loc=loc, w_std=scale, bias=(0.0, 0.5, 1.0) if with_bias else None)
    x = (rng.random((T, B, sizes[0])) < density).astype(np.float64)
    trace = forward(net, x)
    dS = rng.normal(size=(T, B, sizes[-1]))
    dt = rng.normal(size=(T, B, sizes[-1])) * trace.output.S
    return net, trace, dS, dt


@st.composite
def fast_path_problems(draw, max_layers=3, min_layers=1, dtype=np.float64):
    """(net, trace, dL_dS, dL_dt): a firing ANTLR network and loss gradients.

    Gradient kinds: "latency" (snnref.losses.latency: dL_dt at first output spikes, dL_dS = const at
    every step of samples whose label neuron is silent), "cut" (random gradients, zero after a random
    step per sample, possibly all zero), "dense" (random everywhere, dL_dt also off spikes)."""
    L = draw(st.integers(min_layers, max_layers))
    sizes = [draw(st.integers(1, 6)) for _ in range(L + 1)]
    T = draw(st.integers(1, 30).map(lambda n: 31 - n))
    B = draw(st.integers(1, 3))
    m = _antlr_rule_model(draw, T, [0.0, 0.5, 0.9, 1.0], [0.0, 0.7, 0.95, 1.0])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    loc = draw(st.sampled_from([0.2, 0.8, 1.5]))
    net = random_network(rng, sizes, m, w_loc=loc, w_std=1.5, bias=(0.0, 0.5, 1.0) if draw(st.booleans()) else None,
                         dtype=dtype)
    x = (rng.random((T, B, sizes[0])) < draw(st.sampled_from([0.1, 0.3, 0.6]))).astype(np.float64)
    trace = forward(net, x)
    kind = draw(st.sampled_from(["latency", "cut", "dense"]))
    n_out = sizes[-1]
    if kind == "latency":
        res = losses.latency(trace, rng.integers(0, n_out, B), beta_softmax=draw(st.sampled_from([0.2, 1.0])),
                             lambda_nospike=draw(st.sampled_from([0.0, 0.1])))
        dS, dt = res.dL_dS, res.dL_dt
    else:
        dS = rng.normal(size=(T, B, n_out))
        dt = rng.normal(size=(T, B, n_out))
        if kind == "cut":
            dt *= trace.output.S
            cut = rng.integers(-1, T, B)
            for s in range(B):
                dS[cut[s] + 1:, s] = 0.0
                dt[cut[s] + 1:, s] = 0.0
    which = draw(st.sampled_from(["both", "dS", "dt"]))
    return net, trace, (None if which == "dt" else dS), (None if which == "dS" else dt)


@dataclass
class TsslCase:
    """A TSSL-BP backward problem: ``net``, its input ``x``, ``trace``, a random output error ``dL_da``."""

    net: Network
    x: np.ndarray
    trace: object
    dL_da: np.ndarray
    seed: int


def make_tsslbp_case(seed, T, B, sizes, tau_m, tau_s, theta, dtype=np.float64, w_mean=0.4, w_std=1.2,
                     spike_input=False):
    """A TSSL-BP network whose layers spike a fair amount, its trace and a random output error."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, sizes, NeuronModel.tsslbp(tau_m, tau_s, theta), w_loc=w_mean, w_std=w_std,
                         w_factors=(theta, tau_s, 0.5), dtype=dtype)
    if spike_input:
        x = (rng.random((T, B, sizes[0])) < 0.4).astype(np.float64)
    else:
        x = rng.random((T, B, sizes[0])) * 2.0
    trace = forward(net, x)
    dL_da = rng.normal(0.0, 1.0, (T, B, sizes[-1]))
    return TsslCase(net, x, trace, dL_da, seed)


@st.composite
def tsslbp_cases(draw, T=None, max_layers=3, dtype=np.float64, tau_s=None):
    """A drawn :class:`TsslCase` (see :func:`make_tsslbp_case`)."""
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
    return make_tsslbp_case(seed, T, B, sizes, tau_m, tau_s, theta, dtype=dtype, w_mean=w_mean,
                            spike_input=spike_input)


def layer_dicts(trace):
    """A TSSL-BP trace as the oracle's per-layer dicts (float64)."""
    return [dict(x=np.asarray(lt.I, float), u=np.asarray(lt.u, float), du=np.asarray(lt.du, float),
                 s=np.asarray(lt.S, float), a=np.asarray(lt.a, float)) for lt in trace.layers]
