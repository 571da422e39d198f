"""TSSL-BP backward rule (spec 4, properties P-S1, P-S2, P-S4 (spike steps), P-S5, P-F3, P-F4)."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import naive_tsslbp as naive
import snnref
from snnref import Network, NeuronModel, backward, forward
from snnref.rules.tsslbp import _tsslbp_final_kernel, tsslbp_backward
from tssl_cases import ATOL32, ATOL64, RTOL32, RTOL64, cases, layer_dicts, make_case


def _tssl(case, **opts):
    return backward(case.net, case.trace, "tsslbp", dL_da=case.dL_da, return_adjoints=True, **opts)


def _eps_s(T, tau_s):
    return (1.0 / tau_s) * (1.0 - 1.0 / tau_s) ** np.arange(T)


# ------------------------------------------------------------------------------ forward (item 1)
@given(cases())
def test_forward_matches_official_transcription(case):
    """P-F4 / spec 2.1-2.2: snnref.forward of a tsslbp model = the official loop (x = I = W^T a)."""
    m = case.net.model
    a0, layers = naive.forward_official(case.net.weights, m.tau_m, m.tau_s, m.theta, case.x)
    for l, lay in enumerate(layers):
        assume(np.abs(lay["u"] - m.theta).min() > 1e-9)     # no spike decided by rounding
    np.testing.assert_allclose(case.trace.a0, a0, rtol=RTOL64, atol=ATOL64, err_msg="a0")
    for l, (lt, lay) in enumerate(zip(case.trace.layers, layers)):
        np.testing.assert_array_equal(lt.S, lay["s"], err_msg=f"s, layer {l}")
        for name, ours in (("x", lt.I), ("u", lt.u), ("du", lt.du), ("a", lt.a)):
            np.testing.assert_allclose(ours, lay[name], rtol=1e-10, atol=1e-10, err_msg=f"{name}, layer {l}")


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
        np.testing.assert_allclose(lt.a, conv, rtol=1e-12, atol=1e-13)
        u_plus_prev = np.concatenate([np.zeros_like(lt.u[:1]), (1 - lt.S[:-1]) * lt.u[:-1]])
        np.testing.assert_allclose(lt.du, lt.u - u_plus_prev, rtol=1e-12, atol=1e-12)
        # the backward relies on du > 0 at every spike step (so rho > 0, spec 4.1)
        assert np.all(lt.du[lt.S == 1] > 0)


@pytest.mark.parametrize("tau_s", [1.0, 2.0, 3.0, 7.5])
def test_kernel_sum_and_input_ramp(tau_s):
    """P-F3: sum_{k<T} eps_s[k] = 1 - (1 - 1/tau_s)^T; constant input x gives a^0 = x (1 - (1-1/tau_s)^(t+1))."""
    T = 12
    assert np.isclose(_eps_s(T, tau_s).sum(), 1 - (1 - 1 / tau_s) ** T, rtol=1e-14, atol=0)
    net = Network([np.ones((2, 1))], model=NeuronModel.tsslbp(5.0, tau_s, 100.0))
    x = np.tile(np.array([0.7, -1.3]), (T, 1, 1))
    tr = forward(net, x)
    ramp = 1 - (1 - 1 / tau_s) ** (np.arange(T) + 1)
    np.testing.assert_allclose(tr.a0[:, 0, :], ramp[:, None] * np.array([0.7, -1.3]), rtol=1e-13, atol=1e-15)
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
        np.testing.assert_allclose(adj["E"], Es[l], rtol=1e-11, atol=1e-11, err_msg=f"E layer {l}")
        np.testing.assert_allclose(adj["G"], Gs[l], rtol=1e-11, atol=1e-11, err_msg=f"G layer {l}")
        np.testing.assert_allclose(g.dW[l], dW[l], rtol=1e-11, atol=1e-11, err_msg=f"dW layer {l}")
        _, G_tssl = naive.layer_backward_final(Es[l], *(lays[l][k] for k in ("u", "du", "s", "a")),
                                               m.tau_m, m.tau_s, m.theta)
        np.testing.assert_allclose(adj["G_tssl"], G_tssl, rtol=1e-11, atol=1e-11, err_msg=f"G_tssl {l}")
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
        np.testing.assert_allclose(g.dW[l], dW[l], rtol=1e-11, atol=1e-11, err_msg=f"dW layer {l}")


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
        np.testing.assert_allclose(g.adjoints[l]["G"], Gs[l], rtol=1e-11, atol=1e-11, err_msg=f"G layer {l}")
        np.testing.assert_allclose(g.dW[l], dW[l], rtol=1e-11, atol=1e-11, err_msg=f"dW layer {l}")


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
        np.testing.assert_allclose(adj["A"], A_direct, rtol=1e-12, atol=1e-12)
        rho_expected = np.where(lt.S == 1, np.minimum(1 / np.where(lt.S == 1, lt.du, 1.0), 8.0), 0.0)
        np.testing.assert_allclose(adj["rho"], rho_expected, rtol=1e-15, atol=0)
        _, B, N = lt.S.shape
        for b in range(B):
            for j in range(N):
                spikes = np.flatnonzero(lt.S[:, b, j])
                for t in range(T):
                    if lt.S[t, b, j]:
                        continue
                    later = spikes[spikes > t]
                    want = 0.0 if later.size == 0 else (1 - 1 / m.tau_m) ** (later[0] - t) * adj["G_tssl"][later[0], b, j]
                    assert np.isclose(adj["G_tssl"][t, b, j], want, rtol=1e-12, atol=1e-300)


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
        np.testing.assert_allclose(adj["G"][:, silent], want[:, silent], rtol=1e-13, atol=1e-300)
        np.testing.assert_array_equal(adj["G_tssl"][:, silent], 0.0)


def _one_neuron_kernel(E, u, du, s, a, tau_m, tau_s, theta=1.0):
    arrs = [np.ascontiguousarray(np.asarray(v, float).reshape(-1, 1, 1)) for v in (E, u, du, s, a)]
    out = [np.empty_like(arrs[0]) for _ in range(4)]
    warm_th = 1.0 / (4.0 * tau_s)
    _tsslbp_final_kernel(*arrs, 1.0 / tau_m, 1.0 - 1.0 / tau_s, 1.0 / tau_s, theta, 8.0, warm_th, True, *out)
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
    assert G[4] == pytest.approx(f[4] * A[4], rel=1e-14)                  # below: override
    assert G[4] != G_tssl[4]
    assert G[0] == pytest.approx(f[0] * A[0], rel=1e-14)                  # before the first spike
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
    np.testing.assert_allclose(A, A_hand, rtol=1e-15)
    g3 = 1.25 * A_hand[3]                                  # last spike: inter only
    g2 = (1 - tm) * g3                                     # leak
    g1 = 2.0 * (A_hand[1] + tm * 1.5 * g2)                 # inter + intra
    g0 = (1 - tm) * g1
    np.testing.assert_allclose(G_tssl, [g0, g1, g2, g3], rtol=1e-15)
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
        np.testing.assert_allclose(g32.dW[l], g64.dW[l], rtol=RTOL32, atol=ATOL32 * scale)
    # (the tssl_intra=False ablation passes the trailing use_intra explicitly: its own signatures)
    assert len([sig for sig in _tsslbp_final_kernel.signatures if str(sig[-1]).startswith("omitted")]) <= 2


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
        np.testing.assert_allclose(sum(p[l] for p in parts), g1.dW[l], rtol=1e-12, atol=1e-12)


def test_dispatch_and_loss_pipeline():
    """snnref.backward(..., "tsslbp") with a kernel loss; wrong model / missing dL_da are rejected."""
    case = make_case(1, 5, 2, [4, 5, 3], 5.0, 3.0, 1.0)
    loss = snnref.losses.psp_kernel(case.trace, [0, 2])
    g = backward(case.net, case.trace, "tsslbp", dL_da=loss.dL_da)
    assert [w.shape for w in g.dW] == [(4, 5), (5, 3)] and g.rule == "tsslbp"
    with pytest.raises(ValueError, match="needs dL_da"):
        backward(case.net, case.trace, "tsslbp")
