"""Spec 10.2 / 10.3 finite-difference identities of the ANTLR-family rules on convolutional networks.

The companion models (snnref.companion.antlr) are defined on dense networks. A conv network with
weights W equals the dense network with matrices M(W) (proved in test_conv_network.py), and M is
linear, so the conv rule's gradient along a conv direction u must equal the finite difference of the
companion model along the dense direction M(u) (biases: each channel's bias at every position):

- P-A1: act_rnn on the relaxed trace == FD of the relaxed model;
- P-A2: act_srm on the relaxed trace == FD of the frozen-reset relaxed model;
- P-T2: timing (timing_penalty 0) on the hard trace == FD of the timing tangent model.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from oracles.conv import conv_matrix, pool_matrix
from snnref import Network, NeuronModel, backward, companion, forward
from snnref.layers import Conv2d, Dense, Flatten, SumPool2d, connection_input
from snnref.trace import LayerTrace, Trace

FD_RTOL, FD_ATOL, H = 1e-6, 1e-9, 1e-6


def _nets(seed, T, pool_w=1.0):
    rng = np.random.default_rng(seed)
    model = NeuronModel.antlr(0.9, 0.8, T=T)
    W1 = rng.normal(0.3, 0.8, (2, 1, 3, 3)) * 1.5
    W2 = rng.normal(0.3, 0.8, (2, 2, 2, 2)) * 1.5
    W3 = rng.normal(0.3, 0.8, (2 * 2 * 2, 2)) * 1.5
    bs = [rng.normal(0.05, 0.3, 2), rng.normal(0.05, 0.3, 2), rng.normal(0.05, 0.3, 2)]
    net = Network(layers=[Conv2d(W1, padding=1, bias=bs[0]), SumPool2d(2, weight=pool_w), Conv2d(W2, bias=bs[1]),
                          Flatten(), Dense(W3, bias=bs[2])], model=model, input_shape=(1, 6, 6))
    P, _ = pool_matrix(2, pool_w, (2, 6, 6))

    def mats(w1, w2, w3):
        return [conv_matrix(w1, 1, 0 + 1, (1, 6, 6))[0], P @ conv_matrix(w2, 1, 0, (2, 3, 3))[0], w3]

    def dense_biases(b):
        return [np.repeat(b[0], 36), np.repeat(b[1], 4), b[2]]
    dense = Network(mats(W1, W2, W3), dense_biases(bs), model)
    x = (rng.random((T, 2, 1, 6, 6)) < 0.4).astype(float)
    return net, dense, mats, dense_biases, x, rng


def _layered(net, tr_dense):
    """The dense (relaxed) trace as a trace of the layered net (spatial arrays, connection inputs)."""
    T, B = tr_dense.T, tr_dense.B
    layers = [LayerTrace(*(a.reshape((T, B) + net.shapes[l + 1]) for a in (lt.I, lt.V, lt.S)))
              for l, lt in enumerate(tr_dense.layers)]
    x = tr_dense.x.reshape((T, B) + net.input_shape)
    prev = [x] + [lt.S for lt in layers[:-1]]
    inputs = [np.ascontiguousarray(connection_input(net, k, prev[k])) for k in range(len(layers))]
    return Trace(layers=layers, x=x, a0=None, model=net.model, form="relaxed", T_full=T, inputs=inputs, masks={})


def _check(net, grads, fun, mats, dense_biases, rng):
    uW = [rng.standard_normal(w.shape) for w in net.weights]
    ub = [rng.standard_normal(b.shape) for b in net.biases]
    analytic = sum(float(np.vdot(g, u)) for g, u in zip(grads.dW + grads.db, uW + ub))
    M0, b0 = mats(*net.weights), dense_biases(net.biases)
    Mu, bu = mats(*uW), dense_biases(ub)

    def at(s):
        return fun([m + s * H * d for m, d in zip(M0, Mu)], [b + s * H * d for b, d in zip(b0, bu)])
    numeric = (at(1.0) - at(-1.0)) / (2 * H)
    np.testing.assert_allclose(analytic, numeric, rtol=FD_RTOL, atol=FD_ATOL)
    return analytic


@given(st.integers(0, 2**31 - 1), st.integers(2, 12), st.sampled_from(["act_rnn", "act_srm"]))
@settings(max_examples=20)
def test_PA1_PA2_activation_rules_conv_are_gradients_of_relaxed_models(seed, T, rule):
    """P-A1 (act_rnn: relaxed model) and P-A2 (act_srm: frozen-reset relaxed model) on a conv net."""
    net, dense, mats, dense_biases, x, rng = _nets(seed, T, pool_w=1.0 if rule == "act_rnn" else 1.1)
    xf = x.reshape(T, 2, -1)
    trd = companion.relaxed_forward(dense, xf)
    for lt in trd.layers:   # g is C^1 only: keep FD away from the kink of g' at theta
        assume(np.abs(lt.V - dense.model.theta).min() > 1e-4)
    C = rng.standard_normal(trd.output.S.shape)
    grads = backward(net, _layered(net, trd), rule, dL_dS=C)
    fun = companion.relaxed_objective(dense, xf, lambda S: float((C * S).sum()),
                                      frozen_trace=trd if rule == "act_srm" else None)
    _check(net, grads, fun, mats, dense_biases, rng)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_PT2_timing_conv_is_gradient_of_tangent_model(seed):
    T = 12
    net, dense, mats, dense_biases, x, rng = _nets(seed, T)
    tr = forward(net, x)
    assert all(lt.S.sum() > 0 for lt in tr.layers)
    dL_dt = rng.standard_normal(tr.output.S.shape) * tr.output.S
    grads = backward(net, tr, "timing", dL_dt=dL_dt)
    model = companion.timing_tangent(dense, x.reshape(T, 2, -1), dL_dt)
    analytic = _check(net, grads, model, mats, dense_biases, rng)
    assert analytic != 0.0
