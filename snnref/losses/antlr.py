r"""ANTLR losses and their output gradients (spec 5.1-5.3, official ``target_type`` semantics).

Every loss takes the forward :class:`snnref.Trace` (or directly the output raster ``S`` of shape
(T_sim, B, N_out)) and returns a :class:`snnref.losses.LossResult` whose

- ``dL_dS`` (T_sim, B, N_out) feeds the activation path of the ANTLR-family rules (spec 3.0), and
- ``dL_dt`` (T_sim, B, N_out) feeds the timing path; it is non-zero only where the output spiked.

Both are in the trace's dtype. ``value`` is the loss as the official code reports it (1/B inside
the loss, count and spike-train losses also divided by T; spec 5, A16). Work is O(T B N) for the
count and latency losses and O(T B N K) for the spike-train loss (K = kernel length).

Accepting a raw raster lets the count and spike-train losses be evaluated on real-valued ``S``
(the smooth relaxation of spec 10.2 and the finite-difference checks P-L1/P-L2); the latency loss
needs binary spikes (first-spike times).
"""
import numpy as np

from .. import _validate as V
from ..forward import Trace
from ._result import LossResult

__all__ = ["count", "spike_train", "latency", "kappa_kernel", "kappa_star"]

#: Maximum kernel length of the official spike-train filter (spec 5.2).
KAPPA_MAX_LEN = 1000
#: Kernel entries kappa_exp^k <= this are dropped (spec 5.2).
KAPPA_CUTOFF = 1e-6
#: The official code's post-simulation tail ("alpha_extend", spec 5.2).
OFFICIAL_TAIL = 200


# --------------------------------------------------------------------------------------- helpers
def _output_raster(trace, *, binary):
    """(S as float64 (T, B, N), result dtype) from a Trace or a raw (T, B, N) raster."""
    if isinstance(trace, Trace):
        S = trace.output.S
        dtype = trace.dtype
        if binary:
            V.check_binary(S, "trace.output.S")
        return np.asarray(S, dtype=np.float64), dtype
    arr = np.asarray(trace)
    if arr.dtype == object:
        raise TypeError(
            f"trace must be a snnref.Trace or an output raster of shape (T, B, N_out); got {type(trace).__name__}."
        )
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    S = V.as_float_array(arr, "S", dtype=np.float64, allow_int=True)
    V.check_time_major(S, "S")
    if binary:
        V.check_binary(S, "S")
    return S, dtype


def _check_loss_scale(loss_scale):
    return V.check_scalar(loss_scale, "loss_scale", lo=0.0, lo_open=True,
                          hint="loss_scale multiplies the loss and its gradients (spec A16).")


def _nonneg_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative integer; got {value!r} ({type(value).__name__}).")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value}.")
    return int(value)


def kappa_kernel(kappa_exp, T):
    """Spike-train filter kappa[k] = kappa_exp^k, 0 <= k < K (spec 5.2), float64 array of length K.

    K is the number of k < min(T, 1000) with kappa_exp^k > 1e-6 (0^0 = 1, so K >= 1):
    kappa_exp = 0.95 -> K = min(T, 270); 0.9 -> min(T, 132); 0.99 -> min(T, 1000).
    """
    kappa_exp = V.check_scalar(kappa_exp, "kappa_exp", lo=0.0, hi=1.0, hi_open=True,
                               hint="kappa_exp is the per-step decay of the spike-train filter (0.95 in Table A1).")
    n = min(int(T), KAPPA_MAX_LEN)
    k = np.arange(n, dtype=np.float64)
    kap = np.power(kappa_exp, k)
    return kap[: int((kap > KAPPA_CUTOFF).sum())]   # kap is non-increasing, kap[0] = 1


def kappa_star(kappa):
    """Central-difference slope kappa_star[m] = (kappa[m+1] - kappa[m-1]) / 2 for m = -1 .. K.

    Returned as an array of length K + 2 whose entry ``m + 1`` is kappa_star[m] (kappa = 0 outside
    [0, K-1]); so kappa_star[-1] = kappa[0]/2 = 1/2 and kappa_star[0] = kappa[1]/2 (spec 5.2).
    """
    K = len(kappa)
    padded = np.zeros(K + 4)
    padded[2:K + 2] = kappa  # padded[m + 2] = kappa[m] for m = -2 .. K+1
    m = np.arange(-1, K + 1)
    return (padded[m + 3] - padded[m + 1]) / 2.0


