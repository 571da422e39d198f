"""ANTLR-family fast path (snnref/rules/fast_antlr.py) vs the reference implementations.

ANTLR-family rules: ``impl="fast"`` (default) against ``impl="reference"`` (the spec 3.7 kernel,
t outer / l inner, every step) for every rule and option, on hypothesis-drawn networks with the
latency loss (t_end < T-1 varying by sample, the no-spike term putting dL_dS at every step of a
sample) and with random loss gradients cut at random per-sample steps.

The fast path skips only terms that are exactly zero and keeps the reference's arithmetic and
summation order everywhere (including (C3), (C4) and, for upper layers of at most
``BLAS_MIN_NEURONS`` neurons, the back-projections (C5), (T3)), so the results are compared BIT FOR
BIT (``assert_array_equal``; it treats -0.0 == 0.0, the only difference skipping a zero term can
make), in float64 and float32.

Wider upper layers use BLAS matrix products for the back-projections: the same sums in the BLAS
library's order (in float32 also accumulated in float32 instead of float64). Those cases (forced
here by setting ``BLAS_MIN_NEURONS = 0``) agree to the rounding of reordered sums: rtol 1e-12
relative to the array's scale in float64 (sums of at most ~10 terms per product, chained over <= 3
layers, eps = 2.2e-16), 2e-5 in float32 (eps = 6e-8).
"""
import numba
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conftest import all_threads
from strategies import fast_path_problems as problems
from strategies import random_relaxed_case
from tolerances import BLAS32, FEW_OPS, ORACLE, assert_close
from snnref import losses
from snnref.backward import backward
from snnref.forward import LayerTrace, Trace, forward
from snnref.model import Network, NeuronModel
from snnref.rules import antlr as R
from snnref.rules import connections, fast_antlr

RULES = ("act_rnn", "act_srm", "act_slayer", "timing", "antlr")
RTOL64 = ORACLE  # BLAS back-projection: reordered float64 sums (see module docstring)
RTOL32 = BLAS32  # BLAS back-projection: reordered float32 sums, accumulated in float32


def t_end_of(dS, dt, T, B):
    """Last step with a non-zero dL_dS or dL_dt entry per sample (-1 if none), by plain loops."""
    out = np.full(B, -1)
    for b in range(B):
        for t in range(T):
            if (dS is not None and np.any(dS[t, b] != 0)) or (dt is not None and np.any(dt[t, b] != 0)):
                out[b] = t
    return out


def options(draw, rule):
    """Drawn rule options covering every option of ``rule``."""
    opt = {}
    ste = draw(st.sampled_from([(1.0, 3.0), (0.7, 1.5), (1.0, 0.0)]))
    opt.update(ste_alpha=ste[0], ste_beta=ste[1])
    if rule in ("timing", "antlr"):
        opt.update(vstar_mode=draw(st.sampled_from(["code", "appendix"])),
                   vstar_floor=draw(st.sampled_from([0.01, 0.3])),
                   timing_tau_min=draw(st.sampled_from([0, -1])),
                   timing_impl=draw(st.sampled_from(["aux", "explicit"])))
    if rule == "timing":
        opt["timing_penalty"] = draw(st.sampled_from([0.0, 100.0]))
    if rule == "antlr":
        opt.update(lambda_act=draw(st.sampled_from([1.0, 0.7, 0.0])), lambda_tim=draw(st.sampled_from([1.0, 1.3, 0.0])))
    return opt


def run_both(net, trace, rule, dS, dt, opt, return_adjoints=True):
    """Fast and reference results. Without adjoint output the fast path of a dense network runs the
    fused kernel (connection steps inside the sweep): its gradients must equal, bit for bit, those of
    the unfused kernel used when adjoints are returned."""
    f = backward(net, trace, rule, dS, dt, return_adjoints=return_adjoints, impl="fast", **opt)
    r = backward(net, trace, rule, dS, dt, return_adjoints=return_adjoints, impl="reference", **opt)
    if return_adjoints:
        f0 = backward(net, trace, rule, dS, dt, impl="fast", **opt)
        for l in range(net.n_layers):
            np.testing.assert_array_equal(f0.dW[l], f.dW[l], err_msg=f"dW[{l}] without adjoints")
            np.testing.assert_array_equal(f0.db[l], f.db[l], err_msg=f"db[{l}] without adjoints")
    return f, r


