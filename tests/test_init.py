"""Weight / bias initialisation (snnref/init.py, spec 7.5, 7.6, A10, A35).

Distribution checks use a fixed seed, so they are deterministic; the thresholds are chosen so
that a correct sampler would fail them with probability < 1e-3 for a random seed:
- Kolmogorov-Smirnov p-value > 1e-3 against the exact target distribution;
- uniform: every |w| <= bound, and max |w| > bound (1 - 1e-3): for n i.i.d. U(-b, b) draws,
  P(max |w| < b (1 - d)) = (1 - d)^n, which is exp(-n d) < 1e-50 for n = 120000, d = 1e-3;
- sample standard deviation within 6 standard errors (s.e. of s is about sigma / sqrt(2 n)).
A wrong scale (e.g. sqrt(1/fan_in) instead of sqrt(2/fan_in), or bound sqrt(3/fan_in) instead of
1/sqrt(fan_in)) is off by > 20 % and fails every one of these checks.
"""
import math

import numpy as np
import pytest
from scipy import stats

from snnref.init import WEIGHT_INIT_SCHEMES, init_biases, init_weights

SIZES = [400, 300, 50]
P_MIN = 1e-3


def _check_std(sample, sigma):
    n = sample.size
    se = sigma / math.sqrt(2 * n)
    assert abs(sample.std() - sigma) < 6 * se, (sample.std(), sigma, se)
    assert abs(sample.mean()) < 6 * sigma / math.sqrt(n)


def test_torch_linear_is_uniform_with_bound_one_over_sqrt_fan_in():
    W = init_weights(SIZES, "torch_linear", rng=0)
    for w, fan_in in zip(W, SIZES[:-1]):
        b = 1.0 / math.sqrt(fan_in)
        w = w.ravel()
        assert np.all(np.abs(w) <= b)
        if w.size >= 100000:
            assert np.abs(w).max() > b * (1 - 1e-3)
        p = stats.kstest(w, stats.uniform(loc=-b, scale=2 * b).cdf).pvalue
        assert p > P_MIN, (fan_in, p)
        _check_std(w, b / math.sqrt(3))


def test_kaiming_normal_std_sqrt_two_over_fan_in():
    W = init_weights(SIZES, "kaiming_normal", rng=1)
    for w, fan_in in zip(W, SIZES[:-1]):
        sigma = math.sqrt(2.0 / fan_in)
        p = stats.kstest(w.ravel(), stats.norm(0.0, sigma).cdf).pvalue
        assert p > P_MIN, (fan_in, p)
        _check_std(w.ravel(), sigma)


def test_normal_with_std_and_scale():
    W = init_weights([200, 100], "normal", rng=2, std=0.3, scale=5.0)
    sigma = 0.3 * 5.0
    p = stats.kstest(W[0].ravel(), stats.norm(0.0, sigma).cdf).pvalue
    assert p > P_MIN
    _check_std(W[0].ravel(), sigma)


def test_ks_check_rejects_a_wrong_scale():
    # the statistical checks above have power: the kaiming sample is not uniform(+-1/sqrt(fan_in))
    # and not normal with std sqrt(1/fan_in)
    w = init_weights([400, 300], "kaiming_normal", rng=1)[0].ravel()
    assert stats.kstest(w, stats.norm(0.0, math.sqrt(1.0 / 400)).cdf).pvalue < 1e-10
    b = 1 / math.sqrt(400)
    assert stats.kstest(w, stats.uniform(loc=-b, scale=2 * b).cdf).pvalue < 1e-10


@pytest.mark.parametrize("scheme", WEIGHT_INIT_SCHEMES)
def test_shapes_dtype_and_reproducibility(scheme):
    std = 0.1 if scheme == "normal" else None
    sizes = [7, 5, 3, 2]
    W = init_weights(sizes, scheme, rng=42, std=std)
    assert [w.shape for w in W] == [(7, 5), (5, 3), (3, 2)]
    assert all(w.dtype == np.float64 and w.flags.c_contiguous for w in W)
    again = init_weights(sizes, scheme, rng=np.random.default_rng(42), std=std)
    for a, b in zip(W, again):
        np.testing.assert_array_equal(a, b)
    other = init_weights(sizes, scheme, rng=43, std=std)
    assert not np.array_equal(W[0], other[0])
    W32 = init_weights(sizes, scheme, rng=42, std=std, dtype="float32")
    for a, b in zip(W, W32):
        assert b.dtype == np.float32
        np.testing.assert_array_equal(b, a.astype(np.float32))   # rounded float64 draws


@pytest.mark.parametrize("scheme", WEIGHT_INIT_SCHEMES)
def test_scale_multiplies_the_draws(scheme):
    std = 0.1 if scheme == "normal" else None
    base = init_weights([6, 4, 3], scheme, rng=3, std=std)
    scaled = init_weights([6, 4, 3], scheme, rng=3, std=std, scale=5.0)
    for a, b in zip(base, scaled):
        np.testing.assert_array_equal(b, a * 5.0)


def test_generator_is_advanced_in_place():
    g = np.random.default_rng(0)
    a = init_weights([4, 3], rng=g)[0]
    b = init_weights([4, 3], rng=g)[0]
    assert not np.array_equal(a, b)


def test_init_biases():
    b = init_biases([784, 800, 10])
    assert [x.shape for x in b] == [(800,), (10,)]
    assert all(x.dtype == np.float64 and np.all(x == 0.0) for x in b)
    b = init_biases([3, 2], value=1.0, dtype=np.float32)
    assert b[0].dtype == np.float32
    np.testing.assert_array_equal(b[0], [1.0, 1.0])


def test_errors():
    with pytest.raises(ValueError, match=r"scheme must be one of \['kaiming_normal', 'normal', 'torch_linear'\]"):
        init_weights([3, 2], "xavier")
    with pytest.raises(ValueError, match="scheme='normal' requires std"):
        init_weights([3, 2], "normal")
    with pytest.raises(ValueError, match="std applies only to scheme='normal'"):
        init_weights([3, 2], "torch_linear", std=0.1)
    with pytest.raises(ValueError, match=r"std must be in \(0, inf\]"):
        init_weights([3, 2], "normal", std=0.0)
    with pytest.raises(ValueError, match=r"scale must be in \(0, inf\]; got -1.0"):
        init_weights([3, 2], scale=-1.0)
    with pytest.raises(ValueError, match="sizes must list at least 2 layers"):
        init_weights([3])
    with pytest.raises(ValueError, match=r"sizes\[1\] must be a positive integer"):
        init_weights([3, 0])
    with pytest.raises(ValueError, match=r"sizes\[0\] must be a positive integer"):
        init_biases([2.5, 3])
    with pytest.raises(TypeError, match="sizes must be a sequence of layer sizes"):
        init_weights(5)
    with pytest.raises(TypeError, match="rng must be None, an int seed or a numpy Generator"):
        init_weights([3, 2], rng="seed")
    with pytest.raises(ValueError, match="rng seed must be a non-negative integer"):
        init_weights([3, 2], rng=-1)
    with pytest.raises(TypeError, match="dtype must be float64 or float32"):
        init_weights([3, 2], dtype=np.int32)
    with pytest.raises(ValueError, match="value must be finite"):
        init_biases([3, 2], value=float("nan"))
