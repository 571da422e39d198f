"""Timing rule (spec 3.4, snnref/rules/timing.py): every option against the naive transcription,
the aux traces E1/E2 against the explicit (T3) sums (P-T1), dT only at spikes, hand-built Vstar and
timing-penalty cases, the untruncated kernel at n = T-1."""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from snnref.backward import backward
from snnref.forward import forward
from snnref.model import Network, NeuronModel

from oracles.antlr import compare_with_naive, kernel_eps, kernel_eps_star
from strategies import antlr_rule_cases as cases
from strategies import make_trace
from tolerances import FEW_OPS, ORACLE, ORACLE_TIMING, assert_close


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
    assert_close(ga.adjoints[0]["Tprop"], Tp, "aux Tprop vs explicit (T3)", ORACLE_TIMING)
    assert_close(ge.adjoints[0]["Tprop"], Tp, "explicit-impl Tprop vs explicit (T3)", ORACLE_TIMING)
    for k in ("E1", "E2"):
        assert_close(ga.adjoints[1][k], ge.adjoints[1][k], f"{k} aux vs explicit", ORACLE_TIMING)
    for l in range(2):
        assert_close(ga.dW[l], ge.dW[l], f"dW[{l}] aux vs explicit", ORACLE_TIMING)


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
            assert dV[t] == pytest.approx(want, rel=ORACLE), (mode, floor, t)


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
    np.testing.assert_allclose(g.dW[0], exp1, rtol=FEW_OPS)
    np.testing.assert_allclose(g.dW[1], exp2, rtol=FEW_OPS)
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
    assert es == pytest.approx(kernel_eps_star(m, T - 1), rel=FEW_OPS)
    want = -w2 * es * dV_out
    got = g.adjoints[0]["dT"][0, 0, 0]
    assert got == pytest.approx(want, rel=ORACLE)
    truncated = -w2 * (0.0 - e[T - 2]) / 2 * dV_out
    assert abs(got - truncated) > 1e-3 * abs(got)
    ge = backward(net, trace, "timing", None, dt, return_adjoints=True, timing_impl="explicit")
    assert ge.adjoints[0]["dT"][0, 0, 0] == pytest.approx(want, rel=ORACLE)