def compare(f, r, net, rtol=None):
    """Gradients and adjoints of fast (f) and reference (r): bit for bit, or within ``rtol`` (relative
    to each array's scale) when the BLAS back-projection is in use."""
    L = net.n_layers
    pairs = []
    for l in range(L):
        assert f.dW[l].dtype == r.dW[l].dtype == net.dtype
        assert f.db[l].dtype == r.db[l].dtype == net.dtype
        pairs += [(f.dW[l], r.dW[l], f"dW[{l}]"), (f.db[l], r.db[l], f"db[{l}]")]
    if r.adjoints is None:
        assert f.adjoints is None
    else:
        for l in range(L):
            assert set(f.adjoints[l]) == set(r.adjoints[l])
            for k in r.adjoints[l]:
                assert f.adjoints[l][k].shape == r.adjoints[l][k].shape
                assert f.adjoints[l][k].dtype == net.dtype
                pairs.append((f.adjoints[l][k], r.adjoints[l][k], f"adjoint {k} of layer {l}"))
    for a, b, what in pairs:
        if rtol is None:
            np.testing.assert_array_equal(a, b, err_msg=what)
        else:
            assert_close(a, b, what, rtol)


# ------------------------------------------------------------------------------------ fast == reference
@given(data=st.data(), prob=problems(), rule=st.sampled_from(RULES))
def test_fast_equals_reference(data, prob, rule):
    net, trace, dS, dt = prob
    opt = options(data.draw, rule)
    f, r = run_both(net, trace, rule, dS, dt, opt)
    compare(f, r, net)


@given(data=st.data(), prob=problems(min_layers=2), rule=st.sampled_from(("timing", "antlr")))
def test_fast_equals_reference_timing_options(data, prob, rule):
    """The timing options (tau_min = -1 couples layer l-1 at t to layer l at t-1) on deep networks."""
    net, trace, dS, dt = prob
    opt = options(data.draw, rule)
    f, r = run_both(net, trace, rule, dS, dt, opt)
    compare(f, r, net)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, RTOL64), (np.float32, RTOL32)])
@given(data=st.data(), rule=st.sampled_from(RULES))
def test_blas_back_projection(dtype, rtol, data, rule):
    """Wide upper layers (forced: BLAS_MIN_NEURONS = 0): equal up to the rounding of reordered sums;
    the output layer (no back-projection reaches it) stays bit-identical."""
    net, trace, dS, dt = data.draw(problems(min_layers=2, dtype=dtype), label="problem")
    opt = options(data.draw, rule)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(connections, "BLAS_MIN_NEURONS", 0)
        f, r = run_both(net, trace, rule, dS, dt, opt)
    compare(f, r, net, rtol)
    L = net.n_layers
    np.testing.assert_array_equal(f.dW[L - 1], r.dW[L - 1])
    for k in r.adjoints[L - 1]:
        np.testing.assert_array_equal(f.adjoints[L - 1][k], r.adjoints[L - 1][k], err_msg=k)


@given(prob=problems(), rule=st.sampled_from(RULES))
def test_adjoints_zero_after_t_end(prob, rule):
    """Every adjoint of every layer is exactly 0 at t > t_end(b), in both implementations, where t_end
    comes from the loss gradients the rule reads (act_*: dL_dS, timing: dL_dt, antlr: both)."""
    net, trace, dS, dt = prob
    T, B, L = trace.T, trace.B, net.n_layers
    use_act, use_tim = rule != "timing", rule in ("timing", "antlr")
    te = t_end_of(dS if use_act else None, dt if use_tim else None, T, B)  # what the rule reads
    f, r = run_both(net, trace, rule, dS, dt, {})
    for g in (f, r):
        for l in range(L):
            for k, a in g.adjoints[l].items():
                if l == L - 1 and k in ("dS", "Tprop"):
                    continue  # the given dL_dS / dL_dt (compared in run_both)
                for b in range(B):
                    assert not np.any(a[te[b] + 1:, b]), (g.options["impl"], l, k, b)


