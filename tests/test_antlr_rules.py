"""ANTLR-family backward rules (snnref/rules/antlr.py) vs the naive transcription and the exact
properties of spec 10.2 / 10.3."""
import numba
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from snnref.backward import backward
from snnref.forward import LayerTrace, Trace, forward
from snnref.model import Network, NeuronModel
from snnref.rules import antlr as R

from conftest import all_threads
from naive_antlr import kernel_eps, kernel_eps_star, naive_backward
from strategies import random_relaxed_case

RULES = ("act_rnn", "act_srm", "act_slayer", "timing", "antlr")
ADJ_KEYS = ("dS", "dV", "dV_dep", "dI", "dT")
TIM_KEYS = ("Tprop", "E1", "E2")


# ------------------------------------------------------------------------------------ helpers
def assert_close(a, b, what, rtol=1e-10):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale, err_msg=what)


@st.composite
def cases(draw, max_layers=3, min_layers=1):
    """A random ANTLR network, input raster, forward trace and output gradients."""
    L = draw(st.integers(min_layers, max_layers))
    sizes = [draw(st.integers(1, 5)) for _ in range(L + 1)]
    T = draw(st.integers(1, 16).map(lambda n: 17 - n))  # shrinks towards long runs, still reaches T = 1
    B = draw(st.integers(1, 3))
    alpha_I = draw(st.sampled_from([0.0, 0.5, 0.8, 0.9, 1.0]))
    alpha_V = draw(st.sampled_from([0.0, 0.6, 0.85, 0.95, 1.0]))
    if draw(st.booleans()) and alpha_I + alpha_V > 0:
        m = NeuronModel.antlr(alpha_I, alpha_V, T=T)
    else:
        m = NeuronModel(alpha_I=alpha_I, alpha_V=alpha_V, beta_I=draw(st.sampled_from([0.5, 1.0, 1.5])),
                        beta_V=draw(st.sampled_from([0.3, 1.0])), beta_bias=draw(st.sampled_from([0.0, 0.7])),
                        theta=draw(st.sampled_from([0.5, 1.0])))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.5, 1.5, 3.0]))
    loc = draw(st.sampled_from([0.8, 0.2, 1.5]))  # positive mean: deeper layers fire too
    with_bias = draw(st.booleans())
    density = draw(st.sampled_from([0.2, 0.5]))
    rng = np.random.default_rng(seed)
    W = [rng.normal(loc, scale, (sizes[l], sizes[l + 1])) for l in range(L)]
    b = [rng.normal(0.0, 0.5, sizes[l + 1]) for l in range(L)] if with_bias else None
    net = Network(W, b, model=m)
    x = (rng.random((T, B, sizes[0])) < density).astype(np.float64)
    trace = forward(net, x)
    dS = rng.normal(size=(T, B, sizes[-1]))
    dt = rng.normal(size=(T, B, sizes[-1])) * trace.output.S
    return net, trace, dS, dt


def run_naive(net, trace, rule, dS, dt, **opt):
    opt = {k: v for k, v in opt.items() if k != "timing_impl"}
    layers = [(lt.I, lt.V, lt.S) for lt in trace.layers]
    return naive_backward(net.weights, net.biases, net.model, trace.x, layers, rule, dS, dt, **opt)


def compare_with_naive(net, trace, rule, dS, dt, **opt):
    g = backward(net, trace, rule, dS, dt, return_adjoints=True, **opt)
    dW, db, adj = run_naive(net, trace, rule, dS, dt, **opt)
    for l in range(net.n_layers):
        assert_close(g.dW[l], dW[l], f"{rule} dW[{l}]")
        assert_close(g.db[l], db[l], f"{rule} db[{l}]")
        keys = ADJ_KEYS + (TIM_KEYS if rule in ("timing", "antlr") else ())
        for k in keys:
            if k == "Tprop" and l == net.n_layers - 1:
                continue  # output layer: dL_dt as given (naive stores it as well)
            assert_close(g.adjoints[l][k], adj[l][k], f"{rule} adjoint {k} of layer {l}")
    return g


def make_trace(net, x, layers):
    """A Trace from given (I, V, S) arrays (e.g. random or relaxed states)."""
    lts = [LayerTrace(np.ascontiguousarray(I), np.ascontiguousarray(V), np.ascontiguousarray(S))
           for I, V, S in layers]
    return Trace(layers=lts, x=np.ascontiguousarray(x, dtype=net.dtype), a0=None, model=net.model, form="rnn",
                 T_full=x.shape[0])


# ------------------------------------------------------------------------------------ kernel == naive
@given(case=cases(), rule=st.sampled_from(RULES), ste=st.sampled_from([(1.0, 3.0), (0.7, 1.5)]))
def test_rule_equals_naive(case, rule, ste):
    net, trace, dS, dt = case
    opt = {"ste_alpha": ste[0], "ste_beta": ste[1]}
    if rule == "antlr":
        opt.update(lambda_act=0.7, lambda_tim=1.3)
    compare_with_naive(net, trace, rule, dS, dt, **opt)


