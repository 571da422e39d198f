"""snnref.encoders: latency (spec 6.1, A19), static (spec 6.3), rate."""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from snnref.encoders import latency, latency_events, latency_times, rate, static


def _all_intensities():
    """(1, 784) uint8 image holding every intensity 0..255 (then repeated)."""
    return np.resize(np.arange(256, dtype=np.uint8), 784)[None, :]


def naive_latency_step(k, max_t=0, min_t=24):
    """Independent float32 transcription of the official latency code for one uint8 intensity k (None = no spike)."""
    if k == 0:
        return None
    x = np.float32(k) / np.float32(255)  # ToTensor
    v = np.float32(np.float32(max_t - min_t) * x)
    v = np.float32(v + np.float32(min_t))
    return int(v)  # Tensor.int(): truncation toward zero


def naive_latency(images_u8, T, max_t=0, min_t=24):
    B = images_u8.shape[0]
    flat = images_u8.reshape(B, -1)
    out = np.zeros((T, B, 784))
    for b in range(B):
        for n in range(784):
            t = naive_latency_step(int(flat[b, n]), max_t, min_t)
            if t is not None and 0 <= t < T:
                out[t, b, n] = 1.0
    return out


# --------------------------------------------------------------------------------------------- latency
def test_latency_hand_cases():
    # float inputs: x = 1 -> v = 0 -> t = 0; x = 0.5 -> v = -24*0.5 + 24 = 12 exactly in float32 -> t = 12
    img = np.zeros((1, 784))
    img[0, :3] = [1.0, 0.5, 0.25]
    np.testing.assert_array_equal(latency_times(img)[0, :4], [0, 12, 18, -1])
    # uint8: 255 -> 0; 1 -> 24*254/255 = 23.9 -> 23; 128 -> 24*127/255 = 11.95 -> 11; 127 -> 24*128/255 = 12.05 -> 12
    u8 = np.zeros((1, 28, 28), np.uint8)
    u8[0, 0, :5] = [255, 1, 128, 127, 0]
    np.testing.assert_array_equal(latency_times(u8)[0, :5], [0, 23, 11, 12, -1])
    S = latency(u8, T=30)
    assert S.shape == (30, 1, 784) and S.dtype == np.float64 and S.flags.c_contiguous
    assert S[0, 0, 0] == 1 and S[23, 0, 1] == 1 and S[11, 0, 2] == 1 and S[12, 0, 3] == 1
    assert S.sum() == 4  # zero pixels never spike


def test_latency_all_256_intensities():
    img = _all_intensities()
    t = latency_times(img)[0, :256]
    for k in range(256):
        naive = naive_latency_step(k)
        assert t[k] == (-1 if naive is None else naive), k
        if k:  # default timings: float32 equals the exact floor(24 (255 - k) / 255) (spec 6.1 rounding remark)
            assert t[k] == math.floor(Fraction(24 * (255 - k), 255)), k
    assert t[85] == 16 and t[170] == 8  # exact integers 24*170/255 and 24*85/255


