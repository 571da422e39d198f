"""Activation rules act_rnn, act_srm, act_slayer (spec 3.1-3.3, snnref/rules/activation.py): relaxed
traces, the linear core as a transposed Jacobian (P-A3), act_slayer vs act_srm (P-A4), act_rnn vs
act_srm (the reset paths)."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from snnref.backward import backward
from snnref.forward import forward
from snnref.model import Network, NeuronModel

from oracles.antlr import compare_with_naive
from strategies import antlr_rule_cases as cases
from strategies import random_relaxed_case
from tolerances import LINEAR_MAP, ORACLE_TIMING, assert_close


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
    assert_close(g.adjoints[1]["dV"], dV, "injected dV", ORACLE_TIMING)
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
    assert_close(g.dW[1], JW, "dW = J_W^T dV", rtol=LINEAR_MAP)
    assert_close(g.db[1], Jb, "db = J_b^T dV", rtol=LINEAR_MAP)
    assert_close(g.adjoints[0]["dS"], JS, "dS^{l-1} = J_S^T dV", rtol=LINEAR_MAP)


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
        assert_close(g1.dW[l], g2.dW[l], "dW", ORACLE_TIMING)
        assert_close(g1.db[l], g2.db[l], "db", ORACLE_TIMING)


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
    assert_close(gs.dW[0], gr.dW[0], "dW", ORACLE_TIMING)
    assert_close(gs.db[0], gr.db[0], "db", ORACLE_TIMING)
