"""TSSL-BP backward rule (spec 4, snnref/rules/tsslbp.py; properties P-S1, P-S2, P-S4 (spike steps),
P-S5, P-F3, P-F4), and its switches tssl_intra / tssl_float32_constants."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from oracles import tsslbp as naive
import snnref
from snnref import Network, NeuronModel, backward, forward
from snnref.config import ConfigError, TrainConfig, load_preset
from snnref.rules.tsslbp import tsslbp_backward, tsslbp_final_layer
from strategies import layer_dicts
from strategies import make_tsslbp_case as make_case
from strategies import tsslbp_cases as cases
from tolerances import (CHAIN, F32_TSSL, F32_TSSL_ABS, FEW_OPS, ORACLE, ORACLE_DEEP, ORACLE_TIMING, ULPS,
                        ZERO_ABS)


def _tssl(case, **opts):
    return backward(case.net, case.trace, "tsslbp", dL_da=case.dL_da, return_adjoints=True, **opts)


def _eps_s(T, tau_s):
    return (1.0 / tau_s) * (1.0 - 1.0 / tau_s) ** np.arange(T)


# ------------------------------------------------------------------------------ forward
@given(cases())
def test_forward_matches_official_transcription(case):
    """P-F4 / spec 2.1-2.2: snnref.forward of a tsslbp model = the official loop (x = I = W^T a)."""
    m = case.net.model
    a0, layers = naive.forward_official(case.net.weights, m.tau_m, m.tau_s, m.theta, case.x)
    for l, lay in enumerate(layers):
        assume(np.abs(lay["u"] - m.theta).min() > 1e-9)     # no spike decided by rounding
    np.testing.assert_allclose(case.trace.a0, a0, rtol=ORACLE, atol=ORACLE, err_msg="a0")
    for l, (lt, lay) in enumerate(zip(case.trace.layers, layers)):
        np.testing.assert_array_equal(lt.S, lay["s"], err_msg=f"s, layer {l}")
        for name, ours in (("x", lt.I), ("u", lt.u), ("du", lt.du), ("a", lt.a)):
            np.testing.assert_allclose(ours, lay[name], rtol=ORACLE_TIMING, atol=ORACLE_TIMING, err_msg=f"{name}, layer {l}")


@given(cases(max_layers=2))
def test_trace_is_causal_convolution_of_spikes(case):
    """P-F3: a = eps_s * s (causal convolution), and du = u - u^+[t-1] with u^+ = (1 - s) u."""
    tau_s = case.net.model.tau_s
    T = case.trace.T
    e = _eps_s(T, tau_s)
    for lt in case.trace.layers:
        conv = np.zeros_like(lt.a)
        for t in range(T):
            for k in range(t + 1):
                conv[t] += e[k] * lt.S[t - k]
        np.testing.assert_allclose(lt.a, conv, rtol=ORACLE, atol=CHAIN)
        u_plus_prev = np.concatenate([np.zeros_like(lt.u[:1]), (1 - lt.S[:-1]) * lt.u[:-1]])
        np.testing.assert_allclose(lt.du, lt.u - u_plus_prev, rtol=ORACLE, atol=ORACLE)
        # the backward relies on du > 0 at every spike step (so rho > 0, spec 4.1)
        assert np.all(lt.du[lt.S == 1] > 0)


@pytest.mark.parametrize("tau_s", [1.0, 2.0, 3.0, 7.5])
def test_kernel_sum_and_input_ramp(tau_s):
    """P-F3: sum_{k<T} eps_s[k] = 1 - (1 - 1/tau_s)^T; constant input x gives a^0 = x (1 - (1-1/tau_s)^(t+1))."""
    T = 12
    assert np.isclose(_eps_s(T, tau_s).sum(), 1 - (1 - 1 / tau_s) ** T, rtol=FEW_OPS, atol=0)
    net = Network([np.ones((2, 1))], model=NeuronModel.tsslbp(5.0, tau_s, 100.0))
    x = np.tile(np.array([0.7, -1.3]), (T, 1, 1))
    tr = forward(net, x)
    ramp = 1 - (1 - 1 / tau_s) ** (np.arange(T) + 1)
    np.testing.assert_allclose(tr.a0[:, 0, :], ramp[:, None] * np.array([0.7, -1.3]), rtol=CHAIN, atol=ULPS)
    # an isolated spike's trace sums to 1 - (1 - 1/tau_s)^(remaining steps) (spec 5.5)
    s = np.zeros(T)
    s[4] = 1
    a = np.convolve(s, _eps_s(T, tau_s))[:T]
    assert np.isclose(a.sum(), 1 - (1 - 1 / tau_s) ** (T - 4))


# ------------------------------------------------------------------------------ P-S1
@given(cases())
def test_final_rule_equals_literal_official_loop(case):
    """P-S1: kernel (P1)+(P2) == literal transcription of the final official loop (with 'theta')."""
    m = case.net.model
    lays = layer_dicts(case.trace)
    fn = lambda E, lay: naive.layer_backward_final(E, lay["u"], lay["du"], lay["s"], lay["a"],  # noqa: E731
                                                   m.tau_m, m.tau_s, m.theta)[0]
    dW, Gs, Es = naive.network_backward(case.net.weights, case.trace.a0, lays, case.dL_da, fn)
    g = _tssl(case)
    for l in range(case.net.n_layers):
        adj = g.adjoints[l]
        np.testing.assert_allclose(adj["E"], Es[l], rtol=ORACLE_DEEP, atol=ORACLE_DEEP, err_msg=f"E layer {l}")
        np.testing.assert_allclose(adj["G"], Gs[l], rtol=ORACLE_DEEP, atol=ORACLE_DEEP, err_msg=f"G layer {l}")
        np.testing.assert_allclose(g.dW[l], dW[l], rtol=ORACLE_DEEP, atol=ORACLE_DEEP, err_msg=f"dW layer {l}")
        _, G_tssl = naive.layer_backward_final(Es[l], *(lays[l][k] for k in ("u", "du", "s", "a")),
                                               m.tau_m, m.tau_s, m.theta)
        np.testing.assert_allclose(adj["G_tssl"], G_tssl, rtol=ORACLE_DEEP, atol=ORACLE_DEEP, err_msg=f"G_tssl {l}")
        assert not np.any(g.db[l])


@given(cases(), st.sampled_from([0.5, 2.0, 8.0, 100.0]), st.booleans())
def test_final_rule_options_equal_literal_loop(case, inv_du_max, warmup):
    """P-S1 with the clamp option tssl_inv_du_max and the warm-up switched off."""
    m = case.net.model
    lays = layer_dicts(case.trace)
    fn = lambda E, lay: naive.layer_backward_final(E, lay["u"], lay["du"], lay["s"], lay["a"],  # noqa: E731
                                                   m.tau_m, m.tau_s, m.theta, inv_du_max, warmup)[0]
    dW, _, _ = naive.network_backward(case.net.weights, case.trace.a0, lays, case.dL_da, fn)
    g = _tssl(case, tssl_inv_du_max=inv_du_max, tssl_warmup=warmup)
    for l in range(case.net.n_layers):
        np.testing.assert_allclose(g.dW[l], dW[l], rtol=ORACLE_DEEP, atol=ORACLE_DEEP, err_msg=f"dW layer {l}")


@given(cases(), st.sampled_from([0.0, 0.05, 0.1, 0.3, 1.0]))
def test_global_rate_switch_equals_literal_sep2020_loop(case, rate):
    """spec 4.5: variant "global_rate_switch" == explicit T x T reset-history matrices of Sep 2020."""
    m = case.net.model
    lays = layer_dicts(case.trace)
    fn = lambda E, lay: naive.layer_backward_sep2020(E, lay["u"], lay["du"], lay["s"],  # noqa: E731
                                                     m.tau_m, m.tau_s, m.theta, 10.0, rate)
    dW, Gs, _ = naive.network_backward(case.net.weights, case.trace.a0, lays, case.dL_da, fn)
    g = _tssl(case, tssl_variant="global_rate_switch", warmup_rate=rate)
    assert g.options["tssl_inv_du_max"] == 10.0
    for l in range(case.net.n_layers):
        np.testing.assert_allclose(g.adjoints[l]["G"], Gs[l], rtol=ORACLE_DEEP, atol=ORACLE_DEEP, err_msg=f"G layer {l}")
        np.testing.assert_allclose(g.dW[l], dW[l], rtol=ORACLE_DEEP, atol=ORACLE_DEEP, err_msg=f"dW layer {l}")


def test_global_rate_switch_no_leak():
    """spec 4.5: in the TSSL branch of the Sep 2020 variant, G is non-zero only at spike steps."""
    case = make_case(3, 20, 2, [4, 6, 3], 5.0, 3.0, 1.0, w_mean=1.0)
    g = _tssl(case, tssl_variant="global_rate_switch", warmup_rate=0.0)
    for l, lt in enumerate(case.trace.layers):
        assert np.all(g.adjoints[l]["G"][lt.S == 0] == 0)
        assert np.any(g.adjoints[l]["G"][lt.S == 1] != 0)


# ------------------------------------------------------------------------------ P-S2, P-S5, P-S4
@given(cases(max_layers=2))
def test_silent_step_closed_form_and_A(case):
    """P-S2: G_tssl[t] = (1 - theta_m)^(t_p - t) G_tssl[t_p] off spikes; 0 after the last spike.
    P-S5: A[t] = sum_k eps_s[k] E[t+k]. rho = s min(1/du, 8)."""
    m = case.net.model
    g = _tssl(case)
    T = case.trace.T
    e = _eps_s(T, m.tau_s)
    for l, lt in enumerate(case.trace.layers):
        adj = g.adjoints[l]
        A_direct = np.zeros_like(adj["A"])
        for t in range(T):
            for k in range(T - t):
                A_direct[t] += e[k] * adj["E"][t + k]
        np.testing.assert_allclose(adj["A"], A_direct, rtol=ORACLE, atol=ORACLE)
        rho_expected = np.where(lt.S == 1, np.minimum(1 / np.where(lt.S == 1, lt.du, 1.0), 8.0), 0.0)
        np.testing.assert_allclose(adj["rho"], rho_expected, rtol=ULPS, atol=0)
        _, B, N = lt.S.shape
        for b in range(B):
            for j in range(N):
                spikes = np.flatnonzero(lt.S[:, b, j])
                for t in range(T):
                    if lt.S[t, b, j]:
                        continue
                    later = spikes[spikes > t]
                    want = 0.0 if later.size == 0 else (1 - 1 / m.tau_m) ** (later[0] - t) * adj["G_tssl"][later[0], b, j]
                    assert np.isclose(adj["G_tssl"][t, b, j], want, rtol=ORACLE, atol=ZERO_ABS)


@given(cases(max_layers=2))
def test_warmup_never_changes_spike_steps_and_silent_neurons_use_f(case):
    """P-S4: G = G_tssl at spike steps; a neuron that never fires has G = f(u) A at every step."""
    m = case.net.model
    g = _tssl(case)
    for l, lt in enumerate(case.trace.layers):
        adj = g.adjoints[l]
        spike = lt.S == 1
        np.testing.assert_array_equal(adj["G"][spike], adj["G_tssl"][spike])
        silent = lt.S.sum(axis=0) == 0                                   # (B, N)
        f = snnref.neuron.tssl_warmup_surrogate(lt.u, m.theta)
        want = f * adj["A"]
        np.testing.assert_allclose(adj["G"][:, silent], want[:, silent], rtol=CHAIN, atol=ZERO_ABS)
        np.testing.assert_array_equal(adj["G_tssl"][:, silent], 0.0)


def _one_neuron_kernel(E, u, du, s, a, tau_m, tau_s, theta=1.0):
    arrs = [np.ascontiguousarray(np.asarray(v, float).reshape(-1, 1, 1)) for v in (E, u, du, s, a)]
    out = [np.empty_like(arrs[0]) for _ in range(4)]
    warm_th = 1.0 / (4.0 * tau_s)
    tsslbp_final_layer(*arrs, 1.0 / tau_m, 1.0 - 1.0 / tau_s, 1.0 / tau_s, theta, 8.0, warm_th, True, *out)
    return [o[:, 0, 0] for o in out]          # A, rho, G_tssl, G


def test_warmup_tie_at_tau_s_2_keeps_G_tssl():
    """spec 4.3: tau_s = 2, isolated spike: two silent steps later a = 1/8 = 1/(4 tau_s) exactly -> no override;
    one step later a < 1/8 -> override (strict comparison)."""
    tau_s, T = 2.0, 6
    s = np.array([0, 1, 0, 0, 0, 1.0])
    a = np.convolve(s, _eps_s(T, tau_s))[:T]
    assert a[3] == 1 / 8 and a[4] < 1 / 8
    u = np.array([0.5, 1.2, 0.3, 0.4, 0.6, 1.1])
    du = np.array([0.5, 0.8, 0.3, 0.2, 0.3, 0.7])
    E = np.array([0.3, -0.2, 0.5, 0.1, 0.4, 0.7])
    A, rho, G_tssl, G = _one_neuron_kernel(E, u, du, s, a, 5.0, tau_s)
    assert G_tssl[3] != 0
    assert G[3] == G_tssl[3]                                              # tie keeps G_tssl
    f = snnref.neuron.tssl_warmup_surrogate(u, 1.0)
    assert G[4] == pytest.approx(f[4] * A[4], rel=FEW_OPS)                  # below: override
    assert G[4] != G_tssl[4]
    assert G[0] == pytest.approx(f[0] * A[0], rel=FEW_OPS)                  # before the first spike
    assert G[2] == G_tssl[2] and G[1] == G_tssl[1]


def test_hand_computed_two_spike_neuron():
    """(P1) by hand for one output neuron, T = 4, spikes at t = 1 and t = 3, warm-up off."""
    tau_m, tau_s = 4.0, 2.0
    tm = 1 / tau_m
    s = np.array([0, 1, 0, 1.0])
    u = np.array([0.5, 1.5, 0.6, 1.25])
    du = np.array([0.5, 0.5, 0.6, 0.8])      # 1/du = 2, 1.25 at the spikes
    E = np.array([1.0, 2.0, -1.0, 4.0])
    a = np.convolve(s, _eps_s(4, tau_s))[:4]
    A, rho, G_tssl, G = _one_neuron_kernel(E, u, du, s, a + 1.0, tau_m, tau_s)  # a + 1: warm-up never acts
    A_hand = [0.5 * 1 + 0.25 * 2 + 0.125 * -1 + 0.0625 * 4, 0.5 * 2 + 0.25 * -1 + 0.125 * 4, 0.5 * -1 + 0.25 * 4, 2.0]
    np.testing.assert_allclose(A, A_hand, rtol=ULPS)
    g3 = 1.25 * A_hand[3]                                  # last spike: inter only
    g2 = (1 - tm) * g3                                     # leak
    g1 = 2.0 * (A_hand[1] + tm * 1.5 * g2)                 # inter + intra
    g0 = (1 - tm) * g1
    np.testing.assert_allclose(G_tssl, [g0, g1, g2, g3], rtol=ULPS)
    np.testing.assert_array_equal(G, G_tssl)


# ------------------------------------------------------------------------------ options, dtypes, determinism
def test_unknown_and_bad_options():
    case = make_case(0, 5, 2, [3, 4, 2], 5.0, 3.0, 1.0)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['tau_x'\]"):
        _tssl(case, tau_x=1)
    with pytest.raises(ValueError, match="tssl_variant must be one of"):
        _tssl(case, tssl_variant="sep")
    with pytest.raises(ValueError, match=r"tssl_inv_du_max must be in \(0, inf\]"):
        _tssl(case, tssl_inv_du_max=0.0)
    with pytest.raises(ValueError, match=r"tssl_inv_du_max must be finite"):
        _tssl(case, tssl_inv_du_max=float("inf"))
    with pytest.raises(ValueError, match=r"warmup_rate must be in \[0, 1\]"):
        _tssl(case, tssl_variant="global_rate_switch", warmup_rate=1.5)
    with pytest.raises(TypeError, match="tssl_warmup must be True or False"):
        _tssl(case, tssl_warmup="yes")
    with pytest.raises(ValueError, match="needs dL_da"):
        tsslbp_backward(case.net, case.trace, dL_da=None)
    with pytest.raises(ValueError, match="takes dL_da only"):
        tsslbp_backward(case.net, case.trace, dL_da=case.dL_da, dL_dS=case.dL_da)
    g = _tssl(case)
    assert g.options["tssl_inv_du_max"] == 8.0 and g.options["tssl_variant"] == "final"
    assert set(g.adjoints[0]) == {"E", "A", "rho", "G_tssl", "G"}
    assert backward(case.net, case.trace, "tsslbp", dL_da=case.dL_da).adjoints is None


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(tau_m=0.5), ValueError, r"tau_m must be in \[1, inf\]"),
    (dict(tau_s=0.0), ValueError, r"tau_s must be in \[1, inf\]"),
    (dict(theta=0.0), ValueError, r"theta must be in \(0, inf\]"),
    (dict(theta=-1.0), ValueError, r"theta must be in \(0, inf\]"),
    (dict(tau_s=float("nan")), ValueError, "tau_s must be finite"),
    (dict(tau_m="5"), TypeError, "tau_m must be a real number"),
])
def test_bad_model_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        NeuronModel.tsslbp(**kwargs)


@given(cases(max_layers=2))
@settings(max_examples=10)
def test_float32_close_to_float64(case):
    net32 = Network(case.net.weights, model=case.net.model, dtype=np.float32)
    tr32 = forward(net32, case.x)
    # only cases where float32 rounding decides no spike differently and no warm-up switch sits on its edge
    for lt in case.trace.layers:
        assume(np.abs(lt.u - case.net.model.theta).min() > 1e-3)
        assume(np.abs(lt.a - 1 / (4 * case.net.model.tau_s)).min() > 1e-4)
    for lt32, lt in zip(tr32.layers, case.trace.layers):
        assume(np.array_equal(lt32.S, lt.S))
    g64 = _tssl(case)
    g32 = backward(net32, tr32, "tsslbp", dL_da=case.dL_da.astype(np.float32))
    for l in range(case.net.n_layers):
        assert g32.dW[l].dtype == np.float32
        scale = np.abs(g64.dW[l]).max() + 1.0
        np.testing.assert_allclose(g32.dW[l], g64.dW[l], rtol=F32_TSSL, atol=F32_TSSL_ABS * scale)
    # (the tssl_intra=False ablation passes the trailing use_intra explicitly: its own signatures)
    assert len([sig for sig in tsslbp_final_layer.signatures if str(sig[-1]).startswith("omitted")]) <= 2


def test_deterministic_and_batch_independent():
    """Two runs are bit-identical; each sample's gradient does not depend on the others (prange)."""
    case = make_case(7, 10, 3, [5, 6, 4], 5.0, 3.0, 1.0)
    g1, g2 = _tssl(case), _tssl(case)
    for a, b in zip(g1.dW, g2.dW):
        np.testing.assert_array_equal(a, b)
    parts = []
    for b in range(3):
        tr = forward(case.net, case.x[:, b:b + 1])
        parts.append(backward(case.net, tr, "tsslbp", dL_da=case.dL_da[:, b:b + 1]).dW)
    for l in range(2):
        np.testing.assert_allclose(sum(p[l] for p in parts), g1.dW[l], rtol=ORACLE, atol=ORACLE)