@given(prob=problems(min_layers=2), rule=st.sampled_from(("timing", "antlr")))
def test_tau_min_minus1_reaches_one_step_per_layer(prob, rule):
    """timing_tau_min = -1 adds Tprop^{l-1}[t] -= eps_star[-1] W dV^l[t-1]: a layer k levels below the
    output can be non-zero up to t_end + k (and no further), in both implementations."""
    net, trace, dS, dt = prob
    T, B, L = trace.T, trace.B, net.n_layers
    te = t_end_of(dS, dt, T, B)
    f, r = run_both(net, trace, rule, dS, dt, {"timing_tau_min": -1})
    compare(f, r, net)
    for g in (f, r):
        for l in range(L):
            for k, a in g.adjoints[l].items():
                for b in range(B):
                    last = te[b] if te[b] < 0 else te[b] + (L - 1 - l)
                    assert not np.any(a[last + 1:, b]), (g.options["impl"], l, k, b)


def test_tau_min_minus1_hand_built():
    """The one-step extension is real: output spike at t = 2 with dL_dt only there (t_end = 2); the
    hidden neuron fires at every step, so Tprop^hidden[3] = -eps_star[-1] w dV^out[2] != 0 and
    dT^hidden[3] != 0."""
    m = NeuronModel(alpha_I=0.0, alpha_V=0.5, beta_I=1.0, beta_V=1.0, beta_bias=0.0)
    net = Network([np.array([[2.0]]), np.array([[0.6]])], model=m)
    T = 6
    trace = forward(net, np.ones((T, 1, 1)))
    assert trace.layers[0].S[:, 0, 0].tolist() == [1.0] * T
    assert trace.output.S[:3, 0, 0].tolist() == [0.0, 0.0, 1.0]
    dt = np.zeros((T, 1, 1))
    dt[2] = 0.7
    for impl in ("fast", "reference"):
        g = backward(net, trace, "timing", None, dt, return_adjoints=True, timing_tau_min=-1, impl=impl)
        dV2 = g.adjoints[1]["dV"][2, 0, 0]
        assert dV2 != 0.0
        want = -0.5 * 1.0 * 0.6 * dV2  # eps_star[-1] = eps[0] / 2 = beta_I beta_V / 2
        assert g.adjoints[0]["Tprop"][3, 0, 0] == pytest.approx(want, rel=FEW_OPS)
        assert g.adjoints[0]["dT"][3, 0, 0] == pytest.approx(want, rel=FEW_OPS)
        assert not np.any(g.adjoints[0]["dT"][4:])


@given(seed=st.integers(0, 2**32 - 1), rule=st.sampled_from(("act_rnn", "act_srm", "act_slayer", "antlr")),
       L=st.integers(1, 3))
def test_real_valued_spikes(seed, rule, L):
    """Relaxed traces (S and x real in [0, 1]): the fast weight gradient multiplies by the real
    presynaptic value (not only spikes), as the reference does."""
    rng = np.random.default_rng(seed)
    T, B = 11, 2
    net, trace, sizes = random_relaxed_case(rng, L, T, B, max_size=5)
    dS = rng.normal(size=(T, B, sizes[-1]))
    dS[rng.integers(0, T):, 0] = 0.0
    f, r = run_both(net, trace, rule, dS, None, {})
    compare(f, r, net)


