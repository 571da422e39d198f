r"""Activation-based rules act_rnn, act_srm, act_slayer (spec 3.1-3.3; ANTLR appendix Algorithm 1).

Every backward state is zero at t = T. Per spiking layer l (top layer first), per sample and
neuron, for t = T-1 .. 0 (``[t+1]`` values already final), with the surrogate
sigma(v) = ste_alpha exp(-ste_beta |v - theta|) (spec 1.5)::

    signal arriving at the layer:  dS^L[t] = dL_dS[t],   dS^l[t] = beta_I sum_j w^{l+1}_ij dI^{l+1}_j[t]   (C5)

    act_srm    (Algorithm 1 with V_dep, spec 3.2)
        dV[t]     = sigma(V[t]) dS[t]
        dV_dep[t] = dV[t] + alpha_V (1 - S[t]) dV_dep[t+1]                          (C1)
        dI[t]     = beta_V dV_dep[t] + alpha_I (1 - S[t]) dI[t+1]                    (C2)
    act_slayer (spec 3.3): act_srm without the (1 - S) gates of (C1), (C2)
    act_rnn    (BPTT with the reset paths, spec 3.1, appendix C)
        g[t]  = dS[t] - alpha_I I[t] dI[t+1] - alpha_V V[t] dV[t+1]                  (R1)
        dV[t] = sigma(V[t]) g[t] + alpha_V (1 - S[t]) dV[t+1]                         (R2)
        dI[t] = beta_V dV[t] + alpha_I (1 - S[t]) dI[t+1]                             (R3)   (dV_dep = dV)

    parameter gradients (summed over t and b):
        dL/dW^l = beta_I sum S^{l-1}[t]^T dI^l[t]        (C3)
        dL/db^l = beta_bias sum dV_dep^l[t]                (C4)

S is used arithmetically (``1 - S`` gates, S as the multiplier of (C3)), so these rules are exact on
traces with real-valued S in [0, 1] (relaxed models, spec 10.2).

``impl="reference"`` runs :func:`act_srm_layer`, :func:`act_slayer_layer` or :func:`act_rnn_layer`
for one layer at a time (the loops above, written out), then the connection step
(:mod:`snnref.rules.connections`): (C3), (C4) and the back-projection (C5) for the layer below.
``impl="fast"`` (default) is :mod:`snnref.rules.fast_antlr` (bit-identical results).
"""
import numpy as np

from .._jit import parallel_kernel, prange
from . import fast_antlr
from .connections import all_rows, connections_of, rows
from .steps import at_next, core_step, current_step, dep_step, reset_path_signal, surrogate, surrogate_constants

__all__ = ["act_rnn_backward", "act_srm_backward", "act_slayer_backward", "act_srm_layer", "act_slayer_layer",
           "act_rnn_layer", "layer_parameter_grads"]


# --------------------------------------------------------------------------------------- layer kernels
@parallel_kernel
def act_srm_layer(V, I, S, dS, theta, ste_alpha, ste_beta, alpha_I, alpha_V, beta_V, dV, dV_dep, dI):
    """act_srm, one layer (Algorithm 1 with V_dep, spec 3.2): for t = T-1..0, every sample and neuron::

        dV[t] = sigma(V[t]) dS[t];  dV_dep[t] = (C1);  dI[t] = (C2)

    ``dS`` (T, B, N) is the signal arriving at the layer; fills dV, dV_dep, dI (zeros at t = T).
    ``I`` is not used (same signature as :func:`act_rnn_layer`)."""
    T, B, N = V.shape
    for b in prange(B):
        for t in range(T - 1, -1, -1):
            for j in range(N):
                dv = surrogate(V[t, b, j], theta, ste_alpha, ste_beta) * dS[t, b, j]
                dv_dep, di = core_step(dv, S[t, b, j], at_next(dV_dep, t, b, j), at_next(dI, t, b, j),
                                       alpha_I, alpha_V, beta_V)
                dV[t, b, j] = dv
                dV_dep[t, b, j] = dv_dep
                dI[t, b, j] = di


@parallel_kernel
def act_slayer_layer(V, I, S, dS, theta, ste_alpha, ste_beta, alpha_I, alpha_V, beta_V, dV, dV_dep, dI):
    """act_slayer, one layer (spec 3.3): :func:`act_srm_layer` with ungated (C1), (C2)::

        dV_dep[t] = dV[t] + alpha_V dV_dep[t+1],   dI[t] = beta_V dV_dep[t] + alpha_I dI[t+1]

    (the linear core with S = 0: the PSP kernel is never cut by the neuron's own spikes)."""
    T, B, N = V.shape
    for b in prange(B):
        for t in range(T - 1, -1, -1):
            for j in range(N):
                dv = surrogate(V[t, b, j], theta, ste_alpha, ste_beta) * dS[t, b, j]
                dv_dep, di = core_step(dv, 0.0, at_next(dV_dep, t, b, j), at_next(dI, t, b, j),
                                       alpha_I, alpha_V, beta_V)
                dV[t, b, j] = dv
                dV_dep[t, b, j] = dv_dep
                dI[t, b, j] = di


