r"""Connection kernels of convolutional networks: 2-D convolution, sum pooling, their adjoints.

Shapes (time-major, one time step is one image): an input X of shape (T, B, C_in, H, W), a weight
W of shape (C_out, C_in, kH, kW) (PyTorch's layout), stride s and zero padding p give the output
P of shape (T, B, C_out, H_out, W_out), H_out = (H + 2p - kH) // s + 1 (same for W)::

    P[t, b, o, y, x] = sum_{c, i, j} W[o, c, i, j] * X[t, b, c, s*y + i - p, s*x + j - p]     (1)

(a cross-correlation, as PyTorch's conv2d; terms outside the image are zero padding). The same
weights act at every time step. Its two adjoints, used by every backward rule (spec 4.4)::

    E[t, b, c, h, w] = sum_{o, i, j: h = s*y + i - p, w = s*x + j - p} W[o, c, i, j] G[t, b, o, y, x]   (2)
    dW[o, c, i, j]   = sum_{t, b, y, x} X[t, b, c, s*y + i - p, s*x + j - p] G[t, b, o, y, x]          (3)

(2) is the back-projection (transposed convolution) E = M^T G and (3) the weight gradient of the
dense "Toeplitz" matrix M with P = M X (flattened channel-major): a convolution IS this sparse,
weight-shared dense layer, which is how the tests prove it.

TSSL-BP sum pooling (spec 2.2, A31): non-spiking, window = stride = k, every weight w (1.1)::

    Q[t, b, c, y, x] = sum_{i, j < k} w * X[t, b, c, k*y + i, k*x + j]                             (4)
    E[t, b, c, h, w'] = w * G[t, b, c, h // k, w' // k]                                              (5)

Implementations
---------------
* Reference loops (readable transcriptions of (1)-(3), one output element at a time):
  :func:`conv2d_reference`, :func:`conv2d_transpose_reference`, :func:`conv2d_weight_grad_reference`.
* Event-driven projection :func:`conv2d_events` for spike inputs: each non-zero input element
  scatters into the outputs it reaches, so the work is proportional to the number of input
  spikes. Per output element the terms are added in increasing flattened input index (c, h, w),
  exactly the order of the dense event kernel :func:`snnref.forward.project` on the Toeplitz
  matrix, so the two agree bit for bit.
* Fast path (:func:`conv2d`, :func:`conv2d_transpose`, :func:`conv2d_weight_grad`) for real-valued
  inputs (TSSL-BP PSP traces): im2col (a loop kernel) + one BLAS product in the compute dtype.
  It equals the reference up to the summation order of BLAS (tested).

Every kernel takes validated, C-contiguous arrays of one dtype (see :mod:`snnref.layers`).
"""
import numpy as np

from ._jit import kernel, parallel_kernel, prange

__all__ = [
    "out_size", "conv2d_reference", "conv2d_transpose_reference", "conv2d_weight_grad_reference",
    "conv2d_events", "conv2d", "conv2d_transpose", "conv2d_weight_grad", "sum_pool", "sum_pool_adjoint",
]


def out_size(n, k, stride, padding):
    """Output length (n + 2 padding - k) // stride + 1 of a convolution along one axis (may be < 1)."""
    return (n + 2 * padding - k) // stride + 1


@kernel
def _tap_in(y, i, stride, pad, n):
    """The input position s y + i - p that output position y reads through kernel tap i along one
    axis, or -1 if it lies in the padding (outside [0, n))."""
    h = stride * y + i - pad
    return h if 0 <= h < n else -1


@kernel
def _tap_out(h, i, stride, pad, n_out):
    """The output position y that reads input position h through kernel tap i (s y + i - p = h), or -1
    if there is none (h + p - i not a non-negative multiple of s below s n_out)."""
    ny = h + pad - i
    if ny < 0 or ny % stride != 0 or ny // stride >= n_out:
        return -1
    return ny // stride


# ------------------------------------------------------------------------------ reference loops
@parallel_kernel
def _conv_ref_kernel(X, W, stride, pad, P):
    T, B, Ci, H, Wd = X.shape
    Co, _, kH, kW = W.shape
    Ho, Wo = P.shape[3], P.shape[4]
    for b in prange(B):
        for t in range(T):
            for o in range(Co):
                for y in range(Ho):
                    for x in range(Wo):
                        acc = 0.0
                        for c in range(Ci):
                            for i in range(kH):
                                h = _tap_in(y, i, stride, pad, H)
                                if h < 0:
                                    continue
                                for j in range(kW):
                                    w = _tap_in(x, j, stride, pad, Wd)
                                    if w < 0:
                                        continue
                                    acc += W[o, c, i, j] * X[t, b, c, h, w]
                        P[t, b, o, y, x] = acc