@given(case=cases(min_layers=2), rule=st.sampled_from(("timing", "antlr")),
       vstar_mode=st.sampled_from(("code", "appendix")), floor=st.sampled_from((0.01, 0.3)),
       tau_min=st.sampled_from((0, -1)), impl=st.sampled_from(("aux", "explicit")),
       penalty=st.sampled_from((0.0, 100.0)))
def test_timing_options_equal_naive(case, rule, vstar_mode, floor, tau_min, impl, penalty):
    net, trace, dS, dt = case
    opt = dict(vstar_mode=vstar_mode, vstar_floor=floor, timing_tau_min=tau_min, timing_impl=impl)
    if rule == "timing":
        opt["timing_penalty"] = penalty
    compare_with_naive(net, trace, rule, dS, dt, **opt)


@given(seed=st.integers(0, 2**32 - 1), rule=st.sampled_from(("act_rnn", "act_srm", "act_slayer")),
       L=st.integers(1, 3))
def test_activation_rules_on_real_valued_spikes(seed, rule, L):
    """Relaxed traces (S real in [0, 1], spec 10.2): S is used arithmetically, with exact zeros and ones."""
    rng = np.random.default_rng(seed)
    T, B = 9, 2
    net, trace, sizes = random_relaxed_case(rng, L, T, B, max_size=4)
    dS = rng.normal(size=(T, B, sizes[-1]))
    compare_with_naive(net, trace, rule, dS, None)


# ------------------------------------------------------------------------------------ P-A3
@given(seed=st.integers(0, 2**32 - 1), aI=st.sampled_from([0.0, 0.7, 1.0]), aV=st.sampled_from([0.0, 0.8, 1.0]))
def test_linear_core_is_transpose_jacobian(seed, aI, aV):
    """P-A3: (C1)-(C5) = J^T dV of the frozen-reset linear map (W, b, S^{l-1}) -> V^l."""
    rng = np.random.default_rng(seed)
    T, B, N0, N1, N2 = 7, 2, 3, 3, 2
    m = NeuronModel(alpha_I=aI, alpha_V=aV, beta_I=1.3, beta_V=0.6, beta_bias=0.8)
    net = Network([rng.normal(0.5, 1.5, (N0, N1)), rng.normal(0.5, 1.5, (N1, N2))],
                  [rng.normal(size=N1), rng.normal(size=N2)], model=m)
    x = (rng.random((T, B, N0)) < 0.5).astype(float)
    trace = forward(net, x)
    S1, S2 = trace.layers[0].S, trace.layers[1].S

    def V_of(W, b, Sin):  # frozen reset factors (1 - S2[t-1])
        V = np.zeros((T, B, N2))
        I = np.zeros((T, B, N2))
        for t in range(T):
            keep = 1 - S2[t - 1] if t > 0 else np.ones((B, N2))
            Iprev = I[t - 1] if t > 0 else 0.0
            Vprev = V[t - 1] if t > 0 else 0.0
            I[t] = aI * keep * Iprev + m.beta_I * Sin[t] @ W
            V[t] = aV * keep * Vprev + m.beta_V * I[t] + m.beta_bias * b
        return V

    W2, b2 = net.weights[1], net.biases[1]
    assert np.array_equal(V_of(W2, b2, S1), trace.layers[1].V) or np.allclose(V_of(W2, b2, S1), trace.layers[1].V)
    dV = rng.normal(size=(T, B, N2))
    sig = np.exp(-3.0 * np.abs(trace.layers[1].V - m.theta))
    g = backward(net, trace, "act_srm", dV / sig, return_adjoints=True)
    assert_close(g.adjoints[1]["dV"], dV, "injected dV")
    V0 = V_of(W2, b2, S1)
    # explicit Jacobians by unit perturbations (the map is linear in each argument)
    JW = np.zeros((N1, N2))
    for i in range(N1):
        for j in range(N2):
            E = np.zeros_like(W2)
            E[i, j] = 1.0
            JW[i, j] = np.sum((V_of(W2 + E, b2, S1) - V0) * dV)
    Jb = np.zeros(N2)
    for j in range(N2):
        e = np.zeros(N2)
        e[j] = 1.0
        Jb[j] = np.sum((V_of(W2, b2 + e, S1) - V0) * dV)
    JS = np.zeros((T, B, N1))
    for t in range(T):
        for b in range(B):
            for i in range(N1):
                E = np.zeros_like(S1)
                E[t, b, i] = 1.0
                JS[t, b, i] = np.sum((V_of(W2, b2, S1 + E) - V0) * dV)
    assert_close(g.dW[1], JW, "dW = J_W^T dV", rtol=1e-9)
    assert_close(g.db[1], Jb, "db = J_b^T dV", rtol=1e-9)
    assert_close(g.adjoints[0]["dS"], JS, "dS^{l-1} = J_S^T dV", rtol=1e-9)


