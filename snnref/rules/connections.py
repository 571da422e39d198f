r"""The connection step between layers, the one place where the rules touch the weights.

Every rule runs layer by layer, top layer first (layer-outer order, exact for every rule: layer l
needs only layer l+1, see docs/CHOICES.md for ``timing_tau_min=-1``). Per layer the rule kernel
takes the signal arriving from the layer above (already projected down) and the layer's own trace,
and returns the layer's deltas; the driver then calls the connection of the layer:

``back_project(D)``  the signal for the layer below: out[r, i] = beta sum_j W[i, j] D[r, j]
                     (spec 3.0 (C5), (T3); TSSL-BP E^{l-1} = W^l G^l, spec 4.4)
``weight_grad(...)`` dL/dW[i, j] = sum_{t,b} x[t, b, i] D[t, b, j]  (spec 3.0 (C3), 4.4)

Arrays are handled as *rows*: an array (T, B, N) is the rows (T B, N) in the order t ascending,
then b ascending (its C-order reshape); the fast paths keep only some rows ("active rows", numbered
in the same order, with their step ``rt[r]`` and sample ``rb[r]``). :class:`Dense` is the dense
connection x -> W^T x of every current network; another connection type (e.g. a convolution) provides
the same methods and no rule file changes (:class:`snnref.layers.LayeredConnection`). ``bias_grad(D)`` is the per-neuron sum of (C4).

Summation orders (what makes the fast paths bit-identical to the reference): the exact ops sum over
j ascending (back-projection) and over rows descending (weight and bias gradients: t descending, then
b descending, the order in which a backward sweep produces the rows, so that a fast kernel can
accumulate them while it sweeps) in float64, each product in the array dtype, skipping zero factors
(their terms are exactly 0). The BLAS ops
(``exact=False``; wide layers of the fast ANTLR path, TSSL-BP) use the library's order and, for
float32, float32 sums.
"""
import numba
import numpy as np

from .._jit import kernel, parallel_kernel, prange

__all__ = ["Dense", "connections_of", "rows", "all_rows", "previous_rows", "block_size", "BLAS_MIN_NEURONS"]

#: upper-layer size above which the fast ANTLR path back-projects with BLAS (numpy ``@``) instead of
#: the exact kernel (the official networks' 10 outputs stay exact); see :meth:`Dense.back_project`.
BLAS_MIN_NEURONS = 64


# --------------------------------------------------------------------------------------- kernels
@kernel
def project_row(d, Wt, i0, i1, acc):
    """acc[i - i0] = sum_j W[i, j] d[j] for i in [i0, i1), with Wt = W^T: the sum over j ascending in
    float64, each product in the arrays' dtype, zero d[j] skipped (their terms are 0). The arithmetic
    of every exact back-projection (:func:`_backproject_kernel`, the fused fast backward)."""
    n = i1 - i0
    for i in range(n):
        acc[i] = 0.0
    for j in range(d.shape[0]):
        dj = d[j]
        if dj != 0.0:
            w = Wt[j, i0:i1]
            for i in range(n):
                acc[i] += w[i] * dj


@parallel_kernel
def _backproject_kernel(D, Wt, beta, D2, prev, coef, out):
    """out[r, i] = beta sum_j W[i, j] D[r, j]  -  coef sum_j W[i, j] D2[prev[r], j]  (second term only if
    D2 has rows and prev[r] >= 0), with Wt = W^T (C-contiguous).

    The sums run over j ascending in float64, each product in the array dtype, as axpy updates over i
    (vectorisable). Zero D entries are skipped (their terms are 0). Rows are split into contiguous
    blocks (one prange iteration each); every row is computed by one iteration."""
    R, Na = D.shape
    N = Wt.shape[1]
    second = D2.shape[0] > 0
    nblk = min(R, 64)
    for k in prange(nblk):
        r0 = k * R // nblk
        r1 = (k + 1) * R // nblk
        acc = np.zeros(N, dtype=np.float64)
        acc2 = np.zeros(N, dtype=np.float64)
        for r in range(r0, r1):
            project_row(D[r], Wt, 0, N, acc)
            o = out[r]
            if second and prev[r] >= 0:
                project_row(D2[prev[r]], Wt, 0, N, acc2)
                for i in range(N):
                    o[i] = beta * acc[i] - coef * acc2[i]
            else:
                for i in range(N):
                    o[i] = beta * acc[i]


@parallel_kernel
def _weight_grad_kernel(X, rt, rb, D, blk, g):
    """g[i, :] += X[rt[r], rb[r], i] * D[r, :] over the rows r (descending) and non-zero X.

    Rows i of g are split into blocks of ``blk`` (one prange iteration each); every element of g is
    summed in the order r = R-1, ..., 1, 0 (t descending, then b descending: the order in which the
    backward sweep produces the rows)."""
    N_in = X.shape[2]
    N = D.shape[1]
    R = rt.shape[0]
    nblk = (N_in + blk - 1) // blk
    for k in prange(nblk):
        i0 = k * blk
        i1 = min(N_in, i0 + blk)
        for r in range(R - 1, -1, -1):
            t = rt[r]
            b = rb[r]
            for i in range(i0, i1):
                x = X[t, b, i]
                if x != 0.0:
                    for j in range(N):
                        g[i, j] += x * D[r, j]


