r"""Event-driven fused forward of dense networks in RNN form: ``snnref.forward(..., impl="fast")``
(the default).

The recurrence is the one of :mod:`snnref.forward` (spec 1.1 Eqs. 1-3, 2.3), with the same arithmetic
in the same order, so the results (I, V, S, du, a) are bit-identical to ``impl="reference"`` (the
projection kernel :func:`snnref.forward.project` followed by the LIF kernel); tests/test_fast_forward.py
checks every array bit for bit. What changes is where the work goes:

1. Event lists instead of dense scans. The input x of an ANTLR model is scanned once per call for its
   non-zero entries (:func:`input_events`: blocks of 16 inputs are tested with one integer OR of their
   bit patterns, so empty blocks cost one vectorised pass); each spiking layer writes the indices of its
   own spikes while it simulates (from a byte flag per neuron, read eight at a time, so that a step's
   few spikes are found without testing every neuron), so the layer above never scans the dense spike
   array S. Per sample b
   the events of step t are ``idx[b, ptr[b, t]:ptr[b, t + 1]]`` in ascending input order.
2. No projection array. The input current of step t, P[j] = sum_i x_i[t] W[i, j], is summed into one
   work row of the layer's dtype (inputs ascending, from 0: the reference's order and rounding; the
   spike value is exactly 1, and 1 * w = w) and consumed by the same step.
3. Buffers reused across calls. With a :class:`Workspace` the trace arrays and event lists are views of
   buffers kept from one call to the next (no fresh pages to fault in every batch); without one, every
   call allocates, as before. A trace made with a workspace is overwritten by the next call that uses
   the same workspace: a caller that keeps the previous trace (e.g. to compare two steps) passes no
   workspace or one workspace per trace.
4. Optional skip of the O(size) input checks: ``forward(..., validated=True)`` for an input that is
   already a C-contiguous array of the network dtype whose values were checked (finite; 0/1 for ANTLR
   models), e.g. once per data set. Shape and dtype are still checked (O(1)).

5. Work split: (sample, block of neurons) items, several blocks per sample when the batch is smaller
   than the thread count (a batch of one sample still uses every thread); every value is computed by
   one item with the same operations, so results do not depend on the thread count.

TSSL-BP (PSP-output) models keep the dense BLAS product x W for their real-valued first-layer input
(passed to the kernel as a precomputed projection); their upper layers are event-driven.
"""
import numba
import numpy as np

from ._jit import kernel, parallel_kernel, prange
from .trace import LayerTrace
from .workspace import Workspace, _Fresh

__all__ = ["Workspace", "check_validated", "input_events", "simulate"]

_BLOCK = 16  # inputs per block of the event scan


# --------------------------------------------------------------------------------------- kernels
@parallel_kernel
def _input_events_kernel(X, bits, ptr, idx):
    """Events of X (T, B, N): for each sample b, idx[b, ptr[b, t]:ptr[b, t+1]] = the i with X[t, b, i] != 0,
    ascending. ``bits`` is X viewed as unsigned integers of the same width (a block whose OR is 0 holds
    only +0.0; a block with a non-zero pattern is then tested value by value, so -0.0 is no event)."""
    T, B, N = X.shape
    nfull = N - N % _BLOCK
    for b in prange(B):  # two threads read a cold input faster (measured: forward 0.42 -> 0.34 ms/sample)
        n = 0
        for t in range(T):
            ptr[b, 0, t] = n
            xb = bits[t, b]
            x = X[t, b]
            for i0 in range(0, N, _BLOCK):
                acc = xb[i0]
                if i0 < nfull:
                    for k in range(1, _BLOCK):  # fixed trip count: unrolled, vectorised
                        acc |= xb[i0 + k]
                else:
                    for i in range(i0 + 1, N):
                        acc |= xb[i]
                if acc != 0:
                    for i in range(i0, min(N, i0 + _BLOCK)):
                        if x[i] != 0.0:
                            idx[b, 0, n] = i
                            n += 1
        ptr[b, 0, T] = n


