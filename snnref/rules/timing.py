r"""Timing-based rule ``timing`` (spec 3.4; ANTLR appendix Algorithm 2; official lrule "Timing").

Every backward state is zero at t = T. Per spiking layer l (top layer first), per sample and
neuron, for t = T-1 .. 0 (``[t+1]`` values already final)::

    signal arriving at the layer (spike-time gradient before masking):
        Tprop^L[t] = dL_dt[t],    Tprop^{l-1}_i[t] = beta_I sum_j w^l_ij E2^l_j[t]               (T3)

    dT[t]     = Tprop[t] if S[t] = 1 else 0                                              (T1)
    dV[t]     = -dT[t] / Vstar[t] if S[t] = 1 else 0                                     (T2)
    dV_dep[t] = dV[t] + alpha_V (1 - S[t]) dV_dep[t+1]                                   (C1)
    dI[t]     = beta_V dV_dep[t] + alpha_I (1 - S[t]) dI[t+1]                             (C2)
    E1[t]     = g[t] (dV[t+1]/2 + alpha_V E1[t+1]) - alpha_V dV[t]/2                      (spec 3.4)
    E2[t]     = alpha_I g[t] E2[t+1] - beta_V alpha_I dV[t]/2 + beta_V E1[t]
                with g[t] = 0 if S[t] = 1 (or t = T-1) else 1

    parameter gradients: (C3), (C4) as in :mod:`snnref.rules.activation`, then the timing penalty
        dW^l_ij -= (timing_penalty / N_{l-1}) mean_b [neuron j of layer l never fired in sample b]

The traces make beta_I E2_j[t] = -sum_{n=0}^{n_max(j,t)} eps_star[n] dV_j[t+n] over the causal
window (n_max: largest n such that j does not fire in t..t+n-1), so (T3) is the appendix's
Tprop^{l-1}_i[t] = -sum_j w^l_ij sum_n eps_star[n] dV^l_j[t+n]. ``timing_impl="explicit"`` computes
these sums directly (O(T) per step, a slow reference); ``timing_tau_min=-1`` adds the n = -1 term
-eps_star[-1] sum_j w^l_ij dV^l_j[t-1] to (T3) (spec A6). Vstar is that of spec 1.4 (``vstar_mode``),
floored at ``vstar_floor``.

``impl="reference"`` runs :func:`timing_layer` for one layer at a time, then the connection step
(:mod:`snnref.rules.connections`): (C3), (C4) and the back-projection (T3) for the layer below.
``impl="fast"`` (default) is :mod:`snnref.rules.fast_antlr` (bit-identical results).
:mod:`snnref.rules.antlr` (Algorithm 3) reuses this driver with its own layer kernel.
"""
import numpy as np

from .._jit import kernel, parallel_kernel, prange
from ..neuron import eps, eps_star_minus1
from . import fast_antlr
from .activation import layer_parameter_grads
from .connections import all_rows, connections_of, previous_rows, rows
from .steps import at_next, aux_traces_step, causal_sum_term, core_step, surrogate_constants, timing_injection

__all__ = ["timing_backward", "timing_layer", "settings", "timing_penalty", "reference_backward"]


# --------------------------------------------------------------------------------------- layer kernel
@parallel_kernel
def timing_layer(V, S, dS, Tprop, alpha_I, alpha_V, beta_V, theta, ste_alpha, ste_beta, lam_act, lam_tim,
                 vstar_code, vstar_floor, explicit, es_over_bI, vs_n, dT, dV, dV_dep, dI, E1, E2):
    """timing, one layer (Algorithm 2, spec 3.4): for t = T-1..0, every sample and neuron::

        dT[t] = (T1);  dV[t] = (T2);  dV_dep[t] = (C1);  dI[t] = (C2);  E1[t], E2[t] (spec 3.4)

    ``Tprop`` (T, B, N) is the spike-time gradient arriving at the layer; fills dT, dV, dV_dep, dI,
    E1, E2. ``explicit``: E1, E2 as the explicit causal sums -sum_n vs_n[n] dV[t+n],
    -sum_n es_over_bI[n] dV[t+n] (``timing_impl="explicit"``). ``dS``, ``theta``, ``ste_*``,
    ``lam_*`` are not used (the signature of :func:`snnref.rules.antlr.antlr_layer`)."""
    T, B, N = V.shape
    for b in prange(B):
        for t in range(T - 1, -1, -1):
            tp = max(t - 1, 0)  # previous step (used only for t >= 1)
            for j in range(N):
                v = V[t, b, j]
                spike = S[t, b, j] == 1.0
                dt_ = 0.0
                dv = 0.0
                if spike:
                    dt_ = Tprop[t, b, j]                                                        # (T1)
                    dv = timing_injection(dt_, t, v, V[tp, b, j], S[tp, b, j], vstar_code, vstar_floor)  # (T2)
                store_step(t, b, j, dt_, dv, S, alpha_I, alpha_V, beta_V, explicit, es_over_bI, vs_n,
                           dT, dV, dV_dep, dI, E1, E2)                                 # (C1), (C2), E1, E2