@pytest.mark.parametrize("max_t,min_t", [(0, 24), (5, 40), (3.7, 0.2), (-1, 0), (10, 10)])
def test_latency_matches_naive(max_t, min_t):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, size=(3, 28, 28)).astype(np.uint8)
    imgs[0, 0, :256 // 28 + 1] = 0
    imgs[1].flat[:256] = np.arange(256)
    S = latency(imgs, T=30, max_input_timing=max_t, min_input_timing=min_t)
    np.testing.assert_array_equal(S, naive_latency(imgs, 30, max_t, min_t))


def test_latency_truncation_toward_zero():
    # max=-1, min=0: v = -x; for 0 < x < 1, trunc(v) = 0 (spike at step 0, as Tensor.int()); x = 1 -> -1 -> no spike
    img = np.zeros((1, 784), np.uint8)
    img[0, :2] = [100, 255]
    t = latency_times(img, max_input_timing=-1, min_input_timing=0)
    np.testing.assert_array_equal(t[0, :3], [0, -1, -1])
    assert latency(img, T=5, max_input_timing=-1, min_input_timing=0).sum() == 1


@given(arrays(np.uint8, st.tuples(st.integers(1, 3), st.just(784))), st.integers(1, 30))
def test_latency_properties(imgs, T):
    S = latency(imgs, T=T)
    t = latency_times(imgs)
    # at most one spike per input; exactly one for non-zero pixels whose step is < T
    np.testing.assert_array_equal(S.sum(axis=0), ((imgs > 0) & (t < T)).astype(float))
    # brighter pixels spike no later
    order = np.argsort(imgs[0], kind="stable")
    nz = order[imgs[0][order] > 0]
    assert np.all(np.diff(t[0][nz]) <= 0)
    # event form rebuilds the raster
    tt, bb, nn = latency_events(imgs, T=T)
    R = np.zeros_like(S)
    R[tt, bb, nn] = 1
    np.testing.assert_array_equal(R, S)
    assert np.all(np.diff(tt * 10**6 + bb * 1000 + nn) > 0)  # time-major order
    # float32 output, same spikes
    np.testing.assert_array_equal(latency(imgs, T=T, dtype=np.float32), S.astype(np.float32))
    # (B, 28, 28) and float-in-[0,1] forms agree (float input = k/255 in float32)
    np.testing.assert_array_equal(latency(imgs.reshape(-1, 28, 28), T=T), S)
    np.testing.assert_array_equal(latency(imgs.astype(np.float32) / np.float32(255), T=T), S)


def test_latency_drops_late_spikes():
    img = _all_intensities()
    S = latency(img, T=10)
    t = latency_times(img)
    assert S.sum() == np.count_nonzero((t >= 0) & (t < 10))
    assert latency(img, T=1).sum() == np.count_nonzero(t == 0)


# --------------------------------------------------------------------------------------------- static
def test_static_values():
    img = _all_intensities()
    X = static(img, T=5)
    assert X.shape == (5, 1, 784) and X.dtype == np.float64 and X.flags.c_contiguous
    for k in (0, 1, 128, 255):
        x32 = np.float32(k) / np.float32(255)
        expected = np.float32(np.float32(x32 - np.float32(0.1307)) / np.float32(0.3081))  # ToTensor + Normalize
        assert np.all(X[:, 0, k] == np.float64(expected))
    np.testing.assert_array_equal(X, np.broadcast_to(X[0], X.shape))
    X64 = static(img, T=2, torch_float32=False)
    np.testing.assert_allclose(X64[1, 0, :256], (np.arange(256) / 255 - 0.1307) / 0.3081, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(X64, static(img, T=2), rtol=0, atol=1e-6)  # float32 rounding only
    X32 = static(img.reshape(1, 784), T=3, dtype=np.float32, mean=0.5, std=2.0)
    assert X32.dtype == np.float32
    np.testing.assert_array_equal(X32[2, 0, [0, 255]], np.float32([-0.25, 0.25]))


# --------------------------------------------------------------------------------------------- rate
def test_rate_statistics_and_reproducibility():
    img = np.full((3, 784), 255, np.uint8)
    img[2] = 51  # x = 0.2
    S = rate(img, T=20, max_rate=0.3, rng=7)
    assert S.shape == (20, 3, 784) and S.dtype == np.float64
    # rows 0-1: Bernoulli(0.3), n = 20*2*784 = 31360, std of the mean = sqrt(0.3*0.7/n) = 2.6e-3; allow 5 std
    n = 20 * 2 * 784
    assert abs(S[:, :2].mean() - 0.3) < 5 * math.sqrt(0.3 * 0.7 / n)
    # row 2: p = 0.2*0.3 = 0.06, n = 15680, std = 1.9e-3
    assert abs(S[:, 2].mean() - 0.06) < 5 * math.sqrt(0.06 * 0.94 / (n / 2))
    np.testing.assert_array_equal(S, rate(img, T=20, max_rate=0.3, rng=7))
    np.testing.assert_array_equal(S, rate(img, T=20, max_rate=0.3, rng=np.random.default_rng(7)))
    assert not np.array_equal(S, rate(img, T=20, max_rate=0.3, rng=8))
    # documented draw: u = default_rng(seed).random((T, B, 784)); S = u < x * max_rate
    u = np.random.default_rng(7).random((20, 3, 784))
    np.testing.assert_array_equal(S, (u < (img / 255.0) * 0.3).astype(float))


def test_rate_extremes():
    img = np.zeros((2, 28, 28), np.uint8)
    img[0] = 255
    S = rate(img, T=4, rng=0, dtype=np.float32)
    assert S.dtype == np.float32
    assert S[:, 0].all() and not S[:, 1].any()  # p = 1 and p = 0
    assert not rate(img, T=4, max_rate=0.0, rng=0).any()


# --------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("fn", [latency, static, lambda im, T=3: rate(im, T, rng=0)])
def test_input_validation(fn):
    with pytest.raises(ValueError, match=r"images must have shape \(B, 28, 28\) or \(B, 784\); got \(28, 28\).*images\[None\]"):
        fn(np.zeros((28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"empty batch"):
        fn(np.zeros((0, 784), np.uint8))
    with pytest.raises(TypeError, match=r"images must be uint8 \(0..255\) or floating in \[0, 1\]; got dtype int64"):
        fn(np.zeros((1, 784), np.int64))
    with pytest.raises(ValueError, match=r"float images must lie in \[0, 1\]; got values in \[0.0, 255.0\]"):
        fn(np.linspace(0.0, 255.0, 784)[None])
    bad = np.zeros((1, 784))
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match=r"images has 1 non-finite"):
        fn(bad)
    with pytest.raises(ValueError, match="T must be >= 1 time step; got 0"):
        fn(np.zeros((1, 784), np.uint8), T=0)
    with pytest.raises(TypeError, match="T must be an integer number of time steps; got 2.5"):
        fn(np.zeros((1, 784), np.uint8), T=2.5)


def test_parameter_validation():
    img = np.zeros((1, 784), np.uint8)
    with pytest.raises(TypeError, match="dtype must be float64 or float32"):
        latency(img, dtype=np.int32)
    with pytest.raises(ValueError, match=r"std must be in \(0, inf\]; got 0.0"):
        static(img, std=0.0)
    with pytest.raises(ValueError, match=r"max_rate must be in \[0, 1\]; got 2.0"):
        rate(img, 3, max_rate=2.0)
    with pytest.raises(ValueError, match="min_input_timing must be finite"):
        latency(img, min_input_timing=float("inf"))
