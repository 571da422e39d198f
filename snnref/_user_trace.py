r"""Validation of forward traces handed to :func:`snnref.backward` (docs/VERIFYING.md, "Your own trace").

Feeding a trace computed elsewhere into ``snnref.backward`` tests a port's backward pass alone. It
is supported and validated: ``backward(..., trace_check=...)`` with

``"auto"`` (default)  nothing more for traces returned by :func:`snnref.forward` (they are
                      registered when created); ``"full"`` for any other trace;
``"basic"``           shapes, dtypes, finite values, binary S, and S = H(V - theta) (">" with
                      strict_threshold) except at near-threshold potentials;
``"full"``            basic + the model semantics of spec 1.1 / 2.1 checked step by step from the
                      trace's own values: with X the layer input (x or the spikes of the layer
                      below; for TSSL-BP this gives I = W^T a^{l-1}, spec 2.3) and keep = 1 - S[t-1],
                          I[t] = alpha_I (keep if reset_current else 1) I[t-1] + beta_I X[t] W
                          V[t] = alpha_V keep V[t-1] + beta_V I[t] + beta_bias b
                      (TSSL-BP also du[t] = V[t] - keep V[t-1], a[t] = alpha_I a[t-1] + beta_I S[t]);
``"off"``             no check (your responsibility).

For layered networks (``Network(layers=...)``) arrays keep their spatial shapes and ``"full"``
checks as much as ``"basic"`` (the step-by-step recomputation is written for dense networks).

A trace with ``form="relaxed"`` (the relaxed model of spec 10.2, e.g. from :mod:`snnref.companion`,
S real in [0, 1]) is checked for shapes, dtypes, finite values and S in [0, 1] only.

Each step is checked against the trace's own previous state, so the check is vectorised over time
and costs about one forward pass. Tolerance: ``rtol`` relative to the largest magnitude of the
quantity (default 1e-9 for float64, 1e-4 for float32): a trace from another implementation with
another summation order passes. A violation raises :class:`snnref.errors.SnnrefError` naming the
layer, step, sample, neuron and, when it recognises it, the model mismatch (e.g. a trace from a
model without current reset).
"""
import weakref

import numpy as np

from .errors import SnnrefError

__all__ = ["check_user_trace", "register_forward_trace", "trace_from_arrays", "TRACE_CHECKS"]

TRACE_CHECKS = ("auto", "full", "basic", "off")
_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}
_FROM_FORWARD = weakref.WeakValueDictionary()


def register_forward_trace(trace):
    """Called by :func:`snnref.forward` for the traces it returns (``trace_check="auto"`` skips them)."""
    _FROM_FORWARD[id(trace)] = trace
    return trace


def _is_forward_trace(trace):
    return _FROM_FORWARD.get(id(trace)) is trace


def _where(mask):
    t, b, n = (int(i) for i in np.argwhere(mask)[0])
    return t, b, n