def test_dispatch_and_loss_pipeline():
    """snnref.backward(..., "tsslbp") with a kernel loss; wrong model / missing dL_da are rejected."""
    case = make_case(1, 5, 2, [4, 5, 3], 5.0, 3.0, 1.0)
    loss = snnref.losses.psp_kernel(case.trace, [0, 2])
    g = backward(case.net, case.trace, "tsslbp", dL_da=loss.dL_da)
    assert [w.shape for w in g.dW] == [(4, 5), (5, 3)] and g.rule == "tsslbp"
    with pytest.raises(ValueError, match="needs dL_da"):
        backward(case.net, case.trace, "tsslbp")


# ------------------------------------------------------------------------------ switches: tssl_intra=False
# (ablation of the intra-neuron term) and tssl_float32_constants=True (official float32 storage of the
# backward's constants), against the literal loops of tests/oracles/tsslbp.py
def _grads(case, **opts):
    return backward(case.net, case.trace, "tsslbp", dL_da=case.dL_da, return_adjoints=True, **opts)


@given(cases(), st.booleans(), st.booleans(), st.booleans(), st.sampled_from(["fast", "reference"]))
def test_switches_equal_literal_loop(case, intra, f32, warmup, impl):
    """tssl_intra / tssl_float32_constants (with and without warm-up) == the literal official loop."""
    m = case.net.model
    lays = layer_dicts(case.trace)

    def fn(E, lay):
        return naive.layer_backward_final(E, lay["u"], lay["du"], lay["s"], lay["a"], m.tau_m, m.tau_s, m.theta,
                                          8.0, warmup, intra=intra, float32_constants=f32)[0]

    dW, Gs, _ = naive.network_backward(case.net.weights, case.trace.a0, lays, case.dL_da, fn)
    g = _grads(case, tssl_intra=intra, tssl_float32_constants=f32, tssl_warmup=warmup, impl=impl)
    assert g.options["tssl_intra"] is intra and g.options["tssl_float32_constants"] is f32
    for l in range(case.net.n_layers):
        np.testing.assert_allclose(g.adjoints[l]["G"], Gs[l], rtol=ORACLE_DEEP, atol=ORACLE_DEEP, err_msg=f"G layer {l}")
        np.testing.assert_allclose(g.dW[l], dW[l], rtol=ORACLE_DEEP, atol=ORACLE_DEEP, err_msg=f"dW layer {l}")


