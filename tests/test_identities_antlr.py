"""Exact identities of the ANTLR-family rules (spec 10.2 P-A1, P-A2; 10.3 P-T2).

Each rule of snnref.backward is the exact gradient of a smooth companion model (snnref.companion.antlr):

- P-A1: act_rnn on the relaxed trace == central FD of L(S_out) of the relaxed forward;
- P-A2: act_srm on the relaxed trace == central FD of the frozen-reset relaxed forward;
- P-T2: timing (timing_penalty = 0) on the hard trace == central FD of the tangent model Ltil.

Comparisons are directional (<grad, u> vs (f(p + h u) - f(p - h u)) / 2h), over all W and b.
The models are also checked on their own (values vs the hard forward / each other).
"""
import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

import snnref
from snnref import companion
from snnref.losses import antlr as LA

from strategies import random_network
from tolerances import CHAIN, FD_ATOL, FD_RTOL, FD_SCALAR, FD_SCALAR_ABS, ORACLE, TANGENT, ULPS

H = 1e-6  # finite-difference step

seeds = st.integers(0, 2**32 - 1)
decays = st.sampled_from([0.0, 0.5, 0.8, 0.95, 1.0])


def make_net(rng, sizes, T, alpha_I, alpha_V, beta_auto=True):
    if beta_auto:
        m = snnref.NeuronModel.antlr(alpha_I, alpha_V, T=T)
    else:
        m = snnref.NeuronModel(alpha_I=alpha_I, alpha_V=alpha_V, beta_I=0.7, beta_V=0.6, beta_bias=0.4)
    return random_network(rng, sizes, m, w_loc=0.4, w_std=1.0, w_factors=(lambda n_in: 1.5 / np.sqrt(n_in), 2),
                          bias=(0.05, 0.3, 1.0))


def check_directional(grads, fun, net, rng, h=H):
    u = companion.random_direction(net, rng)
    analytic = companion.grad_dot(grads, u)
    numeric = companion.directional_fd(fun, net, u, h=h)
    np.testing.assert_allclose(analytic, numeric, rtol=FD_RTOL, atol=FD_ATOL,
                               err_msg=f"analytic {analytic!r} vs numeric {numeric!r}")


# ------------------------------------------------------------------------------------------ models
def test_smooth_spike_derivative_is_sigma():
    v = np.linspace(-1.0, 3.0, 41) + 1e-3
    for a, b in ((1.0, 3.0), (0.5, 1.5)):
        g = companion.smooth_spike(v, 1.0, a, b)
        fd = (companion.smooth_spike(v + 1e-6, 1.0, a, b) - companion.smooth_spike(v - 1e-6, 1.0, a, b)) / 2e-6
        np.testing.assert_allclose(fd, snnref.neuron.sigma(v, 1.0, a, b), rtol=FD_SCALAR, atol=FD_SCALAR_ABS)
        assert np.all(np.diff(g) > 0) and g.min() > 0 and g.max() < 2 * a / b
    assert companion.smooth_spike(1.0, 1.0, 1.0, 3.0) == pytest.approx(1 / 3)


def test_relaxed_forward_recurrence_by_hand():
    """One neuron, T = 3, hand-evaluated recurrence of spec 10.2."""
    m = snnref.NeuronModel(alpha_I=0.5, alpha_V=0.25, beta_I=1.0, beta_V=2.0, beta_bias=1.0)
    net = snnref.Network([np.array([[0.8]])], [np.array([0.1])], m)
    x = np.array([1.0, 0.0, 1.0]).reshape(3, 1, 1)
    tr = companion.relaxed_forward(net, x)
    g = lambda v: companion.smooth_spike(v)  # noqa: E731
    I0 = 0.8
    V0 = 2 * I0 + 0.1
    S0 = g(V0)
    I1 = 0.5 * (1 - S0) * I0
    V1 = 0.25 * (1 - S0) * V0 + 2 * I1 + 0.1
    S1 = g(V1)
    I2 = 0.5 * (1 - S1) * I1 + 0.8
    V2 = 0.25 * (1 - S1) * V1 + 2 * I2 + 0.1
    np.testing.assert_allclose(tr.output.I[:, 0, 0], [I0, I1, I2], rtol=ULPS)
    np.testing.assert_allclose(tr.output.V[:, 0, 0], [V0, V1, V2], rtol=ULPS)
    np.testing.assert_allclose(tr.output.S[:, 0, 0], [S0, S1, g(V2)], rtol=ULPS)