def check_user_trace(net, trace, trace_check="auto", rtol=None):
    """Validate ``trace`` for ``net`` at the level ``trace_check`` (see the module docstring)."""
    if trace_check not in TRACE_CHECKS:
        raise ValueError(f"trace_check must be one of {TRACE_CHECKS}; got {trace_check!r}.")
    if trace_check == "off" or (trace_check == "auto" and _is_forward_trace(trace)):
        return
    m = net.model
    dt = np.dtype(net.dtype)
    rtol = _RTOL[dt] if rtol is None else float(rtol)
    T, B = trace.T, trace.B
    layered = getattr(net, "layers", None) is not None
    names = ("I", "V", "S") + (("du", "a") if m.psp_output else ())
    arrays = [("x", trace.x)] + ([("a0", trace.a0)] if m.psp_output else [])
    for l, lt in enumerate(trace.layers):
        for n in names:
            arr = getattr(lt, n)
            if arr is None:
                raise SnnrefError(f"trace.layers[{l}].{n} is missing; a {m.family} trace needs {', '.join(names)}.")
            arrays.append((f"trace.layers[{l}].{n}", arr))
    for l, (name, arr) in enumerate(arrays):
        if not isinstance(arr, np.ndarray):
            raise SnnrefError(f"{name} must be a numpy array; got {type(arr).__name__}.")
        i = 0 if name in ("x", "a0") else int(name.split("[")[1].split("]")[0]) + 1
        expected = (T, B) + (tuple(net.shapes[i]) if layered else (net.sizes[i],))
        if arr.shape != expected:
            raise SnnrefError(f"{name} has shape {arr.shape}; expected (T, B, ...) = {expected} "
                              "(time-major, like trace.x).")
        arr = arr.reshape(T, B, -1)
        if arr.dtype != dt:
            raise SnnrefError(f"{name} has dtype {arr.dtype}; the network computes in {dt}: pass {name}.astype('{dt}').")
        if not np.all(np.isfinite(arr)):
            raise SnnrefError(f"{name} holds NaN or inf at (t, b, n) = {_where(~np.isfinite(arr))}.")
    if trace.form == "relaxed":
        # a trace of the relaxed model (spec 10.2, snnref.companion): S real in [0, 1], other dynamics
        for l, lt in enumerate(trace.layers):
            if np.any((lt.S < 0) | (lt.S > 1)):
                raise SnnrefError(f"trace.layers[{l}].S of a relaxed trace must lie in [0, 1].")
        return
    theta = m.theta
    for l, lt in enumerate(trace.layers):
        S, V = lt.S.reshape(T, B, -1), lt.V.reshape(T, B, -1)
        bad = (S != 0) & (S != 1)
        if bad.any():
            raise SnnrefError(f"trace.layers[{l}].S must hold only 0 and 1 (spikes); found {S[_where(bad)]!r} at "
                              f"(t, b, n) = {_where(bad)}. (Relaxed real-valued traces: trace_check='off'.)")
        fire = (V > theta) if m.strict_threshold else (V >= theta)
        scale = max(float(np.max(np.abs(V))), theta)
        wrong = (fire != (S == 1)) & (np.abs(V - theta) > rtol * scale)
        if wrong.any():
            t, b, n = _where(wrong)
            raise SnnrefError(
                f"trace.layers[{l}].S[{t}, {b}, {n}] = {S[t, b, n]:g} but V = {V[t, b, n]!r} with theta = {theta} "
                f"(threshold '{'>' if m.strict_threshold else '>='}'): S is not the threshold of V (spec 1.1 Eq. 3).")
    if trace_check == "basic" or layered:
        return    # layered (convolutional) networks: the step-by-step model check is the dense one only
    _check_semantics(net, trace, rtol)


def _check_semantics(net, trace, rtol):
    m = net.model
    f64 = np.float64
    if m.psp_output:
        a0 = np.zeros_like(trace.x, dtype=f64)
        prev = 0.0
        for t in range(trace.T):
            prev = m.alpha_I * prev + m.beta_I * trace.x[t].astype(f64)
            a0[t] = prev
        _compare(trace.a0, a0, "trace.a0", "the PSP-filtered input a0[t] = alpha_I a0[t-1] + beta_I x[t] (spec 2.2)", rtol)
    for l, lt in enumerate(trace.layers):
        # the current recurrence runs on x / the spikes below for every model (for TSSL-BP this
        # equals I = W^T a^{l-1} by linearity, spec 2.3)
        X = (trace.x if l == 0 else trace.layers[l - 1].S).astype(f64)
        W = net.weights[l].astype(f64)
        P = np.einsum("tbi,ij->tbj", X, W)
        I, V, S = (a.astype(f64) for a in (lt.I, lt.V, lt.S))
        Ip, Vp, Sp = (np.concatenate([np.zeros_like(a[:1]), a[:-1]]) for a in (I, V, S))
        keep = 1.0 - Sp
        I_pred = m.alpha_I * (keep if m.reset_current else 1.0) * Ip + m.beta_I * P
        bad = _mismatch(I, I_pred, rtol)
        if bad is not None:
            I_alt = m.alpha_I * (1.0 if m.reset_current else keep) * Ip + m.beta_I * P
            why = ""
            if _mismatch(I, I_alt, rtol) is None:
                why = (" The trace follows a model WITHOUT current reset (reset_current=False)" if m.reset_current else
                       " The trace follows a model WITH current reset (reset_current=True)") + \
                      f", but net.model has reset_current={m.reset_current}."
            elif l == 0 and trace.x.shape[1] == trace.T and trace.T > 1:
                why = " (Is x batch-first? snnref traces are time-major (T, B, N).)"
            _raise(l, "I", bad, I, I_pred, "I[t] = alpha_I r I[t-1] + beta_I X[t] W (spec 1.1 Eq. 1)" + why)
        V_pred = m.alpha_V * keep * Vp + m.beta_V * I + m.beta_bias * net.biases[l].astype(f64)
        bad = _mismatch(V, V_pred, rtol)
        if bad is not None:
            _raise(l, "V", bad, V, V_pred, "V[t] = alpha_V (1 - S[t-1]) V[t-1] + beta_V I[t] + beta_bias b (spec 1.1 Eq. 2)")
        if m.psp_output:
            du = lt.du.astype(f64)
            bad = _mismatch(du, V - keep * Vp, rtol)
            if bad is not None:
                _raise(l, "du", bad, du, V - keep * Vp, "du[t] = u[t] - (1 - s[t-1]) u[t-1] (spec 2.1)")
            a = lt.a.astype(f64)
            a_pred = m.alpha_I * np.concatenate([np.zeros_like(a[:1]), a[:-1]]) + m.beta_I * S
            bad = _mismatch(a, a_pred, rtol)
            if bad is not None:
                _raise(l, "a", bad, a, a_pred, "a[t] = alpha_I a[t-1] + beta_I s[t] (spec 2.1)")


