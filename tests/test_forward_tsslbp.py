"""TSSL-BP forward (spec 2.1-2.3; properties P-F3 and P-F4 of spec 10.1)."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from oracles import forward as naive
from strategies import cases, network_for, spike_raster, tsslbp_models
from snnref import Network, NeuronModel, forward

RTOL = 1e-12
TIE = 1e-9
more = settings(max_examples=3 * settings.default.max_examples)


def assert_close(actual, desired, rtol=RTOL, name=""):
    desired = np.asarray(desired, dtype=np.float64)
    scale = max(1.0, float(np.abs(desired).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(actual, np.float64), desired, rtol=rtol, atol=rtol * scale, err_msg=name)


def margin(trace):
    th = trace.model.theta
    return min(float(np.abs(lt.V - th).min()) for lt in trace.layers)


def eps_s(tau_s, n):
    """eps_s[k] = (1/tau_s) (1 - 1/tau_s)^k (spec 2.1)."""
    return (1.0 / tau_s) * (1.0 - 1.0 / tau_s) ** np.arange(n)


def causal_conv(sig, kern):
    """out[t] = sum_{k <= t} kern[k] sig[t - k] along axis 0 of (T, B, N)."""
    T = sig.shape[0]
    out = np.zeros(sig.shape)
    for b in range(sig.shape[1]):
        for n in range(sig.shape[2]):
            out[:, b, n] = np.convolve(sig[:, b, n], kern)[:T]
    return out


# ------------------------------------------------------------------------------ P-F4
@more
@given(cases(family="tsslbp"))
def test_matches_official_order_oracle(case):
    """P-F4: the generalised kernel with the TSSL-BP parameters == the official code's order of
    operations (x = W^T a, du = -(1/tau_m) u+ + x, u = u+ + du, s = [u > theta], a-trace)."""
    m = case.net.model
    tr = forward(case.net, case.x)
    assume(margin(tr) > TIE)
    a0, ref = naive.forward_tsslbp_official(case.net.weights, m.tau_m, m.tau_s, m.theta, case.x)
    assert_close(tr.a0, a0, name="a0")
    for l, (lt, r) in enumerate(zip(tr.layers, ref)):
        np.testing.assert_array_equal(lt.S, r["s"], err_msg=f"s layer {l}")
        assert_close(lt.I, r["x"], name=f"x (= I) layer {l}")
        assert_close(lt.u, r["u"], name=f"u layer {l}")
        assert_close(lt.du, r["du"], name=f"du layer {l}")
        assert_close(lt.a, r["a"], name=f"a layer {l}")


@given(data=st.data())
def test_tau_s_one_equals_antlr_alpha_I_zero(data):
    """P-F4: with tau_s = 1 (a = s, alpha_I = 0) TSSL-BP == the ANTLR-family model alpha_I = 0,
    alpha_V = 1 - 1/tau_m, beta_I = beta_V = 1, no bias, on spike input, when no V is exactly theta."""
    T = data.draw(st.integers(1, 40))
    n_in = data.draw(st.integers(1, 6))
    ts = data.draw(tsslbp_models(tau_s=1.0))
    net = data.draw(network_for(ts, T, n_in))
    x = data.draw(spike_raster(T, data.draw(st.integers(1, 3)), n_in))
    antlr = NeuronModel(alpha_I=0.0, alpha_V=1.0 - 1.0 / ts.tau_m, beta_I=1.0, beta_V=1.0, beta_bias=0.0,
                        theta=ts.theta)
    a = forward(Network(net.weights, None, antlr), x)
    t = forward(net, x)
    assume(margin(a) > TIE)
    np.testing.assert_array_equal(t.a0, x)
    for l, (la, lt) in enumerate(zip(a.layers, t.layers)):
        np.testing.assert_array_equal(lt.S, la.S, err_msg=f"S layer {l}")
        np.testing.assert_array_equal(lt.a, lt.S, err_msg=f"a = s layer {l}")
        assert_close(lt.V, la.V, name=f"V layer {l}")
        assert_close(lt.I, la.I, name=f"I layer {l}")


# ------------------------------------------------------------------------------ P-F3
@given(cases(family="tsslbp", max_T=40))
def test_trace_is_causal_convolution(case):
    """P-F3: a = s * eps_s (causal convolution) for every layer, a^0 = x * eps_s."""
    m = case.net.model
    tr = forward(case.net, case.x)
    kern = eps_s(m.tau_s, case.T)
    assert_close(tr.a0, causal_conv(case.x, kern), name="a0")
    for l, lt in enumerate(tr.layers):
        assert_close(lt.a, causal_conv(lt.S, kern), name=f"a layer {l}")


@given(st.floats(1.0, 30.0), st.integers(1, 60))
def test_eps_s_sum_identity(tau_s, T):
    """P-F3: sum_{k<T} eps_s[k] = 1 - (1 - 1/tau_s)^T."""
    assert eps_s(tau_s, T).sum() == pytest.approx(1.0 - (1.0 - 1.0 / tau_s) ** T, rel=1e-12)


@given(tsslbp_models(), st.integers(1, 50), st.lists(st.floats(0.0, 3.0), min_size=1, max_size=4))
def test_constant_input_ramp_and_always_firing_trace(model, T, xs):
    """P-F3: for a constant input x, a^0[t] = x (1 - (1 - 1/tau_s)^(t+1)); a neuron that fires at every
    step has a[t] = sum_{k<=t} eps_s[k] = 1 - (1 - 1/tau_s)^(t+1)."""
    x = np.broadcast_to(np.array(xs), (T, 1, len(xs))).copy()
    x[:, :, 0] = max(xs[0], 0.5)  # a positive input so that the big weight makes every step fire
    net = Network([np.full((len(xs), 2), 1e6 * model.theta)], None, model)
    tr = forward(net, x)
    t = np.arange(T)[:, None, None]
    ramp = 1.0 - (1.0 - 1.0 / model.tau_s) ** (t + 1)
    assert_close(tr.a0, x * ramp, name="a0 ramp")
    assert tr.output.S.all()
    assert_close(tr.output.a, np.broadcast_to(ramp, (T, 1, 2)), name="a of an always-firing neuron")


# ------------------------------------------------------------------------------ threshold, du
def test_strict_threshold():
    """u exactly theta does not fire (">", spec 2.1); the ANTLR default ">=" does."""
    m = NeuronModel.tsslbp(tau_m=4.0, tau_s=1.0, theta=0.75)
    x = np.zeros((3, 1, 1))
    x[0] = 1.0
    tr = forward(Network([[[0.75]]], None, m), x)
    assert tr.output.V[0, 0, 0] == 0.75 and tr.output.S[0, 0, 0] == 0.0
    tr = forward(Network([[[0.75 + 1e-12]]], None, m), x)
    assert tr.output.S[0, 0, 0] == 1.0
    assert forward(Network([[[0.75]]], None, m.replace(strict_threshold=False)), x).output.S[0, 0, 0] == 1.0


@given(cases(family="tsslbp", max_T=30))
def test_strict_comparison_everywhere(case):
    tr = forward(case.net, case.x)
    for lt in tr.layers:
        np.testing.assert_array_equal(lt.S, (lt.V > case.net.model.theta).astype(np.float64))


@given(cases(family="tsslbp", max_T=30))
def test_du_is_u_minus_reset_u_prev(case):
    """du[t] = u[t] - u+[t-1] with u+ = u (1 - s) and u+[-1] = 0 (spec 2.1); also = -(1/tau_m) u+ + x."""
    m = case.net.model
    tr = forward(case.net, case.x)
    for l, lt in enumerate(tr.layers):
        u_plus_prev = np.zeros_like(lt.V)
        u_plus_prev[1:] = lt.V[:-1] * (1.0 - lt.S[:-1])
        np.testing.assert_array_equal(lt.du, lt.V - u_plus_prev, err_msg=f"layer {l}")
        assert_close(lt.du, -(1.0 / m.tau_m) * u_plus_prev + lt.I, name=f"official du layer {l}")


@given(tsslbp_models(), st.integers(1, 30))
def test_no_reset_of_current(model, T):
    """Spec 2.3: a spike resets only u; the current keeps integrating the input trace (I = W^T a^0)."""
    x = np.ones((T, 1, 1))
    tr = forward(Network([[[1e6 * model.theta]]], None, model), x)
    assert tr.output.S.all()
    assert_close(tr.output.I, 1e6 * model.theta * tr.a0, name="I = W a0 despite spikes")
    # every step fires, so u+ = 0 and u = x (the current) at every step
    assert_close(tr.output.V, tr.output.I, name="u after reset")
