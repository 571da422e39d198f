r"""Read-out (decision) rules and spike statistics (spec 5.7, 7.5, A17, A18).

Decisions, one class index per sample (int64 array of shape (B,)); ties go to the lowest index
(spec A18):

- :func:`predict_count`: argmax_j N_j, N_j = sum_t S_j[t] (ANTLR "count" accuracy).
- :func:`predict_first`: the neuron with the earliest first spike (ANTLR "first" accuracy);
  class 0 if the output layer did not spike at all.
- :func:`predict_psp`: argmax_k sum_t a_k[t] (TSSL-BP: PSP sum, not spike count, spec 5.7 / A28).

:func:`spike_statistics` gives the spike counts of the official ANTLR code (total and "necessary"
spikes per sample, spec 7.5) plus per-layer firing and silence fractions, and the statistics asked
for by reviewer 3 of TSSL-BP ("do the network dynamics play a role in 5 steps?"): the fraction of
neurons that spike more than once, the spikes per firing neuron and the distribution of the
first-spike steps of every layer.
"""
import numpy as np

from . import _validate as V
from ._jit import kernel
from .forward import Trace

__all__ = ["predict_count", "predict_first", "predict_psp", "first_spike_times", "spike_statistics"]


def _raster(trace_or_S, name="S"):
    """Output raster (T, B, N) as a float array, from a Trace or an array."""
    if isinstance(trace_or_S, Trace):
        return trace_or_S.output.S
    S = V.as_float_array(trace_or_S, name, dtype=np.float64, allow_int=True)
    V.check_time_major(S, name)
    return S


def _check_trace(trace, where):
    if not isinstance(trace, Trace):
        raise TypeError(f"{where} needs a snnref.Trace (the result of snnref.forward); got {type(trace).__name__}.")


def first_spike_times(S, no_spike=None):
    """First spike step of every neuron: tf[b, j] = min{t : S[t, b, j] != 0} (spec 5.3).

    Parameters
    ----------
    S : Trace or array (T, B, N)
        A trace (its output layer is used) or a raster (0/1; any non-zero counts as a spike).
    no_spike : float or None
        Value for neurons that never spike. None (default) = T, one step after the simulated window:
        the convention of the latency loss (spec 5.3). Pass e.g. ``np.inf`` or ``-1`` to mark them.

    Returns
    -------
    ndarray (B, N), float64
    """
    S = _raster(S)
    T = S.shape[0]
    fill = float(T) if no_spike is None else float(no_spike)
    fired = (S != 0).any(axis=0)
    return np.where(fired, (S != 0).argmax(axis=0), fill).astype(np.float64)


def predict_count(trace):
    """Class with the most output spikes, argmax_j sum_t S_j[t]; ties -> lowest index (spec 5.7, A18).

    ``trace``: Trace or output raster (T, B, N_out). Returns int64 (B,).
    """
    S = _raster(trace)
    return np.argmax(S.sum(axis=0), axis=1).astype(np.int64)


def predict_first(trace):
    """Class whose output neuron fires first; ties -> lowest index; no output spike -> class 0 (spec 5.7).

    ``trace``: Trace or output raster (T, B, N_out). Returns int64 (B,).
    """
    tf = first_spike_times(trace)            # silent neurons at T, so argmin of an all-silent row is 0
    return np.argmin(tf, axis=1).astype(np.int64)


def predict_psp(trace):
    """TSSL-BP decision argmax_k C_k with C_k = sum_t a_k[t] (PSP sum of the output layer, spec 5.7).

    ``trace``: a Trace of a TSSL-BP (psp_output) model. Returns int64 (B,); ties -> lowest index.
    """
    _check_trace(trace, "predict_psp")
    a = trace.output.a
    if a is None:
        raise ValueError(
            "predict_psp needs the PSP trace a of a TSSL-BP model (NeuronModel.tsslbp(...)); this trace has none. "
            "Use predict_count or predict_first for ANTLR models."
        )
    return np.argmax(a.sum(axis=0), axis=1).astype(np.int64)


@kernel
def _spike_counts_kernel(S, last_step, counts, first, total, necessary):
    """One pass over the raster S (T, B, N) of a layer, per sample b: counts[b, j] =
    #{t : S[t, b, j] != 0}, first[b, j] = the first such t (-1 if none), total[b] = sum of S[:, b],
    necessary[b] = the same sum over t <= last_step[b] (float64, t ascending then j)."""
    T, B, N = S.shape
    for b in range(B):
        for j in range(N):
            counts[b, j] = 0
            first[b, j] = -1
        tot = 0.0
        nec = 0.0
        for t in range(T):
            row = S[t, b]
            for j in range(N):
                v = row[j]
                if v != 0.0:
                    counts[b, j] += 1
                    if first[b, j] < 0:
                        first[b, j] = t
                    tot += v
                    if t <= last_step[b]:
                        nec += v
        total[b] = tot
        necessary[b] = nec


