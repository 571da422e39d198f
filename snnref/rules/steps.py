r"""The per-step formulas of the learning rules, each defined once as a small compiled step function.

Every kernel that computes one of these quantities calls the function here: the readable reference
kernels (:mod:`snnref.rules.activation`, :mod:`~snnref.rules.timing`, :mod:`~snnref.rules.antlr`,
:mod:`~snnref.rules.tsslbp`), the fast kernels (:mod:`~snnref.rules.fast_antlr`,
:mod:`~snnref.rules.fast_tsslbp`) and the array functions of :mod:`snnref.neuron`. numba compiles
a step function into each caller (LLVM inlines it), so it costs nothing and gives the same bits as
the expression written out. Arguments are scalars; values read from arrays of the compute dtype
keep that dtype (float32 products stay float32 where the expression says so).

ANTLR family (spec 1.4, 1.5, 3.0-3.4; neuron index dropped, ``[t+1]`` values already final)::

    surrogate          sigma(v) = ste_alpha exp(-ste_beta |v - theta|)                      (spec 1.5)
    vstar              Vstar[t] = V[t] - (1 - S[t-1]) V[t-1]  ("code"; V[0] at t = 0)
                                  V[t] - V[t-1]               ("appendix"), floored          (spec 1.4)
    timing_injection   dV[t] = -dT[t] / Vstar[t]                                             (T2)
    dep_step           dV_dep[t] = dV[t] + alpha_V (1 - S[t]) dV_dep[t+1]                    (C1)
    current_step       dI[t] = beta_V dV_dep[t] + alpha_I (1 - S[t]) dI[t+1]                 (C2)
    core_step          (C1) then (C2): the linear core (S = 0 gives the ungated act_slayer core)
    reset_path_signal  g[t] = dS[t] - alpha_I I[t] dI[t+1] - alpha_V V[t] dV[t+1]            (R1)
    aux_traces_step    E1[t] = g (dV[t+1]/2 + alpha_V E1[t+1]) - alpha_V dV[t]/2
                       E2[t] = alpha_I g E2[t+1] - beta_V alpha_I dV[t]/2 + beta_V E1[t]      (spec 3.4)
                       with g = 0 at a spike or at t = T-1 ("cut"), else 1
    causal_sum_term    one term n of the explicit sums -sum_n vs_n[n] dV[t+n], -sum_n es_n[n] dV[t+n]

TSSL-BP (spec 4.1-4.3)::

    psp_adjoint_step   A[t] = E[t]/tau_s + (1 - 1/tau_s) A[t+1]                              (P-S5)
    tssl_rho           rho[t] = clamp(1/du[t], 0, inv_du_max)        (spike steps)
    tssl_step          G_tssl[t] = rho (A + theta_m u G_tssl[t+1])  at a spike (intra term optional)
                                 = (1 - theta_m) G_tssl[t+1]          otherwise                (P1)
    warmup_exponent    c = (theta - u) / WARMUP_SCALE
    warmup_slope_at    f = e^c / ((1 + e^c)^2 WARMUP_SCALE)   for c already in [-WARMUP_CLAMP, WARMUP_CLAMP]
    warmup_slope       f(u) = warmup_slope_at(clamp(c, -WARMUP_CLAMP, WARMUP_CLAMP))          (spec 4.3)
"""
import numpy as np

from .._jit import kernel

__all__ = ["WARMUP_SCALE", "WARMUP_CLAMP", "surrogate", "surrogate_constants", "vstar", "timing_injection", "dep_step",
           "current_step", "core_step", "reset_path_signal", "aux_traces_step", "causal_sum_term",
           "at_next", "psp_adjoint_step", "tssl_rho", "tssl_step", "warmup_exponent", "warmup_slope_at",
           "warmup_slope"]