def test_latency_workload_shape(rng):
    """A small version of the benchmark: latency loss with one silent label neuron (dL_dS at every
    step of that sample, t_end = T-1) and early first spikes elsewhere (t_end << T-1)."""
    T, B = 60, 4
    m = NeuronModel.antlr(0.95, 0.95, T=T)
    net = Network([rng.normal(0.15, 0.3, (20, 16)), rng.normal(0.3, 0.3, (16, 5))],
                  [np.full(16, 1.0), np.full(5, 1.0)], model=m)
    x = (rng.random((T, B, 20)) < 0.05).astype(float)
    net.weights[1][:, 4] = -5.0  # output 4 never fires
    trace = forward(net, x)
    labels = np.array([0, 1, 4, 2])
    res = losses.latency(trace, labels, beta_softmax=1.0, lambda_nospike=0.1)
    te = t_end_of(res.dL_dS, res.dL_dt, T, B)
    assert te[2] == T - 1 and te[[0, 1, 3]].max() < T - 10, te
    t_end, rowidx, rt, rb = R.active_rows(res.dL_dS, res.dL_dt, T, B)
    np.testing.assert_array_equal(t_end, te)
    for rule in RULES:
        f, r = run_both(net, trace, rule, res.dL_dS, res.dL_dt, {})
        compare(f, r, net)


def test_active_rows_hand_built():
    """t_end, the compact row order (t ascending, then b) and the row index, by hand."""
    T, B = 4, 3
    dS = np.zeros((T, B, 2))
    dt = np.zeros((T, B, 2))
    dS[1, 0, 1] = 0.5   # sample 0: t_end 1
    dt[3, 2, 0] = -1.0  # sample 2: t_end 3; sample 1: nothing (t_end -1)
    t_end, rowidx, rt, rb = R.active_rows(dS, dt, T, B)
    np.testing.assert_array_equal(t_end, [1, -1, 3])
    np.testing.assert_array_equal(rt, [0, 0, 1, 1, 2, 3])
    np.testing.assert_array_equal(rb, [0, 2, 0, 2, 2, 2])
    want = np.full((T, B), -1)
    for r, (t, b) in enumerate(zip(rt, rb)):
        want[t, b] = r
    np.testing.assert_array_equal(rowidx, want)
    t_end, rowidx, rt, rb = R.active_rows(None, None, T, B)
    np.testing.assert_array_equal(t_end, [-1, -1, -1])
    assert rt.size == 0 and np.all(rowidx == -1)


def test_no_gradient_at_all(rng):
    """All-zero loss gradients: no active row; zero gradients and adjoints from both paths."""
    m = NeuronModel.antlr(0.9, 0.9, T=8)
    net = Network([rng.normal(0.5, 1, (3, 4)), rng.normal(0.5, 1, (4, 2))], model=m)
    trace = forward(net, (rng.random((8, 2, 3)) < 0.5).astype(float))
    for rule in RULES:
        f, r = run_both(net, trace, rule, np.zeros((8, 2, 2)), None, {})
        compare(f, r, net)
        assert not any(w.any() for w in f.dW)


# ------------------------------------------------------------------------------------ threads, float32
@pytest.mark.parametrize("rule", RULES)
def test_parallel_equals_serial(rule):
    """Bit-identical on one thread and on all threads (work split over neuron blocks)."""
    rng = np.random.default_rng(11)
    T, B = 40, 4
    m = NeuronModel.antlr(0.9, 0.9, T=T)
    net = Network([rng.normal(0.2, 0.6, (30, 37)), rng.normal(0.2, 0.6, (37, 23)), rng.normal(0.3, 0.6, (23, 6))],
                  model=m)
    trace = forward(net, (rng.random((T, B, 30)) < 0.2).astype(float))
    res = losses.latency(trace, rng.integers(0, 6, B), beta_softmax=1.0, lambda_nospike=0.1)
    opt = {"timing_tau_min": -1} if rule in ("timing", "antlr") else {}
    g1 = backward(net, trace, rule, res.dL_dS, res.dL_dt, return_adjoints=True, **opt)
    numba.set_num_threads(all_threads())
    g2 = backward(net, trace, rule, res.dL_dS, res.dL_dt, return_adjoints=True, **opt)
    g3 = backward(net, trace, rule, res.dL_dS, res.dL_dt, **opt)
    for l in range(3):
        for g in (g2, g3):
            np.testing.assert_array_equal(g.dW[l], g1.dW[l])
            np.testing.assert_array_equal(g.db[l], g1.db[l])
        for k in g1.adjoints[l]:
            np.testing.assert_array_equal(g2.adjoints[l][k], g1.adjoints[l][k])