def test_frozen_reset_with_hard_raster_equals_hard_forward(rng):
    """With the reset frozen at the hard raster and inputs equal, V matches the hard forward in layer 1."""
    T = 15
    net = make_net(rng, (4, 3), T, 0.9, 0.8)
    x = (rng.random((T, 2, 4)) < 0.4).astype(float)
    hard = snnref.forward(net, x)
    fr = companion.frozen_reset_forward(net, x, hard)
    np.testing.assert_allclose(fr.layers[0].V, hard.layers[0].V, rtol=CHAIN, atol=CHAIN)
    relaxed = companion.relaxed_forward(net, x)
    same = companion.frozen_reset_forward(net, x, relaxed)
    np.testing.assert_array_equal(same.output.S, relaxed.output.S)


# ------------------------------------------------------------------------------------------ P-A1/2
@given(seed=seeds, T=st.integers(1, 20), B=st.integers(1, 2), depth=st.sampled_from([1, 2, 3]),
       alpha_I=decays, alpha_V=decays, loss_kind=st.sampled_from(["linear", "count"]),
       surrogate=st.sampled_from([(1.0, 3.0), (0.7, 1.5)]), beta_auto=st.booleans())
@example(seed=0, T=20, B=2, depth=3, alpha_I=0.95, alpha_V=0.95, loss_kind="count", surrogate=(1.0, 3.0),
         beta_auto=True)
def test_PA1_act_rnn_is_gradient_of_relaxed_model(seed, T, B, depth, alpha_I, alpha_V, loss_kind, surrogate,
                                                  beta_auto):
    rng = np.random.default_rng(seed)
    sizes = (5,) + tuple(rng.integers(1, 6, depth))
    net = make_net(rng, sizes, T, alpha_I, alpha_V, beta_auto)
    a, b = surrogate
    x = (rng.random((T, B, 5)) < 0.4).astype(float)
    tr = companion.relaxed_forward(net, x, ste_alpha=a, ste_beta=b)
    for lt in tr.layers:   # g is C^1 only: keep FD away from the kink of g' at theta
        assume(np.abs(lt.V - net.model.theta).min() > 1e-4)
    if loss_kind == "linear":
        C = rng.standard_normal(tr.output.S.shape)
        loss = lambda S: float((C * S).sum())  # noqa: E731
        dS = C
    else:
        labels = rng.integers(0, sizes[-1], B)
        loss = lambda S: LA.count(S, labels, 2, 0)  # noqa: E731
        dS = LA.count(tr, labels, 2, 0).dL_dS
    grads = snnref.backward(net, tr, "act_rnn", dL_dS=dS, ste_alpha=a, ste_beta=b)
    fun = companion.relaxed_objective(net, x, loss, ste_alpha=a, ste_beta=b)
    check_directional(grads, fun, net, rng)


@given(seed=seeds, T=st.integers(1, 20), B=st.integers(1, 2), depth=st.sampled_from([1, 2, 3]),
       alpha_I=decays, alpha_V=decays, surrogate=st.sampled_from([(1.0, 3.0), (0.7, 1.5)]))
def test_PA2_act_srm_is_gradient_of_frozen_reset_model(seed, T, B, depth, alpha_I, alpha_V, surrogate):
    rng = np.random.default_rng(seed)
    sizes = (5,) + tuple(rng.integers(1, 6, depth))
    net = make_net(rng, sizes, T, alpha_I, alpha_V)
    a, b = surrogate
    x = (rng.random((T, B, 5)) < 0.4).astype(float)
    tr = companion.relaxed_forward(net, x, ste_alpha=a, ste_beta=b)
    for lt in tr.layers:
        assume(np.abs(lt.V - net.model.theta).min() > 1e-4)
    C = rng.standard_normal(tr.output.S.shape)
    grads = snnref.backward(net, tr, "act_srm", dL_dS=C, ste_alpha=a, ste_beta=b)
    fun = companion.relaxed_objective(net, x, lambda S: float((C * S).sum()), frozen_trace=tr,
                                   ste_alpha=a, ste_beta=b)
    check_directional(grads, fun, net, rng)