#: TSSL-BP warm-up: scale of the logistic 1/(1 + exp(-(u - theta)/WARMUP_SCALE)) whose slope replaces
#: the gradient, and the clamp of its exponent (official code: 0.2 and 8; spec 4.3)
WARMUP_SCALE = 0.2
WARMUP_CLAMP = 8.0


# --------------------------------------------------------------------------------------- ANTLR family
@kernel
def surrogate(v, theta, ste_alpha, ste_beta):
    """Surrogate derivative sigma(v) = ste_alpha exp(-ste_beta |v - theta|) (spec 1.5), in the precision
    of its arguments (see :func:`surrogate_constants`)."""
    return ste_alpha * np.exp(-ste_beta * abs(v - theta))


def surrogate_constants(dtype, theta, ste_alpha, ste_beta):
    """``(theta, ste_alpha, ste_beta)`` as scalars of the compute dtype, for the kernels' calls of
    :func:`surrogate`: with float32 traces the surrogate is then evaluated in float32 (float32 exp, as
    in the official float32 codes, about twice as fast as float64 exp); with float64 nothing changes.
    Every other step of the rules keeps its float64 arithmetic (docs/CHOICES.md)."""
    t = np.dtype(dtype).type
    return t(theta), t(ste_alpha), t(ste_beta)


@kernel
def vstar(t, v, v_prev, s_prev, code, floor):
    """Vstar[t] (spec 1.4, A7), floored at ``floor``: ``code`` = V[t] - (1 - S[t-1]) V[t-1] (the
    official code), else V[t] - V[t-1] (appendix); V[t] at t = 0. ``v_prev``, ``s_prev`` are V[t-1],
    S[t-1] (unused at t = 0)."""
    if t == 0:
        vs = v
    elif code:
        vs = v - (0.0 if s_prev == 1.0 else v_prev)
    else:
        vs = v - v_prev
    if vs < floor:
        vs = floor
    return vs


@kernel
def timing_injection(dT, t, v, v_prev, s_prev, code, floor):
    """(T2): the voltage gradient injected by a spike-time gradient, dV[t] = -dT[t] / Vstar[t]."""
    return -dT / vstar(t, v, v_prev, s_prev, code, floor)


@kernel
def dep_step(dv, s, dv_dep_next, alpha_V):
    """(C1): dV_dep[t] = dV[t] + alpha_V (1 - S[t]) dV_dep[t+1]. (Also (R2) of act_rnn with
    dv = sigma(V) g and dV[t+1] in place of dV_dep[t+1].)"""
    return dv + alpha_V * (1.0 - s) * dv_dep_next


@kernel
def current_step(dv_dep, s, di_next, alpha_I, beta_V):
    """(C2): dI[t] = beta_V dV_dep[t] + alpha_I (1 - S[t]) dI[t+1]. (Also (R3) of act_rnn.)"""
    return beta_V * dv_dep + alpha_I * (1.0 - s) * di_next


@kernel
def core_step(dv, s, dv_dep_next, di_next, alpha_I, alpha_V, beta_V):
    """The linear core (C1), (C2); returns (dV_dep[t], dI[t]). With s = 0 the gates (1 - S) are 1:
    the ungated core of act_slayer (spec 3.3), with the same bits as the gate-free expression."""
    dv_dep = dep_step(dv, s, dv_dep_next, alpha_V)
    return dv_dep, current_step(dv_dep, s, di_next, alpha_I, beta_V)


@kernel
def reset_path_signal(ds, i, v, dv_next, di_next, alpha_I, alpha_V):
    """(R1) of act_rnn: g[t] = dS[t] - alpha_I I[t] dI[t+1] - alpha_V V[t] dV[t+1] (the reset paths)."""
    return ds - alpha_I * i * di_next - alpha_V * v * dv_next