# ------------------------------------------------------------------------------------ P-A4
@given(case=cases(min_layers=1))
def test_slayer_equals_srm_on_silent_layers(case):
    """P-A4: act_slayer == act_srm on every layer l such that layers l..L never fire."""
    net, trace, dS, _ = case
    # make the output layer silent: non-positive weights and biases
    W = [w.copy() for w in net.weights]
    b = [bb.copy() for bb in net.biases]
    W[-1] = -np.abs(W[-1])
    b[-1] = -np.abs(b[-1])
    net = Network(W, b, model=net.model)
    trace = forward(net, trace.x)
    assert not trace.output.S.any()
    g1 = backward(net, trace, "act_srm", dS, return_adjoints=True)
    g2 = backward(net, trace, "act_slayer", dS, return_adjoints=True)
    L = net.n_layers
    l = L - 1
    while l >= 0 and not trace.layers[l].S.any():
        np.testing.assert_array_equal(g1.dW[l], g2.dW[l])
        np.testing.assert_array_equal(g1.db[l], g2.db[l])
        for k in ("dV_dep", "dI"):
            np.testing.assert_array_equal(g1.adjoints[l][k], g2.adjoints[l][k])
        l -= 1
    if l >= 0:  # the first firing layer receives the same dS
        np.testing.assert_array_equal(g1.adjoints[l]["dS"], g2.adjoints[l]["dS"])


def test_slayer_differs_from_srm_when_firing(rng):
    """Sanity counterpart of P-A4: a firing output layer makes the two rules differ."""
    m = NeuronModel(alpha_I=0.8, alpha_V=0.9)
    net = Network([np.full((2, 2), 2.0)], model=m)
    x = np.ones((6, 1, 2))
    trace = forward(net, x)
    assert trace.output.S.any()
    dS = rng.normal(size=(6, 1, 2))
    g1 = backward(net, trace, "act_srm", dS)
    g2 = backward(net, trace, "act_slayer", dS)
    assert not np.allclose(g1.dW[0], g2.dW[0])


# ------------------------------------------------------------------------------------ P-T1
@given(seed=st.integers(0, 2**32 - 1), aI=st.sampled_from([0.0, 0.6, 0.95, 1.0]),
       aV=st.sampled_from([0.0, 0.7, 0.9, 1.0]), T=st.integers(1, 14), p=st.sampled_from([0.0, 0.3, 0.7, 1.0]))
@example(seed=1, aI=0.6, aV=0.9, T=5, p=1.0)  # consecutive spikes everywhere, incl. t = T-1
def test_aux_traces_equal_explicit_sum(seed, aI, aV, T, p):
    """P-T1: E1/E2 traces == explicit causal eps_star sums, for random dV and random rasters."""
    rng = np.random.default_rng(seed)
    B, N0, N1, N2 = 2, 2, 3, 3
    m = NeuronModel(alpha_I=aI, alpha_V=aV, beta_I=0.9, beta_V=0.7)
    net = Network([rng.normal(size=(N0, N1)), rng.normal(size=(N1, N2))], model=m)
    x = (rng.random((T, B, N0)) < 0.5).astype(float)
    S2 = (rng.random((T, B, N2)) < p).astype(float)
    S2[T - 1, 0, 0] = 1.0  # a spike at T-1
    if T >= 3:
        S2[1:3, 1, 1] = 1.0  # consecutive spikes
    layers = [(rng.normal(size=(T, B, N1)), rng.normal(1, 1, (T, B, N1)), (rng.random((T, B, N1)) < 0.5) * 1.0),
              (rng.normal(size=(T, B, N2)), rng.normal(1, 1, (T, B, N2)), S2)]
    trace = make_trace(net, x, layers)
    dS = rng.normal(size=(T, B, N2))  # antlr: dV = sigma dS everywhere (random dV), plus timing at spikes
    dt = rng.normal(size=(T, B, N2)) * S2
    ga = backward(net, trace, "antlr", dS, dt, return_adjoints=True)
    ge = backward(net, trace, "antlr", dS, dt, return_adjoints=True, timing_impl="explicit")
    dV = ga.adjoints[1]["dV"]
    # independent explicit sum of (T3)
    Tp = np.zeros((T, B, N1))
    for b in range(B):
        for t in range(T):
            for i in range(N1):
                acc = 0.0
                for j in range(N2):
                    n = 0
                    while t + n < T:
                        acc -= net.weights[1][i, j] * kernel_eps_star(m, n) * dV[t + n, b, j]
                        if S2[t + n, b, j] == 1:
                            break
                        n += 1
                Tp[t, b, i] = acc
    assert_close(ga.adjoints[0]["Tprop"], Tp, "aux Tprop vs explicit (T3)")
    assert_close(ge.adjoints[0]["Tprop"], Tp, "explicit-impl Tprop vs explicit (T3)")
    for k in ("E1", "E2"):
        assert_close(ga.adjoints[1][k], ge.adjoints[1][k], f"{k} aux vs explicit")
    for l in range(2):
        assert_close(ga.dW[l], ge.dW[l], f"dW[{l}] aux vs explicit")


