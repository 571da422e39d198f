"""ANTLR (spec 3.5, snnref/rules/antlr.py): the limits antlr(1, 0) = act_srm and antlr(0, 1) =
timing (P-T3), lambda scaling and linearity, count-type losses, silent layers, and the layer-outer
order of the drivers against a t-outer order (bit for bit)."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from snnref.backward import backward
from snnref.forward import forward
from snnref.model import Network, NeuronModel

from strategies import antlr_rule_cases as cases
from tolerances import FEW_OPS, ORACLE_TIMING, assert_close


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
        assert_close(a10.dW[l], srm.dW[l], "antlr(1,0) vs act_srm", rtol=FEW_OPS)
        assert_close(a10.db[l], srm.db[l], "antlr(1,0) vs act_srm", rtol=FEW_OPS)
        assert_close(a01.dW[l], tim.dW[l], "antlr(0,1) vs timing", rtol=FEW_OPS)
        assert_close(a01.db[l], tim.db[l], "antlr(0,1) vs timing", rtol=FEW_OPS)


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
        assert_close(sc_a.dW[l], f * base_a.dW[l], f"activation scaling layer {l}", ORACLE_TIMING)
        assert_close(sc_a.db[l], f * base_a.db[l], f"activation scaling layer {l}", ORACLE_TIMING)
        assert_close(sc_t.dW[l], f * base_t.dW[l], f"timing scaling layer {l}", ORACLE_TIMING)
        assert_close(sc_t.db[l], f * base_t.db[l], f"timing scaling layer {l}", ORACLE_TIMING)


@given(case=cases(), la=st.sampled_from([0.0, 0.3, 1.0]), lt=st.sampled_from([0.0, 0.6, 2.0]))
def test_output_layer_linearity(case, la, lt):
    """P-T5: output-layer gradients = lambda_act g(act_srm) + lambda_tim g(timing)."""
    net, trace, dS, dt = case
    g = backward(net, trace, "antlr", dS, dt, lambda_act=la, lambda_tim=lt)
    ga = backward(net, trace, "act_srm", dS, dt)
    gt = backward(net, trace, "timing", dS, dt)
    assert_close(g.dW[-1], la * ga.dW[-1] + lt * gt.dW[-1], "output dW linearity", ORACLE_TIMING)
    assert_close(g.db[-1], la * ga.db[-1] + lt * gt.db[-1], "output db linearity", ORACLE_TIMING)


@given(case=cases(min_layers=2), la=st.sampled_from([1.0, 0.4]))
def test_count_type_loss(case, la):
    """P-T6: dL_dt = 0 -> antlr output layer = lambda_act x act_srm; hidden layers differ by timing."""
    net, trace, dS, _ = case
    g = backward(net, trace, "antlr", dS, None, lambda_act=la, return_adjoints=True)
    ga = backward(net, trace, "act_srm", dS, None)
    assert_close(g.dW[-1], la * ga.dW[-1], "output dW", ORACLE_TIMING)
    assert_close(g.db[-1], la * ga.db[-1], "output db", ORACLE_TIMING)
    # the hidden difference is exactly the timing back-projection: zero iff no hidden dT
    dT_hidden = any(np.any(g.adjoints[l]["dT"] != 0) for l in range(net.n_layers - 1))
    if not dT_hidden and la == 1.0:
        for l in range(net.n_layers):
            assert_close(g.dW[l], ga.dW[l], "no hidden timing signal -> equal", ORACLE_TIMING)


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


def test_layer_outer_order_is_bit_identical(rng):
    """Spec 3.7 order (t outer, l inner) and the layer-outer order of the rule drivers agree exactly
    for timing_tau_min=0 (both are topological orders of the same recurrences): a t-outer driver
    written here with the same per-step functions gives the reference's adjoints bit for bit."""
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