@kernel
def _lif_step(i_prev, v_prev, s_prev, p, bias, alpha_I, alpha_V, beta_I, beta_V, beta_b, theta, reset_current,
              strict):
    """One LIF step of one neuron (the module docstring of :mod:`snnref.forward`), with the reference
    kernel's arithmetic; returns (I[t], u^+[t-1], V[t], S[t]) unrounded (float64)."""
    keep = 1.0 - s_prev
    if reset_current:
        i_t = alpha_I * keep * i_prev + beta_I * p
    else:
        i_t = alpha_I * i_prev + beta_I * p
    u_plus = keep * v_prev
    v_t = alpha_V * u_plus + beta_V * i_t + beta_b * bias
    if strict:
        s_t = 1.0 if v_t > theta else 0.0
    else:
        s_t = 1.0 if v_t >= theta else 0.0
    return i_t, u_plus, v_t, s_t


@parallel_kernel
def _fused_lif_kernel(ptr, idx, P0, W, bias, alpha_I, alpha_V, beta_I, beta_V, beta_b, theta, reset_current,
                      strict, psp_output, emit, K, I, V, S, DU, A, out_ptr, out_idx):
    """One layer, all steps, fused projection + LIF (the arithmetic of ``_lif_rnn_kernel``).

    Work items: (sample b, block k of the layer's neurons), K blocks per sample (neurons of a layer are
    independent given their input; K > 1 when the batch is smaller than the thread count). Input
    current of step t: the dense row P0[t, b] if P0 has steps, else the sum of the rows W[i] of the
    input events of (t, b): the event blocks kin = 0, 1, ... of the layer below in turn, each ascending,
    so i ascends overall (from 0, in W's dtype: the reference's order). Fills I, V, S (and DU, A when
    psp_output); with ``emit`` also the layer's own spike events, per block (out_ptr, out_idx).
    """
    T, B, N = I.shape
    Kin = ptr.shape[1]
    dense = P0.shape[0] > 0
    for q in prange(B * K):
        b = q // K
        k = q % K
        j0 = k * N // K
        n = (k + 1) * N // K - j0
        # states of t-1 in the array dtype: they are the stored (rounded) values, exactly, and are
        # promoted to float64 where the step uses them, as in the reference
        i_prev = np.zeros(n, dtype=I.dtype)
        v_prev = np.zeros(n, dtype=I.dtype)
        s_prev = np.zeros(n, dtype=I.dtype)
        a_prev = np.zeros(n, dtype=np.float64)  # not re-read from A in the reference: kept unrounded
        p = np.zeros(n, dtype=W.dtype)
        nw = (n + 7) // 8
        flags = np.zeros(8 * nw, dtype=np.uint8)  # S[t] != 0 of the block, read 8 at a time
        words = flags.view(np.uint64)
        bias_k = bias[j0:j0 + n]
        n_out = 0
        for t in range(T):
            if dense:
                p[:] = P0[t, b, j0:j0 + n]
            else:
                for j in range(n):
                    p[j] = 0.0
                for kin in range(Kin):
                    for e in range(ptr[b, kin, t], ptr[b, kin, t + 1]):
                        w = W[idx[b, kin, e], j0:j0 + n]
                        for j in range(n):
                            p[j] += w[j]
            It = I[t, b, j0:j0 + n]
            Vt = V[t, b, j0:j0 + n]
            St = S[t, b, j0:j0 + n]
            if psp_output:
                DUt = DU[t, b, j0:j0 + n]
                At = A[t, b, j0:j0 + n]
                for j in range(n):
                    i_t, u_plus, v_t, s_t = _lif_step(i_prev[j], v_prev[j], s_prev[j], p[j], bias_k[j], alpha_I,
                                                      alpha_V, beta_I, beta_V, beta_b, theta, reset_current, strict)
                    It[j] = i_t
                    Vt[j] = v_t
                    St[j] = s_t
                    flags[j] = np.uint8(1) if s_t != 0.0 else np.uint8(0)
                    DUt[j] = v_t - u_plus
                    a_t = alpha_I * a_prev[j] + beta_I * s_t
                    At[j] = a_t
                    a_prev[j] = a_t
                    i_prev[j] = i_t
                    v_prev[j] = v_t
                    s_prev[j] = s_t
            else:  # without the PSP stores the loop is branch-free (selects) and vectorises
                for j in range(n):
                    i_t, u_plus, v_t, s_t = _lif_step(i_prev[j], v_prev[j], s_prev[j], p[j], bias_k[j], alpha_I,
                                                      alpha_V, beta_I, beta_V, beta_b, theta, reset_current, strict)
                    It[j] = i_t
                    Vt[j] = v_t
                    St[j] = s_t
                    flags[j] = np.uint8(1) if s_t != 0.0 else np.uint8(0)
                    i_prev[j] = i_t  # rounded to the dtype, as the stored values
                    v_prev[j] = v_t
                    s_prev[j] = s_t
            if emit:  # the step's spikes, ascending: words of 8 flags that are 0 are skipped at once
                out_ptr[b, k, t] = n_out
                for w in range(nw):
                    if words[w] != 0:
                        for j in range(8 * w, min(n, 8 * w + 8)):
                            if flags[j] != 0:
                                out_idx[b, k, n_out] = j0 + j
                                n_out += 1
        if emit:
            out_ptr[b, k, T] = n_out


