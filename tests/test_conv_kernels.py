"""Convolution and pooling kernels == their dense (Toeplitz) matrices, built independently (tests/oracles/conv.py).

Exactness: with dyadic values (small multiples of 1/8) every sum is exact in float64 whatever the
order, so every implementation must equal the matrix product bit for bit; the event-driven kernel
must also equal the dense event kernel bit for bit for ANY weights (same order of additions).
"""
import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from oracles.conv import conv_matrix, pool_matrix
from snnref import conv
from snnref.forward import project


@st.composite
def conv_shapes(draw):
    kH, kW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    pad = draw(st.integers(0, min(kH, kW) - 1))
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    assume(conv.out_size(H, kH, stride, pad) >= 1 and conv.out_size(W, kW, stride, pad) >= 1)
    return dict(Ci=draw(st.integers(1, 3)), Co=draw(st.integers(1, 3)), H=H, W=W, kH=kH, kW=kW,
                stride=stride, pad=pad, T=draw(st.integers(1, 3)), B=draw(st.integers(1, 3)),
                seed=draw(st.integers(0, 2**31 - 1)))


def _dyadic(rng, shape, density=0.7):
    return rng.integers(-8, 9, shape) / 8.0 * (rng.random(shape) < density)


def _flat(a):
    return a.reshape(a.shape[0], a.shape[1], -1)


@given(conv_shapes())
@example(dict(Ci=2, Co=3, H=5, W=4, kH=3, kW=2, stride=2, pad=1, T=2, B=2, seed=1))
def test_conv_forward_equals_toeplitz(s):
    rng = np.random.default_rng(s["seed"])
    W = _dyadic(rng, (s["Co"], s["Ci"], s["kH"], s["kW"]), 1.0)
    X = _dyadic(rng, (s["T"], s["B"], s["Ci"], s["H"], s["W"]))
    M, out_shape = conv_matrix(W, s["stride"], s["pad"], (s["Ci"], s["H"], s["W"]))
    want = _flat(X) @ M
    for fn in (conv.conv2d_reference, conv.conv2d_events, conv.conv2d):
        P = fn(X, W, s["stride"], s["pad"])
        assert P.shape == (s["T"], s["B"]) + out_shape
        np.testing.assert_array_equal(_flat(P), want, err_msg=fn.__name__)


@given(conv_shapes(), st.sampled_from([np.float64, np.float32]))
def test_event_conv_bit_identical_to_dense_event_kernel(s, dtype):
    """Spikes x arbitrary weights: same additions in the same order as project(X, M)."""
    rng = np.random.default_rng(s["seed"])
    W = rng.standard_normal((s["Co"], s["Ci"], s["kH"], s["kW"])).astype(dtype)
    X = (rng.random((s["T"], s["B"], s["Ci"], s["H"], s["W"])) < 0.5).astype(dtype)
    M, _ = conv_matrix(W.astype(np.float64), s["stride"], s["pad"], (s["Ci"], s["H"], s["W"]))
    want = project(np.ascontiguousarray(_flat(X)), M.astype(dtype))
    got = conv.conv2d_events(X, W, s["stride"], s["pad"])
    assert got.dtype == dtype
    np.testing.assert_array_equal(_flat(got), want)


@given(conv_shapes())
def test_conv_adjoints_equal_toeplitz_transpose(s):
    rng = np.random.default_rng(s["seed"])
    W = _dyadic(rng, (s["Co"], s["Ci"], s["kH"], s["kW"]), 1.0)
    X = _dyadic(rng, (s["T"], s["B"], s["Ci"], s["H"], s["W"]))
    M, out_shape = conv_matrix(W, s["stride"], s["pad"], (s["Ci"], s["H"], s["W"]))
    G = _dyadic(rng, (s["T"], s["B"]) + out_shape)
    hw = (s["H"], s["W"])
    want_E = _flat(G) @ M.T
    for fn in (conv.conv2d_transpose_reference, conv.conv2d_transpose):
        E = fn(G, W, s["stride"], s["pad"], hw)
        assert E.shape == X.shape
        np.testing.assert_array_equal(_flat(E), want_E, err_msg=fn.__name__)
    # weight gradient: dW[o,c,i,j] = sum over the Toeplitz entries holding W[o,c,i,j] of X^T G
    dM = _flat(X).reshape(-1, M.shape[0]).T @ _flat(G).reshape(-1, M.shape[1])
    want_dW = np.zeros(W.shape)
    for idx in np.ndindex(*W.shape):
        e = np.zeros(W.shape)
        e[idx] = 1.0
        want_dW[idx] = np.sum(dM * conv_matrix(e, s["stride"], s["pad"], (s["Ci"], s["H"], s["W"]))[0])
    for fn in (conv.conv2d_weight_grad_reference, conv.conv2d_weight_grad):
        dW = fn(X, G, s["stride"], s["pad"], W.shape[2:])
        np.testing.assert_array_equal(dW, want_dW, err_msg=fn.__name__)