# --------------------------------------------------------------------------------------- count
def count(trace, labels, max_target_spikes=1, min_target_spikes=0, loss_scale=1.0):
    r"""ANTLR count loss (spec 5.1, official ``target_type="count"``; exact spike count).

    With N_j = sum_t S_j[t] and target N_tgt_j = ``max_target_spikes`` for the label neuron and
    ``min_target_spikes`` for the others::

        L           = loss_scale * sum_b sum_j (N_j - N_tgt_j)^2 / (T B)
        dL_dS_j[t]  = loss_scale * 2 (N_j - N_tgt_j) / (T B)     (the same for every t)
        dL_dt       = 0

    dL_dS is the exact derivative of L w.r.t. real-valued S (P-L1). The official code counts with
    an all-ones kernel of length min(T, 1000); snnref counts exactly (they differ only for T > 1000).

    Parameters
    ----------
    trace : Trace or array (T, B, N_out)
        Forward trace, or the output raster itself (may be real-valued, e.g. a relaxed forward).
    labels : int array (B,)
        Class index per sample, in [0, N_out).
    max_target_spikes, min_target_spikes : int >= 0
        Target counts of the label neuron and of the other neurons (official defaults 1 and 0).
    loss_scale : float > 0
        Multiplies the loss and its gradients (spec A16; 1 = official scale).

    Returns
    -------
    LossResult
        ``info``: "counts" (B, N_out), "target_counts" (B, N_out), "per_sample" (B,) (summing to
        ``value``).
    """
    S, dtype = _output_raster(trace, binary=False)
    T, B, N = S.shape
    labels = V.check_labels(labels, B, N)
    n_max = _nonneg_int(max_target_spikes, "max_target_spikes")
    n_min = _nonneg_int(min_target_spikes, "min_target_spikes")
    if n_min > n_max:
        raise ValueError(f"min_target_spikes ({n_min}) must be <= max_target_spikes ({n_max}).")
    scale = _check_loss_scale(loss_scale)
    counts = S.sum(axis=0)                                   # N_j, (B, N)
    target = np.full((B, N), float(n_min))
    target[np.arange(B), labels] = float(n_max)
    diff = counts - target
    norm = scale / (T * B)
    per_sample = norm * (diff ** 2).sum(axis=1)
    dS = np.broadcast_to(2.0 * norm * diff, (T, B, N))
    return LossResult(
        value=float(per_sample.sum()),
        dL_dS=np.ascontiguousarray(dS, dtype=dtype),
        dL_dt=np.zeros((T, B, N), dtype=dtype),
        info={"counts": counts, "target_counts": target, "per_sample": per_sample},
    )


# --------------------------------------------------------------------------------------- train
def _resolve_tail(train_tail, K):
    if train_tail is None:
        return K - 1
    if isinstance(train_tail, str):
        if train_tail != "official":
            raise ValueError(
                f"train_tail must be None (full tail K-1), 'official' (min(K-1, 200)) or a non-negative "
                f"integer; got {train_tail!r}."
            )
        return min(K - 1, OFFICIAL_TAIL)
    return _nonneg_int(train_tail, "train_tail")


def spike_train(trace, target, kappa_exp=0.95, train_tail=None, loss_scale=1.0):
    r"""ANTLR spike-train loss (spec 5.2, official ``target_type="train"``).

    With kappa[k] = kappa_exp^k for 0 <= k < K (:func:`kappa_kernel`) and the filtered difference
    including E steps after the end of the simulation::

        D_j[n]      = sum_{t=0}^{T-1} kappa[n - t] (S_j[t] - S_tgt_j[t]),   n = 0 .. T + E - 1
        L           = loss_scale * sum_b sum_j sum_n D_j[n]^2 / (T B)
        dL_dS_j[t]  = loss_scale * (2 / (T B)) * sum_{k=0}^{K-1} kappa[k] D_j[t + k]
        dL_dt_j[t]  = S_j[t] * loss_scale * (-2 / (T B)) * sum_{m=-1}^{K} kappa_star[m] D_j[t + m]

    (D = 0 outside 0..T+E-1; kappa_star of :func:`kappa_star`). dL_dS is the exact derivative of L
    w.r.t. real-valued S (P-L2); dL_dt is the derivative under a continuous shift of the spike at t
    in a kernel interpolation with slopes kappa_star at integer lags.

    Parameters
    ----------
    trace : Trace or array (T, B, N_out)
        Forward trace or output raster (may be real-valued).
    target : array (T, B, N_out)
        Target raster S_tgt, 0/1 (bool, int or float).
    kappa_exp : float in [0, 1)
        Filter decay (appendix F: 0.95; the released code does not set it).
    train_tail : None, "official" or int >= 0
        Post-simulation tail E: None (default) = K - 1, the full tail (exact gradients, no shape
        defect); "official" = min(K - 1, 200) as the code's ``alpha_extend`` (without the code's
        shape error for K - 1 > 200); an int sets E directly. **[choice]**, spec A15.
    loss_scale : float > 0
        Multiplies the loss and its gradients (spec A16).

    Returns
    -------
    LossResult
        ``info``: "D" (T + E, B, N_out) filtered difference, "kappa" (K,), "K", "tail" (E),
        "per_sample" (B,).
    """
    S, dtype = _output_raster(trace, binary=False)
    T, B, N = S.shape
    tgt = V.as_float_array(target, "target", dtype=np.float64, allow_int=True)
    if tgt.shape != S.shape:
        raise ValueError(f"target must have the shape of the output raster (T, B, N_out) = {S.shape}; got {tgt.shape}.")
    V.check_binary(tgt, "target")
    kappa = kappa_kernel(kappa_exp, T)
    K = len(kappa)
    E = _resolve_tail(train_tail, K)
    scale = _check_loss_scale(loss_scale)
    norm = scale / (T * B)

    diff = S - tgt
    D = np.zeros((T + E, B, N))
    for k in range(K):                      # D[n] = sum_k kappa[k] diff[n - k]
        stop = min(T, T + E - k)
        if stop <= 0:
            break
        D[k:k + stop] += kappa[k] * diff[:stop]
    # pad D with zeros: Dp[n + 1] = D[n] for n = -1 .. T + E + K
    Dp = np.zeros((T + E + K + 2, B, N))
    Dp[1:T + E + 1] = D
    dS = np.zeros((T, B, N))
    for k in range(K):                      # sum_k kappa[k] D[t + k]
        dS += kappa[k] * Dp[1 + k:1 + k + T]
    ks = kappa_star(kappa)
    dT = np.zeros((T, B, N))
    for m in range(-1, K + 1):              # sum_m kappa_star[m] D[t + m]
        dT += ks[m + 1] * Dp[1 + m:1 + m + T]
    per_sample = norm * (D ** 2).sum(axis=(0, 2))
    return LossResult(
        value=float(per_sample.sum()),
        dL_dS=np.ascontiguousarray(2.0 * norm * dS, dtype=dtype),
        dL_dt=np.ascontiguousarray(-2.0 * norm * S * dT, dtype=dtype),
        info={"D": D, "kappa": kappa, "K": K, "tail": E, "per_sample": per_sample},
    )