# ------------------------------------------------------------------------------------ P-T3..P-T8
@given(case=cases(min_layers=1))
def test_antlr_limits(case):
    """P-T3: antlr(1, 0) == act_srm, antlr(0, 1) == timing (penalty 0), all layers, bit-identical."""
    net, trace, dS, dt = case
    a10 = backward(net, trace, "antlr", dS, dt, lambda_act=1.0, lambda_tim=0.0)
    srm = backward(net, trace, "act_srm", dS, dt)
    a01 = backward(net, trace, "antlr", dS, dt, lambda_act=0.0, lambda_tim=1.0)
    tim = backward(net, trace, "timing", dS, dt, timing_penalty=0.0)
    for l in range(net.n_layers):
        assert_close(a10.dW[l], srm.dW[l], "antlr(1,0) vs act_srm", rtol=1e-14)
        assert_close(a10.db[l], srm.db[l], "antlr(1,0) vs act_srm", rtol=1e-14)
        assert_close(a01.dW[l], tim.dW[l], "antlr(0,1) vs timing", rtol=1e-14)
        assert_close(a01.db[l], tim.db[l], "antlr(0,1) vs timing", rtol=1e-14)


@given(case=cases(min_layers=2), lam=st.sampled_from([0.5, 2.0, -1.5]))
def test_lambda_scaling(case, lam):
    """P-T4: lambda_tim = 0 -> layer l scales as lambda_act^(L-l+1); lambda_act = 0 likewise."""
    net, trace, dS, dt = case
    L = net.n_layers
    base_a = backward(net, trace, "antlr", dS, dt, lambda_act=1.0, lambda_tim=0.0)
    base_t = backward(net, trace, "antlr", dS, dt, lambda_act=0.0, lambda_tim=1.0)
    sc_a = backward(net, trace, "antlr", dS, dt, lambda_act=lam, lambda_tim=0.0)
    sc_t = backward(net, trace, "antlr", dS, dt, lambda_act=0.0, lambda_tim=lam)
    for l in range(L):  # 0-based l is spiking layer l+1: exponent L - (l+1) + 1
        f = lam ** (L - l)
        assert_close(sc_a.dW[l], f * base_a.dW[l], f"activation scaling layer {l}")
        assert_close(sc_a.db[l], f * base_a.db[l], f"activation scaling layer {l}")
        assert_close(sc_t.dW[l], f * base_t.dW[l], f"timing scaling layer {l}")
        assert_close(sc_t.db[l], f * base_t.db[l], f"timing scaling layer {l}")


@given(case=cases(), la=st.sampled_from([0.0, 0.3, 1.0]), lt=st.sampled_from([0.0, 0.6, 2.0]))
def test_output_layer_linearity(case, la, lt):
    """P-T5: output-layer gradients = lambda_act g(act_srm) + lambda_tim g(timing)."""
    net, trace, dS, dt = case
    g = backward(net, trace, "antlr", dS, dt, lambda_act=la, lambda_tim=lt)
    ga = backward(net, trace, "act_srm", dS, dt)
    gt = backward(net, trace, "timing", dS, dt)
    assert_close(g.dW[-1], la * ga.dW[-1] + lt * gt.dW[-1], "output dW linearity")
    assert_close(g.db[-1], la * ga.db[-1] + lt * gt.db[-1], "output db linearity")


@given(case=cases(min_layers=2), la=st.sampled_from([1.0, 0.4]))
def test_count_type_loss(case, la):
    """P-T6: dL_dt = 0 -> antlr output layer = lambda_act x act_srm; hidden layers differ by timing."""
    net, trace, dS, _ = case
    g = backward(net, trace, "antlr", dS, None, lambda_act=la, return_adjoints=True)
    ga = backward(net, trace, "act_srm", dS, None)
    assert_close(g.dW[-1], la * ga.dW[-1], "output dW")
    assert_close(g.db[-1], la * ga.db[-1], "output db")
    # the hidden difference is exactly the timing back-projection: zero iff no hidden dT
    dT_hidden = any(np.any(g.adjoints[l]["dT"] != 0) for l in range(net.n_layers - 1))
    if not dT_hidden and la == 1.0:
        for l in range(net.n_layers):
            assert_close(g.dW[l], ga.dW[l], "no hidden timing signal -> equal")


