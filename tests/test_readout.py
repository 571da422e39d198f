"""Read-out rules and spike statistics (spec 5.7, 7.5, A17, A18)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import snnref
from snnref import readout
from snnref.forward import LayerTrace, Trace


def make_trace(rasters, model=None):
    """A Trace holding the given rasters (I = V = 0); input is zeros."""
    T, B = rasters[0].shape[:2]
    m = model or snnref.NeuronModel.antlr(0.9, 0.9, T=T)
    layers = [LayerTrace(np.zeros_like(S), np.zeros_like(S), np.asarray(S, dtype=np.float64)) for S in rasters]
    return Trace(layers=layers, x=np.zeros((T, B, 2)), a0=None, model=m, form="rnn", T_full=T)


def test_predictions_by_hand():
    T = 6
    S = np.zeros((T, 3, 3))
    # sample 0: counts (2, 2, 1), first spikes (3, 1, 1) -> count: 0 (tie -> lowest), first: 1 (tie -> lowest)
    S[[3, 4], 0, 0] = 1
    S[[1, 5], 0, 1] = 1
    S[1, 0, 2] = 1
    # sample 1: no output spike -> count 0, first 0
    # sample 2: only neuron 2 fires, at t = 5
    S[5, 2, 2] = 1
    np.testing.assert_array_equal(readout.predict_count(S), [0, 0, 2])
    np.testing.assert_array_equal(readout.predict_first(S), [1, 0, 2])
    tr = make_trace([S])
    np.testing.assert_array_equal(readout.predict_first(tr), [1, 0, 2])
    assert readout.predict_count(tr).dtype == np.int64
    tf = readout.first_spike_times(S)
    np.testing.assert_array_equal(tf, [[3, 1, 1], [6, 6, 6], [6, 6, 5]])
    np.testing.assert_array_equal(readout.first_spike_times(S, no_spike=-1)[1], [-1, -1, -1])
    assert np.isinf(readout.first_spike_times(tr, no_spike=np.inf)[1]).all()


@given(st.integers(0, 2**32 - 1), st.integers(1, 20), st.integers(1, 3), st.integers(1, 6))
def test_predictions_match_naive(seed, T, B, N):
    rng = np.random.default_rng(seed)
    S = (rng.random((T, B, N)) < 0.15).astype(float)
    for b in range(B):
        counts = [S[:, b, j].sum() for j in range(N)]
        best = max(counts)
        assert readout.predict_count(S)[b] == counts.index(best)
        firsts = [next((t for t in range(T) if S[t, b, j]), None) for j in range(N)]
        fired = [f for f in firsts if f is not None]
        expected = firsts.index(min(fired)) if fired else 0
        assert readout.predict_first(S)[b] == expected


def test_predict_psp_tsslbp(rng):
    m = snnref.NeuronModel.tsslbp(tau_m=5.0, tau_s=3.0)
    net = snnref.Network([rng.random((4, 3)) * 3], model=m)
    x = rng.random((10, 2, 4))
    tr = snnref.forward(net, x)
    C = tr.output.a.sum(axis=0)
    np.testing.assert_array_equal(readout.predict_psp(tr), np.argmax(C, axis=1))
    with pytest.raises(ValueError, match="predict_psp needs the PSP trace a"):
        readout.predict_psp(make_trace([np.zeros((3, 1, 2))]))
    with pytest.raises(TypeError, match="predict_psp needs a snnref.Trace"):
        readout.predict_psp(np.zeros((3, 1, 2)))


def test_spike_statistics_by_hand():
    T = 5
    H = np.zeros((T, 2, 3))
    O = np.zeros((T, 2, 2))
    # sample 0: hidden spikes at t = 0, 1, 3, 4 (neurons 0, 0, 1, 1); output first spike at t = 2, second at 4
    H[[0, 1], 0, 0] = 1
    H[[3, 4], 0, 1] = 1
    O[2, 0, 1] = 1
    O[4, 0, 0] = 1
    # sample 1: hidden spikes at t = 1 (all three), no output spike
    H[1, 1, :] = 1
    st_ = readout.spike_statistics(make_trace([H, O]))
    np.testing.assert_array_equal(st_["total_spikes"], [6, 3])
    np.testing.assert_array_equal(st_["necessary_spikes"], [3, 3])   # steps 0..2 for sample 0; all for 1
    np.testing.assert_array_equal(st_["layer_spikes"], [[4, 3], [2, 0]])
    np.testing.assert_allclose(st_["firing_fraction"], [[4 / 15, 3 / 15], [2 / 10, 0]])
    np.testing.assert_allclose(st_["silent_fraction"], [[1 / 3, 0], [0, 1]])
    np.testing.assert_array_equal(st_["first_output_step"], [2, 5])


@given(st.integers(0, 2**32 - 1), st.integers(1, 15), st.integers(1, 3))
def test_spike_statistics_match_naive(seed, T, B):
    rng = np.random.default_rng(seed)
    rasters = [(rng.random((T, B, n)) < p).astype(float) for n, p in ((4, 0.3), (3, 0.2), (2, 0.1))]
    res = readout.spike_statistics(make_trace(rasters))
    for b in range(B):
        t_out = next((t for t in range(T) if rasters[-1][t, b].any()), T - 1)
        total = sum(S[t, b, j] for S in rasters for t in range(T) for j in range(S.shape[2]))
        necessary = sum(S[t, b, j] for S in rasters for t in range(t_out + 1) for j in range(S.shape[2]))
        assert res["total_spikes"][b] == total
        assert res["necessary_spikes"][b] == necessary
        for l, S in enumerate(rasters):
            N = S.shape[2]
            assert res["firing_fraction"][l, b] == pytest.approx(S[:, b].sum() / (T * N), rel=1e-15)
            silent = sum(1 for j in range(N) if not S[:, b, j].any())
            assert res["silent_fraction"][l, b] == pytest.approx(silent / N, rel=1e-15)


def test_spike_statistics_early_stop(rng):
    """Necessary spikes are the same on the full and the early-stopped trace (spec 7.5)."""
    T = 30
    m = snnref.NeuronModel.antlr(0.9, 0.9, T=T)
    net = snnref.Network([rng.random((5, 4)) * 2, np.full((4, 2), 1.2)], model=m)
    x = (rng.random((T, 2, 5)) < 0.3).astype(float)
    full = readout.spike_statistics(snnref.forward(net, x))
    short_trace = snnref.forward(net, x, latency_early_stop=True)
    short = readout.spike_statistics(short_trace)
    assert short_trace.T < T
    np.testing.assert_array_equal(full["necessary_spikes"], short["necessary_spikes"])
    assert np.all(short["total_spikes"] <= full["total_spikes"])


def test_readout_errors():
    with pytest.raises(ValueError, match=r"S must be time-major with shape \(T, B, N\)"):
        readout.predict_count(np.zeros((3, 2)))
    with pytest.raises(TypeError, match="spike_statistics needs a snnref.Trace"):
        readout.spike_statistics(np.zeros((3, 1, 2)))
    with pytest.raises(ValueError, match="S has 1 non-finite"):
        readout.predict_first(np.array([[[np.nan]]]))