@parallel_kernel
def _colsum_kernel(D, blk, out):
    """out[j] += sum_r D[r, j] over r descending (float64), columns split into blocks of ``blk``."""
    R, N = D.shape
    nblk = (N + blk - 1) // blk
    for k in prange(nblk):
        j0 = k * blk
        j1 = min(N, j0 + blk)
        for r in range(R - 1, -1, -1):
            d = D[r]
            for j in range(j0, j1):
                out[j] += d[j]


def block_size(n):
    """Items per parallel work item: one contiguous block per thread (rows are then read as long
    contiguous runs). Any block size gives the same result."""
    return max(1, -(-n // numba.get_num_threads()))


# --------------------------------------------------------------------------------------- rows
def all_rows(T, B):
    """``(rt, rb)`` of all T B rows of a (T, B, N) array, in C order (t ascending, then b)."""
    return np.repeat(np.arange(T, dtype=np.int64), B), np.tile(np.arange(B, dtype=np.int64), T)


def previous_rows(rowidx, rt, rb):
    """For each row (t, b): the row of (t-1, b), or -1 at t = 0 (``rowidx[t, b]`` = row number)."""
    return np.where(rt >= 1, rowidx[np.maximum(rt - 1, 0), rb], -1)


# --------------------------------------------------------------------------------------- connection
class Dense:
    """The dense connection from layer l-1 to layer l: input current P[t, b, j] = sum_i x[t, b, i] W[i, j]
    (spec 1.1; ``W = net.weights[l]`` of shape (N_{l-1}, N_l))."""

    def __init__(self, W):
        self.W = W

    @property
    def n_in(self):
        return self.W.shape[0]

    def back_project(self, D, beta=1.0, D_prev=None, prev=None, coef=0.0, exact=True, out=None):
        """Signal for the layer below, on rows: ``D`` (R, N_l) -> (R, N_{l-1}) in D's dtype::

            out[r, i] = beta sum_j W[i, j] D[r, j]  -  coef sum_j W[i, j] D_prev[prev[r], j]

        (second term only with ``D_prev``, for rows with prev[r] >= 0: the ``timing_tau_min=-1``
        term). ``exact``: the kernel with the reference summation order (module docstring);
        otherwise BLAS products (float32 sums in float32). ``out``: an array (R, N_{l-1}) of D's dtype
        to write the result into (exact path; the BLAS path allocates).
        """
        D2 = D[:0] if D_prev is None else D_prev
        if prev is None:
            prev = np.zeros(0, dtype=np.int64)
        W = self.W
        if exact:
            if out is None:
                out = np.empty((D.shape[0], W.shape[0]), dtype=D.dtype)
            _backproject_kernel(D, np.ascontiguousarray(W.T), beta, D2, prev, coef, out)
            return out
        out = D @ W.T
        if beta != 1.0:  # (x 1.0 is exact: skipped)
            out *= beta
        if D2.shape[0] > 0:
            has = prev >= 0
            out[has] -= coef * (D2 @ W.T)[prev[has]]
        return out

    def weight_grad(self, X, rt, rb, D):
        """float64 (N_{l-1}, N_l): sum_r X[rt[r], rb[r], :]^T D[r, :] over the rows in reverse order (exact;
        zero inputs skipped). ``X`` (T, B, N_{l-1}) is the layer's input (spikes of the layer below)."""
        g = np.zeros((X.shape[2], D.shape[1]), dtype=np.float64)
        _weight_grad_kernel(X, rt, rb, D, block_size(X.shape[2]), g)
        return g

    def weight_grad_blas(self, X, D):
        """sum_{t,b} X[t, b]^T D[t, b] by one BLAS product in the arrays' dtype ((T, B, .) arrays)."""
        T, B, n_in = X.shape
        return X.reshape(T * B, n_in).T @ D.reshape(T * B, D.shape[2])


    def bias_grad(self, D):
        """float64 (N_l,): sum_r D[r, :] over the rows in reverse order ((C4) before the factor beta_bias;
        one bias per neuron)."""
        out = np.zeros(D.shape[1], dtype=np.float64)
        _colsum_kernel(D, block_size(D.shape[1]), out)
        return out


def connections_of(net, trace=None):
    """The connection of every spiking layer of ``net``: :class:`Dense` for dense networks, the
    connections of :mod:`snnref.layers` (convolution, pooling, flatten, dropout with the masks of
    ``trace``) for layered networks."""
    if getattr(net, "layers", None) is not None:
        from ..layers import layered_connections

        return layered_connections(net, trace)
    return [Dense(W) for W in net.weights]


def rows(a):
    """The rows (T B, N) of a C-contiguous (T, B, N) array (a view)."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])