@given(case=cases(), rule=st.sampled_from(("timing", "antlr")))
def test_dT_zero_off_spikes(case, rule):
    """P-T7: dT^l = 0 where S^l = 0; the timing rule's dV is 0 off spikes."""
    net, trace, dS, dt = case
    dt_dense = dt + (1 - trace.output.S) * 5.0  # entries off output spikes must be ignored
    g = backward(net, trace, rule, dS, dt_dense, return_adjoints=True)
    g0 = backward(net, trace, rule, dS, dt, return_adjoints=True)
    for l in range(net.n_layers):
        S = trace.layers[l].S
        assert np.all(g.adjoints[l]["dT"][S == 0] == 0)
        if rule == "timing":
            assert np.all(g.adjoints[l]["dV"][S == 0] == 0)
        np.testing.assert_array_equal(g.dW[l], g0.dW[l])


@given(case=cases(min_layers=1))
def test_silent_layer(case):
    """P-T8: a never-firing layer gets zero timing gradient (penalty 0) and nonzero act/antlr gradient."""
    net, trace, dS, dt = case
    W = [w.copy() for w in net.weights]
    W[-1] = -np.abs(W[-1]) - 0.1
    net = Network(W, None, model=net.model)
    trace = forward(net, trace.x)
    assert not trace.output.S.any()
    gt = backward(net, trace, "timing", dS, dt)
    for l in range(net.n_layers):
        assert not gt.dW[l].any() and not gt.db[l].any()
    pre = trace.x if net.n_layers == 1 else trace.layers[-2].S  # input of the silent layer
    for rule in ("act_srm", "act_rnn", "act_slayer", "antlr"):
        g = backward(net, trace, rule, dS, None)
        if pre.any():
            assert np.abs(g.dW[-1]).max() > 0, rule
        else:
            assert not g.dW[-1].any(), rule
        if net.model.beta_bias > 0:
            assert np.abs(g.db[-1]).max() > 0, rule


# ------------------------------------------------------------------------------------ hand-built cases
def _one_neuron(V, S, m, Vprev_layer=None):
    """1-input, 1-neuron network trace with given V, S (T, 1, 1)."""
    net = Network([np.ones((1, 1))], model=m)
    T = len(V)
    x = np.zeros((T, 1, 1))
    arr = lambda a: np.asarray(a, dtype=float).reshape(T, 1, 1)
    return net, make_trace(net, x, [(arr(np.zeros(T)), arr(V), arr(S))])


def test_vstar_modes_and_floor():
    """Vstar (spec 1.4): code = V[t] - (1 - S[t-1]) V[t-1] (V[0] at t = 0), appendix = V[t] - V[t-1];
    floored at vstar_floor in both modes."""
    m = NeuronModel(alpha_I=0.5, alpha_V=0.5)
    V = [1.2, 1.5, 0.3, 1.1, 1.105]
    S = [1, 1, 0, 1, 1]
    net, trace = _one_neuron(V, S, m)
    dt = np.array([2.0, 3.0, 0.0, 5.0, 7.0]).reshape(5, 1, 1)
    expect = {
        ("code", 0.01): [1.2, 1.5, None, 1.1 - 0.3, 1.105],
        ("appendix", 0.01): [1.2, 0.3, None, 0.8, 0.01],
        ("code", 0.9): [1.2, 1.5, None, 0.9, 1.105],
        ("appendix", 0.5): [1.2, 0.5, None, 0.8, 0.5],
    }
    for (mode, floor), vs in expect.items():
        g = backward(net, trace, "timing", None, dt, return_adjoints=True, vstar_mode=mode, vstar_floor=floor)
        dV = g.adjoints[0]["dV"][:, 0, 0]
        for t in range(5):
            want = 0.0 if vs[t] is None else -dt[t, 0, 0] / vs[t]
            assert dV[t] == pytest.approx(want, rel=1e-12), (mode, floor, t)


def test_timing_penalty_hand_built():
    """dW^l_ij -= (p / N_{l-1}) * fraction of samples in which j never fired; bias untouched."""
    m = NeuronModel(alpha_I=0.0, alpha_V=0.0)
    # 3 inputs -> 2 hidden -> 2 outputs, B = 4. x spikes only in sample 0..1 at t = 0
    W1 = np.array([[2.0, -1.0], [0.0, -1.0], [0.0, -1.0]])
    W2 = np.array([[2.0, -1.0], [0.0, -1.0]])
    net = Network([W1, W2], model=m)
    x = np.zeros((3, 4, 3))
    x[0, 0, 0] = 1.0
    x[1, 1, 0] = 1.0
    trace = forward(net, x)
    # hidden neuron 0 fires in samples 0, 1; hidden 1 never; output 0 fires in samples 0, 1; output 1 never
    assert trace.layers[0].S[:, :, 0].any(axis=0).tolist() == [True, True, False, False]
    assert not trace.layers[0].S[:, :, 1].any()
    g0 = backward(net, trace, "timing")
    g = backward(net, trace, "timing", timing_penalty=100.0)
    # without gradient signal the unpenalised gradient is zero
    assert not any(w.any() for w in g0.dW)
    exp1 = np.zeros((3, 2))
    exp1[:, 0] = -100.0 / 3 * 0.5
    exp1[:, 1] = -100.0 / 3 * 1.0
    exp2 = np.zeros((2, 2))
    exp2[:, 0] = -100.0 / 2 * 0.5
    exp2[:, 1] = -100.0 / 2 * 1.0
    np.testing.assert_allclose(g.dW[0], exp1, rtol=1e-14)
    np.testing.assert_allclose(g.dW[1], exp2, rtol=1e-14)
    assert not any(b.any() for b in g.db)
    # antlr has no timing penalty
    with pytest.raises(TypeError, match="timing_penalty"):
        backward(net, trace, "antlr", timing_penalty=100.0)


