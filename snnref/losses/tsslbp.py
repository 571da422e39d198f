r"""TSSL-BP losses and their output gradient dL/da (spec 5.4-5.6, official ``loss`` semantics).

Every loss takes the forward :class:`snnref.Trace` (it reads the output layer's PSP trace
a^L = ``trace.output.a`` and ``trace.model.tau_s``) or directly an output trace ``a`` of shape
(T, B, N_out) together with ``tau_s=``, and returns a :class:`snnref.losses.LossResult` whose
``dL_da`` (T, B, N_out, in the trace's dtype) feeds ``snnref.backward(..., rule="tsslbp")``.

Normalisation follows the official code: the kernel and count losses are SUMMED over the batch
(no 1/B, spec 5.4, A30); the softmax loss is averaged over the batch (PyTorch CrossEntropyLoss
default ``reduction="mean"``, spec 5.6).
"""
import numpy as np

from .. import _validate as V
from ..forward import Trace
from ._result import LossResult

__all__ = ["psp_kernel", "psp_count", "psp_softmax", "target_pattern", "psp_filter_1d"]

#: desired spike pattern of the label neuron (spec 5.4, A29): name -> (pattern for T < 10, for T >= 10)
TARGET_PATTERNS = {
    "final": ((0, 1, 1, 1, 1), (0, 1, 0, 1, 0, 1, 0, 1, 0, 1)),
    "sep2020": ((0, 1, 0, 1, 1), (0, 1, 0, 1, 0, 1, 0, 1, 0, 1)),
}


# --------------------------------------------------------------------------------------- helpers
def _output_trace(trace, tau_s):
    """(a as float64 (T, B, N), tau_s, result dtype) from a Trace or a raw (T, B, N) trace."""
    if isinstance(trace, Trace):
        if not trace.model.psp_output or trace.output.a is None:
            raise ValueError("trace must come from a TSSL-BP network (NeuronModel.tsslbp(...)); it has no PSP trace a.")
        if tau_s is not None:
            raise ValueError("tau_s is taken from trace.model; pass tau_s only with a raw output trace array.")
        return np.asarray(trace.output.a, dtype=np.float64), float(trace.model.tau_s), trace.dtype
    arr = np.asarray(trace)
    if arr.dtype == object:
        raise TypeError(
            f"trace must be a snnref.Trace or an output PSP trace of shape (T, B, N_out); got {type(trace).__name__}."
        )
    if tau_s is None:
        raise ValueError("tau_s is required when a raw output trace array is passed (it is read from a Trace otherwise).")
    tau_s = V.check_scalar(tau_s, "tau_s", lo=1.0, hint="TSSL-BP time constants are in time steps (tau_s >= 1).")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    a = V.as_float_array(arr, "a", dtype=np.float64)
    V.check_time_major(a, "a")
    return a, tau_s, dtype


def psp_filter_1d(d, tau_s):
    """First-order PSP filter y[t] = (1 - 1/tau_s) y[t-1] + d[t]/tau_s along axis 0 (spec 2.1), float64."""
    d = np.asarray(d, dtype=np.float64)
    y = np.empty_like(d)
    prev = np.zeros(d.shape[1:])
    for t in range(d.shape[0]):
        prev = (1.0 - 1.0 / tau_s) * prev + d[t] / tau_s
        y[t] = prev
    return y


