"""All five ANTLR-family rules: against the naive transcription of spec 3 (tests/oracles/antlr.py),
float32 vs float64, determinism and thread independence, option errors, the public wrappers."""
import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snnref.backward import backward
from snnref.forward import forward
from snnref.model import Network, NeuronModel
from snnref.rules import antlr as R

from conftest import all_threads
from oracles.antlr import RULES, compare_with_naive
from strategies import antlr_rule_cases as cases
from tolerances import F32_ANTLR, F32_ANTLR_ABS


# ------------------------------------------------------------------------------------ kernel == naive
@given(case=cases(), rule=st.sampled_from(RULES), ste=st.sampled_from([(1.0, 3.0), (0.7, 1.5)]))
def test_rule_equals_naive(case, rule, ste):
    net, trace, dS, dt = case
    opt = {"ste_alpha": ste[0], "ste_beta": ste[1]}
    if rule == "antlr":
        opt.update(lambda_act=0.7, lambda_tim=1.3)
    compare_with_naive(net, trace, rule, dS, dt, **opt)


# ------------------------------------------------------------------------------------ float32, determinism
@pytest.mark.parametrize("rule", RULES)
def test_float32_matches_float64(rule):
    rng = np.random.default_rng(3)
    T, B = 25, 2
    m = NeuronModel.antlr(0.9, 0.85, T=T)
    W = [rng.normal(0.3, 1.5, (6, 7)), rng.normal(0.3, 1.5, (7, 5)), rng.normal(0.3, 1.5, (5, 3))]
    b = [rng.normal(0, 0.3, 7), rng.normal(0, 0.3, 5), rng.normal(0, 0.3, 3)]
    x = (rng.random((T, B, 6)) < 0.3).astype(float)
    n64 = Network(W, b, model=m)
    n32 = Network(W, b, model=m, dtype="float32")
    t64, t32 = forward(n64, x), forward(n32, x)
    for l64, l32 in zip(t64.layers, t32.layers):  # use only a case with identical rasters
        np.testing.assert_array_equal(l64.S, l32.S)
    dS = rng.normal(size=(T, B, 3))
    dt = rng.normal(size=(T, B, 3)) * t64.output.S
    g64 = backward(n64, t64, rule, dS, dt)
    g32 = backward(n32, t32, rule, dS, dt)
    for l in range(3):
        assert g32.dW[l].dtype == np.float32 and g32.db[l].dtype == np.float32
        scale = np.abs(g64.dW[l]).max() + 1e-30
        np.testing.assert_allclose(g32.dW[l], g64.dW[l], rtol=F32_ANTLR, atol=F32_ANTLR_ABS * scale)
        np.testing.assert_allclose(g32.db[l], g64.db[l], rtol=F32_ANTLR, atol=F32_ANTLR_ABS * (np.abs(g64.db[l]).max() + 1e-30))


@pytest.mark.parametrize("rule", RULES)
def test_deterministic_and_parallel_equals_serial(rule):
    rng = np.random.default_rng(5)
    T, B = 20, 3
    m = NeuronModel.antlr(0.9, 0.9, T=T)
    net = Network([rng.normal(0.3, 1.5, (5, 6)), rng.normal(0.3, 1.5, (6, 4))], model=m)
    x = (rng.random((T, B, 5)) < 0.3).astype(float)
    tr = forward(net, x)
    dS = rng.normal(size=(T, B, 4))
    dt = rng.normal(size=(T, B, 4)) * tr.output.S
    g1 = backward(net, tr, rule, dS, dt, return_adjoints=True)
    g2 = backward(net, tr, rule, dS, dt, return_adjoints=True)
    nthreads = numba.get_num_threads()
    numba.set_num_threads(all_threads())
    try:
        g3 = backward(net, tr, rule, dS, dt, return_adjoints=True)
    finally:
        numba.set_num_threads(nthreads)
    for g in (g2, g3):
        for l in range(2):
            np.testing.assert_array_equal(g.dW[l], g1.dW[l])
            np.testing.assert_array_equal(g.db[l], g1.db[l])
            for k in g1.adjoints[l]:
                np.testing.assert_array_equal(g.adjoints[l][k], g1.adjoints[l][k])