# --------------------------------------------------------------------------------------- driver
def check_validated(net, x):
    """The O(1) checks of ``forward(..., validated=True)``: ``x`` is a C-contiguous (T, B, N_0) array of
    the network dtype (its values are not scanned). Returns ``x``."""
    from . import _validate as validate
    from .model import Network

    if not isinstance(net, Network):
        raise TypeError(f"net must be a snnref.Network; got {type(net).__name__}.")
    if not isinstance(x, np.ndarray) or x.dtype != np.dtype(net.dtype) or not x.flags.c_contiguous:
        got = type(x).__name__ if not isinstance(x, np.ndarray) else f"{x.dtype} array"
        raise TypeError(
            f"validated=True needs x as a C-contiguous {np.dtype(net.dtype).name} numpy array (the network "
            f"dtype); got a {got}{'' if not isinstance(x, np.ndarray) or x.flags.c_contiguous else ' (not C-contiguous)'}. "
            "Convert it once with np.ascontiguousarray(x, dtype=net.dtype), or call forward without validated=True.")
    validate.check_time_major(x, "x", net.sizes[0])
    return x


def input_events(X, alloc=_Fresh, key=-1):
    """``(ptr, idx)``: per sample b the indices i with X[t, b, i] != 0 of step t are
    ``idx[b, 0, ptr[b, 0, t]:ptr[b, 0, t+1]]`` (ascending; one event block). X: validated C-contiguous
    (T, B, N) float array. ``key`` names the workspace buffers."""
    T, B, N = X.shape
    ptr = alloc.array(("ptr", key), (B, 1, T + 1), np.int64)
    idx = alloc.array(("idx", key), (B, 1, T * N), np.int32)
    bits = X.view(np.uint32 if X.dtype == np.float32 else np.uint64)
    _input_events_kernel(X, bits, ptr, idx)
    return ptr, idx