@given(cases(), st.sampled_from([0.0, 0.1, 1.0]))
def test_no_intra_global_rate_switch_equals_literal_sep2020(case, rate):
    m = case.net.model
    lays = layer_dicts(case.trace)

    def fn(E, lay):
        return naive.layer_backward_sep2020(E, lay["u"], lay["du"], lay["s"], m.tau_m, m.tau_s, m.theta, 10.0,
                                            rate, intra=False)

    dW, Gs, _ = naive.network_backward(case.net.weights, case.trace.a0, lays, case.dL_da, fn)
    g = _grads(case, tssl_variant="global_rate_switch", warmup_rate=rate, tssl_intra=False)
    for l in range(case.net.n_layers):
        assert not np.any(g.adjoints[l]["intra"])
        np.testing.assert_allclose(g.dW[l], dW[l], rtol=ORACLE_DEEP, atol=ORACLE_DEEP, err_msg=f"dW layer {l}")


@given(cases(max_layers=1))
def test_no_intra_identities(case):
    """Without the intra term: G_tssl = rho A at spikes; a neuron with at most one spike is unaffected."""
    full = _grads(case, tssl_warmup=False)
    ablt = _grads(case, tssl_warmup=False, tssl_intra=False)
    S = case.trace.layers[0].S
    adj = ablt.adjoints[0]
    spk = S == 1
    np.testing.assert_array_equal(adj["G_tssl"][spk], adj["rho"][spk] * adj["A"][spk])
    few = S.sum(axis=0) <= 1                                    # (B, N)
    np.testing.assert_array_equal(ablt.adjoints[0]["G"][:, few], full.adjoints[0]["G"][:, few])