@kernel
def aux_traces_step(dv, dv_next, e1_next, e2_next, cut, alpha_I, alpha_V, beta_V):
    """One reverse step of the timing traces E1, E2 (spec 3.4); returns (E1[t], E2[t]).

    ``cut`` is True at a spike of the neuron (g[t] = 0) and at t = T-1 (no later values)."""
    e2n = 0.0
    if cut:
        e1 = -alpha_V * dv * 0.5
    else:
        e2n = e2_next
        e1 = 0.5 * dv_next + alpha_V * e1_next - alpha_V * dv * 0.5
    return e1, alpha_I * e2n - beta_V * alpha_I * dv * 0.5 + beta_V * e1


@kernel
def causal_sum_term(a1, a2, vs_n, es_n, dvn):
    """One term of the explicit causal sums of ``timing_impl="explicit"`` (spec 3.4):
    E1 -= vs_n dV[t+n], E2 -= es_n dV[t+n] (es_n = eps_star[n] / beta_I); returns (a1, a2)."""
    return a1 - vs_n * dvn, a2 - es_n * dvn


@kernel
def at_next(a, t, b, j):
    """a[t+1, b, j], or 0 at t = T-1 (every backward state is zero at t = T)."""
    if t + 1 < a.shape[0]:
        return a[t + 1, b, j]
    return 0.0


# --------------------------------------------------------------------------------------- TSSL-BP
@kernel
def psp_adjoint_step(e, a_next, alpha_s, beta_s):
    """(P-S5): A[t] = E[t]/tau_s + (1 - 1/tau_s) A[t+1], with beta_s = 1/tau_s, alpha_s = 1 - beta_s."""
    return beta_s * e + alpha_s * a_next


@kernel
def tssl_rho(du, inv_du_max):
    """rho = clamp(1/du, 0, inv_du_max) at a spike step (du > 0 there; 1/+0 = inf is clamped)."""
    return min(max(1.0 / du, 0.0), inv_du_max)


@kernel
def tssl_step(spike, rho, a, u, g_next, theta_m, use_intra):
    """(P1): G_tssl[t] at a spike: rho (A + theta_m u G_tssl[t+1]) (inter + intra-neuron term; rho A
    without the intra term); elsewhere the leak (1 - theta_m) G_tssl[t+1]."""
    if spike:
        if use_intra:
            return rho * (a + theta_m * u * g_next)
        return rho * a
    return (1.0 - theta_m) * g_next


@kernel
def warmup_exponent(u, theta):
    """Exponent c = (theta - u) / WARMUP_SCALE of the warm-up slope (before the clamp, spec 4.3)."""
    return (theta - u) / WARMUP_SCALE


@kernel
def warmup_slope_at(c):
    """e^c / ((1 + e^c)^2 WARMUP_SCALE) for an exponent already in [-WARMUP_CLAMP, WARMUP_CLAMP]."""
    ec = np.exp(c)
    return ec / ((1.0 + ec) * (1.0 + ec) * WARMUP_SCALE)


@kernel
def warmup_slope(u, theta):
    """TSSL-BP warm-up slope f(u) (spec 4.3): the derivative of the logistic
    1/(1 + exp(-(u - theta)/0.2)) with its exponent clamped to [-8, 8]; f(theta) = 1.25."""
    return warmup_slope_at(min(max(warmup_exponent(u, theta), -WARMUP_CLAMP), WARMUP_CLAMP))


# --------------------------------------------------------------------------------------- array forms
@kernel
def surrogate_array(v, theta, ste_alpha, ste_beta, out):
    """out[k] = surrogate(v[k], ...) for 1-D arrays (the array form used by :func:`snnref.neuron.sigma`)."""
    for k in range(v.shape[0]):
        out[k] = surrogate(v[k], theta, ste_alpha, ste_beta)


@kernel
def warmup_slope_array(u, theta, out):
    """out[k] = warmup_slope(u[k], theta) for 1-D arrays (used by :func:`snnref.neuron.tssl_warmup_surrogate`)."""
    for k in range(u.shape[0]):
        out[k] = warmup_slope(u[k], theta)
