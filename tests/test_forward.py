"""Forward model: compiled kernels vs the plain oracles of tests/oracles/forward.py and the exact
identities of spec 10.1 (P-F1, P-F2), latency early stop, input dtypes, float32, determinism."""
import numba
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from oracles import forward as naive
from conftest import all_threads
from strategies import Case, antlr_models, cases
from snnref import Network, NeuronModel, forward

RTOL = 1e-12  # float64 kernel vs oracle / form vs form (spec 10: exact up to rounding)
F32_RTOL = 1e-4
F32_MARGIN = 1e-3  # float32 comparisons only on draws with |V - theta| > this (relative to theta)
TIE = 1e-9  # draws with |V - theta| below this are excluded (a rounding difference could flip a spike)
#: the central equivalence checks run 3x the profile's number of examples (they are cheap)
more = settings(max_examples=3 * settings.default.max_examples)


def assert_close(actual, desired, rtol=RTOL, name=""):
    """Element-wise |a - d| <= rtol * max(1, max|d|) (relative to the array's scale)."""
    desired = np.asarray(desired, dtype=np.float64)
    scale = max(1.0, float(np.abs(desired).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(actual, np.float64), desired, rtol=rtol, atol=rtol * scale,
                               err_msg=name)


def margin(trace):
    """min over every layer, step, sample and neuron of |V - theta| (inf if nothing)."""
    th = trace.model.theta
    return min(float(np.abs(lt.V - th).min()) for lt in trace.layers)


def burst_case():
    """2 layers, bursts of consecutive input spikes, spikes at t = 0 and T-1, bias; many output spikes."""
    m = NeuronModel(alpha_I=0.9, alpha_V=0.8, beta_I=1.0, beta_V=0.5, beta_bias=1.0, theta=1.0)
    x = np.zeros((12, 2, 3))
    x[0, 0, 0] = x[11, 0, 2] = 1.0
    x[2:9, 0, 1] = 1.0
    x[:, 1, 0] = 1.0
    W1 = np.array([[1.3, 0.2], [0.9, 1.1], [2.5, -0.4]])
    W2 = np.array([[1.5, 0.3, -0.2], [0.8, 1.4, 0.6]])
    return Case(Network([W1, W2], [np.array([0.05, -0.1]), np.array([0.0, 0.1, 0.2])], m), x)


# ------------------------------------------------------------------------------ kernel vs oracle
@more
@given(cases(family="antlr"))
@example(burst_case())
def test_rnn_kernel_matches_oracle_antlr(case):
    """Eqs. 1-3 (spec 1.1) with reset of I and V (reset_current=True) or of V only (False)."""
    tr = forward(case.net, case.x)
    assume(margin(tr) > TIE)
    _, ref = naive.forward_rnn(case.net, case.x)
    assert len(tr.layers) == len(ref)
    for l, (lt, r) in enumerate(zip(tr.layers, ref)):
        np.testing.assert_array_equal(lt.S, r["S"], err_msg=f"S layer {l}")
        assert_close(lt.V, r["V"], name=f"V layer {l}")
        assert_close(lt.I, r["I"], name=f"I layer {l}")
        assert lt.du is None and lt.a is None
    assert tr.a0 is None


@more
@given(cases(family="tsslbp"))
def test_rnn_kernel_matches_oracle_tsslbp(case):
    """psp_output models: I = W^T a of the layer below (spec 2.3), a-trace, du, first-layer filter."""
    tr = forward(case.net, case.x)
    assume(margin(tr) > TIE)
    a0, ref = naive.forward_rnn(case.net, case.x)
    assert_close(tr.a0, a0, name="a0")
    for l, (lt, r) in enumerate(zip(tr.layers, ref)):
        np.testing.assert_array_equal(lt.S, r["S"], err_msg=f"S layer {l}")
        for k in ("V", "I", "du", "a"):
            assert_close(getattr(lt, k), r[k], name=f"{k} layer {l}")
        assert lt.u is lt.V
        np.testing.assert_array_equal(tr.layer_input(l), a0 if l == 0 else tr.layers[l - 1].a)


def test_hand_checked_trajectory():
    """One neuron, alpha_I = 0.5, alpha_V = 0.5, betas 1, theta 1, input spikes at t = 0, 1, 2 (weight 0.6).

    By hand: I = 0.6, 0.9, 0.6 (reset after the spike at t=1), V = 0.6, 1.2 (spike), 0.6.
    """
    m = NeuronModel(alpha_I=0.5, alpha_V=0.5, beta_I=1.0, beta_V=1.0, beta_bias=0.0, theta=1.0)
    net = Network([np.array([[0.6]])], None, m)
    x = np.ones((3, 1, 1))
    tr = forward(net, x)
    np.testing.assert_allclose(tr.output.I[:, 0, 0], [0.6, 0.9, 0.6], rtol=1e-15)
    np.testing.assert_allclose(tr.output.V[:, 0, 0], [0.6, 1.2, 0.6], rtol=1e-15)
    np.testing.assert_array_equal(tr.output.S[:, 0, 0], [0, 1, 0])
    # without current reset: I[2] = 0.5 * 0.9 + 0.6 = 1.05, V[2] = 0 + 1.05 (V reset) -> spike
    tr = forward(Network([np.array([[0.6]])], None, m.replace(reset_current=False)), x)
    np.testing.assert_allclose(tr.output.I[:, 0, 0], [0.6, 0.9, 1.05], rtol=1e-15)
    np.testing.assert_allclose(tr.output.V[:, 0, 0], [0.6, 1.2, 1.05], rtol=1e-15)
    np.testing.assert_array_equal(tr.output.S[:, 0, 0], [0, 1, 1])


# ------------------------------------------------------------------------------ SRM form (P-F1)
@pytest.mark.parametrize("reset_current", [True, False])
@more
@given(data=st.data())
def test_srm_form_equals_rnn_form(reset_current, data):
    """P-F1: the causal-set sums (Eqs. 4-5, no recurrence) give the same raster and V as Eqs. 1-3."""
    case = data.draw(cases(family="antlr", reset_current=reset_current), label="case")
    rnn = forward(case.net, case.x, form="rnn")
    assume(margin(rnn) > TIE)
    srm = forward(case.net, case.x, form="srm")
    assert srm.form == "srm"
    for l, (a, b) in enumerate(zip(srm.layers, rnn.layers)):
        np.testing.assert_array_equal(a.S, b.S, err_msg=f"S layer {l}")
        assert_close(a.V, b.V, name=f"V layer {l}")
        assert_close(a.I, b.I, name=f"I layer {l}")


@given(cases(family="tsslbp", max_T=30))
def test_srm_form_equals_rnn_form_tsslbp(case):
    """TSSL-BP models (no current reset): the SRM form's closed forms of I, V, du, a match the RNN form."""
    rnn = forward(case.net, case.x, form="rnn")
    assume(margin(rnn) > TIE)
    srm = forward(case.net, case.x, form="srm")
    for l, (a, b) in enumerate(zip(srm.layers, rnn.layers)):
        np.testing.assert_array_equal(a.S, b.S, err_msg=f"S layer {l}")
        for k in ("V", "I", "du", "a"):
            assert_close(getattr(a, k), getattr(b, k), name=f"{k} layer {l}")


@given(cases(family="antlr", reset_current=True, max_T=30, max_neurons=5))
@example(burst_case())
def test_srm_oracle_with_bias(case):
    """P-F1 with the bias term: V of the RNN kernel equals spec 1.2 Eq. 4 (literal causal-set sums)."""
    case.net.biases = [b + 0.3 * case.net.model.theta for b in case.net.biases]  # make the bias matter
    tr = forward(case.net, case.x)
    assume(margin(tr) > TIE)
    for l, lt in enumerate(tr.layers):
        I_ref, V_ref = naive.srm_layer(tr.layer_input(l), lt.S, case.net.weights[l], case.net.biases[l],
                                       case.net.model)
        assert_close(lt.V, V_ref, name=f"V layer {l}")
        assert_close(lt.I, I_ref, name=f"I layer {l}")


# ------------------------------------------------------------------------------ superposition (P-F2)
@settings(max_examples=15)
@given(cases(family="antlr", max_T=25, max_neurons=5), st.integers(0, 2**32 - 1))
def test_superposition_frozen_raster(case, seed):
    """P-F2: with the raster frozen, V is linear in (W, b); at the true (W, b) it is the kernel's V."""
    tr = forward(case.net, case.x)
    m = case.net.model
    rng = np.random.default_rng(seed)
    for l, lt in enumerate(tr.layers):
        inp = tr.layer_input(l)
        W, b = case.net.weights[l], case.net.biases[l]
        V0 = naive.frozen_raster_V(inp, lt.S, W, b, m)
        assert_close(lt.V, V0, name=f"frozen V layer {l}")
        D, e = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
        c1, c2 = rng.normal(size=2)
        lhs = naive.frozen_raster_V(inp, lt.S, c1 * W + c2 * D, c1 * b + c2 * e, m)
        rhs = c1 * V0 + c2 * naive.frozen_raster_V(inp, lt.S, D, e, m)
        assert_close(lhs, rhs, rtol=1e-11, name=f"linearity layer {l}")


@given(cases(), st.sampled_from([0.25, 0.5, 2.0, 4.0]))
def test_scaling_weights_bias_and_theta(case, c):
    """P-F2 on the kernel itself: (W, b, theta) -> c (W, b, theta) keeps the raster and scales V, I by c
    exactly (c a power of two: every product is exact)."""
    net, m = case.net, case.net.model
    scaled = Network([c * w for w in net.weights], [c * b for b in net.biases], m.replace(theta=c * m.theta))
    a = forward(net, case.x)
    s = forward(scaled, case.x)
    for l, (la, ls) in enumerate(zip(a.layers, s.layers)):
        np.testing.assert_array_equal(ls.S, la.S, err_msg=f"S layer {l}")
        np.testing.assert_array_equal(ls.V, c * la.V, err_msg=f"V layer {l}")
        np.testing.assert_array_equal(ls.I, c * la.I, err_msg=f"I layer {l}")


# ------------------------------------------------------------------------------ latency early stop
def first_all_fired(S_out):
    """First t at which every output neuron of every sample has fired at some step <= t, or None."""
    T = S_out.shape[0]
    for t in range(T):
        if np.all(S_out[: t + 1].sum(axis=0) > 0):
            return t
    return None


@pytest.mark.parametrize("form", ["rnn", "srm"])
@given(data=st.data())
def test_latency_early_stop_is_truncation(form, data):
    """Spec 5.3: the early-stopped trace is the full trace cut after the first step where all outputs fired."""
    case = data.draw(cases(family="antlr", max_T=30), label="case")
    full = forward(case.net, case.x, form)
    es = forward(case.net, case.x, form, latency_early_stop=True)
    t_stop = first_all_fired(full.output.S)
    T_sim = case.T if t_stop is None else t_stop + 1
    assert es.T == T_sim and es.T_full == case.T and es.B == full.B
    np.testing.assert_array_equal(es.x, full.x[:T_sim])
    for l, (a, b) in enumerate(zip(es.layers, full.layers)):
        for k in ("I", "V", "S"):
            arr = getattr(a, k)
            assert arr.flags.c_contiguous and arr.shape[0] == T_sim
            np.testing.assert_array_equal(arr, getattr(b, k)[:T_sim], err_msg=f"{k} layer {l}")


def test_latency_early_stop_cases():
    m = NeuronModel(alpha_I=0.0, alpha_V=0.5, beta_bias=0.0)
    x = np.zeros((6, 2, 2))
    x[3, 0, 0] = 1.0
    x[1, 1, 1] = 1.0
    # output 0 listens to input 0, output 1 to input 1: sample 0 completes at t = 3, sample 1 never
    net = Network([np.array([[1.0, 0.0], [0.0, 1.0]])], None, m)
    es = forward(net, x, latency_early_stop=True)
    assert es.T == 6 and es.T_full == 6  # never all fired: unchanged
    # both outputs listen to both inputs: sample 1 all fired at t = 1, sample 0 at t = 3 -> stop at 3
    net = Network([np.ones((2, 2))], None, m)
    es = forward(net, x, latency_early_stop=True)
    assert es.T == 4 and es.T_full == 6
    # all fired at t = 0 -> a single step
    es = forward(net, np.ones((6, 2, 2)), latency_early_stop=True)
    assert es.T == 1
    # all fired only at T-1 -> the full length
    x = np.zeros((6, 1, 2))
    x[5, 0, 0] = 1.0
    es = forward(net, x, latency_early_stop=True)
    assert es.T == 6 and es.output.S[5].sum() == 2


# ------------------------------------------------------------------------------ input dtypes
@given(cases(family="antlr", max_T=20))
def test_bool_and_int_spikes_accepted(case):
    ref = forward(case.net, case.x)
    for dt in (bool, np.int8, np.int64, np.uint8):
        tr = forward(case.net, case.x.astype(dt))
        assert tr.x.dtype == np.float64
        for a, b in zip(tr.layers, ref.layers):
            np.testing.assert_array_equal(a.V, b.V)
            np.testing.assert_array_equal(a.S, b.S)


def test_list_input_accepted():
    m = NeuronModel(alpha_I=0.5, alpha_V=0.5)
    net = Network([[[1.0]]], None, m)
    tr = forward(net, [[[1]], [[0]], [[1]]])
    np.testing.assert_array_equal(tr.output.S[:, 0, 0], [1, 0, 1])


# ------------------------------------------------------------------------------ float32
@given(cases(max_T=20, max_neurons=5))
def test_float32_agrees_with_float64(case):
    """float32 storage: same raster as float64 where |V - theta| is not tiny; V to float32 accuracy."""
    w32 = [w.astype(np.float32).astype(np.float64) for w in case.net.weights]
    b32 = [b.astype(np.float32).astype(np.float64) for b in case.net.biases]
    x32 = case.x.astype(np.float32).astype(np.float64)
    m = case.net.model
    n64 = Network(w32, b32, m)
    n32 = Network(w32, b32, m, dtype=np.float32)
    t64 = forward(n64, x32)
    assume(margin(t64) > F32_MARGIN * m.theta)
    for form in ("rnn", "srm"):
        t32 = forward(n32, x32, form)
        assert t32.x.dtype == np.float32 and t32.dtype == np.float32
        for l, (a, b) in enumerate(zip(t32.layers, t64.layers)):
            for k in ("I", "V", "S", "du", "a"):
                if getattr(b, k) is not None:
                    assert getattr(a, k).dtype == np.float32, k
            np.testing.assert_array_equal(a.S, b.S, err_msg=f"S layer {l} ({form})")
            assert_close(a.V, b.V, rtol=F32_RTOL, name=f"V layer {l} ({form})")
            assert_close(a.I, b.I, rtol=F32_RTOL, name=f"I layer {l} ({form})")


# ------------------------------------------------------------------------------ determinism
def assert_traces_identical(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    if a.a0 is not None:
        np.testing.assert_array_equal(a.a0, b.a0)
    for la, lb in zip(a.layers, b.layers):
        for k in ("I", "V", "S", "du", "a"):
            if getattr(la, k) is not None:
                np.testing.assert_array_equal(getattr(la, k), getattr(lb, k), err_msg=k)


@settings(max_examples=10)
@given(cases(max_B=3))
def test_deterministic(case):
    """Two runs are bit-identical, with one thread and with all threads (prange over the batch), and
    equal to the runs one sample at a time."""
    a = forward(case.net, case.x)
    assert_traces_identical(a, forward(case.net, case.x))
    numba.set_num_threads(all_threads())
    assert_traces_identical(a, forward(case.net, case.x))
    assert_traces_identical(a, forward(case.net, case.x))
    numba.set_num_threads(1)
    for s in range(case.x.shape[1]):
        one = forward(case.net, case.x[:, s:s + 1])
        for la, lo in zip(a.layers, one.layers):
            np.testing.assert_array_equal(la.V[:, s:s + 1], lo.V)
            np.testing.assert_array_equal(la.S[:, s:s + 1], lo.S)


def test_deterministic_large_batch(rng):
    m = NeuronModel.antlr(0.9, 0.8, T=40)
    net = Network([rng.normal(0.5, 1.0, (6, 7)), rng.normal(0.5, 1.0, (7, 4))], None, m)
    x = (rng.random((40, 16, 6)) < 0.3).astype(np.float64)
    one = forward(net, x)
    numba.set_num_threads(all_threads())
    a, b = forward(net, x), forward(net, x)
    assert_traces_identical(a, b)
    assert_traces_identical(a, one)
    assert a.output.S.sum() > 0


# ------------------------------------------------------------------------------ invariants
@given(antlr_models(T=10), st.integers(1, 10))
def test_zero_input_no_bias_no_spikes(model, T):
    net = Network([np.ones((3, 2)), np.ones((2, 2))], None, model)
    tr = forward(net, np.zeros((T, 2, 3)))
    for lt in tr.layers:
        assert not lt.S.any() and not lt.V.any() and not lt.I.any()


@given(data=st.data())
def test_threshold_comparison(data):
    """S = [V >= theta] (ANTLR) / [V > theta] (strict) on every element of every drawn trace."""
    case = data.draw(cases(max_T=20))
    tr = forward(case.net, case.x)
    m = case.net.model
    for lt in tr.layers:
        expect = (lt.V > m.theta) if m.strict_threshold else (lt.V >= m.theta)
        np.testing.assert_array_equal(lt.S, expect.astype(np.float64))


def test_exact_threshold_antlr_fires():
    """V exactly theta: ">=" fires (ANTLR), ">" does not (strict_threshold)."""
    m = NeuronModel(alpha_I=0.5, alpha_V=0.5, beta_I=1.0, beta_V=1.0, beta_bias=0.0, theta=0.75)
    x = np.array([[[1.0]]])
    assert forward(Network([[[0.75]]], None, m), x).output.S[0, 0, 0] == 1.0
    assert forward(Network([[[0.75]]], None, m.replace(strict_threshold=True)), x).output.S[0, 0, 0] == 0.0