def test_no_intra_changes_multi_spike_neurons_and_fast_equals_reference():
    case = make_case(7, 20, 2, [4, 5, 3], 5.0, 3.0, 1.0, w_mean=1.0)
    assert (case.trace.layers[-1].S.sum(axis=0) >= 2).any()
    full = _grads(case)
    for impl in ("fast", "reference"):
        a = _grads(case, tssl_intra=False, impl=impl)
        assert any(not np.array_equal(x, y) for x, y in zip(a.dW, full.dW))
    r = _grads(case, tssl_intra=False, tssl_float32_constants=True, impl="reference")
    f = _grads(case, tssl_intra=False, tssl_float32_constants=True, impl="fast")
    for l in range(2):
        np.testing.assert_array_equal(f.dW[l], r.dW[l])
        for k in ("A", "rho", "G_tssl", "G"):
            np.testing.assert_array_equal(f.adjoints[l][k], r.adjoints[l][k])
    no_adj = backward(case.net, case.trace, "tsslbp", dL_da=case.dL_da, tssl_intra=False)   # store_all=False
    ref = _grads(case, tssl_intra=False, impl="reference")
    for l in range(2):
        np.testing.assert_array_equal(no_adj.dW[l], ref.dW[l])


def test_float32_constants_size_of_effect():
    """tau_m = 5: theta_m = float32(0.2) = 0.2 + 2.98e-9 -> a ~1e-9..1e-7 relative change; tau_m = 4,
    theta = 1, tau_s = 2: every constant is exact in float32 -> bit-identical gradients."""
    assert float(np.float32(1 / 5)) == 0.20000000298023224
    case = make_case(7, 20, 2, [4, 5, 3], 5.0, 3.0, 1.0, w_mean=1.0)
    exact = _grads(case)
    f32 = _grads(case, tssl_float32_constants=True)
    for l in range(2):
        d = np.abs(f32.dW[l] - exact.dW[l]).max() / np.abs(exact.dW[l]).max()
        assert 0 < d < 1e-6
    case = make_case(7, 20, 2, [4, 5, 3], 4.0, 2.0, 1.0, w_mean=1.0)
    exact = _grads(case)
    f32 = _grads(case, tssl_float32_constants=True)
    for l in range(2):
        np.testing.assert_array_equal(f32.dW[l], exact.dW[l])