@parallel_kernel
def _conv_transpose_ref_kernel(G, W, stride, pad, E):
    T, B, Co, Ho, Wo = G.shape
    _, Ci, kH, kW = W.shape
    H, Wd = E.shape[3], E.shape[4]
    for b in prange(B):
        for t in range(T):
            for c in range(Ci):
                for h in range(H):
                    for w in range(Wd):
                        acc = 0.0
                        for o in range(Co):
                            for i in range(kH):
                                y = _tap_out(h, i, stride, pad, Ho)
                                if y < 0:
                                    continue
                                for j in range(kW):
                                    x = _tap_out(w, j, stride, pad, Wo)
                                    if x < 0:
                                        continue
                                    acc += W[o, c, i, j] * G[t, b, o, y, x]
                        E[t, b, c, h, w] = acc


@parallel_kernel
def _conv_wgrad_ref_kernel(X, G, stride, pad, dW):
    T, B, Ci, H, Wd = X.shape
    Co, Ho, Wo = G.shape[2], G.shape[3], G.shape[4]
    kH, kW = dW.shape[2], dW.shape[3]
    for o in prange(Co):
        for c in range(Ci):
            for i in range(kH):
                for j in range(kW):
                    acc = 0.0
                    for t in range(T):
                        for b in range(B):
                            for y in range(Ho):
                                h = _tap_in(y, i, stride, pad, H)
                                if h < 0:
                                    continue
                                for x in range(Wo):
                                    w = _tap_in(x, j, stride, pad, Wd)
                                    if w < 0:
                                        continue
                                    acc += X[t, b, c, h, w] * G[t, b, o, y, x]
                    dW[o, c, i, j] = acc


def _alloc_out(X, W, stride, pad):
    T, B, _, H, Wd = X.shape
    Co, _, kH, kW = W.shape
    return np.zeros((T, B, Co, out_size(H, kH, stride, pad), out_size(Wd, kW, stride, pad)), dtype=X.dtype)


def conv2d_reference(X, W, stride, pad):
    """Eq. (1) by a plain loop over output elements (readable reference; float64 accumulator)."""
    P = _alloc_out(X, W, stride, pad)
    _conv_ref_kernel(X, W, stride, pad, P)
    return P


def conv2d_transpose_reference(G, W, stride, pad, in_hw):
    """Eq. (2), the back-projection E = M^T G, by a loop over input elements. ``in_hw`` = (H, W)."""
    T, B = G.shape[:2]
    E = np.zeros((T, B, W.shape[1], in_hw[0], in_hw[1]), dtype=G.dtype)
    _conv_transpose_ref_kernel(G, W, stride, pad, E)
    return E


def conv2d_weight_grad_reference(X, G, stride, pad, kernel_hw):
    """Eq. (3), dW summed over time, batch and positions, by a loop over weight elements."""
    dW = np.zeros((G.shape[2], X.shape[2], kernel_hw[0], kernel_hw[1]), dtype=X.dtype)
    _conv_wgrad_ref_kernel(X, G, stride, pad, dW)
    return dW


# ------------------------------------------------------------------------------ event-driven
@parallel_kernel
def _conv_events_kernel(X, W, stride, pad, P):
    T, B, Ci, H, Wd = X.shape
    Co, _, kH, kW = W.shape
    Ho, Wo = P.shape[3], P.shape[4]
    for b in prange(B):
        for t in range(T):
            for c in range(Ci):
                for h in range(H):
                    for w in range(Wd):
                        v = X[t, b, c, h, w]
                        if v == 0.0:
                            continue
                        for i in range(kH):
                            y = _tap_out(h, i, stride, pad, Ho)
                            if y < 0:
                                continue
                            for j in range(kW):
                                x = _tap_out(w, j, stride, pad, Wo)
                                if x < 0:
                                    continue
                                for o in range(Co):
                                    P[t, b, o, y, x] += v * W[o, c, i, j]


def conv2d_events(X, W, stride, pad):
    """Eq. (1) driven by the non-zero inputs (spikes): cost ~ nnz(X) * C_out * kH * kW.

    Bit-identical to :func:`snnref.forward.project` with the dense Toeplitz matrix (same order of
    the additions per output element).
    """
    P = _alloc_out(X, W, stride, pad)
    _conv_events_kernel(X, W, stride, pad, P)
    return P


# ------------------------------------------------------------------------------ im2col fast path
@parallel_kernel
def _im2col_kernel(X, kH, kW, stride, pad, Ho, Wo, cols):
    """cols[((t B + b) Ho + y) Wo + x, (c kH + i) kW + j] = X[t, b, c, s y + i - p, s x + j - p] (0 outside)."""
    T, B, Ci, H, Wd = X.shape
    for tb in prange(T * B):
        t = tb // B
        b = tb % B
        for y in range(Ho):
            for x in range(Wo):
                r = (tb * Ho + y) * Wo + x
                for c in range(Ci):
                    for i in range(kH):
                        h = _tap_in(y, i, stride, pad, H)
                        for j in range(kW):
                            w = _tap_in(x, j, stride, pad, Wd)
                            col = (c * kH + i) * kW + j
                            if h < 0 or w < 0:
                                cols[r, col] = 0.0
                            else:
                                cols[r, col] = X[t, b, c, h, w]