# --------------------------------------------------------------------------------------- latency
def latency(trace, labels, beta_softmax=1.0, lambda_nospike=0.1):
    r"""ANTLR latency loss: softmax cross-entropy on first-spike times plus the no-spike term (spec 5.3).

    T_sim = the number of steps of the trace (a trace from ``forward(..., latency_early_stop=True)``
    gives the official early-stop semantics, spec 5.3 / A13). For output neuron j of sample b::

        tf_j       = min{t : S_j[t] = 1},  or T_sim if j never fired
        z_j        = beta_softmax (T_sim - tf_j)        (silent neurons: z_j = 0)
        p          = softmax(z);   L_ce = -(1/B) sum_b log p_y
        dL_dt_j[t] = [t = tf_j, j fired] * (-beta_softmax) (p_j - [j = y]) / B
        L_ns       = (lambda_nospike / B) sum_b [label neuron y never fired]
        dL_dS_y[t] = -lambda_nospike / B for every t if y never fired (else 0); dL_dS_j = 0 for j != y

    Silent neurons take part in the softmax (z = 0) but get no timing gradient. ``value`` =
    L_ce + L_ns. dL_dS reaches the weights only through the activation path (spec A12).

    Parameters
    ----------
    trace : Trace or array (T_sim, B, N_out)
        Forward trace or binary output raster.
    labels : int array (B,)
        Class per sample in [0, N_out).
    beta_softmax : float >= 0
        Softmax inverse temperature (official default 0.166667).
    lambda_nospike : float >= 0
        Weight of the no-spike term (official default 0.1).

    Returns
    -------
    LossResult
        ``info``: "first_spike_times" (B, N_out) float (T_sim if silent), "fired" (B, N_out) bool,
        "logits" z, "probabilities" p (B, N_out), "ce" (B,) per-sample -log p_y, "nospike" (B,)
        bool, "L_ce", "L_ns", "T_sim".
    """
    S, dtype = _output_raster(trace, binary=True)
    T, B, N = S.shape
    labels = V.check_labels(labels, B, N)
    beta = V.check_scalar(beta_softmax, "beta_softmax", lo=0.0, hint="The official default is 0.166667.")
    lam = V.check_scalar(lambda_nospike, "lambda_nospike", lo=0.0, hint="The official default is 0.1.")

    fired = S.any(axis=0)                                    # (B, N)
    first = np.where(fired, S.argmax(axis=0), T)             # tf (argmax = first 1)
    z = beta * (T - first).astype(np.float64)
    zmax = z.max(axis=1, keepdims=True)
    logsumexp = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    log_p = z - logsumexp[:, None]
    p = np.exp(log_p)
    rows = np.arange(B)
    ce = -log_p[rows, labels]
    onehot = np.zeros((B, N))
    onehot[rows, labels] = 1.0
    g = np.where(fired, -beta * (p - onehot) / B, 0.0)       # dL_ce / dtf for firing neurons
    dT = np.zeros((T, B, N))
    bb, jj = np.nonzero(fired)
    dT[first[bb, jj], bb, jj] = g[bb, jj]

    nospike = ~fired[rows, labels]
    dS = np.zeros((T, B, N))
    dS[:, rows[nospike], labels[nospike]] = -lam / B
    L_ce = float(ce.sum() / B)
    L_ns = float(lam * nospike.sum() / B)
    return LossResult(
        value=L_ce + L_ns,
        dL_dS=np.ascontiguousarray(dS, dtype=dtype),
        dL_dt=np.ascontiguousarray(dT, dtype=dtype),
        info={"first_spike_times": first.astype(np.float64), "fired": fired, "logits": z,
              "probabilities": p, "ce": ce, "nospike": nospike, "L_ce": L_ce, "L_ns": L_ns, "T_sim": T},
    )