@pytest.mark.parametrize("name, value", [("tssl_intra", "no"), ("tssl_intra", 0), ("tssl_float32_constants", 1.0),
                                         ("tssl_float32_constants", None)])
def test_bad_switch_values(name, value):
    case = make_case(0, 5, 1, [3, 2], 5.0, 3.0, 1.0)
    with pytest.raises(TypeError, match=f"{name} must be True or False"):
        _grads(case, **{name: value})
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['tssl_intr'\]"):
        _grads(case, tssl_intr=False)


def test_config_passes_switches():
    cfg = load_preset("tsslbp-mnist-mlp")
    assert "tssl_intra" not in cfg.rule_options() and "tssl_warmup" not in cfg.rule_options()
    opts = cfg.replace(tssl_intra=False, tssl_warmup=False).rule_options()
    assert opts["tssl_intra"] is False and opts["tssl_warmup"] is False
    with pytest.raises(ConfigError, match="tssl_intra must be true or false"):
        cfg.replace(tssl_intra="no")
    with pytest.raises(ConfigError, match="tssl_warmup must be true or false"):
        TrainConfig.from_dict(dict(cfg.to_dict(), tssl_warmup=1))


def test_direct_call_checks_inputs_once(monkeypatch):
    """tsslbp_backward goes through the same checks as snnref.backward (dL_da shape included), once."""
    import snnref.rules as rules
    case = make_case(0, 4, 2, [3, 2], 5.0, 3.0, 1.0)
    with pytest.raises(ValueError, match=r"dL_da must have shape \(T_sim, B, N_out\)"):
        tsslbp_backward(case.net, case.trace, dL_da=np.zeros((4, 2, 5)))
    with pytest.raises(ValueError, match="computes rule 'tsslbp'"):
        tsslbp_backward(case.net, case.trace, rule="antlr", dL_da=case.dL_da)
    calls = []
    checks = rules.check_loss_gradients
    monkeypatch.setattr(rules, "check_loss_gradients", lambda *a, **k: calls.append(1) or checks(*a, **k))
    g1 = tsslbp_backward(case.net, case.trace, dL_da=case.dL_da)
    g2 = backward(case.net, case.trace, "tsslbp", dL_da=case.dL_da)
    assert len(calls) == 2
    for a, b in zip(g1.dW, g2.dW):
        np.testing.assert_array_equal(a, b)