def test_PA1_PA2_differ_by_reset_paths(rng):
    """act_rnn != act_srm when the reset matters, and each matches only its own model."""
    T, B = 15, 2
    net = make_net(rng, (5, 4, 3), T, 0.9, 0.9)
    x = (rng.random((T, B, 5)) < 0.5).astype(float)
    tr = companion.relaxed_forward(net, x)
    C = rng.standard_normal(tr.output.S.shape)
    loss = lambda S: float((C * S).sum())  # noqa: E731
    u = companion.random_direction(net, rng)
    fd_full = companion.directional_fd(companion.relaxed_objective(net, x, loss), net, u)
    fd_frozen = companion.directional_fd(companion.relaxed_objective(net, x, loss, frozen_trace=tr), net, u)
    g_rnn = companion.grad_dot(snnref.backward(net, tr, "act_rnn", dL_dS=C), u)
    g_srm = companion.grad_dot(snnref.backward(net, tr, "act_srm", dL_dS=C), u)
    assert abs(fd_full - fd_frozen) > 1e-3 * abs(fd_full)
    np.testing.assert_allclose(g_rnn, fd_full, rtol=FD_RTOL)
    np.testing.assert_allclose(g_srm, fd_frozen, rtol=FD_RTOL)


# ------------------------------------------------------------------------------------------ P-T2
def _timing_case(seed, T, B, depth, alpha_I, alpha_V, loss_kind):
    rng = np.random.default_rng(seed)
    sizes = (6,) + tuple(rng.integers(2, 6, depth))
    net = make_net(rng, sizes, T, alpha_I, alpha_V)
    x = (rng.random((T, B, 6)) < 0.35).astype(float)
    tr = snnref.forward(net, x)
    for lt in tr.layers:
        assume(lt.S.sum() > 0)
    if loss_kind == "train":
        tgt = (rng.random(tr.output.S.shape) < 0.2).astype(float)
        loss = LA.spike_train(tr, tgt, 0.9)
    else:
        loss = LA.latency(tr, rng.integers(0, sizes[-1], B), beta_softmax=0.5)
    assume(np.abs(loss.dL_dt).max() > 0)
    return rng, net, x, tr, loss


@given(seed=seeds, T=st.integers(2, 25), B=st.integers(1, 2), depth=st.sampled_from([2, 3]),
       alpha_I=st.sampled_from([0.0, 0.5, 0.9, 1.0]), alpha_V=st.sampled_from([0.5, 0.85, 0.95, 1.0]),
       loss_kind=st.sampled_from(["train", "latency"]), vstar_mode=st.sampled_from(["code", "appendix"]))
@example(seed=1, T=25, B=2, depth=3, alpha_I=0.9, alpha_V=0.85, loss_kind="train", vstar_mode="code")
def test_PT2_timing_is_gradient_of_tangent_model(seed, T, B, depth, alpha_I, alpha_V, loss_kind, vstar_mode):
    rng, net, x, tr, loss = _timing_case(seed, T, B, depth, alpha_I, alpha_V, loss_kind)
    grads = snnref.backward(net, tr, "timing", dL_dS=loss.dL_dS, dL_dt=loss.dL_dt, timing_penalty=0.0,
                            vstar_mode=vstar_mode)
    model = companion.timing_tangent(net, x, loss.dL_dt, L0=loss.value, vstar_mode=vstar_mode)
    check_directional(grads, model, net, rng)