@kernel
def store_step(t, b, j, dt_, dv, S, alpha_I, alpha_V, beta_V, explicit, es_over_bI, vs_n, dT, dV, dV_dep, dI, E1, E2):
    """The rest of one step (t, b, j) of the timing-path rules, once dT[t] and the injected dV[t] are
    known: stores them, the linear core (C1), (C2) and the traces E1[t], E2[t] (spec 3.4; the
    explicit sums with ``explicit``)."""
    s = S[t, b, j]
    dT[t, b, j] = dt_
    dV[t, b, j] = dv
    dv_dep, di = core_step(dv, s, at_next(dV_dep, t, b, j), at_next(dI, t, b, j), alpha_I, alpha_V, beta_V)
    dV_dep[t, b, j] = dv_dep
    dI[t, b, j] = di
    if not explicit:
        e1, e2 = aux_traces_step(dv, at_next(dV, t, b, j), at_next(E1, t, b, j), at_next(E2, t, b, j),
                                 s == 1.0 or t + 1 == dV.shape[0], alpha_I, alpha_V, beta_V)
    else:
        e1, e2 = explicit_traces(dV, S, t, b, j, dv, es_over_bI, vs_n)
    E1[t, b, j] = e1
    E2[t, b, j] = e2


@kernel
def explicit_traces(dV, S, t, b, j, dv, es_over_bI, vs_n):
    """E1[t], E2[t] as explicit causal sums over n = 0..n_max (``timing_impl="explicit"``), with
    dV[t] = ``dv`` and dV[t+n] (n >= 1) read from the array."""
    e1 = 0.0
    e2 = 0.0
    for n in range(dV.shape[0] - t):
        dvn = dv if n == 0 else dV[t + n, b, j]
        e1, e2 = causal_sum_term(e1, e2, vs_n[n], es_over_bI[n], dvn)
        if S[t + n, b, j] == 1.0:
            break
    return e1, e2


# --------------------------------------------------------------------------------------- settings
def settings(model, opt, T):
    """The timing-path settings of both implementations (a :class:`~snnref.rules.fast_antlr.TimingSettings`):
    Vstar mode and floor, the n = -1 term, eps_star[-1] = eps[0]/2 (spec 1.4), and for
    ``timing_impl="explicit"`` the coefficients es_over_bI[n] = eps_star[n] / beta_I (untruncated
    kernel, eps[T] included) and vs_n[n] = (alpha_V^(n+1) - alpha_V^(n-1)) / 2 of the causal sums."""
    explicit = opt["timing_impl"] == "explicit"
    if explicit:
        e = eps(model, T + 1)  # untruncated kernel up to eps[T] (spec 1.4)
        e_prev = np.concatenate(([0.0], e[:T - 1]))
        es_over_bI = (e[1:] - e_prev) / (2.0 * model.beta_I)
        k = np.arange(T + 1, dtype=np.float64)
        pv = np.power(model.alpha_V, k)
        vs_n = 0.5 * (pv[1:] - np.concatenate(([0.0], pv[:T - 1])))
    else:
        es_over_bI = np.zeros(1)
        vs_n = np.zeros(1)
    return fast_antlr.TimingSettings(
        vstar_code=opt["vstar_mode"] == "code", vstar_floor=float(opt["vstar_floor"]),
        tau_min_m1=opt["timing_tau_min"] == -1, es_m1=eps_star_minus1(model), explicit=explicit,
        es_over_bI=np.ascontiguousarray(es_over_bI, dtype=np.float64),
        vs_n=np.ascontiguousarray(vs_n, dtype=np.float64))


