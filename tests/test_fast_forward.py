"""The event-driven fused forward (snnref.fast_forward, ``forward(impl="fast")``, the default) against the
reference kernels (``impl="reference"``: dense projection then the LIF kernel), BIT FOR BIT: every array
of the trace (I, V, S, du, a) is compared byte by byte (so even the sign of a zero must agree), in
float64 and float32, for ANTLR and TSSL-BP models, with inputs wide enough for the blocked event scan,
-0.0 entries, bool / int inputs, workspaces reused across calls of different shapes, ``validated=True``
and all threads."""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import all_threads
from strategies import Case, models, network_for, real_input, spike_raster
from snnref import Network, NeuronModel, forward
from snnref.fast_forward import Workspace, events_from_spikes, input_events, simulate

FIELDS = ("I", "V", "S", "du", "a")


def assert_bitwise(fast, ref):
    assert fast.T == ref.T and fast.T_full == ref.T_full
    assert fast.x.tobytes() == ref.x.tobytes()
    for l, (la, lb) in enumerate(zip(fast.layers, ref.layers)):
        for k in FIELDS:
            a, b = getattr(la, k), getattr(lb, k)
            if b is None:
                assert a is None, (l, k)
                continue
            assert a.dtype == b.dtype and a.shape == b.shape, (l, k)
            np.testing.assert_array_equal(a, b, err_msg=f"layer {l} {k}")
            assert a.tobytes() == b.tobytes(), f"layer {l} {k}: equal values, different bits (sign of a zero)"


@st.composite
def wide_cases(draw, dtype=np.float64, max_T=30, max_B=3, max_in=40):
    """A forward case with up to ``max_in`` inputs (several 16-input blocks of the event scan) and, for
    ANTLR models, spike input that may hold -0.0 (a zero, not an event)."""
    T = draw(st.integers(1, max_T))
    B = draw(st.integers(1, max_B))
    n_in = draw(st.integers(1, max_in))
    model = draw(models(T=T))
    net = draw(network_for(model, T, n_in, max_layers=3, max_neurons=8, dtype=dtype))
    if model.psp_output:
        x = draw(real_input(T, B, n_in))
    else:
        x = draw(spike_raster(T, B, n_in))
        if draw(st.booleans()):
            neg = np.asarray(draw(st.lists(st.booleans(), min_size=x.size, max_size=x.size))).reshape(x.shape)
            x = np.where((x == 0) & neg, -0.0, x)
    return Case(net, x)


@settings(max_examples=3 * settings.default.max_examples)
@given(wide_cases(), st.sampled_from([np.float64, np.float32]))
def test_fast_equals_reference_bitwise(case, dtype):
    net = case.net if dtype == np.float64 else Network(case.net.weights, case.net.biases, case.net.model,
                                                       dtype=np.float32)
    ref = forward(net, case.x, impl="reference")
    assert_bitwise(forward(net, case.x), ref)
    assert_bitwise(forward(net, case.x, impl="fast"), ref)


@given(wide_cases(max_B=4))
def test_all_threads_workspace_validated(case):
    """All threads, a reused workspace and validated=True give the same bits as the reference."""
    ref = forward(case.net, case.x, impl="reference")
    ws = Workspace()
    x = np.ascontiguousarray(case.x, dtype=case.net.dtype)
    numba.set_num_threads(all_threads())
    assert_bitwise(forward(case.net, x, workspace=ws), ref)
    assert_bitwise(forward(case.net, x, workspace=ws, validated=True), ref)
    numba.set_num_threads(1)
    assert_bitwise(forward(case.net, x, workspace=ws, validated=True), ref)


@given(wide_cases(max_T=20, max_B=2), st.sampled_from([2, 3, 8, 64]))
def test_neuron_blocks_same_bits(case, threads):
    """Samples split into neuron blocks (as for batches smaller than the thread count): the same bits."""
    ref = forward(case.net, case.x, impl="reference")
    x = np.ascontiguousarray(case.x, dtype=case.net.dtype)
    numba.set_num_threads(all_threads())
    layers = simulate(case.net, x, Workspace(), threads=threads, min_block=1)
    for l, (la, lb) in enumerate(zip(layers, ref.layers)):
        for k in FIELDS:
            if getattr(lb, k) is not None:
                assert getattr(la, k).tobytes() == getattr(lb, k).tobytes(), (l, k)


@settings(max_examples=10)
@given(st.lists(wide_cases(max_T=20), min_size=2, max_size=4))
def test_workspace_across_shapes(cases):
    """One workspace for calls of different T, B, sizes, models and dtypes: each result equals the
    reference; a buffer grown for a large call serves a later smaller one."""
    ws = Workspace()
    for case in cases:
        assert_bitwise(forward(case.net, case.x, workspace=ws), forward(case.net, case.x, impl="reference"))
    assert ws.nbytes > 0


def test_workspace_trace_is_overwritten_and_fresh_trace_is_not(rng):
    """The documented contract: a trace made with a workspace is overwritten by the next call with that
    workspace; a trace made without one is never touched by later calls."""
    m = NeuronModel.antlr(0.9, 0.9, T=30)
    net = Network([rng.normal(0.5, 1.0, (20, 6)), rng.normal(0.5, 1.0, (6, 3))], [np.ones(6), np.ones(3)], m)
    x1 = (rng.random((30, 2, 20)) < 0.2).astype(np.float64)
    x2 = np.zeros_like(x1)
    ws = Workspace()
    fresh = forward(net, x1)
    kept = fresh.layers[0].V.copy()
    t1 = forward(net, x1, workspace=ws)
    np.testing.assert_array_equal(t1.layers[0].V, kept)
    t2 = forward(net, x2, workspace=ws)
    assert t2.layers[0].V is not t1.layers[0].V and np.shares_memory(t2.layers[0].V, t1.layers[0].V)
    np.testing.assert_array_equal(t1.layers[0].V, t2.layers[0].V)   # overwritten
    forward(net, x2)
    np.testing.assert_array_equal(fresh.layers[0].V, kept)          # untouched