def target_pattern(T, tssl_target_pattern="final"):
    """Desired spike train d[t] of the label neuron, float64 array of shape (T,) (spec 5.4, A29).

    T < 10: the 5-step pattern ([0,1,1,1,1] "final", [0,1,0,1,1] "sep2020") repeated T/5 times, so
    T must be 5; T >= 10: [0,1,0,1,0,1,0,1,0,1] repeated T/10 times, so T must be a multiple of 10.
    """
    V.check_choice(tssl_target_pattern, "tssl_target_pattern", TARGET_PATTERNS)
    short, long_ = TARGET_PATTERNS[tssl_target_pattern]
    base = short if T < 10 else long_
    if T % len(base) != 0:
        raise ValueError(
            f"psp_kernel needs T = 5 or a multiple of 10 (the target pattern repeats every "
            f"{len(base)} steps for T {'<' if T < 10 else '>='} 10); got T = {T}. "
            "Simulate T = 5, 10, 20, 30, ... steps."
        )
    return np.tile(np.asarray(base, dtype=np.float64), T // len(base))


def _count_arg(value, name):
    return V.check_scalar(value, name, lo=0.0, hint="It is a target for the summed output PSP trace.")


# --------------------------------------------------------------------------------------- losses
def psp_kernel(trace, labels=None, tssl_target_pattern="final", single_pass=False, *, target=None, tau_s=None):
    r"""TSSL-BP kernel (PSP) loss, official ``loss: kernel`` (spec 5.4, A29), or spike-sequence loss.

    Desired spike trains d_k[t] in {0, 1}: either from ``labels`` (official classification use:
    the label neuron gets the pattern of :func:`target_pattern`, the other neurons d = 0), or given
    explicitly as ``target`` (any spike sequence per sample and output neuron, e.g. the random
    spike trains of :func:`snnref.data.spike_train_task`; exactly one of the two). The target
    trace is d passed TWICE through the PSP filter (once when the official main.py builds its
    targets, once inside the loss)::

        dhat[t] = (1 - 1/tau_s) dhat[t-1] + d[t]/tau_s
        ahat[t] = (1 - 1/tau_s) ahat[t-1] + dhat[t]/tau_s      (single_pass=True: ahat = dhat)

    Then, summed over the batch (no 1/B)::

        L = 1/2 sum_b sum_k sum_t (a_k[t] - ahat_k[t])^2,       E_k[t] = dL/da_k[t] = a_k[t] - ahat_k[t]

    With ``single_pass=True`` an output that fires exactly d has zero loss (its trace is dhat);
    with the official double filtering it does not (spec 5.4).

    Parameters
    ----------
    trace : Trace or array (T, B, N_out)
        Forward trace of a TSSL-BP network, or the output PSP trace a (then pass ``tau_s``).
    labels : int array (B,) or None
        Class index = label neuron of each sample (classification, official).
    tssl_target_pattern : "final" (default) or "sep2020"
        Which 5-step pattern is used for T = 5 (spec A29); only with ``labels``.
    single_pass : bool
        Filter the target only once (ahat = dhat, the trace of the target spikes). The Sep 2020 code
        did this; the final code filters twice (default).
    target : array (T, B, N_out) of 0/1, or None
        Explicit desired spike rasters d (time-major, like the trace); any T. **[choice]** extension
        for spike-sequence learning (not in the official code, which only builds label targets).
    tau_s : float, only with a raw trace array.

    Returns
    -------
    LossResult
        ``value`` (float), ``dL_da`` (T, B, N_out), ``info``: "target" (T, B, N_out) the target traces
        ahat, "target_spikes" the desired spikes d ((T,) pattern with labels, (T, B, N_out) with
        ``target``), "per_sample" (B,) loss of each sample.

    Raises
    ------
    ValueError if both or neither of labels / target are given, if ``target`` has the wrong shape,
    is not 0/1 or contains NaN, or if tssl_target_pattern is not "final" together with ``target``.
    """
    a, tau_s, dtype = _output_trace(trace, tau_s)
    T, B, N = a.shape
    if not isinstance(single_pass, (bool, np.bool_)):
        raise TypeError(f"single_pass must be True or False; got {single_pass!r}.")
    if (labels is None) == (target is None):
        raise ValueError(
            "psp_kernel needs exactly one of labels (class index per sample, official kernel loss) "
            "and target (desired spike rasters (T, B, N_out)); got "
            f"{'both' if labels is not None else 'neither'}."
        )
    if target is not None:
        if tssl_target_pattern != "final":
            raise ValueError(
                f"tssl_target_pattern ({tssl_target_pattern!r}) only applies with labels; with an explicit "
                "target the desired spikes are the target raster itself. Drop tssl_target_pattern."
            )
        d = V.as_float_array(target, "target", dtype=np.float64, allow_int=True)
        V.check_time_major(d, "target")
        if d.shape != (T, B, N):
            raise ValueError(
                f"target has the wrong shape: expected (T, B, N_out) = {(T, B, N)} like the output trace, "
                f"got {d.shape}. Pass one desired spike raster per sample and output neuron, time-major."
            )
        V.check_binary(d, "target")
        ahat = psp_filter_1d(d, tau_s)
        if not single_pass:
            ahat = psp_filter_1d(ahat, tau_s)
        spikes = d
    else:
        labels = V.check_labels(labels, B, N)
        spikes = target_pattern(T, tssl_target_pattern)
        tr = psp_filter_1d(spikes, tau_s)
        if not single_pass:
            tr = psp_filter_1d(tr, tau_s)
        ahat = np.zeros_like(a)
        ahat[:, np.arange(B), labels] = tr[:, None]
    err = a - ahat
    per_sample = 0.5 * np.sum(err * err, axis=(0, 2))
    return LossResult(value=float(per_sample.sum()), dL_da=err.astype(dtype),
                      info={"target": ahat, "target_spikes": spikes, "per_sample": per_sample})


def psp_count(trace, labels, desired_count, undesired_count, *, tau_s=None):
    r"""TSSL-BP "count" loss on the SUM OF THE OUTPUT PSP TRACE, official ``loss: count`` (spec 5.5, A28).

    With C_k = sum_t a_k[t] and c_k = desired_count for the label neuron, undesired_count otherwise::

        e_k = (C_k - c_k) / T,  then   e_k := 0 if label neuron and C_k >= desired_count
                                       e_k := 0 if other neuron and C_k <= undesired_count
        L = 1/2 sum_b sum_k sum_t e_k^2 = (T/2) sum_b sum_k e_k^2,     E_k[t] = e_k   for every t

    (summed over the batch, no 1/B). As in the official code the masks are selected by the target
    VALUE: if desired_count == undesired_count no mask applies (e = (C - c)/T for every neuron).

    Parameters
    ----------
    trace : Trace or array (T, B, N_out) (then pass ``tau_s``, unused but kept for a uniform API).
    labels : int array (B,)
    desired_count, undesired_count : float >= 0
        Targets for C of the label neuron and of the other neurons (N-MNIST config: 15 and 3).

    Returns
    -------
    LossResult
        ``dL_da`` (T, B, N_out) constant in t; ``info``: "C" (B, N_out), "target" (B, N_out),
        "e" (B, N_out) the masked error, "per_sample" (B,).
    """
    a, _, dtype = _output_trace(trace, tau_s)
    T, B, N = a.shape
    labels = V.check_labels(labels, B, N)
    desired_count = _count_arg(desired_count, "desired_count")
    undesired_count = _count_arg(undesired_count, "undesired_count")
    C = a.sum(axis=0)                                   # (B, N)
    c = np.full((B, N), undesired_count)
    c[np.arange(B), labels] = desired_count
    e = (C - c) / T
    # official masking order (loss_count.forward): by target value, then by the sign of e
    e[(c != undesired_count) & (e >= 0)] = 0.0          # label neuron already at/above its target
    e[(c != desired_count) & (e <= 0)] = 0.0            # other neuron already at/below its target
    per_sample = 0.5 * T * np.sum(e * e, axis=1)
    E = np.broadcast_to(e, (T, B, N)).astype(dtype)
    return LossResult(value=float(per_sample.sum()), dL_da=np.ascontiguousarray(E),
                      info={"C": C, "target": c, "e": e, "per_sample": per_sample})


def psp_softmax(trace, labels, *, reduction="mean", tau_s=None):
    r"""TSSL-BP softmax loss (present in the official code, unused by its configs; spec 5.6).

    Cross entropy of log_softmax over the output neurons of C_k = sum_t a_k[t]::

        p_k = exp(C_k) / sum_m exp(C_m),    L_b = -log p_{label_b}
        L = (1/B) sum_b L_b   (reduction="mean", PyTorch CrossEntropyLoss default, the official code)
          =       sum_b L_b   (reduction="sum", the batch normalisation of the other TSSL-BP losses)
        E_k[t] = dL/da_k[t] = (p_k - [k = label]) / B   (or without 1/B), the same for every t

    (The official code applies log_softmax before CrossEntropyLoss, which applies it again; log_softmax
    is idempotent, so this is the plain cross entropy on C.) Computed with the max-shifted
    log-sum-exp (stable for large C).

    Returns
    -------
    LossResult
        ``dL_da`` (T, B, N_out); ``info``: "C" (B, N_out), "p" (B, N_out) softmax, "per_sample" (B,).
    """
    a, _, dtype = _output_trace(trace, tau_s)
    T, B, N = a.shape
    labels = V.check_labels(labels, B, N)
    V.check_choice(reduction, "reduction", ("mean", "sum"))
    C = a.sum(axis=0)
    shifted = C - C.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    per_sample = -log_p[np.arange(B), labels]
    scale = 1.0 / B if reduction == "mean" else 1.0
    p = np.exp(log_p)
    onehot = np.zeros((B, N))
    onehot[np.arange(B), labels] = 1.0
    e = (p - onehot) * scale
    E = np.broadcast_to(e, (T, B, N)).astype(dtype)
    return LossResult(value=float(per_sample.sum() * scale), dL_da=np.ascontiguousarray(E),
                      info={"C": C, "p": p, "per_sample": per_sample})