@pytest.mark.parametrize("T", [3, 6, 8])
def test_eps_untruncated_at_T(T):
    """Spec 1.4: a presynaptic spike at t = 0 meeting a neuron silent up to T-2 with dV[T-1] != 0 uses
    eps_star[T-1] = (eps[T] - eps[T-2]) / 2 with the kernel value eps[T] (not 0)."""
    m = NeuronModel(alpha_I=0.9, alpha_V=0.9, beta_I=1.0, beta_V=0.2, theta=1.0)
    e = [kernel_eps(m, n) for n in range(T + 1)]
    assert all(e[n + 1] > e[n] for n in range(T))  # increasing: first crossing at T-1
    w1 = 1.0 / e[0] * 1.5  # hidden fires at t = 0
    w2 = 1.0 / e[T - 1] * 1.0001  # output first reaches theta at T-1
    assert w2 * e[T - 2] < 1.0
    net = Network([np.array([[w1]]), np.array([[w2]])], model=m)
    x = np.zeros((T, 1, 1))
    x[0, 0, 0] = 1.0
    trace = forward(net, x)
    assert trace.layers[0].S[:, 0, 0].tolist() == [1.0] + [0.0] * (T - 1)
    assert trace.output.S[:, 0, 0].tolist() == [0.0] * (T - 1) + [1.0]
    dt = np.zeros((T, 1, 1))
    dt[T - 1] = 0.8
    g = backward(net, trace, "timing", None, dt, return_adjoints=True)
    V = trace.output.V[:, 0, 0]
    dV_out = -0.8 / max(V[T - 1] - V[T - 2], 0.01)
    es = (e[T] - (e[T - 2] if T >= 2 else 0.0)) / 2
    assert es == pytest.approx(kernel_eps_star(m, T - 1), rel=1e-14)
    want = -w2 * es * dV_out
    got = g.adjoints[0]["dT"][0, 0, 0]
    assert got == pytest.approx(want, rel=1e-12)
    truncated = -w2 * (0.0 - e[T - 2]) / 2 * dV_out
    assert abs(got - truncated) > 1e-3 * abs(got)
    ge = backward(net, trace, "timing", None, dt, return_adjoints=True, timing_impl="explicit")
    assert ge.adjoints[0]["dT"][0, 0, 0] == pytest.approx(want, rel=1e-12)


# ------------------------------------------------------------------------------------ act_rnn vs act_srm
@given(case=cases())
def test_act_rnn_equals_srm_without_decay(case):
    """alpha_I = alpha_V = 0: no reset paths, act_rnn == act_srm (all layers)."""
    net, trace, dS, _ = case
    m = net.model.replace(alpha_I=0.0, alpha_V=0.0)
    net = Network(net.weights, net.biases, model=m)
    trace = forward(net, trace.x)
    g1 = backward(net, trace, "act_rnn", dS)
    g2 = backward(net, trace, "act_srm", dS)
    for l in range(net.n_layers):
        assert_close(g1.dW[l], g2.dW[l], "dW")
        assert_close(g1.db[l], g2.db[l], "db")


@given(case=cases(max_layers=1))
def test_act_rnn_minus_srm_is_reset_paths(case):
    """act_rnn == act_srm fed with the reset-path-corrected signal
    g[t] = dS[t] - alpha_I I[t] dI[t+1] - alpha_V V[t] dV[t+1] (R1): the difference is those terms only."""
    net, trace, dS, _ = case
    m = net.model
    gr = backward(net, trace, "act_rnn", dS, return_adjoints=True)
    a = gr.adjoints[0]
    nxt = lambda arr: np.concatenate([arr[1:], np.zeros_like(arr[:1])])
    lt = trace.output
    corrected = dS - m.alpha_I * lt.I * nxt(a["dI"]) - m.alpha_V * lt.V * nxt(a["dV"])
    gs = backward(net, trace, "act_srm", corrected)
    assert_close(gs.dW[0], gr.dW[0], "dW")
    assert_close(gs.db[0], gr.db[0], "db")


