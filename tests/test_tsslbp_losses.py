"""TSSL-BP losses (spec 5.4-5.6, P-L4) and the official gradient post-processing (spec 7.6, A14, A30)."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from oracles import tsslbp as naive
from snnref import backward, losses, postprocess
from snnref.losses.tsslbp import psp_filter_1d, target_pattern
from strategies import make_tsslbp_case as make_case


def _traces(T_choices=(5, 10, 20)):
    @st.composite
    def draw(draw):
        T = draw(st.sampled_from(T_choices))
        B = draw(st.integers(1, 3))
        N = draw(st.integers(1, 5))
        a = draw(arrays(np.float64, (T, B, N), elements=st.floats(0, 1, allow_subnormal=False)))
        labels = np.array(draw(st.lists(st.integers(0, N - 1), min_size=B, max_size=B)))
        tau_s = draw(st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.5]))
        return a, labels, tau_s
    return draw()


# ------------------------------------------------------------------------------ kernel loss
def test_spec_example_double_filtered_target():
    """spec 5.4: T = 5, tau_s = 3, d = [0,1,1,1,1] -> dhat = [0, 1/3, 5/9, 19/27, 65/81],
    ahat = [0, 1/9, 7/27, 11/27, 131/243] (exact rationals)."""
    d = [Fraction(v) for v in (0, 1, 1, 1, 1)]

    def filt(x):
        out, prev = [], Fraction(0)
        for v in x:
            prev = (1 - Fraction(1, 3)) * prev + v / 3
            out.append(prev)
        return out
    dhat, ahat = filt(d), filt(filt(d))
    assert dhat == [0, Fraction(1, 3), Fraction(5, 9), Fraction(19, 27), Fraction(65, 81)]
    assert ahat == [0, Fraction(1, 9), Fraction(7, 27), Fraction(11, 27), Fraction(131, 243)]
    a = np.zeros((5, 1, 2))
    res = losses.psp_kernel(a, [1], tau_s=3.0)
    np.testing.assert_allclose(res.info["target"][:, 0, 1], [float(v) for v in ahat], rtol=1e-15)
    np.testing.assert_array_equal(res.info["target"][:, 0, 0], 0.0)
    np.testing.assert_allclose(res.dL_da[:, 0, 1], [-float(v) for v in ahat], rtol=1e-15)
    assert res.value == pytest.approx(0.5 * sum(float(v) ** 2 for v in ahat), rel=1e-15)
    single = losses.psp_kernel(a, [1], tau_s=3.0, single_pass=True)
    np.testing.assert_allclose(single.info["target"][:, 0, 1], [float(v) for v in dhat], rtol=1e-15)


def test_target_patterns():
    np.testing.assert_array_equal(target_pattern(5), [0, 1, 1, 1, 1])
    np.testing.assert_array_equal(target_pattern(5, "sep2020"), [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(target_pattern(20), [0, 1] * 10)
    np.testing.assert_array_equal(target_pattern(10, "sep2020"), [0, 1] * 5)
    for T in (1, 4, 6, 9, 15, 25):
        with pytest.raises(ValueError, match="needs T = 5 or a multiple of 10"):
            target_pattern(T)
    with pytest.raises(ValueError, match="tssl_target_pattern must be one of"):
        target_pattern(5, "paper")


@given(_traces(), st.sampled_from(["final", "sep2020"]), st.booleans())
def test_kernel_loss_identity(data, pattern, single):
    """P-L4: E = a - ahat exactly, value = 1/2 sum E^2 (batch summed), = literal official loss."""
    a, labels, tau_s = data
    T = a.shape[0]
    res = losses.psp_kernel(a, labels, tssl_target_pattern=pattern, single_pass=single, tau_s=tau_s)
    base = (0, 1, 1, 1, 1) if pattern == "final" else (0, 1, 0, 1, 1)
    pat = base if T < 10 else (0, 1) * 5
    val, delta = naive.kernel_loss(a, labels, tau_s, pat, passes=1 if single else 2)
    np.testing.assert_allclose(res.dL_da, delta, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(res.dL_da, a - res.info["target"])
    assert res.value == pytest.approx(val, rel=1e-12, abs=1e-15)
    assert res.value == pytest.approx(0.5 * np.sum(res.dL_da ** 2), rel=1e-12, abs=1e-15)
    # the gradient is the derivative of the value (quadratic: central differences are exact)
    h = 1e-4
    idx = (T - 1, 0, int(labels[0]))
    ap, am = a.copy(), a.copy()
    ap[idx] += h
    am[idx] -= h
    fd = (losses.psp_kernel(ap, labels, pattern, single, tau_s=tau_s).value
          - losses.psp_kernel(am, labels, pattern, single, tau_s=tau_s).value) / (2 * h)
    assert fd == pytest.approx(res.dL_da[idx], rel=1e-7, abs=1e-9)


def test_kernel_loss_from_trace_and_dtype():
    case = make_case(2, 10, 2, [3, 4], 5.0, 3.0, 1.0, dtype=np.float32)
    res = losses.psp_kernel(case.trace, [0, 3])
    assert res.dL_da.dtype == np.float32 and res.dL_da.shape == (10, 2, 4)
    ahat = psp_filter_1d(psp_filter_1d(target_pattern(10), 3.0), 3.0)
    np.testing.assert_allclose(res.info["target"][:, 1, 3], ahat, rtol=1e-15)


# ------------------------------------------------------------------------------ count / softmax
@given(_traces(T_choices=(1, 3, 5, 8)), st.floats(0, 4), st.floats(0, 4))
def test_count_loss_identity(data, desired, undesired):
    """P-L4: E = masked (C - c)/T, constant in t, = derivative of (1/(2T)) sum (C - c)^2 on the active side."""
    a, labels, _ = data
    T, B, N = a.shape
    res = losses.psp_count(a, labels, desired, undesired, tau_s=3.0)
    val, delta = naive.count_loss(a, labels, desired, undesired)
    np.testing.assert_allclose(res.dL_da, delta, rtol=1e-13, atol=1e-15)
    assert res.value == pytest.approx(val, rel=1e-12, abs=1e-15)
    np.testing.assert_array_equal(res.dL_da, np.broadcast_to(res.dL_da[:1], res.dL_da.shape))
    C = a.sum(axis=0)
    for b in range(B):
        for k in range(N):
            label = k == labels[b]
            c = desired if label else undesired
            masked = desired != undesired and ((label and C[b, k] >= desired) or (not label and C[b, k] <= undesired))
            want = 0.0 if masked else (C[b, k] - c) / T      # d/da[t] of (1/(2T)) (C - c)^2
            assert res.dL_da[0, b, k] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_count_loss_hand_values():
    """N-MNIST style targets 3 / 1, T = 2: label below target, others above / below."""
    a = np.array([[[0.5, 1.0, 0.2]], [[0.5, 0.5, 0.2]]])      # C = [1.0, 1.5, 0.4]
    res = losses.psp_count(a, [0], 3.0, 1.0, tau_s=2.0)
    np.testing.assert_allclose(res.info["e"][0], [(1.0 - 3.0) / 2, (1.5 - 1.0) / 2, 0.0])
    assert res.value == pytest.approx(0.5 * 2 * (1.0 + 0.0625))
    res_hi = losses.psp_count(a, [1], 1.0, 0.0, tau_s=2.0)     # label 1 above desired -> masked
    np.testing.assert_allclose(res_hi.info["e"][0], [0.5, 0.0, 0.2])


@given(_traces(T_choices=(1, 5, 7)), st.sampled_from(["mean", "sum"]))
def test_softmax_loss(data, reduction):
    a, labels, _ = data
    T, B, N = a.shape
    res = losses.psp_softmax(a, labels, reduction=reduction, tau_s=3.0)
    C = a.sum(axis=0)
    p = np.exp(C) / np.exp(C).sum(axis=1, keepdims=True)
    scale = 1.0 / B if reduction == "mean" else 1.0
    want = -np.log(p[np.arange(B), labels]).sum() * scale
    assert res.value == pytest.approx(want, rel=1e-12)
    onehot = np.eye(N)[labels]
    np.testing.assert_allclose(res.dL_da, np.broadcast_to((p - onehot) * scale, (T, B, N)), rtol=1e-12, atol=1e-15)
    # derivative of the value w.r.t. a[t] (one coordinate)
    h = 1e-6
    ap, am = a.copy(), a.copy()
    ap[0, 0, 0] += h
    am[0, 0, 0] -= h
    fd = (losses.psp_softmax(ap, labels, reduction=reduction, tau_s=3.0).value
          - losses.psp_softmax(am, labels, reduction=reduction, tau_s=3.0).value) / (2 * h)
    assert fd == pytest.approx(res.dL_da[0, 0, 0], rel=1e-6, abs=1e-9)
    big = losses.psp_softmax(a + 1000.0, labels, reduction=reduction, tau_s=3.0)  # shift invariance, stable
    assert big.value == pytest.approx(res.value, rel=1e-9, abs=1e-12)


def test_bad_loss_inputs():
    a = np.zeros((5, 2, 3))
    with pytest.raises(ValueError, match="tau_s is required"):
        losses.psp_kernel(a, [0, 1])
    with pytest.raises(ValueError, match=r"tau_s must be in \[1, inf\]"):
        losses.psp_kernel(a, [0, 1], tau_s=0.5)
    with pytest.raises(ValueError, match=r"labels must have shape \(B,\) = \(2,\)"):
        losses.psp_kernel(a, [0], tau_s=3.0)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        losses.psp_count(a, [0, 3], 1.0, 0.0, tau_s=3.0)
    with pytest.raises(TypeError, match="labels must be an integer array"):
        losses.psp_softmax(a, [0.5, 1.0], tau_s=3.0)
    with pytest.raises(ValueError, match="needs T = 5 or a multiple of 10"):
        losses.psp_kernel(np.zeros((7, 2, 3)), [0, 1], tau_s=3.0)
    with pytest.raises(ValueError, match="a must be time-major"):
        losses.psp_kernel(np.zeros((5, 3)), [0, 1], tau_s=3.0)
    with pytest.raises(ValueError, match="a has 1 non-finite"):
        bad = a.copy()
        bad[0, 0, 0] = np.nan
        losses.psp_kernel(bad, [0, 1], tau_s=3.0)
    with pytest.raises(TypeError, match="a must be a floating array"):
        losses.psp_kernel(np.zeros((5, 2, 3), dtype=int), [0, 1], tau_s=3.0)
    with pytest.raises(ValueError, match=r"desired_count must be in \[0, inf\]"):
        losses.psp_count(a, [0, 1], -1.0, 0.0, tau_s=3.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.psp_softmax(a, [0, 1], reduction="none", tau_s=3.0)
    with pytest.raises(TypeError, match="single_pass must be True or False"):
        losses.psp_kernel(a, [0, 1], single_pass="yes", tau_s=3.0)
    case = make_case(0, 5, 2, [3, 3], 5.0, 3.0, 1.0)
    with pytest.raises(ValueError, match="tau_s is taken from trace.model"):
        losses.psp_kernel(case.trace, [0, 1], tau_s=3.0)
    with pytest.raises(TypeError, match="trace must be a snnref.Trace or an output PSP trace"):
        losses.psp_kernel({"a": 1}, [0, 1], tau_s=3.0)


# ------------------------------------------------------------------------------ post-processing (spec 7.6)
def test_grad_norm_clipping_matches_clip_grad_norm_by_hand():
    """torch.nn.utils.clip_grad_norm_(params, 1): total = sqrt(sum of squares over ALL gradients),
    g <- g * (1 / (total + 1e-6)) if that coefficient < 1, else unchanged."""
    g1 = np.array([[3.0, 0.0], [0.0, 0.0]])
    g2 = np.array([[4.0], [0.0]])                            # total norm 5
    out = postprocess.clip_by_norm([g1, g2], 1.0)
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(out[0], g1 * coef, rtol=1e-15)
    np.testing.assert_allclose(out[1], g2 * coef, rtol=1e-15)
    assert np.sqrt((out[0] ** 2).sum() + (out[1] ** 2).sum()) == pytest.approx(1 - 2e-7, rel=1e-12)
    small = [np.array([[0.3, 0.4]])]                          # norm 0.5: coef 1/(0.5+1e-6) > 1 -> unchanged
    np.testing.assert_array_equal(postprocess.clip_by_norm(small, 1.0)[0], small[0])
    edge = [np.array([[0.6, 0.8]])]                           # norm exactly 1: coef = 1/(1+1e-6) < 1 -> scaled
    np.testing.assert_allclose(postprocess.clip_by_norm(edge, 1.0)[0], edge[0] / (1 + 1e-6), rtol=1e-15)
    with pytest.raises(ValueError, match="grad_clip_norm must be > 0"):
        postprocess.clip_by_norm([g1], 0.0)


def test_backward_grad_clip_norm_and_weight_clamp():
    case = make_case(4, 10, 2, [4, 5, 3], 5.0, 3.0, 1.0)
    res = losses.psp_kernel(case.trace, [0, 2])
    raw = backward(case.net, case.trace, "tsslbp", dL_da=res.dL_da)
    clipped = backward(case.net, case.trace, "tsslbp", dL_da=res.dL_da, grad_clip_norm=1.0)
    total = np.sqrt(sum((g ** 2).sum() for g in raw.dW))
    coef = min(1.0, 1.0 / (total + 1e-6))
    for r, c in zip(raw.dW, clipped.dW):
        np.testing.assert_allclose(c, r * coef, rtol=1e-14, atol=0)
    assert clipped.options["grad_clip_norm"] == 1.0
    ws = [np.array([[5.0, -4.5], [3.9, -4.0]]), np.array([[0.0], [-100.0]])]
    out = postprocess.clamp_weights(ws, 4.0)
    assert out is ws                                          # in place, like network.weight_clipper()
    np.testing.assert_array_equal(ws[0], [[4.0, -4.0], [3.9, -4.0]])
    np.testing.assert_array_equal(ws[1], [[0.0], [-4.0]])
    with pytest.raises(ValueError, match="weight_clamp must be > 0"):
        postprocess.clamp_weights(ws, -1.0)