@pytest.mark.parametrize("rule", RULES)
def test_forward_events_reused(rule):
    """The fast backward sums the weight gradients over the event lists the forward pass made (spikes
    of a layer listed per block of neurons when the batch is smaller than the thread count): the same
    bits as with the events found again in the trace's arrays (a trace not made by forward) and as the
    reference."""
    rng = np.random.default_rng(5)
    T, B = 30, 1
    m = NeuronModel.antlr(0.9, 0.9, T=T)
    net = Network([rng.normal(0.3, 0.5, (20, 70)), rng.normal(0.2, 0.5, (70, 60)), rng.normal(0.3, 0.6, (60, 5))],
                  model=m)
    numba.set_num_threads(all_threads())
    trace = forward(net, (rng.random((T, B, 20)) < 0.3).astype(float))
    assert [ptr.shape[1] for ptr, _ in trace._input_events] == [1, min(all_threads(), 2), 1]
    assert sum(lt.S.sum() for lt in trace.layers[:2]) > 20
    dS = rng.normal(size=(T, B, 5)) * (rng.random((T, B, 5)) < 0.3)
    dt = losses.latency(trace, rng.integers(0, 5, B), beta_softmax=1.0, lambda_nospike=0.1).dL_dt
    plain = Trace(layers=trace.layers, x=trace.x, a0=None, model=m, form="rnn", T_full=T)
    got = backward(net, trace, rule, dS, dt)
    again = backward(net, plain, rule, dS, dt)
    ref = backward(net, trace, rule, dS, dt, impl="reference")
    for l in range(3):
        for other in (again, ref):
            np.testing.assert_array_equal(got.dW[l], other.dW[l])
            np.testing.assert_array_equal(got.db[l], other.db[l])
    assert any(np.any(w != 0) for w in got.dW[:2])


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="float32 bit-identity relies on numba's typing (float32 "
                    "operands promoted to float64 with the float64 scalars); plain numpy keeps float32 scalars")
@given(data=st.data(), prob=problems(dtype=np.float32), rule=st.sampled_from(RULES))
def test_float32_fast_equals_reference(data, prob, rule):
    """float32 storage, float64 arithmetic as in the reference: still bit for bit."""
    net, trace, dS, dt = prob
    f, r = run_both(net, trace, rule, dS, dt, options(data.draw, rule))
    compare(f, r, net)


# ------------------------------------------------------------------------------------ option errors
def test_invalid_impl():
    m = NeuronModel.antlr(0.9, 0.9, T=5)
    net = Network([np.ones((2, 2))], model=m)
    trace = forward(net, np.ones((5, 1, 2)))
    with pytest.raises(ValueError, match=r"impl must be one of \['fast', 'reference'\]; got 'slow'"):
        backward(net, trace, "antlr", impl="slow")