def spike_statistics(trace):
    """Spike statistics of one forward pass (spec 7.5, A17), per sample.

    With L spiking layers (hidden and output), T = the trace's simulated steps and, for sample b,
    t_out(b) = the step of its earliest output spike (T - 1 if the output never fired):

    - ``total_spikes`` (B,): sum over all spiking layers, neurons and steps of S;
    - ``necessary_spikes`` (B,): the same sum restricted to steps t <= t_out(b), i.e. all steps if
      the sample has no output spike (the official "necessary" count);
    - ``layer_spikes`` (L, B): spikes per layer;
    - ``firing_fraction`` (L, B): layer_spikes / (T N_l);
    - ``silent_fraction`` (L, B): fraction of the N_l neurons that never fired for the sample;
    - ``first_output_step`` (B,): t_out(b), or T if no output spike;
    - ``multi_spike_fraction`` (L, B): fraction of the N_l neurons that spiked MORE THAN ONCE in the
      window, #{j : sum_t S_j[t] >= 2} / N_l (reviewer 3 of TSSL-BP: "whether any neuron manages to
      spike more than once");
    - ``spikes_per_firing_neuron`` (L, B): layer_spikes / #{j : sum_t S_j[t] >= 1}, the mean number
      of spikes of the neurons that fired (NaN if no neuron of the layer fired for the sample; pool
      over samples with ``layer_spikes.sum(-1) / ((1 - silent_fraction) N_l).sum(-1)`` or ``np.nanmean``);
    - ``first_spike_hist`` (L, B, T), int64: ``first_spike_hist[l, b, t]`` = number of neurons of
      layer l whose FIRST spike for sample b is at step t (neurons that never fire are not counted;
      ``hist[l, b].sum() = (1 - silent_fraction[l, b]) N_l``). ``.sum(axis=1)`` is the histogram of
      first-spike steps over the samples, per layer.

    Averages over samples are ``.mean(axis=-1)``; the official code reports the per-sample mean of
    total and necessary spikes. For the early-stopped statistics of the official code pass a trace
    from ``forward(..., latency_early_stop=True)``.

    Parameters
    ----------
    trace : Trace

    Returns
    -------
    dict of float64 arrays (``first_output_step`` and ``first_spike_hist`` int64)
    """
    _check_trace(trace, "spike_statistics")
    T, B = trace.T, trace.B
    out_fired = trace.output.S.any(axis=(0, 2))
    first_out = np.where(out_fired, first_spike_times(trace.output.S, no_spike=np.inf).min(axis=1), T)
    first_out = first_out.astype(np.int64)
    last_step = np.minimum(first_out, T - 1)                          # inclusive
    L = len(trace.layers)
    layer_spikes = np.zeros((L, B))
    layer_necessary = np.zeros((L, B))
    firing = np.zeros((L, B))
    silent = np.zeros((L, B))
    multi = np.zeros((L, B))
    per_firing = np.zeros((L, B))
    first_hist = np.zeros((L, B, T), dtype=np.int64)
    for l, lt in enumerate(trace.layers):
        S = np.ascontiguousarray(lt.S)
        if S.dtype not in (np.float32, np.float64):
            S = S.astype(np.float64)
        S = S.reshape(S.shape[0], S.shape[1], -1)                       # conv layers: (T, B, C*H*W)
        N = S.shape[2]
        counts = np.empty((B, N), dtype=np.int64)                      # spikes per neuron
        tf = np.empty((B, N), dtype=np.int64)                          # first spike step, -1 if none
        _spike_counts_kernel(S, last_step, counts, tf, layer_spikes[l], layer_necessary[l])
        firing[l] = layer_spikes[l] / (T * N)
        fired = counts >= 1
        silent[l] = (~fired).mean(axis=1)
        multi[l] = (counts >= 2).mean(axis=1)
        n_fired = fired.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_firing[l] = np.where(n_fired > 0, layer_spikes[l] / np.maximum(n_fired, 1), np.nan)
        for b in range(B):
            first_hist[l, b] = np.bincount(tf[b][fired[b]], minlength=T)
    return {
        "total_spikes": layer_spikes.sum(axis=0),
        "necessary_spikes": layer_necessary.sum(axis=0),
        "layer_spikes": layer_spikes,
        "firing_fraction": firing,
        "silent_fraction": silent,
        "first_output_step": first_out,
        "multi_spike_fraction": multi,
        "spikes_per_firing_neuron": per_firing,
        "first_spike_hist": first_hist,
    }