@given(wide_cases(max_T=20))
def test_latency_early_stop_with_workspace(case):
    ws = Workspace()
    ref = forward(case.net, case.x, impl="reference", latency_early_stop=True)
    assert_bitwise(forward(case.net, case.x, workspace=ws, latency_early_stop=True), ref)


@given(st.integers(1, 12), st.integers(1, 3), st.integers(1, 70), st.integers(0, 2**32 - 1),
       st.sampled_from([np.float64, np.float32]))
def test_input_events_match_nonzero(T, B, N, seed, dtype):
    """Per sample and step the events are the indices of the non-zero inputs, ascending (-0.0 is none)."""
    rng = np.random.default_rng(seed)
    x = (rng.random((T, B, N)) < rng.random()).astype(dtype)
    x[(x == 0) & (rng.random(x.shape) < 0.5)] = -0.0
    ptr, idx = input_events(x)
    for b in range(B):
        assert ptr[b, 0, 0] == 0
        for t in range(T):
            np.testing.assert_array_equal(idx[b, 0, ptr[b, 0, t]:ptr[b, 0, t + 1]], np.flatnonzero(x[t, b]))


def test_validated_checks_shape_and_dtype(rng):
    m = NeuronModel.antlr(0.9, 0.9, T=5)
    net = Network([rng.normal(size=(4, 3))], None, m)
    x = np.zeros((5, 2, 4))
    forward(net, x, validated=True)
    with pytest.raises(TypeError, match="C-contiguous float64"):
        forward(net, x.astype(np.float32), validated=True)
    with pytest.raises(TypeError, match="not C-contiguous"):
        forward(net, np.zeros((5, 4, 4))[:, ::2], validated=True)
    with pytest.raises(TypeError, match="numpy array"):
        forward(net, x.tolist(), validated=True)
    with pytest.raises(ValueError, match="input neurons"):
        forward(net, np.zeros((5, 2, 3)), validated=True)
    with pytest.raises(ValueError, match="impl"):
        forward(net, x, impl="numpy")
    with pytest.raises(ValueError, match="only 0 and 1"):   # the default still checks the values
        forward(net, x + 0.5)
    with pytest.raises(TypeError, match="workspace must be"):
        forward(net, x, workspace={})


@given(st.integers(1, 12), st.integers(1, 3), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_events_from_spikes_equal_the_scan(T, B, N, seed):
    """Event lists built from spike coordinates (in any order) list, per sample and step, the same
    inputs as the scan of x; forward given them makes the same trace, bit for bit."""
    rng = np.random.default_rng(seed)
    x = (rng.random((T, B, N)) < rng.random()).astype(np.float64)
    t, b, n = np.nonzero(x)
    perm = rng.permutation(t.size)
    ptr, idx = events_from_spikes(t[perm], b[perm], n[perm], T, B)
    ptr0, idx0 = input_events(x)
    np.testing.assert_array_equal(ptr, ptr0)
    for bb in range(B):
        np.testing.assert_array_equal(idx[bb, 0, :ptr[bb, 0, T]], idx0[bb, 0, :ptr0[bb, 0, T]])
    m = NeuronModel.antlr(0.9, 0.9, T=T)
    net = Network([rng.normal(0.5, 1.0, (N, 7)), rng.normal(0.5, 1.0, (7, 3))], None, m)
    got = forward(net, x, validated=True, input_events=(ptr, idx))
    want = forward(net, x)
    for a, c in zip(got.layers, want.layers):
        for k in ("I", "V", "S"):
            np.testing.assert_array_equal(getattr(a, k), getattr(c, k))


def test_input_events_checked(rng):
    m = NeuronModel.antlr(0.9, 0.9, T=5)
    net = Network([rng.normal(size=(4, 3))], None, m)
    x = np.zeros((5, 2, 4))
    x[1, 0, 2] = x[3, 1, 0] = 1.0
    ev = events_from_spikes([1, 3], [0, 1], [2, 0], 5, 2)
    forward(net, x, validated=True, input_events=ev)
    with pytest.raises(ValueError, match="validated=True"):
        forward(net, x, input_events=ev)
    with pytest.raises(ValueError, match="impl='fast'"):
        forward(net, x, validated=True, impl="reference", input_events=ev)
    with pytest.raises(TypeError, match="pair"):
        forward(net, x, validated=True, input_events=5)
    with pytest.raises(ValueError, match="int64 of shape"):
        forward(net, x, validated=True, input_events=(ev[0][:1], ev[1]))
    bad = ev[1].copy()
    bad[0, 0, 0] = 4
    with pytest.raises(ValueError, match=r"outside \[0, 4\)"):
        forward(net, x, validated=True, input_events=(ev[0], bad))
    down = ev[0].copy()
    down[0, 0, 3] = 0
    with pytest.raises(ValueError, match="never decrease"):
        forward(net, x, validated=True, input_events=(down, ev[1]))