def events_from_spikes(t, b, n, T, B):
    """``(ptr, idx)`` in the layout of :func:`input_events` from the spike coordinates ``(t, b, n)`` of an
    input (e.g. :func:`snnref.encoders.latency_events`; any order, no duplicates): O(spikes), for callers
    that know where their input is non-zero."""
    t, b, n = (np.asarray(a, dtype=np.int64) for a in (t, b, n))
    order = np.lexsort((n, t, b))                      # b, then t, then n ascending
    t, b, n = t[order], b[order], n[order]
    counts = np.bincount(b * T + t, minlength=B * T).reshape(B, T)
    ptr = np.zeros((B, 1, T + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=ptr[:, 0, 1:])
    per_b = ptr[:, 0, T]
    idx = np.zeros((B, 1, max(1, int(per_b.max(initial=0)))), dtype=np.int32)
    start = np.concatenate(([0], np.cumsum(per_b)[:-1]))
    idx[b, 0, np.arange(t.size) - start[b]] = n
    return ptr, idx


def check_input_events(x, input_events):
    """The O(B T + events) checks of ``forward(..., input_events=)``: the layout of :func:`input_events`
    for x (T, B, N) (per sample, counts that never decrease, indices in [0, N) and ascending per step)."""
    T, B, N = x.shape
    try:
        ptr, idx = input_events
    except (TypeError, ValueError):
        raise TypeError("input_events must be the pair (ptr, idx) made by snnref.fast_forward.input_events or "
                        "events_from_spikes.") from None
    if not (isinstance(ptr, np.ndarray) and ptr.dtype == np.int64 and ptr.shape == (B, 1, T + 1)
            and isinstance(idx, np.ndarray) and idx.dtype == np.int32 and idx.ndim == 3 and idx.shape[:2] == (B, 1)):
        raise ValueError(f"input_events must be (ptr int64 of shape {(B, 1, T + 1)}, idx int32 of shape "
                         f"({B}, 1, M)) for x of shape {x.shape}; make them with "
                         "snnref.fast_forward.events_from_spikes(t, b, n, T, B).")
    d = np.diff(ptr[:, 0], axis=1)
    if np.any(ptr[:, 0, 0] != 0) or np.any(d < 0) or np.any(ptr[:, 0, T] > idx.shape[2]):
        raise ValueError("input_events: ptr[b, 0] must start at 0, never decrease and stay within idx.")
    for bb in range(B):
        used = idx[bb, 0, :ptr[bb, 0, T]]
        if used.size and (used.min() < 0 or used.max() >= N):
            raise ValueError(f"input_events: an input index of sample {bb} is outside [0, {N}).")
    return ptr, idx


def neuron_blocks(B, N, threads, min_block=32):
    """Neuron blocks per sample: enough (sample, block) work items for every thread (1 when B >= threads),
    blocks of at least ``min_block`` neurons. Any value gives the same results."""
    return max(1, min(-(-threads // B), N // min_block))


def simulate(net, x, workspace=None, threads=None, min_block=32, events=None, known_events=None):
    """The layers of the RNN-form forward pass of ``net`` on the validated input ``x`` (the list of
    :class:`LayerTrace` that :func:`snnref.forward` puts into its trace). ``workspace``: a
    :class:`Workspace` or None. ``threads``: the thread count the work split is made for (default:
    numba's current one) and ``min_block`` the smallest neuron block (:func:`neuron_blocks`); the results
    do not depend on either. ``events``: a list that receives, for every layer l, the event lists
    ``(ptr, idx)`` of its input (x for l = 0, the spikes of layer l-1 above; per sample b the inputs i
    with a non-zero value at step t are ``idx[b, k, ptr[b, k, t]:ptr[b, k, t+1]]`` over the blocks k in
    turn, ascending), for a backward pass that needs them (not for PSP-output models). ``known_events``:
    the checked event lists of x (:func:`check_input_events`), used instead of scanning x."""
    if workspace is not None and not isinstance(workspace, Workspace):
        raise TypeError(f"workspace must be a snnref.workspace.Workspace or None; got {type(workspace).__name__}.")
    if threads is None:
        threads = numba.get_num_threads()
    m = net.model
    dtype = net.dtype
    alloc = _Fresh if workspace is None else workspace
    T, B, _ = x.shape
    L = len(net.weights)
    no_p0 = np.empty((0, 0, 0), dtype=dtype)
    empty = no_p0
    if m.psp_output:
        W0 = net.weights[0]
        # the current filter I = alpha_I I + beta_I P of the projected input makes I = W^T a^0 (spec 2.3)
        P0 = np.ascontiguousarray((x.reshape(T * B, -1) @ W0).reshape(T, B, W0.shape[1]))
        ptr = np.zeros((B, 1, T + 1), dtype=np.int64)
        idx = np.zeros((B, 1, 0), dtype=np.int32)
    else:
        P0 = no_p0
        ptr, idx = input_events(x, alloc) if known_events is None else known_events
    layers = []
    for l, (W, bias) in enumerate(zip(net.weights, net.biases)):
        N = W.shape[1]
        I = alloc.array(("I", l), (T, B, N), dtype)
        V = alloc.array(("V", l), (T, B, N), dtype)
        S = alloc.array(("S", l), (T, B, N), dtype)
        if m.psp_output:
            DU = alloc.array(("du", l), (T, B, N), dtype)
            A = alloc.array(("a", l), (T, B, N), dtype)
        else:
            DU = A = None
        emit = l + 1 < L
        K = neuron_blocks(B, N, threads, min_block)
        if emit:
            out_ptr = alloc.array(("ptr", l), (B, K, T + 1), np.int64)
            out_idx = alloc.array(("idx", l), (B, K, T * (-(-N // K))), np.int32)
        else:
            out_ptr = np.zeros((0, 0, 0), dtype=np.int64)
            out_idx = np.zeros((0, 0, 0), dtype=np.int32)
        _fused_lif_kernel(ptr, idx, P0, W, bias, m.alpha_I, m.alpha_V, m.beta_I, m.beta_V, m.beta_bias, m.theta,
                          m.reset_current, m.strict_threshold, m.psp_output, emit, K, I, V, S,
                          DU if DU is not None else empty, A if A is not None else empty, out_ptr, out_idx)
        layers.append(LayerTrace(I, V, S, DU, A))
        if events is not None and not m.psp_output:
            events.append((ptr, idx))
        ptr, idx, P0 = out_ptr, out_idx, no_p0
    return layers
