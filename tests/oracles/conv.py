"""Independent dense matrices of convolution, sum pooling and flatten, built by plain Python loops
from their definitions (spec 2.2, 4.4); no snnref code. No tests here.

A connection maps the flattened (channel-major) input of one frame to the flattened output:
out_flat = in_flat @ M, M of shape (N_in, N_out), as a dense snnref weight matrix.
"""
import numpy as np


def conv_matrix(W, stride, pad, in_shape):
    """M[(c, h, w), (o, y, x)] = W[o, c, i, j] where h = stride*y + i - pad, w = stride*x + j - pad."""
    Co, Ci, kH, kW = W.shape
    C, H, Wd = in_shape
    assert C == Ci
    Ho = (H + 2 * pad - kH) // stride + 1
    Wo = (Wd + 2 * pad - kW) // stride + 1
    M = np.zeros((C * H * Wd, Co * Ho * Wo))
    for o in range(Co):
        for y in range(Ho):
            for x in range(Wo):
                col = (o * Ho + y) * Wo + x
                for c in range(Ci):
                    for i in range(kH):
                        for j in range(kW):
                            h, w = stride * y + i - pad, stride * x + j - pad
                            if 0 <= h < H and 0 <= w < Wd:
                                M[(c * H + h) * Wd + w, col] = W[o, c, i, j]
    return M, (Co, Ho, Wo)


def pool_matrix(k, weight, in_shape):
    """Non-overlapping k x k sum pooling with every weight ``weight``."""
    C, H, Wd = in_shape
    Ho, Wo = H // k, Wd // k
    M = np.zeros((C * H * Wd, C * Ho * Wo))
    for c in range(C):
        for h in range(Ho * k):
            for w in range(Wo * k):
                M[(c * H + h) * Wd + w, (c * Ho + h // k) * Wo + w // k] = weight
    return M, (C, Ho, Wo)


def conv_weight_from_dense_grad(dM, W_shape, stride, pad, in_shape, pre=None):
    """Chain rule through the linear map W -> pre @ conv_matrix(W): dW[e] = <dM, pre @ conv_matrix(e)>."""
    dW = np.zeros(W_shape)
    for idx in np.ndindex(*W_shape):
        e = np.zeros(W_shape)
        e[idx] = 1.0
        M, _ = conv_matrix(e, stride, pad, in_shape)
        if pre is not None:
            M = pre @ M
        dW[idx] = float(np.sum(dM * M))
    return dW
