"""Explicit spike-sequence targets of :func:`snnref.losses.psp_kernel` (a target raster filtered by the
official synaptic loop, once or twice) against the literal loops of tests/oracles/tsslbp.py."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snnref import backward, losses
from strategies import make_tsslbp_case as make_case
from tolerances import CHAIN, FEW_OPS, ORACLE, ULPS, ULPS_ABS


def _naive_target_trace(d, tau_s, passes):
    """Per (b, k): the raster filtered ``passes`` times by the official syn loop (tests/oracles/tsslbp.py)."""
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
    np.testing.assert_allclose(res.info["target"], ahat, rtol=CHAIN, atol=ULPS)
    np.testing.assert_allclose(res.dL_da, a - ahat, rtol=CHAIN, atol=FEW_OPS)
    assert res.value == pytest.approx(0.5 * np.sum((a - ahat) ** 2), rel=ORACLE)
    np.testing.assert_allclose(res.info["per_sample"], 0.5 * ((a - ahat) ** 2).sum(axis=(0, 2)), rtol=ORACLE)
    np.testing.assert_array_equal(res.info["target_spikes"], d)


def test_target_single_pass_zero_at_own_trace_and_labels_equivalence():
    """An output firing exactly d: zero loss with single_pass (its trace is dhat), non-zero with the
    official double filtering; a target raster built from labels reproduces the labels loss."""
    T, B, N, tau_s = 10, 2, 3, 3.0
    rng = np.random.default_rng(1)
    d = (rng.random((T, B, N)) < 0.4).astype(float)
    a = _naive_target_trace(d, tau_s, 1)                        # the trace of the target spikes
    r1 = losses.psp_kernel(a, target=d, single_pass=True, tau_s=tau_s)
    assert r1.value < 100 * ULPS ** 2 and np.abs(r1.dL_da).max() < ULPS      # zero up to rounding
    assert losses.psp_kernel(a, target=d, tau_s=tau_s).value > 0.1
    labels = np.array([2, 0])
    pattern = np.tile([0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 1).astype(float)
    tgt = np.zeros((T, B, N))
    tgt[:, np.arange(B), labels] = pattern[:, None]
    for single in (False, True):
        x = rng.random((T, B, N))
        by_target = losses.psp_kernel(x, target=tgt, single_pass=single, tau_s=tau_s)
        by_labels = losses.psp_kernel(x, labels, single_pass=single, tau_s=tau_s)
        np.testing.assert_allclose(by_target.dL_da, by_labels.dL_da, rtol=ULPS, atol=ULPS_ABS)


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