# ------------------------------------------------------------------------------------ float32, determinism
@pytest.mark.parametrize("rule", RULES)
def test_float32_matches_float64(rule):
    rng = np.random.default_rng(3)
    T, B = 25, 2
    m = NeuronModel.antlr(0.9, 0.85, T=T)
    W = [rng.normal(0.3, 1.5, (6, 7)), rng.normal(0.3, 1.5, (7, 5)), rng.normal(0.3, 1.5, (5, 3))]
    b = [rng.normal(0, 0.3, 7), rng.normal(0, 0.3, 5), rng.normal(0, 0.3, 3)]
    x = (rng.random((T, B, 6)) < 0.3).astype(float)
    n64 = Network(W, b, model=m)
    n32 = Network(W, b, model=m, dtype="float32")
    t64, t32 = forward(n64, x), forward(n32, x)
    for l64, l32 in zip(t64.layers, t32.layers):  # use only a case with identical rasters
        np.testing.assert_array_equal(l64.S, l32.S)
    dS = rng.normal(size=(T, B, 3))
    dt = rng.normal(size=(T, B, 3)) * t64.output.S
    g64 = backward(n64, t64, rule, dS, dt)
    g32 = backward(n32, t32, rule, dS, dt)
    for l in range(3):
        assert g32.dW[l].dtype == np.float32 and g32.db[l].dtype == np.float32
        scale = np.abs(g64.dW[l]).max() + 1e-30
        np.testing.assert_allclose(g32.dW[l], g64.dW[l], rtol=1e-3, atol=1e-4 * scale)
        np.testing.assert_allclose(g32.db[l], g64.db[l], rtol=1e-3, atol=1e-4 * (np.abs(g64.db[l]).max() + 1e-30))


@pytest.mark.parametrize("rule", RULES)
def test_deterministic_and_parallel_equals_serial(rule):
    rng = np.random.default_rng(5)
    T, B = 20, 3
    m = NeuronModel.antlr(0.9, 0.9, T=T)
    net = Network([rng.normal(0.3, 1.5, (5, 6)), rng.normal(0.3, 1.5, (6, 4))], model=m)
    x = (rng.random((T, B, 5)) < 0.3).astype(float)
    tr = forward(net, x)
    dS = rng.normal(size=(T, B, 4))
    dt = rng.normal(size=(T, B, 4)) * tr.output.S
    g1 = backward(net, tr, rule, dS, dt, return_adjoints=True)
    g2 = backward(net, tr, rule, dS, dt, return_adjoints=True)
    nthreads = numba.get_num_threads()
    numba.set_num_threads(all_threads())
    try:
        g3 = backward(net, tr, rule, dS, dt, return_adjoints=True)
    finally:
        numba.set_num_threads(nthreads)
    for g in (g2, g3):
        for l in range(2):
            np.testing.assert_array_equal(g.dW[l], g1.dW[l])
            np.testing.assert_array_equal(g.db[l], g1.db[l])
            for k in g1.adjoints[l]:
                np.testing.assert_array_equal(g.adjoints[l][k], g1.adjoints[l][k])


def test_layer_outer_order_is_bit_identical(rng):
    """Spec 3.7 order (t outer, l inner) and the layer-outer order of the rule drivers agree exactly
    for timing_tau_min=0 (both are topological orders of the same recurrences): a t-outer driver
    written here with the same per-step helpers gives the reference's adjoints bit for bit."""
    from snnref.rules import steps
    T, B = 12, 2
    m = NeuronModel.antlr(0.9, 0.8, T=T)
    net = Network([rng.normal(0.3, 1.5, (4, 5)), rng.normal(0.3, 1.5, (5, 4)), rng.normal(0.3, 1.5, (4, 3))],
                  model=m)
    tr = forward(net, (rng.random((T, B, 4)) < 0.4).astype(float))
    dS = rng.normal(size=(T, B, 3))
    dt = rng.normal(size=(T, B, 3)) * tr.output.S
    names = ("dS", "dV", "dV_dep", "dI", "dT", "Tprop", "E1", "E2")
    sizes = net.sizes[1:]
    L = len(sizes)
    A = [{k: np.zeros((T, B, N)) for k in names} for N in sizes]
    aI, aV, bI, bV = m.alpha_I, m.alpha_V, m.beta_I, m.beta_V
    for b in range(B):
        for t in range(T - 1, -1, -1):
            for l in range(L - 1, -1, -1):
                a, lt = A[l], tr.layers[l]
                for i in range(sizes[l]):
                    if l == L - 1:
                        a["dS"][t, b, i], a["Tprop"][t, b, i] = dS[t, b, i], dt[t, b, i]
                        continue
                    W, up = net.weights[l + 1], A[l + 1]
                    for key, src in (("dS", "dI"), ("Tprop", "E2")):
                        acc = 0.0
                        for j in range(W.shape[1]):
                            acc += W[i, j] * up[src][t, b, j]
                        a[key][t, b, i] = bI * acc
                for j in range(sizes[l]):
                    def nxt(k):
                        return a[k][t + 1, b, j] if t + 1 < T else 0.0
                    v, s = lt.V[t, b, j], lt.S[t, b, j]
                    dv = 1.0 * (steps.surrogate(v, m.theta, 1.0, 3.0) * a["dS"][t, b, j])
                    dT = 0.0
                    if s == 1.0:
                        dT = a["Tprop"][t, b, j]
                        dv = dv + 1.0 * steps.timing_injection(dT, t, v, lt.V[max(t - 1, 0), b, j],
                                                               lt.S[max(t - 1, 0), b, j], True, 0.01)
                    dvdep, di = steps.core_step(dv, s, nxt("dV_dep"), nxt("dI"), aI, aV, bV)
                    e1, e2 = steps.aux_traces_step(dv, nxt("dV"), nxt("E1"), nxt("E2"), s == 1.0 or t + 1 == T,
                                                   aI, aV, bV)
                    for k, val in (("dT", dT), ("dV", dv), ("dV_dep", dvdep), ("dI", di), ("E1", e1), ("E2", e2)):
                        a[k][t, b, j] = val
    ref = backward(net, tr, "antlr", dS, dt, impl="reference", return_adjoints=True)
    assert any(np.any(A[0][k] != 0) for k in names)
    for l in range(L):
        for k in names:
            np.testing.assert_array_equal(ref.adjoints[l][k], A[l][k], err_msg=f"layer {l} {k}")