def timing_penalty(g, trace, l, penalty):
    """dW^l -= (penalty / N_{l-1}) * fraction of samples in which neuron j never fired (spec 3.4, A11);
    ``g`` is the float64 weight gradient of layer l (changed in place)."""
    if trace.inputs is not None:
        from ..errors import SnnrefError

        raise SnnrefError("timing_penalty is defined for dense layers only (it pushes every incoming weight of a "
                          "silent neuron); use timing_penalty=0 with layered networks.")
    S_l = trace.layers[l].S
    silent = ~np.any(S_l == 1, axis=0)  # (B, N): no spike in the simulated window
    g -= (penalty / g.shape[0]) * silent.mean(axis=0)[None, :]


# --------------------------------------------------------------------------------------- driver
def reference_backward(layer_kernel, net, trace, dL_dS, dL_dt, return_adjoints, opt, with_activation,
                       weight_adjust=None):
    """``impl="reference"`` of timing (and antlr): for l = L..1 the layer kernel on the signals
    arriving at the layer (dS only ``with_activation``), then the connection step: (C3), (C4), and
    for the layer below (T3) (with the n = -1 term for ``timing_tau_min=-1``) and (C5)."""
    m = net.model
    dtype = net.dtype
    T, B = trace.T, trace.B
    L = net.n_layers
    tim = settings(m, opt, T)
    lam_act = float(opt.get("lambda_act", 1.0))
    lam_tim = float(opt.get("lambda_tim", 1.0))
    rt, rb = all_rows(T, B)
    prev = previous_rows(np.arange(T * B, dtype=np.int64).reshape(T, B), rt, rb) if tim.tau_min_m1 else None
    n_out = net.sizes[-1]
    dS = np.zeros((T, B, n_out), dtype=dtype) if dL_dS is None else np.array(dL_dS, dtype=dtype)
    Tprop = np.zeros((T, B, n_out), dtype=dtype) if dL_dt is None else np.array(dL_dt, dtype=dtype)
    dW, db = [None] * L, [None] * L
    adjoints = [None] * L if return_adjoints else None
    for l, conn in reversed(list(enumerate(connections_of(net, trace)))):
        lt = trace.layers[l].flat()
        V, S = (np.ascontiguousarray(a, dtype=dtype) for a in (lt.V, lt.S))
        dT, dV, dV_dep, dI, E1, E2 = (np.zeros_like(V) for _ in range(6))
        layer_kernel(V, S, dS, Tprop, m.alpha_I, m.alpha_V, m.beta_V,
                     *surrogate_constants(dtype, m.theta, opt["ste_alpha"], opt["ste_beta"]), lam_act, lam_tim,
                     tim.vstar_code, tim.vstar_floor, tim.explicit, tim.es_over_bI, tim.vs_n,
                     dT, dV, dV_dep, dI, E1, E2)
        g, gb = layer_parameter_grads(conn, trace, l, m, rt, rb, rows(dI), rows(dV_dep))
        if weight_adjust is not None:
            weight_adjust(l, g)
        dW[l], db[l] = g.astype(dtype), gb.astype(dtype)
        if return_adjoints:
            adjoints[l] = {"dS": dS, "dV": dV, "dV_dep": dV_dep, "dI": dI, "dT": dT, "Tprop": Tprop, "E1": E1,
                           "E2": E2}
        if l > 0:  # the connection step: (T3) (and (C5)) for the layer below
            Tprop = conn.back_project(rows(E2), m.beta_I, D_prev=rows(dV) if tim.tau_min_m1 else None, prev=prev,
                                      coef=tim.es_m1).reshape(T, B, conn.n_in)
            if with_activation:
                dS = conn.back_project(rows(dI), m.beta_I).reshape(T, B, conn.n_in)
            else:
                dS = np.zeros((T, B, conn.n_in), dtype=dtype)  # not computed by timing
    return dW, db, adjoints


def gradients(net, trace, dL_dS, dL_dt, dL_da, return_adjoints, opt):
    """Registry entry of ``timing`` (inputs validated, options resolved)."""
    penalty = opt["timing_penalty"]

    def adjust(l, g):
        timing_penalty(g, trace, l, penalty)

    adjust = adjust if penalty != 0.0 else None
    if opt["impl"] == "fast":
        return fast_antlr.backward(net, trace, fast_antlr.TIMING, dL_dS, dL_dt, return_adjoints, opt,
                                   timing=settings(net.model, opt, trace.T), weight_adjust=adjust)
    return reference_backward(timing_layer, net, trace, dL_dS, dL_dt, return_adjoints, opt, with_activation=False,
                              weight_adjust=adjust)