@parallel_kernel
def _col2im_kernel(cols, kH, kW, stride, pad, Ho, Wo, E):
    """Adjoint of :func:`_im2col_kernel`: E[t, b, c, h, w] += cols[row, col] over every (row, col) mapping there."""
    T, B, Ci, H, Wd = E.shape
    for tb in prange(T * B):
        t = tb // B
        b = tb % B
        for y in range(Ho):
            for x in range(Wo):
                r = (tb * Ho + y) * Wo + x
                for c in range(Ci):
                    for i in range(kH):
                        h = _tap_in(y, i, stride, pad, H)
                        if h < 0:
                            continue
                        for j in range(kW):
                            w = _tap_in(x, j, stride, pad, Wd)
                            if w < 0:
                                continue
                            E[t, b, c, h, w] += cols[r, (c * kH + i) * kW + j]


def _im2col(X, kH, kW, stride, pad):
    T, B, Ci, H, Wd = X.shape
    Ho, Wo = out_size(H, kH, stride, pad), out_size(Wd, kW, stride, pad)
    cols = np.empty((T * B * Ho * Wo, Ci * kH * kW), dtype=X.dtype)
    _im2col_kernel(X, kH, kW, stride, pad, Ho, Wo, cols)
    return cols, Ho, Wo


def conv2d(X, W, stride, pad):
    """Eq. (1) by im2col + one BLAS product (fast path for real-valued inputs)."""
    T, B = X.shape[:2]
    Co, _, kH, kW = W.shape
    cols, Ho, Wo = _im2col(X, kH, kW, stride, pad)
    prod = cols @ W.reshape(Co, -1).T                          # (T B Ho Wo, Co)
    return np.ascontiguousarray(prod.reshape(T, B, Ho, Wo, Co).transpose(0, 1, 4, 2, 3))


def _channels_last(G):
    T, B, Co, Ho, Wo = G.shape
    return np.ascontiguousarray(G.transpose(0, 1, 3, 4, 2)).reshape(T * B * Ho * Wo, Co)


def conv2d_transpose(G, W, stride, pad, in_hw):
    """Eq. (2) by one BLAS product + col2im (fast path)."""
    T, B, Co, Ho, Wo = G.shape
    _, Ci, kH, kW = W.shape
    cols = _channels_last(G) @ W.reshape(Co, -1)               # (T B Ho Wo, Ci kH kW)
    E = np.zeros((T, B, Ci, in_hw[0], in_hw[1]), dtype=G.dtype)
    _col2im_kernel(np.ascontiguousarray(cols), kH, kW, stride, pad, Ho, Wo, E)
    return E


def conv2d_weight_grad(X, G, stride, pad, kernel_hw):
    """Eq. (3) by im2col + one BLAS product (fast path)."""
    Co, Ci = G.shape[2], X.shape[2]
    cols, _, _ = _im2col(X, kernel_hw[0], kernel_hw[1], stride, pad)
    return np.ascontiguousarray((_channels_last(G).T @ cols).reshape(Co, Ci, kernel_hw[0], kernel_hw[1]))


# ------------------------------------------------------------------------------ sum pooling
@parallel_kernel
def _sum_pool_kernel(X, k, weight, Q):
    T, B, C, Ho, Wo = Q.shape
    for b in prange(B):
        for t in range(T):
            for c in range(C):
                for y in range(Ho):
                    for x in range(Wo):
                        acc = 0.0
                        for i in range(k):
                            for j in range(k):
                                acc += weight * X[t, b, c, k * y + i, k * x + j]
                        Q[t, b, c, y, x] = acc


@parallel_kernel
def _sum_pool_adjoint_kernel(G, k, weight, E):
    T, B, C, H, Wd = E.shape
    for b in prange(B):
        for t in range(T):
            for c in range(C):
                for h in range(H):
                    for w in range(Wd):
                        E[t, b, c, h, w] = weight * G[t, b, c, h // k, w // k]


def sum_pool(X, k, weight):
    """Eq. (4): non-overlapping k x k sum pooling with every weight ``weight`` (H, W multiples of k)."""
    T, B, C, H, Wd = X.shape
    Q = np.empty((T, B, C, H // k, Wd // k), dtype=X.dtype)
    _sum_pool_kernel(X, k, X.dtype.type(weight), Q)
    return Q


def sum_pool_adjoint(G, k, weight):
    """Eq. (5): the adjoint of :func:`sum_pool` (the pooled gradient times ``weight`` spread to its window)."""
    T, B, C, Ho, Wo = G.shape
    E = np.empty((T, B, C, Ho * k, Wo * k), dtype=G.dtype)
    _sum_pool_adjoint_kernel(G, k, G.dtype.type(weight), E)
    return E
