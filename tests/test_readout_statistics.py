"""Firing statistics of :func:`snnref.readout.spike_statistics` (multi-spike fraction, spikes per
firing neuron, first-spike histogram) against hand-built rasters and plain loops, and the trainer's
report of the multi-spike fraction."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import snnref
from snnref import readout
from snnref.config import load_preset
from snnref.forward import LayerTrace, Trace
from tolerances import ORACLE, ULPS


def _trace(rasters):
    T, B = rasters[0].shape[:2]
    m = snnref.NeuronModel.antlr(0.9, 0.9, T=T)
    layers = [LayerTrace(np.zeros_like(S), np.zeros_like(S), np.asarray(S, dtype=np.float64)) for S in rasters]
    return Trace(layers=layers, x=np.zeros((T, B, 2)), a0=None, model=m, form="rnn", T_full=T)


def test_statistics_hand_built_rasters():
    T = 5
    h = np.zeros((T, 2, 4))      # hidden layer, 4 neurons
    # sample 0: n0 spikes at 0, 2, 4 (3 spikes), n1 at 1, n2 at 1 and 3 (2 spikes), n3 silent
    h[[0, 2, 4], 0, 0] = 1
    h[1, 0, 1] = 1
    h[[1, 3], 0, 2] = 1
    # sample 1: silent hidden layer
    o = np.zeros((T, 2, 2))      # output layer, 2 neurons
    o[3, 0, 1] = 1               # sample 0: one output spike at t = 3
    o[[0, 1], 1, 0] = 1          # sample 1: neuron 0 fires at 0 and 1
    st_ = readout.spike_statistics(_trace([h, o]))
    # existing keys unchanged
    np.testing.assert_array_equal(st_["layer_spikes"], [[6, 0], [1, 2]])
    np.testing.assert_array_equal(st_["total_spikes"], [7, 2])
    np.testing.assert_array_equal(st_["first_output_step"], [3, 0])
    np.testing.assert_array_equal(st_["necessary_spikes"], [5 + 1, 1])     # hidden t <= 3: 0,2 | 1 | 1,3
    np.testing.assert_allclose(st_["silent_fraction"], [[1 / 4, 1], [1 / 2, 1 / 2]])
    # new keys
    np.testing.assert_allclose(st_["multi_spike_fraction"], [[2 / 4, 0], [0, 1 / 2]])
    per = st_["spikes_per_firing_neuron"]
    assert per[0, 0] == 6 / 3 and np.isnan(per[0, 1])
    np.testing.assert_array_equal(per[1], [1.0, 2.0])
    hist = st_["first_spike_hist"]
    assert hist.shape == (2, 2, T) and hist.dtype == np.int64
    np.testing.assert_array_equal(hist[0, 0], [1, 2, 0, 0, 0])
    np.testing.assert_array_equal(hist[0, 1], [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(hist[1, 0], [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(hist[1, 1], [1, 0, 0, 0, 0])


@given(st.integers(0, 2**31 - 1), st.integers(1, 12), st.integers(1, 3), st.floats(0.0, 0.8))
def test_statistics_equal_plain_loops(seed, T, B, p):
    rng = np.random.default_rng(seed)
    rasters = [(rng.random((T, B, n)) < p).astype(float) for n in (5, 3)]
    st_ = readout.spike_statistics(_trace(rasters))
    for l, S in enumerate(rasters):
        N = S.shape[2]
        for b in range(B):
            counts = [int(sum(S[t, b, j] for t in range(T))) for j in range(N)]
            firing = [c for c in counts if c > 0]
            assert st_["multi_spike_fraction"][l, b] == sum(c > 1 for c in counts) / N
            if firing:
                assert st_["spikes_per_firing_neuron"][l, b] == pytest.approx(sum(firing) / len(firing), rel=ULPS)
            else:
                assert np.isnan(st_["spikes_per_firing_neuron"][l, b])
            hist = [0] * T
            for j in range(N):
                for t in range(T):
                    if S[t, b, j]:
                        hist[t] += 1
                        break
            assert list(st_["first_spike_hist"][l, b]) == hist
            assert sum(hist) == round((1 - st_["silent_fraction"][l, b]) * N)


def test_trainer_reports_multi_spike_fraction():
    from snnref.train import build_network, evaluate, load_data

    cfg = load_preset("tsslbp-mnist-mlp").replace(hidden=[6], test_limit=8, test_batch_size=8, train_limit=8,
                                                  init_scale=3.0)
    _, _, test = load_data(cfg)
    net = build_network(cfg)
    ev = evaluate(net, cfg, test)
    assert len(ev["multi_spike_fraction"]) == 2
    # independent recount on the same forward pass (static input: no encoding noise)
    from snnref.train import _encode
    tr = snnref.forward(net, _encode(cfg, test.take(np.arange(8)).inputs, np.random.default_rng(0), net.dtype))
    for l, lt in enumerate(tr.layers):
        want = float(np.mean(lt.S.sum(axis=0) >= 2))
        assert ev["multi_spike_fraction"][l] == pytest.approx(want, abs=ORACLE)
    assert max(ev["multi_spike_fraction"]) > 0          # the check is not vacuous