# --------------------------------------------------------------------------------------- public wrapper
TIMING_OPTIONS_DOC = r"""
    vstar_mode : "code" (default) or "appendix"
        Vstar[t] (spec 1.4, A7): "code" = V[t] - (1 - S[t-1]) V[t-1] (V[0] at t = 0), "appendix" =
        V[t] - V[t-1] (V[-1] = 0). Both are floored at ``vstar_floor`` **[choice for "appendix"]**.
    vstar_floor : float > 0, default 0.01
        Vstar = max(Vstar, vstar_floor); keeps -dT / Vstar finite.
    timing_tau_min : 0 (default) or -1
        0: (T3) sums n = 0..n_max (official code). -1: adds the n = -1 term of the appendix listing
        (spec A6), defined here as the effect of moving the presynaptic spike at t one step earlier on
        V_j[t-1]: Tprop^{l-1}_i[t] -= eps_star[-1] sum_j w^l_ij dV^l_j[t-1], eps_star[-1] = eps[0]/2,
        ungated (no spike of j can cut a window that starts at t-1), zero for t = 0. Layer l-1 at t
        then depends on layer l at t-1, which the layer-outer order (top layer first) provides.
    timing_impl : "aux" (default) or "explicit"
        "aux": the O(1)-per-step traces E1/E2 of spec 3.4. "explicit": the causal sums of (T3) with
        eps_star from the untruncated kernel (eps[T] included, spec 1.4), O(T) per step: a slow
        reference for tests."""


def timing_backward(net, trace, dL_dt=None, *, return_adjoints=False, vstar_mode="code", vstar_floor=0.01,
                    timing_tau_min=0, timing_impl="aux", timing_penalty=0.0, impl="fast"):
    r"""Timing-based rule, ANTLR appendix Algorithm 2 (spec 3.4; official lrule "Timing").
    Rule name ``timing``.

    For t = T-1..0, l = L..1, zero states at t = T::

        dT^L[t] = dL_dt[t] if S^L[t] = 1 else 0;   dT^l[t] = [S^l[t] = 1] Tprop^l[t]      (T1)
        dV[t]   = -dT[t] / Vstar[t] if S[t] = 1 else 0                                  (T2)
        (C1), (C2), (C3), (C4) as in :func:`snnref.rules.activation.act_srm_backward`
        Tprop^{l-1}_i[t] = -sum_j w^l_ij sum_{n=0}^{n_max(j,t)} eps_star[n] dV^l_j[t+n]   (T3)

    n_max(j,t): largest n such that j does not fire in t..t+n-1 (window ends at T-1);
    eps_star[n] = (eps[n+1] - eps[n-1]) / 2 of the untruncated kernel. (T3) is computed by the
    auxiliary traces (g[t] = 0 if S[t] = 1 else 1; spec 3.4)::

        E1[t] = g[t] (dV[t+1]/2 + alpha_V E1[t+1]) - alpha_V dV[t]/2
        E2[t] = alpha_I g[t] E2[t+1] - beta_V alpha_I dV[t]/2 + beta_V E1[t]
        Tprop^{l-1}_i[t] = beta_I sum_j w^l_ij E2^l_j[t]

    Timing penalty (official code, spec 3.4, A11), all layers including the output, weights only,
    applied here (i.e. before any clipping)::

        dW^l_ij -= (timing_penalty / N_{l-1}) * mean_b [neuron j of layer l never fired in sample b]

    Parameters
    ----------
    net : Network (ANTLR model)
    trace : Trace, ``snnref.forward(net, x)`` with S in {0, 1}
    dL_dt : array (T_sim, B, N_out) or None (zeros); only its entries at output spikes are used.
    return_adjoints : bool, see :func:`snnref.backward` (adds "Tprop", "E1", "E2")
    timing_penalty : float >= 0, default 0.0 (official "Timing" runs use 100)
    impl : "fast" (default) or "reference" (:func:`timing_layer`; the same results)
""" + TIMING_OPTIONS_DOC + r"""

    Returns
    -------
    Gradients
    """
    from . import run  # the registry imports this module: look it up at call time
    return run(net, trace, "timing", dL_dt=dL_dt, return_adjoints=return_adjoints, vstar_mode=vstar_mode,
               vstar_floor=vstar_floor, timing_tau_min=timing_tau_min, timing_impl=timing_impl,
               timing_penalty=timing_penalty, impl=impl)