@parallel_kernel
def act_rnn_layer(V, I, S, dS, theta, ste_alpha, ste_beta, alpha_I, alpha_V, beta_V, dV, dV_dep, dI):
    """act_rnn, one layer (spec 3.1): for t = T-1..0, every sample and neuron::

        g[t] = (R1);  dV[t] = (R2) (the total derivative);  dI[t] = (R3);  dV_dep[t] = dV[t]
    """
    T, B, N = V.shape
    for b in prange(B):
        for t in range(T - 1, -1, -1):
            for j in range(N):
                v = V[t, b, j]
                s = S[t, b, j]
                dv_next = at_next(dV, t, b, j)
                di_next = at_next(dI, t, b, j)
                g = reset_path_signal(dS[t, b, j], I[t, b, j], v, dv_next, di_next, alpha_I, alpha_V)
                dv = dep_step(surrogate(v, theta, ste_alpha, ste_beta) * g, s, dv_next, alpha_V)
                dV[t, b, j] = dv
                dV_dep[t, b, j] = dv
                dI[t, b, j] = current_step(dv, s, di_next, alpha_I, beta_V)


# --------------------------------------------------------------------------------------- driver
def layer_parameter_grads(conn, trace, l, model, rt, rb, dI, dV_dep):
    """(C3), (C4) of layer l through its connection, over the rows (rt, rb) of the row arrays dI,
    dV_dep (N_l columns); float64 (dW, db) before the cast."""
    X = np.ascontiguousarray(trace.layer_input(l), dtype=dI.dtype)
    g = conn.weight_grad(X, rt, rb, dI)
    g *= model.beta_I
    gb = conn.bias_grad(dV_dep)
    gb *= model.beta_bias
    return g, gb


def reference_backward(layer_kernel, net, trace, dL_dS, return_adjoints, opt):
    """``impl="reference"`` of an activation rule: for l = L..1 the layer kernel on the signal dS
    arriving at the layer, then the connection step ((C3), (C4), and (C5) for the layer below)."""
    m = net.model
    dtype = net.dtype
    T, B = trace.T, trace.B
    L = net.n_layers
    rt, rb = all_rows(T, B)
    dS = np.zeros((T, B, net.sizes[-1]), dtype=dtype) if dL_dS is None else np.array(dL_dS, dtype=dtype)
    dW, db = [None] * L, [None] * L
    adjoints = [None] * L if return_adjoints else None
    for l, conn in reversed(list(enumerate(connections_of(net, trace)))):
        lt = trace.layers[l].flat()
        V, I, S = (np.ascontiguousarray(a, dtype=dtype) for a in (lt.V, lt.I, lt.S))
        dV, dV_dep, dI = (np.zeros_like(V) for _ in range(3))
        layer_kernel(V, I, S, dS, *surrogate_constants(dtype, m.theta, opt["ste_alpha"], opt["ste_beta"]),
                     m.alpha_I, m.alpha_V, m.beta_V, dV, dV_dep, dI)
        g, gb = layer_parameter_grads(conn, trace, l, m, rt, rb, rows(dI), rows(dV_dep))
        dW[l], db[l] = g.astype(dtype), gb.astype(dtype)
        if return_adjoints:
            adjoints[l] = {"dS": dS, "dV": dV, "dV_dep": dV_dep, "dI": dI, "dT": np.zeros_like(V)}
        if l > 0:  # the connection step: (C5) for the layer below
            dS = conn.back_project(rows(dI), m.beta_I).reshape(T, B, conn.n_in)
    return dW, db, adjoints


def _rule(layer_kernel, fast_rule):
    def gradients(net, trace, dL_dS, dL_dt, dL_da, return_adjoints, opt):
        if opt["impl"] == "fast":
            return fast_antlr.backward(net, trace, fast_rule, dL_dS, dL_dt, return_adjoints, opt)
        return reference_backward(layer_kernel, net, trace, dL_dS, return_adjoints, opt)
    gradients.__doc__ = (f"Registry entry of the rule (inputs validated, options resolved): the layer kernel "
                         f":func:`{layer_kernel.__name__}` (reference) or the fast path.")
    return gradients


act_rnn = _rule(act_rnn_layer, fast_antlr.ACT_RNN)
act_srm = _rule(act_srm_layer, fast_antlr.ACT_SRM)
act_slayer = _rule(act_slayer_layer, fast_antlr.ACT_SLAYER)


# --------------------------------------------------------------------------------------- public wrappers
def _run(rule, net, trace, **kwargs):
    from . import run  # the registry imports this module: look it up at call time
    return run(net, trace, rule, **kwargs)