# ------------------------------------------------------------------------------------ errors
def _small():
    m = NeuronModel.antlr(0.9, 0.9, T=5)
    net = Network([np.ones((2, 2))], model=m)
    return net, forward(net, np.ones((5, 1, 2)))


def test_unknown_option_names_allowed():
    net, tr = _small()
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['lambda_act'\].*allowed options are"):
        backward(net, tr, "act_srm", lambda_act=1.0)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['vstar'\]"):
        backward(net, tr, "timing", vstar=1.0)


@pytest.mark.parametrize("rule, opt, match", [
    ("act_srm", {"ste_alpha": -1.0}, r"ste_alpha must be in \[0, inf\]"),
    ("act_rnn", {"ste_beta": float("nan")}, "ste_beta must be finite"),
    ("timing", {"vstar_mode": "paper"}, r"vstar_mode must be one of \['appendix', 'code'\]"),
    ("antlr", {"vstar_floor": 0.0}, r"vstar_floor must be in \(0, inf\].*guards the division"),
    ("timing", {"timing_tau_min": 1}, "timing_tau_min must be 0 .* or -1"),
    ("timing", {"timing_tau_min": True}, "timing_tau_min must be 0"),
    ("antlr", {"timing_impl": "fast"}, r"timing_impl must be one of \['aux', 'explicit'\]"),
    ("timing", {"timing_penalty": -5.0}, r"timing_penalty must be in \[0, inf\]"),
    ("antlr", {"lambda_act": float("inf")}, "lambda_act must be finite"),
    ("antlr", {"lambda_tim": "1"}, "lambda_tim must be a real number"),
])
def test_invalid_option_values(rule, opt, match):
    net, tr = _small()
    exc = TypeError if opt.get("lambda_tim") == "1" else ValueError
    with pytest.raises(exc, match=match):
        backward(net, tr, rule, **opt)


def test_direct_call_rejects_tsslbp_model_and_bad_rule():
    net, tr = _small()
    with pytest.raises(ValueError, match="rule must be one of"):
        R.antlr_family_backward(net, tr, rule="tsslbp", dL_dS=None, dL_dt=None, dL_da=None, return_adjoints=False)
    with pytest.raises(ValueError, match="dL_da is for rule='tsslbp'"):
        R.antlr_family_backward(net, tr, rule="act_srm", dL_dS=None, dL_dt=None, dL_da=np.zeros((5, 1, 2)),
                                return_adjoints=False)


def test_public_wrappers_match_backward(rng):
    net, tr = _small()
    dS = rng.normal(size=(5, 1, 2))
    dt = rng.normal(size=(5, 1, 2)) * tr.output.S
    pairs = [
        (R.act_rnn_backward(net, tr, dS), backward(net, tr, "act_rnn", dS)),
        (R.act_srm_backward(net, tr, dS, ste_alpha=0.5), backward(net, tr, "act_srm", dS, ste_alpha=0.5)),
        (R.act_slayer_backward(net, tr, dS), backward(net, tr, "act_slayer", dS)),
        (R.timing_backward(net, tr, dt, timing_penalty=3.0), backward(net, tr, "timing", None, dt, timing_penalty=3.0)),
        (R.antlr_backward(net, tr, dS, dt, lambda_tim=0.5), backward(net, tr, "antlr", dS, dt, lambda_tim=0.5)),
    ]
    for a, b in pairs:
        assert a.rule == b.rule
        np.testing.assert_array_equal(a.dW[0], b.dW[0])
        np.testing.assert_array_equal(a.db[0], b.db[0])