def _mismatch(got, want, rtol):
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-300)
    bad = np.abs(got - want) > rtol * scale
    return _where(bad) if bad.any() else None


def _compare(got, want, name, what, rtol):
    bad = _mismatch(got.astype(np.float64), want, rtol)
    if bad is not None:
        raise SnnrefError(f"{name}{list(bad)} = {got[bad]!r} but {what} gives {want[bad]!r}.")


def _raise(l, name, idx, got, want, what):
    t, b, n = idx
    raise SnnrefError(
        f"trace.layers[{l}].{name}[{t}, {b}, {n}] = {got[idx]!r} does not follow the model: {what} gives "
        f"{want[idx]!r} from the trace's own previous state, its input and net.weights[{l}]. "
        "Is the trace from this network and this NeuronModel? (trace_check='off' skips this check.)")


def trace_from_arrays(net, x, I, V, S, *, du=None, a=None, layout="TBN"):
    """Build a :class:`snnref.Trace` from another implementation's forward states.

    ``I``, ``V``, ``S`` (and for TSSL-BP ``du``, ``a``): lists with one (T, B, N_l) array per
    spiking layer ("TBN") or (B, T, N_l) ("BTN"); ``x`` the input in the same layout. Arrays are
    converted to the network dtype; the trace is validated by ``snnref.backward`` (trace_check).
    """
    from . import LayerTrace, Trace

    if layout not in ("TBN", "BTN"):
        raise SnnrefError(f"layout must be 'TBN' or 'BTN'; got {layout!r}.")

    def conv(arr):
        arr = np.asarray(arr)
        if layout == "BTN":
            arr = arr.transpose(1, 0, 2)
        return np.ascontiguousarray(arr, dtype=net.dtype)

    L = net.n_layers
    for name, lst in (("I", I), ("V", V), ("S", S), ("du", du), ("a", a)):
        if lst is not None and len(lst) != L:
            raise SnnrefError(f"{name} must be a list of {L} arrays (one per spiking layer); got {len(lst)}.")
    if net.model.psp_output and (du is None or a is None):
        raise SnnrefError("a TSSL-BP trace needs du and a for every layer.")
    xs = conv(x)
    a0 = None
    if net.model.psp_output:
        a0 = np.zeros_like(xs)
        prev = np.zeros(xs.shape[1:], dtype=xs.dtype)
        for t in range(xs.shape[0]):
            prev = net.dtype(net.model.alpha_I) * prev + net.dtype(net.model.beta_I) * xs[t]
            a0[t] = prev
    layers = [LayerTrace(conv(I[l]), conv(V[l]), conv(S[l]), None if du is None else conv(du[l]),
                         None if a is None else conv(a[l])) for l in range(L)]
    return Trace(layers=layers, x=xs, a0=a0, model=net.model, form="rnn", T_full=xs.shape[0])