def act_rnn_backward(net, trace, dL_dS=None, *, return_adjoints=False, ste_alpha=1.0, ste_beta=3.0, impl="fast"):
    r"""Activation-based BPTT through the RNN-like form WITH reset paths (spec 3.1; paper Sec. 3.1,
    appendix C Eqs. 11-17). Rule name ``act_rnn``; not part of the official code (spec A1).

    For t = T-1..0, l = L..1, neuron j, states of t+1 already final (zero at T)::

        g[t]  = dS[t] - alpha_I I[t] dI[t+1] - alpha_V V[t] dV[t+1]          (R1, reset paths)
        dV[t] = sigma(V[t]) g[t] + alpha_V (1 - S[t]) dV[t+1]                 (R2, total derivative)
        dI[t] = beta_V dV[t] + alpha_I (1 - S[t]) dI[t+1]                     (R3)

    dS^L = dL_dS, dS^l = beta_I W^{l+1} dI^{l+1} (C5); I, V pre-reset forward values;
    sigma(v) = ste_alpha exp(-ste_beta |v - theta|) (spec 1.5). Gradients:
    dW^l = beta_I sum_{t,b} S^{l-1}[t] dI^l[t]^T (C3), db^l = beta_bias sum_{t,b} dV^l[t].
    Exact BPTT of the relaxed model (S real in [0, 1], spec 10.2 P-A1): S is used arithmetically.
    act_rnn - act_srm is exactly the contribution of the two reset-path terms of (R1).

    Parameters
    ----------
    net : Network (ANTLR model)
    trace : Trace, ``snnref.forward(net, x)`` (S may be real-valued in [0, 1])
    dL_dS : array (T_sim, B, N_out) or None (zeros)
    return_adjoints : bool, see :func:`snnref.backward` ("dV" = "dV_dep" = the total dV)
    ste_alpha, ste_beta : float >= 0, surrogate parameters (defaults 1.0, 3.0)
    impl : "fast" (default) or "reference" (:func:`act_rnn_layer`; the same results)

    Returns
    -------
    Gradients
    """
    return _run("act_rnn", net, trace, dL_dS=dL_dS, return_adjoints=return_adjoints,
                ste_alpha=ste_alpha, ste_beta=ste_beta, impl=impl)


def act_srm_backward(net, trace, dL_dS=None, *, return_adjoints=False, ste_alpha=1.0, ste_beta=3.0, impl="fast"):
    r"""SRM-based activation rule, ANTLR appendix Algorithm 1 with V_dep (spec 3.2; official
    lrule "Activation"). Rule name ``act_srm``.

    For t = T-1..0, l = L..1, zero states at t = T::

        dS^L[t] = dL_dS[t],   dS^l[t] = beta_I sum_j w^{l+1}_ij dI^{l+1}_j[t]           (C5)
        dV[t]     = sigma(V[t]) dS[t]
        dV_dep[t] = dV[t] + alpha_V (1 - S[t]) dV_dep[t+1]                              (C1)
        dI[t]     = beta_V dV_dep[t] + alpha_I (1 - S[t]) dI[t+1]                        (C2)
        dW^l = beta_I sum_{t,b} S^{l-1}[t] dI^l[t]^T,  db^l = beta_bias sum_{t,b} dV_dep^l[t]   (C3, C4)

    = :func:`act_rnn_backward` without the reset-path terms of (R1) (appendix D); (C1)-(C5) are the
    transpose of the frozen-reset linear map (W, b, S^{l-1}) -> V^l (spec 10.2 P-A3). S is used
    arithmetically (exact on relaxed traces, P-A2).

    Parameters
    ----------
    net, trace, dL_dS, return_adjoints, ste_alpha, ste_beta, impl : as :func:`act_rnn_backward`.

    Returns
    -------
    Gradients
    """
    return _run("act_srm", net, trace, dL_dS=dL_dS, return_adjoints=return_adjoints,
                ste_alpha=ste_alpha, ste_beta=ste_beta, impl=impl)


def act_slayer_backward(net, trace, dL_dS=None, *, return_adjoints=False, ste_alpha=1.0, ste_beta=3.0,
                        impl="fast"):
    r"""Activation rule with the official code's ungated "SLAYER" propagation style (spec 3.3).
    Rule name ``act_slayer``; for comparison only (no official learning rule calls it).

    As :func:`act_srm_backward` but (C1)/(C2) without the (1 - S) gates::

        dV_dep[t] = dV[t] + alpha_V dV_dep[t+1],    dI[t] = beta_V dV_dep[t] + alpha_I dI[t+1]

    i.e. the PSP kernel is treated as never cut by the neuron's own spikes. Equals ``act_srm`` for
    every layer none of whose neurons fire (spec 10.2 P-A4).

    Parameters
    ----------
    net, trace, dL_dS, return_adjoints, ste_alpha, ste_beta, impl : as :func:`act_rnn_backward`.

    Returns
    -------
    Gradients
    """
    return _run("act_slayer", net, trace, dL_dS=dL_dS, return_adjoints=return_adjoints,
                ste_alpha=ste_alpha, ste_beta=ste_beta, impl=impl)