@given(conv_shapes())
def test_fast_conv_matches_reference_with_real_values(s):
    """General real values: im2col + BLAS == loops up to summation order."""
    rng = np.random.default_rng(s["seed"])
    W = rng.standard_normal((s["Co"], s["Ci"], s["kH"], s["kW"]))
    X = rng.standard_normal((s["T"], s["B"], s["Ci"], s["H"], s["W"]))
    P = conv.conv2d_reference(X, W, s["stride"], s["pad"])
    np.testing.assert_allclose(conv.conv2d(X, W, s["stride"], s["pad"]), P, rtol=1e-12, atol=1e-12)
    G = rng.standard_normal(P.shape)
    hw = (s["H"], s["W"])
    np.testing.assert_allclose(conv.conv2d_transpose(G, W, s["stride"], s["pad"], hw),
                               conv.conv2d_transpose_reference(G, W, s["stride"], s["pad"], hw), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.conv2d_weight_grad(X, G, s["stride"], s["pad"], W.shape[2:]),
                               conv.conv2d_weight_grad_reference(X, G, s["stride"], s["pad"], W.shape[2:]),
                               rtol=1e-12, atol=1e-12)
    # float32 fast path stays float32 and close to float64
    P32 = conv.conv2d(X.astype(np.float32), W.astype(np.float32), s["stride"], s["pad"])
    assert P32.dtype == np.float32
    np.testing.assert_allclose(P32, P, rtol=1e-4, atol=1e-4)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**31 - 1),
       st.sampled_from([1.1, 1.25, 1.0, 0.5]))
def test_sum_pool_equals_matrix_and_adjoint(k, C, ho, wo, seed, weight):
    rng = np.random.default_rng(seed)
    in_shape = (C, ho * k, wo * k)
    X = _dyadic(rng, (2, 2) + in_shape)
    M, out_shape = pool_matrix(k, weight, in_shape)
    Q = conv.sum_pool(X, k, weight)
    assert Q.shape == (2, 2) + out_shape
    G = _dyadic(rng, Q.shape)
    E = conv.sum_pool_adjoint(G, k, weight)
    if weight != 1.1:              # dyadic: exact
        np.testing.assert_array_equal(_flat(Q), _flat(X) @ M)
        np.testing.assert_array_equal(_flat(E), _flat(G) @ M.T)
    else:
        np.testing.assert_allclose(_flat(Q), _flat(X) @ M, rtol=1e-15, atol=1e-15)
        np.testing.assert_allclose(_flat(E), _flat(G) @ M.T, rtol=1e-15, atol=1e-15)
    # dot-product test of the adjoint pair with real values
    Xr, Gr = rng.standard_normal(X.shape), rng.standard_normal(Q.shape)
    lhs = np.vdot(conv.sum_pool(Xr, k, weight), Gr)
    rhs = np.vdot(Xr, conv.sum_pool_adjoint(Gr, k, weight))
    assert np.isclose(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_pool_gradient_finite_differences():
    """d/dX of L = sum(c * sum_pool(X)) is sum_pool_adjoint(c), checked by central differences."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1, 1, 2, 4, 6))
    c = rng.standard_normal((1, 1, 2, 2, 3))
    grad = conv.sum_pool_adjoint(c, 2, 1.1)
    h = 1e-6
    for idx in np.ndindex(*X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[idx] += h
        Xm[idx] -= h
        fd = (np.sum(c * conv.sum_pool(Xp, 2, 1.1)) - np.sum(c * conv.sum_pool(Xm, 2, 1.1))) / (2 * h)
        assert abs(fd - grad[idx]) < 1e-8


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_dtypes_preserved(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 2, 2, 6, 6)).astype(dtype)
    W = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    P = conv.conv2d(X, W, 1, 1)
    assert P.dtype == dtype and P.flags.c_contiguous
    assert conv.conv2d_transpose(P, W, 1, 1, (6, 6)).dtype == dtype
    assert conv.conv2d_weight_grad(X, P, 1, 1, (3, 3)).dtype == dtype
    assert conv.sum_pool(X, 2, 1.1).dtype == dtype
    assert conv.sum_pool_adjoint(conv.sum_pool(X, 2, 1.1), 2, 1.1).dtype == dtype
