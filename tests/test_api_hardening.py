"""Shape errors that name the likely mistake, the beta_auto window check, and validation of
hand-built forward traces passed to snnref.backward."""
import numpy as np
import pytest

import snnref
from snnref import LayerTrace, Network, NeuronModel, Trace, backward, forward
from snnref.errors import SnnrefError
from snnref.verify import check_user_trace, trace_from_arrays


def _net(T=20, sizes=(3, 5, 2), seed=0, model=None):
    rng = np.random.default_rng(seed)
    Ws = [np.abs(rng.normal(0, 2.0, (a, b))) for a, b in zip(sizes[:-1], sizes[1:])]
    return Network(Ws, [np.zeros(b) for b in sizes[1:]], model or NeuronModel.antlr(0.9, 0.9, T=T))


def _x(T=20, B=2, N=3, seed=1):
    return (np.random.default_rng(seed).random((T, B, N)) < 0.4).astype(float)


# ----------------------------------------------------------------------------------- shapes
def test_transposed_weight_names_the_weight_not_the_bias():
    W1, W2 = np.ones((3, 5)), np.ones((5, 2))
    with pytest.raises(ValueError, match=r"weights\[0\] is probably given as \(out, in\)"):
        Network([W1.T], [np.zeros(5)], NeuronModel.antlr())
    with pytest.raises(ValueError, match=r"\[W.T for W in weights\]"):
        Network([W1.T, W2.T], None, NeuronModel.antlr())
    net = Network([W1.T], None, NeuronModel.antlr(T=4))       # (5, 3) read as 5 inputs, 3 outputs
    with pytest.raises(ValueError, match=r"weights\[0\] \(shape \(5, 3\)\) is probably given as \(out, in\)"):
        forward(net, np.zeros((4, 1, 3)))


def test_batch_first_input_named_when_the_shape_fits():
    net = _net(T=10)
    x = _x(T=10, B=1).transpose(1, 0, 2)                       # (1, 10, 3): B=1, T=10 given batch-first
    with pytest.raises(SnnrefError, match=r"batch-first \(B, T, N\), pass x.transpose\(1, 0, 2\)"):
        forward(net, x)


def test_beta_auto_window_mismatch_is_rejected():
    m300 = NeuronModel.antlr(0.99, 0.99, T=300)
    net = _net(model=m300)
    with pytest.raises(SnnrefError, match=r"beta_auto.*T = 300.*0\.0270468.*T = 30.*0\.0446127"):
        forward(net, _x(T=30))
    tr = forward(net, _x(T=30), allow_beta_auto_mismatch=True)     # explicit opt-in
    assert tr.T == 30
    forward(net, _x(T=150))                    # the kernel peaks at tau = 98 < 150: same scales, accepted
    forward(_net(model=NeuronModel.antlr(0.99, 0.99, beta_auto=False)), _x(T=30))   # explicit betas
    assert NeuronModel.antlr(0.99, 0.99, T=30).beta_V == pytest.approx(0.0446127, rel=1e-5)


# ------------------------------------------------------------------------------- user traces
def _states(net, x, **model_changes):
    """I, V, S of an independent transcription of spec 1.1 (optionally with another model)."""
    m = net.model.replace(**model_changes) if model_changes else net.model
    tr = forward(Network(net.weights, net.biases, m), x, allow_beta_auto_mismatch=True)
    return ([lt.I.copy() for lt in tr.layers], [lt.V.copy() for lt in tr.layers], [lt.S.copy() for lt in tr.layers])


def test_user_trace_equal_to_forward_gives_the_same_gradients():
    net, x = _net(), _x()
    I, V, S = _states(net, x)
    user = trace_from_arrays(net, x.transpose(1, 0, 2), [a.transpose(1, 0, 2) for a in I],
                             [a.transpose(1, 0, 2) for a in V], [a.transpose(1, 0, 2) for a in S], layout="BTN")
    dS = np.ones((20, 2, 2))
    g1 = backward(net, user, "act_rnn", dL_dS=dS)
    g2 = backward(net, forward(net, x), "act_rnn", dL_dS=dS)
    for a, b in zip(g1.dW, g2.dW):
        np.testing.assert_array_equal(a, b)