# ------------------------------------------------------------------------------------ errors
def _small():
    m = NeuronModel.antlr(0.9, 0.9, T=5)
    net = Network([np.ones((2, 2))], model=m)
    return net, forward(net, np.ones((5, 1, 2)))


def test_unknown_option_names_allowed():
    net, tr = _small()
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['lambda_act'\].*allowed options are"):
        backward(net, tr, "act_srm", lambda_act=1.0)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['vstar'\]"):
        backward(net, tr, "timing", vstar=1.0)


@pytest.mark.parametrize("rule, opt, match", [
    ("act_srm", {"ste_alpha": -1.0}, r"ste_alpha must be in \[0, inf\]"),
    ("act_rnn", {"ste_beta": float("nan")}, "ste_beta must be finite"),
    ("timing", {"vstar_mode": "paper"}, r"vstar_mode must be one of \['appendix', 'code'\]"),
    ("antlr", {"vstar_floor": 0.0}, r"vstar_floor must be in \(0, inf\].*guards the division"),
    ("timing", {"timing_tau_min": 1}, "timing_tau_min must be 0 .* or -1"),
    ("timing", {"timing_tau_min": True}, "timing_tau_min must be 0"),
    ("antlr", {"timing_impl": "fast"}, r"timing_impl must be one of \['aux', 'explicit'\]"),
    ("timing", {"timing_penalty": -5.0}, r"timing_penalty must be in \[0, inf\]"),
    ("antlr", {"lambda_act": float("inf")}, "lambda_act must be finite"),
    ("antlr", {"lambda_tim": "1"}, "lambda_tim must be a real number"),
])
def test_invalid_option_values(rule, opt, match):
    net, tr = _small()
    exc = TypeError if opt.get("lambda_tim") == "1" else ValueError
    with pytest.raises(exc, match=match):
        backward(net, tr, rule, **opt)


def test_direct_call_rejects_tsslbp_model_and_bad_rule():
    net, tr = _small()
    with pytest.raises(ValueError, match="rule must be one of"):
        R.antlr_family_backward(net, tr, rule="tsslbp", dL_dS=None, dL_dt=None, dL_da=None, return_adjoints=False)
    with pytest.raises(ValueError, match="dL_da is for rule='tsslbp'"):
        R.antlr_family_backward(net, tr, rule="act_srm", dL_dS=None, dL_dt=None, dL_da=np.zeros((5, 1, 2)),
                                return_adjoints=False)


def test_public_wrappers_match_backward(rng):
    net, tr = _small()
    dS = rng.normal(size=(5, 1, 2))
    dt = rng.normal(size=(5, 1, 2)) * tr.output.S
    pairs = [
        (R.act_rnn_backward(net, tr, dS), backward(net, tr, "act_rnn", dS)),
        (R.act_srm_backward(net, tr, dS, ste_alpha=0.5), backward(net, tr, "act_srm", dS, ste_alpha=0.5)),
        (R.act_slayer_backward(net, tr, dS), backward(net, tr, "act_slayer", dS)),
        (R.timing_backward(net, tr, dt, timing_penalty=3.0), backward(net, tr, "timing", None, dt, timing_penalty=3.0)),
        (R.antlr_backward(net, tr, dS, dt, lambda_tim=0.5), backward(net, tr, "antlr", dS, dt, lambda_tim=0.5)),
    ]
    for a, b in pairs:
        assert a.rule == b.rule
        np.testing.assert_array_equal(a.dW[0], b.dW[0])
        np.testing.assert_array_equal(a.db[0], b.db[0])


@pytest.mark.parametrize("wrapper, rule", [("act_rnn_backward", "act_rnn"), ("act_srm_backward", "act_srm"),
                                           ("act_slayer_backward", "act_slayer"), ("timing_backward", "timing"),
                                           ("antlr_backward", "antlr")])
def test_inputs_checked_once_per_call(monkeypatch, wrapper, rule):
    """A wrapper and snnref.backward each run the input checks exactly once."""
    import snnref.rules as rules
    net, tr = _small()
    calls = []
    checks = rules.check_loss_gradients
    monkeypatch.setattr(rules, "check_loss_gradients", lambda *a, **k: calls.append(1) or checks(*a, **k))
    getattr(R, wrapper)(net, tr)
    backward(net, tr, rule)
    assert len(calls) == 2
