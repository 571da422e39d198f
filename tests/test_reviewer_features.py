"""Features that answer the TSSL-BP reviewers' questions (README "Answering the reviewers' questions").

- firing statistics (reviewer 3): multi-spike fraction, spikes per firing neuron, first-spike
  histogram of :func:`snnref.readout.spike_statistics`, against hand-built rasters and plain loops;
- TSSL-BP ablation ``tssl_intra=False`` (reviewer 4) and ``tssl_float32_constants=True`` (official
  float32 storage of the backward's constants), against the literal loops of tests/naive_tsslbp.py;
- explicit spike-sequence targets of :func:`snnref.losses.psp_kernel` (reviewers 2 and 4).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive_tsslbp as naive
import snnref
from snnref import backward, losses, readout
from snnref.config import ConfigError, TrainConfig, load_preset
from snnref.forward import LayerTrace, Trace
from tssl_cases import cases, layer_dicts, make_case


# ============================================================================== firing statistics
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
                assert st_["spikes_per_firing_neuron"][l, b] == pytest.approx(sum(firing) / len(firing), rel=1e-15)
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
        assert ev["multi_spike_fraction"][l] == pytest.approx(want, abs=1e-12)
    assert max(ev["multi_spike_fraction"]) > 0          # the check is not vacuous


# ============================================================================== TSSL-BP switches
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
        np.testing.assert_allclose(g.adjoints[l]["G"], Gs[l], rtol=1e-11, atol=1e-11, err_msg=f"G layer {l}")
        np.testing.assert_allclose(g.dW[l], dW[l], rtol=1e-11, atol=1e-11, err_msg=f"dW layer {l}")


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
        np.testing.assert_allclose(g.dW[l], dW[l], rtol=1e-11, atol=1e-11, err_msg=f"dW layer {l}")


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


# ============================================================================== spike-sequence targets
def _naive_target_trace(d, tau_s, passes):
    """Per (b, k): the raster filtered ``passes`` times by the official syn loop (naive_tsslbp)."""
    T, B, N = d.shape
    out = np.zeros((T, B, N))
    for b in range(B):
        for k in range(N):
            seq = d[:, b, k]
            for _ in range(passes):
                syn, res = 0.0, []
                for t in range(T):
                    syn = syn - syn / tau_s + seq[t]
                    res.append(syn / tau_s)
                seq = res
            out[:, b, k] = seq
    return out


@given(st.integers(0, 2**31 - 1), st.integers(1, 15), st.integers(1, 3), st.integers(1, 4),
       st.sampled_from([1.0, 2.0, 3.0, 4.5]), st.booleans())
def test_target_raster_loss_equals_naive(seed, T, B, N, tau_s, single):
    rng = np.random.default_rng(seed)
    d = (rng.random((T, B, N)) < 0.3).astype(float)
    a = rng.random((T, B, N))
    res = losses.psp_kernel(a, target=d, single_pass=single, tau_s=tau_s)
    ahat = _naive_target_trace(d, tau_s, 1 if single else 2)
    np.testing.assert_allclose(res.info["target"], ahat, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(res.dL_da, a - ahat, rtol=1e-13, atol=1e-14)
    assert res.value == pytest.approx(0.5 * np.sum((a - ahat) ** 2), rel=1e-12)
    np.testing.assert_allclose(res.info["per_sample"], 0.5 * ((a - ahat) ** 2).sum(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_array_equal(res.info["target_spikes"], d)


def test_target_single_pass_zero_at_own_trace_and_labels_equivalence():
    """An output firing exactly d: zero loss with single_pass (its trace is dhat), non-zero with the
    official double filtering; a target raster built from labels reproduces the labels loss."""
    T, B, N, tau_s = 10, 2, 3, 3.0
    rng = np.random.default_rng(1)
    d = (rng.random((T, B, N)) < 0.4).astype(float)
    a = _naive_target_trace(d, tau_s, 1)                        # the trace of the target spikes
    r1 = losses.psp_kernel(a, target=d, single_pass=True, tau_s=tau_s)
    assert r1.value < 1e-28 and np.abs(r1.dL_da).max() < 1e-15      # zero up to rounding
    assert losses.psp_kernel(a, target=d, tau_s=tau_s).value > 0.1
    labels = np.array([2, 0])
    pattern = np.tile([0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 1).astype(float)
    tgt = np.zeros((T, B, N))
    tgt[:, np.arange(B), labels] = pattern[:, None]
    for single in (False, True):
        x = rng.random((T, B, N))
        by_target = losses.psp_kernel(x, target=tgt, single_pass=single, tau_s=tau_s)
        by_labels = losses.psp_kernel(x, labels, single_pass=single, tau_s=tau_s)
        np.testing.assert_allclose(by_target.dL_da, by_labels.dL_da, rtol=1e-15, atol=1e-16)


def test_target_with_trace_and_backward():
    case = make_case(3, 12, 2, [4, 5, 2], 5.0, 3.0, 1.0, w_mean=1.0)
    d = np.zeros((12, 2, 2))
    d[[2, 6], :, 0] = 1
    res = losses.psp_kernel(case.trace, target=d)
    assert res.dL_da.shape == (12, 2, 2)
    g = backward(case.net, case.trace, "tsslbp", dL_da=res.dL_da)
    assert all(np.isfinite(w).all() for w in g.dW)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(), ValueError, "needs exactly one of labels .* got neither"),
    (dict(labels=[0, 1], target=np.zeros((5, 2, 3))), ValueError, "got both"),
    (dict(target=np.zeros((5, 2, 2))), ValueError, r"target has the wrong shape: expected .*\(5, 2, 3\)"),
    (dict(target=np.full((5, 2, 3), 0.5)), ValueError, "target must contain only 0 and 1"),
    (dict(target=np.full((5, 2, 3), np.nan)), ValueError, "target"),
    (dict(target=np.zeros((5, 2, 3)), tssl_target_pattern="sep2020"), ValueError, "only applies with labels"),
    (dict(target=np.zeros((2, 3))), ValueError, "target must be time-major"),
])
def test_target_errors(kwargs, exc, match):
    a = np.zeros((5, 2, 3))
    with pytest.raises(exc, match=match):
        losses.psp_kernel(a, tau_s=3.0, **kwargs)