def test_tangent_model_at_expansion_point(rng):
    """At (W0, b0) every that equals its frozen step (Vtil = V0 by the SRM form) and Ltil = L0."""
    T = 25
    net = make_net(rng, (6, 5, 4, 3), T, 0.9, 0.85)
    x = (rng.random((T, 2, 6)) < 0.35).astype(float)
    tr = snnref.forward(net, x)
    loss = LA.spike_train(tr, (rng.random(tr.output.S.shape) < 0.2).astype(float), 0.9)
    model = companion.timing_tangent(net, x, loss.dL_dt, L0=loss.value)
    times = model.spike_times(net.weights, net.biases)
    for lt, that in zip(tr.layers, times):
        assert lt.S.sum() > 0
        t_idx = np.nonzero(lt.S)[0].astype(float)
        np.testing.assert_allclose(that[lt.S != 0], t_idx, rtol=0, atol=TANGENT)
        assert np.all(np.isnan(that[lt.S == 0]))
    assert model(net.weights, net.biases) == pytest.approx(loss.value, rel=ORACLE)
    # raising every weight makes the first output spikes earlier (that < t_k) in a 1-layer net
    net1 = make_net(rng, (6, 3), T, 0.9, 0.85)
    tr1 = snnref.forward(net1, x)
    m1 = companion.timing_tangent(net1, x, np.zeros(tr1.output.S.shape))
    that1 = m1.spike_times([w + 0.01 for w in net1.weights], net1.biases)[0]
    t1 = np.nonzero(tr1.output.S)[0]
    assert np.all(that1[tr1.output.S != 0] <= t1 + ORACLE)


def test_timing_penalty_is_not_in_tangent_model(rng):
    """The identity needs timing_penalty = 0: with the penalty the rule moves silent neurons' weights."""
    T = 20
    net = make_net(rng, (6, 4, 3), T, 0.9, 0.85)
    net.weights[0][:, 0] = -5.0             # hidden neuron 0 never fires
    x = (rng.random((T, 2, 6)) < 0.35).astype(float)
    tr = snnref.forward(net, x)
    assert tr.layers[0].S[:, :, 0].sum() == 0
    loss = LA.latency(tr, [0, 1], 0.5)
    g0 = snnref.backward(net, tr, "timing", dL_dt=loss.dL_dt, timing_penalty=0.0)
    g1 = snnref.backward(net, tr, "timing", dL_dt=loss.dL_dt, timing_penalty=100.0)
    np.testing.assert_array_equal(g0.dW[0][:, 0], 0.0)
    assert np.all(g1.dW[0][:, 0] < 0)


# ------------------------------------------------------------------------------------------ errors
def test_verify_errors(rng):
    T = 5
    net = make_net(rng, (3, 2), T, 0.9, 0.9)
    x = np.zeros((T, 1, 3))
    with pytest.raises(ValueError, match="smooth must be one of"):
        companion.relaxed_forward(net, x, smooth="logistic")
    with pytest.raises(ValueError, match=r"ste_beta must be in \(0, inf\]"):
        companion.relaxed_forward(net, x, ste_beta=0.0)
    with pytest.raises(ValueError, match=r"x.shape\[2\] \(4\) must equal"):
        companion.relaxed_forward(net, np.zeros((T, 1, 4)))
    with pytest.raises(TypeError, match="frozen_trace must be a snnref.Trace"):
        companion.frozen_reset_forward(net, x, np.zeros((T, 1, 2)))
    with pytest.raises(ValueError, match="frozen_trace layer shapes"):
        companion.frozen_reset_forward(net, x, companion.relaxed_forward(net, np.zeros((T + 1, 1, 3))))
    with pytest.raises(ValueError, match=r"dL_dt must have shape \(T, B, N_out\)"):
        companion.timing_tangent(net, x, np.zeros((T, 1, 3)))
    with pytest.raises(ValueError, match="vstar_mode must be one of"):
        companion.timing_tangent(net, x, np.zeros((T, 1, 2)), vstar_mode="paper")
    with pytest.raises(TypeError, match="loss must be a callable"):
        companion.relaxed_objective(net, x, 3.0)
    tnet = snnref.Network([np.ones((3, 2))], model=snnref.NeuronModel.tsslbp())
    with pytest.raises(ValueError, match="TSSL-BP model"):
        companion.relaxed_forward(tnet, x)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        companion.nope  # noqa: B018
