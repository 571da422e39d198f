"""Gradient post-processing (snnref.postprocess, spec 3.6): copies by default, in place on request
(what backward does with the rule's own new arrays), the same values either way."""
import numpy as np
import pytest

from snnref import Network, NeuronModel, backward, forward
from snnref.postprocess import clip_by_value, nan_to_zero


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_to_zero_and_clip_copy_and_inplace(dtype):
    g = np.array([[np.nan, -3.0, 0.5], [np.inf, -np.inf, 2.0]], dtype=dtype)
    want_nan = np.array([[0.0, -3.0, 0.5], [np.inf, -np.inf, 2.0]], dtype=dtype)
    want_clip = np.array([[0.0, -1.5, 0.5], [1.5, -1.5, 1.5]], dtype=dtype)
    keep = g.copy()
    a = nan_to_zero([g])[0]
    np.testing.assert_array_equal(a, want_nan)
    np.testing.assert_array_equal(g, keep)                  # the input is untouched
    b = clip_by_value([a], 1.5)[0]
    np.testing.assert_array_equal(b, want_clip)
    np.testing.assert_array_equal(a, want_nan)
    c = nan_to_zero([g], inplace=True)[0]
    assert c is g and c.dtype == dtype
    np.testing.assert_array_equal(g, want_nan)
    d = clip_by_value([g], 1.5, inplace=True)[0]
    assert d is g
    np.testing.assert_array_equal(g, want_clip)
    with pytest.raises(ValueError, match="must be > 0"):
        clip_by_value([g], 0.0, inplace=True)


def test_backward_clips_its_own_arrays(rng):
    m = NeuronModel.antlr(0.9, 0.9, T=12)
    net = Network([rng.normal(0.8, 1.0, (6, 5)), rng.normal(0.5, 1.0, (5, 3))], model=m)
    trace = forward(net, (rng.random((12, 2, 6)) < 0.5).astype(float))
    dS = rng.normal(size=(12, 2, 3)) * 5
    plain = backward(net, trace, "act_srm", dS)
    clip = 0.5 * max(float(np.abs(w).max()) for w in plain.dW)
    clipped = backward(net, trace, "act_srm", dS, grad_clip_value=clip, nan_to_zero=True)
    for a, b in zip(plain.dW + plain.db, clipped.dW + clipped.db):
        np.testing.assert_array_equal(b, np.clip(a, -clip, clip))
    assert any(np.any(np.abs(a) > clip) for a in plain.dW)


def test_global_norm_and_clip_by_norm(rng):
    """The global norm sums float64 squares of every array (float32 arrays too); clip_by_norm scales by
    max_norm / (norm + eps) only above max_norm (as torch's clip_grad_norm_)."""
    from snnref.postprocess import clip_by_norm, global_norm

    gs = [rng.normal(size=(30, 7)).astype(np.float32), rng.normal(size=5), rng.normal(size=(2, 3, 4))]
    want = np.sqrt(sum(np.sum(np.asarray(g, dtype=np.float64) ** 2) for g in gs))
    assert global_norm(gs) == pytest.approx(want, rel=1e-14)
    assert global_norm([np.array([3, 4])]) == 5.0                     # integer arrays are accepted
    clipped = clip_by_norm(gs, 1.0)
    assert global_norm(clipped) == pytest.approx(1.0 * want / (want + 1e-6), rel=1e-6)
    assert all(c.dtype == g.dtype for c, g in zip(clipped, gs))
    same = clip_by_norm(gs, 10 * want)
    assert all(np.array_equal(c, g) and c is not g for c, g in zip(same, gs))