def test_trace_without_current_reset_is_rejected():
    net, x = _net(), _x()
    I, V, S = _states(net, x, reset_current=False)
    tr = trace_from_arrays(net, x, I, V, S)
    with pytest.raises(SnnrefError, match=r"WITHOUT current reset \(reset_current=False\)"):
        backward(net, tr, "act_rnn", dL_dS=np.ones((20, 2, 2)))
    backward(net, tr, "act_rnn", dL_dS=np.ones((20, 2, 2)), trace_check="basic")   # the caller's choice
    backward(net, tr, "act_rnn", dL_dS=np.ones((20, 2, 2)), trace_check="off")


@pytest.mark.parametrize("damage, match", [
    (lambda I, V, S: S[1].__setitem__((3, 0, 1), 0.5), "only 0 and 1"),
    (lambda I, V, S: V[0].__setitem__((2, 1, 0), np.nan), "NaN or inf"),
    (lambda I, V, S: S[0].__setitem__((5, 0, 0), 1 - S[0][5, 0, 0]), "not the threshold of V"),
    (lambda I, V, S: I[1].__setitem__((4, 0, 0), I[1][4, 0, 0] + 0.1), r"layers\[1\].I\[4, 0, 0\]"),
    (lambda I, V, S: V[0].__setitem__((7, 1, 2), V[0][7, 1, 2] - 1e-3), r"layers\[0\].V\[7, 1, 2\]"),
])
def test_damaged_user_traces(damage, match):
    net, x = _net(), _x()
    I, V, S = _states(net, x)
    damage(I, V, S)
    tr = trace_from_arrays(net, x, I, V, S)
    with pytest.raises(SnnrefError, match=match):
        check_user_trace(net, tr, "full")


def test_float32_port_trace_within_tolerance_passes():
    net, x = _net(), _x()
    I, V, S = _states(net, x)
    noisy = [v * (1 + 1e-12) for v in V]          # another summation order: rounding-level differences
    check_user_trace(net, trace_from_arrays(net, x, I, noisy, S), "full")


def test_tsslbp_user_trace():
    rng = np.random.default_rng(3)
    net = Network([rng.normal(0, 2, (3, 4)), rng.normal(0, 2, (4, 2))], None, NeuronModel.tsslbp())
    x = rng.random((8, 2, 3))
    tr = forward(net, x)
    user = trace_from_arrays(net, x, [l.I for l in tr.layers], [l.V for l in tr.layers], [l.S for l in tr.layers],
                             du=[l.du for l in tr.layers], a=[l.a for l in tr.layers])
    check_user_trace(net, user, "full")
    bad_a = [l.a.copy() for l in tr.layers]
    bad_a[0][3, 1, 2] += 0.01
    user = trace_from_arrays(net, x, [l.I for l in tr.layers], [l.V for l in tr.layers], [l.S for l in tr.layers],
                             du=[l.du for l in tr.layers], a=bad_a)
    with pytest.raises(SnnrefError, match="spec 2"):
        check_user_trace(net, user, "full")


def test_forward_traces_are_trusted_and_option_is_validated():
    net, x = _net(), _x()
    tr = forward(net, x)
    tr.layers[0].S[0, 0, 0] = 0.5          # a forward trace is not re-checked in "auto" (no cost)
    check_user_trace(net, tr, "auto")
    with pytest.raises(SnnrefError):
        check_user_trace(net, tr, "basic")
    with pytest.raises(ValueError, match="trace_check"):
        backward(net, forward(net, x), "act_rnn", dL_dS=np.ones((20, 2, 2)), trace_check="sometimes")