def test_non_contiguous_trace_and_signatures(rng):
    """A user-built trace with Fortran-ordered arrays gives the same result without new compiled
    specialisations (at most float64 + float32 per fast kernel)."""
    m = NeuronModel.antlr(0.9, 0.8, T=10)
    net = Network([rng.normal(0.5, 1, (3, 4)), rng.normal(0.5, 1, (4, 2))], model=m)
    trace = forward(net, (rng.random((10, 2, 3)) < 0.5).astype(float))
    dS = rng.normal(size=(10, 2, 2))
    ref = backward(net, trace, "antlr", dS, None)
    lts = [LayerTrace(*(np.asfortranarray(a) for a in (lt.I, lt.V, lt.S))) for lt in trace.layers]
    ftrace = Trace(layers=lts, x=np.asfortranarray(trace.x), a0=None, model=m, form="rnn", T_full=10)
    got = backward(net, ftrace, "antlr", dS, None)
    for l in range(2):
        np.testing.assert_array_equal(got.dW[l], ref.dW[l])
        np.testing.assert_array_equal(got.db[l], ref.db[l])
    if numba.config.DISABLE_JIT:
        return
    for k in (fast_antlr._fast_layer_kernel, fast_antlr._fused_layer_kernel, connections._weight_grad_kernel,
              connections._backproject_kernel, connections._colsum_kernel):
        assert len(k.signatures) <= 2, (k, k.signatures)


@numba.njit
def _expf(x):
    out = np.empty_like(x)
    for i in np.ndindex(x.shape):
        out[i] = np.exp(x[i])
    return out


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_float32_surrogate_in_float32(impl):
    """With float32 traces the surrogate sigma(V) = ste_alpha exp(-ste_beta |V - theta|) is evaluated in
    float32 (docs/CHOICES.md): dV at the last step equals that float32 expression bit for bit, which the
    float64 evaluation rounded to float32 does not for every V."""
    rng = np.random.default_rng(3)
    T, B, N = 3, 4, 500
    m = NeuronModel.antlr(0.9, 0.85, T=T)
    net = Network([rng.normal(0.3, 1.0, (20, N))], model=m, dtype="float32")
    trace = forward(net, (rng.random((T, B, 20)) < 0.4).astype(np.float32))
    dS = np.zeros((T, B, N), dtype=np.float32)
    dS[-1] = 1.0
    g = backward(net, trace, "act_srm", dS, None, return_adjoints=True, impl=impl, ste_alpha=0.7, ste_beta=2.3)
    V = trace.layers[0].V[-1]
    f32 = np.float32
    # float32 arithmetic in numpy; exp by the C library's expf as compiled code calls it (numpy's own
    # float32 exp rounds differently in the last bit)
    arg = f32(-2.3) * np.abs(V - f32(m.theta))
    want = f32(0.7) * _expf(arg)
    assert want.dtype == np.float32
    np.testing.assert_array_equal(g.adjoints[0]["dV"][-1], want)
    in64 = (0.7 * np.exp(-2.3 * np.abs(V.astype(np.float64) - m.theta))).astype(np.float32)
    assert np.any(in64 != want)


@pytest.mark.parametrize("rule", RULES)
def test_sparse_input_rows(rule):
    """Inputs that never spike in the active rows leave their rows of dW exactly 0; the fast path then
    zeroes, scales and casts only the other rows (fewer than half the inputs spike here): same bits as the
    reference."""
    rng = np.random.default_rng(8)
    T, B = 25, 3
    m = NeuronModel.antlr(0.9, 0.9, T=T)
    net = Network([rng.normal(1.0, 0.5, (30, 12)), rng.normal(0.3, 0.5, (12, 4))], model=m)
    x = np.zeros((T, B, 30))
    x[:, :, [2, 7, 11, 19]] = rng.random((T, B, 4)) < 0.5
    trace = forward(net, x)
    dS = rng.normal(size=(T, B, 4)) * (rng.random((T, B, 4)) < 0.3)
    dt = losses.latency(trace, rng.integers(0, 4, B), beta_softmax=1.0, lambda_nospike=0.1).dL_dt
    got = backward(net, trace, rule, dS, dt)
    ref = backward(net, trace, rule, dS, dt, impl="reference")
    for l in range(2):
        np.testing.assert_array_equal(got.dW[l], ref.dW[l])
        np.testing.assert_array_equal(got.db[l], ref.db[l])
    assert np.any(got.dW[0][[2, 7, 11, 19]] != 0)
    assert not np.any(np.delete(got.dW[0], [2, 7, 11, 19], axis=0))
