r"""ANTLR-family backward rules: act_rnn, act_srm, act_slayer, timing, antlr (spec section 3).

All five rules share one compiled kernel that runs the loop skeleton of spec 3.7 / Algorithms 1-3
of the ANTLR appendix E: ``t = T-1 .. 0`` outer, layers ``l = L .. 1`` inner, every backward state
zero at t = T. Per layer l and step t (neuron index j dropped, ``[t+1]`` values already final):

Signals arriving at layer l (spec 3.0, 3.4)::

    dS^L[t] = dL_dS[t]                          dS^l[t]    = beta_I sum_j w^{l+1}_ij dI^{l+1}_j[t]   (C5)
    dT^L[t] = dL_dt[t] [S^L[t] = 1]             Tprop^l[t] = beta_I sum_j w^{l+1}_ij E2^{l+1}_j[t]   (T3)
                                                dT^l[t]    = [S^l[t] = 1] Tprop^l[t]                  (T1)

Injected voltage gradient dV^l[t], with sigma(v) = ste_alpha exp(-ste_beta |v - theta|) (spec 1.5) and
Vstar of spec 1.4::

    act_srm, act_slayer : dV = sigma(V) dS                                       (spec 3.2, 3.3)
    timing              : dV = -dT / Vstar  where S = 1, else 0                   (T2, spec 3.4)
    antlr               : dV = lambda_act sigma(V) dS + lambda_tim (-dT / Vstar)[S = 1]   (spec 3.5)
    act_rnn             : g  = dS - alpha_I I dI[t+1] - alpha_V V dV[t+1]          (R1, spec 3.1)
                          dV = sigma(V) g + alpha_V (1 - S) dV[t+1]                (R2)  (total derivative)

Linear core (spec 3.0; ``act_slayer`` drops the (1 - S) gates, ``act_rnn`` uses dV_dep = dV and (R3))::

    dV_dep[t] = dV[t] + alpha_V (1 - S[t]) dV_dep[t+1]                           (C1)
    dI[t]     = beta_V dV_dep[t] + alpha_I (1 - S[t]) dI[t+1]                    (C2)

Auxiliary timing traces (spec 3.4, used by timing / antlr; g[t] = 0 if S[t] = 1 else 1)::

    E1[t] = g[t] (dV[t+1]/2 + alpha_V E1[t+1]) - alpha_V dV[t]/2
    E2[t] = alpha_I g[t] E2[t+1] - beta_V alpha_I dV[t]/2 + beta_V E1[t]

so that beta_I E2_j[t] = -sum_{n=0}^{n_max(j,t)} eps_star[n] dV_j[t+n] over the causal window.

Parameter gradients (summed over time and batch)::

    dL/dw^l_ij = beta_I sum_{t,b} S^{l-1}_i[t] dI^l_j[t]                         (C3)
    dL/db^l_j  = beta_bias sum_{t,b} dV_dep^l_j[t]                                (C4)

Activation rules use S arithmetically (``1 - S`` gates, ``S`` as multiplier in (C3)), so they are
exact on traces with real-valued S in [0, 1] (relaxed models, spec 10.2). The timing parts (dT, Vstar,
E1/E2 gating) use the spike test ``S == 1``.

Two implementations (option ``impl``, every rule)
-------------------------------------------------
``impl="reference"``: one kernel that reads like Algorithms 1-3 of the ANTLR appendix: t = T-1..0
outer, l = L..1 inner, every step of every sample, the back-projections (C5), (T3) as scalar loops,
then (C3), (C4) over all steps. All layers are packed along the last axis.

``impl="fast"`` (default): the same recurrences with the same arithmetic and the same summation
order, restructured so that no work is spent on terms that are exactly zero. The results are
bit-identical to the reference (up to the sign of zero), except with upper layers of more than
``BLAS_MIN_NEURONS`` neurons, whose back-projections use BLAS (item 2); tests/test_fast_paths.py
checks both. What is skipped or reordered, and why it is exact:

1. Steps after t_end(b). Let t_end(b) be the last step at which sample b has a non-zero dL_dS or
   dL_dt in any output neuron (only the one(s) the rule uses: act_* ignore dL_dt, timing ignores
   dL_dS; the output layer's "dS" / "Tprop" adjoints are the given arrays). Every backward quantity is a linear function of dL_dS[t'], dL_dt[t']
   at steps t' >= t (the recurrences carry t+1 -> t, and the loss injects at the same step), so all
   of them are exactly 0 at t > t_end(b): each sample's backward starts at t_end(b) with zero states
   (with the latency loss t_end is the last first-spike step, often << T). Exception: the n = -1
   term of ``timing_tau_min=-1`` feeds dV^l[t-1] into Tprop^{l-1}[t], so a layer k levels below the
   output can be non-zero up to t_end + k; the fast path then extends t_end by L-1 steps. The active
   rows (t <= t_end(b), ordered t ascending, then b) are stored compactly: O(R N_l) memory per
   layer with R = sum_b (t_end(b) + 1) <= T B; nothing is O(T^2).
2. Layer-outer order. Layer l needs only layer l+1 at the same step (and at t-1 for tau_min = -1),
   so all steps of layer l run first (a valid topological order; per neuron the recurrences are the
   same). Then (C5) dS^{l-1} = beta_I dI^l W^T and (T3) Tprop^{l-1} = beta_I E2^l W^T (minus
   eps_star[-1] dV^l[t-1] W^T) are computed over the active rows, as vectorisable axpy loops in the
   reference's summation order (j ascending, float64 accumulators), or, for upper layers wider than
   ``BLAS_MIN_NEURONS``, as BLAS matrix products (other order; float32 sums in float32).
3. The surrogate exp where its factor is 0: sigma(V) dS with dS == 0 (act_rnn: with g == 0) is 0,
   and zero terms of the back-projection sums.
4. (C3) over the non-zero presynaptic values of the active rows only (dI^l = 0 elsewhere), (C4) over
   the active rows, both in the reference's order (t ascending, then b), with the real value of S
   (exact for relaxed traces).
5. Work split: within a layer the neurons are independent, so the parallel work items are blocks of
   neurons (one per thread; balanced even when t_end differs between samples), rows for the
   back-projections, presynaptic neurons for (C3). Every value is computed by exactly one item in a
   fixed order, so results do not depend on the thread count.
"""
import numba
import numpy as np

from .. import _validate as Vd
from .._jit import kernel, parallel_kernel, prange
from ..backward import Gradients, backward, check_trace
from ..neuron import eps as _eps

__all__ = [
    "antlr_family_backward",
    "act_rnn_backward",
    "act_srm_backward",
    "act_slayer_backward",
    "timing_backward",
    "antlr_backward",
    "RULE_OPTIONS",
]

_SURR = {"ste_alpha": 1.0, "ste_beta": 3.0, "impl": "fast"}
_TIM = {"vstar_mode": "code", "vstar_floor": 0.01, "timing_tau_min": 0, "timing_impl": "aux"}

#: rule -> {option name: default}. ``ste_alpha``/``ste_beta`` are accepted by every rule (``timing``
#: uses no surrogate and ignores them), so one surrogate setting can be passed to all rules.
#: ``impl`` ("fast" default, or "reference") selects the implementation (see the module docstring).
RULE_OPTIONS = {
    "act_rnn": dict(_SURR),
    "act_srm": dict(_SURR),
    "act_slayer": dict(_SURR),
    "timing": dict(_SURR, **_TIM, timing_penalty=0.0),
    "antlr": dict(_SURR, **_TIM, lambda_act=1.0, lambda_tim=1.0),
}

# rule -> kernel mode code
_MODE = {"act_srm": 0, "act_slayer": 1, "act_rnn": 2, "timing": 3, "antlr": 4}


# --------------------------------------------------------------------------------------- kernels
@parallel_kernel
def _antlr_family_kernel(V, I, S, dLdS, dLdt, Wf, w_off, n_off, n_sz, mode, layer_outer,
                         alpha_I, alpha_V, beta_I, beta_V, theta, ste_alpha, ste_beta,
                         lam_act, lam_tim, vstar_code, vstar_floor, tau_min_m1, es_m1,
                         explicit, es_over_bI, vs_n,
                         dS, dV, dVdep, dI, dT, Tprop, E1, E2):
    """Kernel of :func:`antlr_family_backward` (all layers packed along the last axis)."""
    T, B, _ = V.shape
    L = n_off.shape[0]
    use_act = mode != 3
    use_tim = mode == 3 or mode == 4
    gated = mode != 1
    rnn = mode == 2
    for b in prange(B):
        for k in range(T * L):
            if layer_outer:
                l = L - 1 - k // T
                t = T - 1 - k % T
            else:
                t = T - 1 - k // L
                l = L - 1 - k % L
            o = n_off[l]
            N = n_sz[l]
            # ---- signals arriving at layer l at time t
            if l == L - 1:
                for j in range(N):
                    dS[t, b, o + j] = dLdS[t, b, j]
                    Tprop[t, b, o + j] = dLdt[t, b, j]
            else:
                oa = n_off[l + 1]
                Na = n_sz[l + 1]
                wo = w_off[l + 1]
                for i in range(N):
                    if use_act:
                        acc = 0.0
                        for j in range(Na):
                            acc += Wf[wo + i * Na + j] * dI[t, b, oa + j]
                        dS[t, b, o + i] = beta_I * acc
                    if use_tim:
                        acc = 0.0
                        for j in range(Na):
                            acc += Wf[wo + i * Na + j] * E2[t, b, oa + j]
                        tp = beta_I * acc
                        if tau_min_m1 and t >= 1:
                            acc = 0.0
                            for j in range(Na):
                                acc += Wf[wo + i * Na + j] * dV[t - 1, b, oa + j]
                            tp -= es_m1 * acc
                        Tprop[t, b, o + i] = tp
            # ---- injected dV, linear core
            for j in range(N):
                c = o + j
                s = S[t, b, c]
                v = V[t, b, c]
                spike = s == 1.0
                if t + 1 < T:
                    dV1 = dV[t + 1, b, c]
                    dVdep1 = dVdep[t + 1, b, c]
                    dI1 = dI[t + 1, b, c]
                else:
                    dV1 = 0.0
                    dVdep1 = 0.0
                    dI1 = 0.0
                dv = 0.0
                if use_act:
                    sig = ste_alpha * np.exp(-ste_beta * abs(v - theta))
                    if rnn:
                        g = dS[t, b, c] - alpha_I * I[t, b, c] * dI1 - alpha_V * v * dV1
                        dv = sig * g + alpha_V * (1.0 - s) * dV1
                    else:
                        dv = lam_act * (sig * dS[t, b, c])
                if use_tim:
                    dt_ = 0.0
                    if spike:
                        dt_ = Tprop[t, b, c]
                        if t == 0:
                            vs = v
                        elif vstar_code:
                            vs = v - (0.0 if S[t - 1, b, c] == 1.0 else V[t - 1, b, c])
                        else:
                            vs = v - V[t - 1, b, c]
                        if vs < vstar_floor:
                            vs = vstar_floor
                        tim = -dt_ / vs
                        if mode == 3:
                            dv = tim
                        else:
                            dv = dv + lam_tim * tim
                    dT[t, b, c] = dt_
                dV[t, b, c] = dv
                if rnn:
                    dvdep = dv
                    dI[t, b, c] = beta_V * dvdep + alpha_I * (1.0 - s) * dI1
                elif gated:
                    dvdep = dv + alpha_V * (1.0 - s) * dVdep1
                    dI[t, b, c] = beta_V * dvdep + alpha_I * (1.0 - s) * dI1
                else:
                    dvdep = dv + alpha_V * dVdep1
                    dI[t, b, c] = beta_V * dvdep + alpha_I * dI1
                dVdep[t, b, c] = dvdep
                # ---- timing traces for the layer below
                if use_tim:
                    if not explicit:
                        e1n = 0.0
                        e2n = 0.0
                        if t + 1 < T and not spike:
                            e1n = E1[t + 1, b, c]
                            e2n = E2[t + 1, b, c]
                            e1 = 0.5 * dV1 + alpha_V * e1n - alpha_V * dv * 0.5
                        else:
                            e1 = -alpha_V * dv * 0.5
                        E1[t, b, c] = e1
                        E2[t, b, c] = alpha_I * e2n - beta_V * alpha_I * dv * 0.5 + beta_V * e1
                    else:
                        # explicit causal sums (slow reference, O(T) per step)
                        a1 = 0.0
                        a2 = 0.0
                        for n in range(T - t):
                            if n == 0:
                                dvn = dv
                            else:
                                dvn = dV[t + n, b, c]
                            a1 -= vs_n[n] * dvn
                            a2 -= es_over_bI[n] * dvn
                            if S[t + n, b, c] == 1.0:
                                break
                        E1[t, b, c] = a1
                        E2[t, b, c] = a2


@parallel_kernel
def _weight_grad_kernel(X, x_off, D, d_off, N_in, N, dW):
    """dW[i, j] = sum_{t,b} X[t,b,x_off+i] D[t,b,d_off+j] over non-zero X (parallel over rows i)."""
    T, B, _ = X.shape
    for i in prange(N_in):
        acc = np.zeros(N, dtype=np.float64)
        for t in range(T):
            for b in range(B):
                x = X[t, b, x_off + i]
                if x != 0.0:
                    for j in range(N):
                        acc[j] += x * D[t, b, d_off + j]
        for j in range(N):
            dW[i, j] = acc[j]


@kernel
def _bias_grad_kernel(D, d_off, N, db):
    """db[j] = sum_{t,b} D[t,b,d_off+j] in a fixed order."""
    T, B, _ = D.shape
    for t in range(T):
        for b in range(B):
            for j in range(N):
                db[j] += D[t, b, d_off + j]


@parallel_kernel
def _fast_layer_kernel(V, I, S, dS_c, Tp_c, rowidx, t_end, mode, blk,
                       alpha_I, alpha_V, beta_V, theta, ste_alpha, ste_beta, lam_act, lam_tim,
                       vstar_code, vstar_floor, explicit, es_over_bI, vs_n,
                       store_adj, store_dV, store_E2,
                       dV_c, dVdep_c, dI_c, dT_c, E1_c, E2_c):
    """Kernel of the fast path of :func:`antlr_family_backward`: all steps of ONE layer.

    Per sample b only the compact rows t = t_end[b] .. 0 (row index rowidx[t, b]); the states at
    t_end[b] + 1 are zero. Neurons are independent within a layer, so the work is split into blocks
    of ``blk`` neurons (one prange iteration each, no shared writes). The arithmetic per neuron and
    step is the reference kernel's, with the [t+1] states kept in block-local carries of the array
    dtype (the values the reference re-reads from its arrays). Writes dI_c and dVdep_c, and dV_c, E2_c,
    dT_c, E1_c when asked to.
    """
    T, B, N = V.shape
    use_act = mode != 3
    use_tim = mode == 3 or mode == 4
    gated = mode != 1
    rnn = mode == 2
    common = (mode == 0 or mode == 3 or mode == 4) and not explicit and not store_adj
    nblk = (N + blk - 1) // blk
    for k in prange(nblk):
        j0 = k * blk
        j1 = min(N, j0 + blk)
        c_dV = np.zeros(N, dtype=dI_c.dtype)  # carries: the [t+1] values of the block's neurons
        c_dVdep = np.zeros(N, dtype=dI_c.dtype)
        c_dI = np.zeros(N, dtype=dI_c.dtype)
        c_E1 = np.zeros(N, dtype=dI_c.dtype)
        c_E2 = np.zeros(N, dtype=dI_c.dtype)
        for b in range(B):
            te = t_end[b]
            for j in range(j0, j1):
                c_dV[j] = 0.0
                c_dVdep[j] = 0.0
                c_dI[j] = 0.0
                c_E1[j] = 0.0
                c_E2[j] = 0.0
            for t in range(te, -1, -1):
                r = rowidx[t, b]
                S_t = S[t, b]
                V_t = V[t, b]
                I_t = I[t, b]
                S_p = S[max(t - 1, 0), b]  # previous step (used only for t >= 1)
                V_p = V[max(t - 1, 0), b]
                dS_r = dS_c[r]
                Tp_r = Tp_c[r]
                last = t + 1 >= T
                if common:
                    # act_srm / timing / antlr with the aux traces and no adjoint output: the loop
                    # below without the branches of the other rules and options (same arithmetic)
                    dI_r = dI_c[r]
                    dVdep_r = dVdep_c[r]
                    for j in range(j0, j1):
                        s = S_t[j]
                        v = V_t[j]
                        dv = 0.0
                        if use_act:
                            ds = dS_r[j]
                            if ds != 0.0:
                                dv = lam_act * (ste_alpha * np.exp(-ste_beta * abs(v - theta)) * ds)
                        if use_tim and s == 1.0:
                            if t == 0:
                                vs = v
                            elif vstar_code:
                                vs = v - (0.0 if S_p[j] == 1.0 else V_p[j])
                            else:
                                vs = v - V_p[j]
                            if vs < vstar_floor:
                                vs = vstar_floor
                            tim = -Tp_r[j] / vs
                            if mode == 3:
                                dv = tim
                            else:
                                dv = dv + lam_tim * tim
                        dV1 = c_dV[j]
                        keep = 1.0 - s
                        dvdep = dv + alpha_V * keep * c_dVdep[j]
                        di = beta_V * dvdep + alpha_I * keep * c_dI[j]
                        c_dV[j] = dv
                        c_dVdep[j] = dvdep
                        c_dI[j] = di
                        dI_r[j] = c_dI[j]
                        dVdep_r[j] = c_dVdep[j]
                        if store_dV:
                            dV_c[r, j] = c_dV[j]
                        if store_E2:  # E1, E2 only feed the layer below (none for the first layer)
                            e1n = 0.0
                            e2n = 0.0
                            if not last and s != 1.0:
                                e1n = c_E1[j]
                                e2n = c_E2[j]
                                e1 = 0.5 * dV1 + alpha_V * e1n - alpha_V * dv * 0.5
                            else:
                                e1 = -alpha_V * dv * 0.5
                            c_E1[j] = e1
                            c_E2[j] = alpha_I * e2n - beta_V * alpha_I * dv * 0.5 + beta_V * e1
                            E2_c[r, j] = c_E2[j]
                    continue
                for j in range(j0, j1):
                    s = S_t[j]
                    v = V_t[j]
                    spike = s == 1.0
                    dV1 = c_dV[j]
                    dVdep1 = c_dVdep[j]
                    dI1 = c_dI[j]
                    dv = 0.0
                    if use_act:
                        if rnn:
                            g = dS_r[j] - alpha_I * I_t[j] * dI1 - alpha_V * v * dV1
                            inj = 0.0
                            if g != 0.0:  # sigma(V) * 0 = 0: skip the exp
                                inj = ste_alpha * np.exp(-ste_beta * abs(v - theta)) * g
                            dv = inj + alpha_V * (1.0 - s) * dV1
                        else:
                            ds = dS_r[j]
                            if ds != 0.0:
                                dv = lam_act * (ste_alpha * np.exp(-ste_beta * abs(v - theta)) * ds)
                    if use_tim:
                        dt_ = 0.0
                        if spike:
                            dt_ = Tp_r[j]
                            if t == 0:
                                vs = v
                            elif vstar_code:
                                vs = v - (0.0 if S_p[j] == 1.0 else V_p[j])
                            else:
                                vs = v - V_p[j]
                            if vs < vstar_floor:
                                vs = vstar_floor
                            tim = -dt_ / vs
                            if mode == 3:
                                dv = tim
                            else:
                                dv = dv + lam_tim * tim
                        if store_adj:
                            dT_c[r, j] = dt_
                    if rnn:
                        dvdep = dv
                        di = beta_V * dvdep + alpha_I * (1.0 - s) * dI1
                    elif gated:
                        dvdep = dv + alpha_V * (1.0 - s) * dVdep1
                        di = beta_V * dvdep + alpha_I * (1.0 - s) * dI1
                    else:
                        dvdep = dv + alpha_V * dVdep1
                        di = beta_V * dvdep + alpha_I * dI1
                    # carries hold the dtype-rounded values, as the reference re-reads them
                    c_dV[j] = dv
                    c_dVdep[j] = dvdep
                    c_dI[j] = di
                    dI_c[r, j] = c_dI[j]
                    dVdep_c[r, j] = c_dVdep[j]
                    if store_dV:
                        dV_c[r, j] = c_dV[j]
                    if use_tim:
                        if not explicit:
                            e1n = 0.0
                            e2n = 0.0
                            if not last and not spike:
                                e1n = c_E1[j]
                                e2n = c_E2[j]
                                e1 = 0.5 * dV1 + alpha_V * e1n - alpha_V * dv * 0.5
                            else:
                                e1 = -alpha_V * dv * 0.5
                            c_E1[j] = e1
                            c_E2[j] = alpha_I * e2n - beta_V * alpha_I * dv * 0.5 + beta_V * e1
                        else:
                            # explicit causal sums (slow reference, O(T) per step); dV = 0 after t_end
                            a1 = 0.0
                            a2 = 0.0
                            for n in range(te + 1 - t):
                                if n == 0:
                                    dvn = dv
                                else:
                                    dvn = dV_c[rowidx[t + n, b], j]
                                a1 -= vs_n[n] * dvn
                                a2 -= es_over_bI[n] * dvn
                                if S[t + n, b, j] == 1.0:
                                    break
                            c_E1[j] = a1
                            c_E2[j] = a2
                        if store_adj:
                            E1_c[r, j] = c_E1[j]
                        if store_E2:
                            E2_c[r, j] = c_E2[j]


@parallel_kernel
def _fast_weight_grad_kernel(X, rt, rb, D, blk, g):
    """g[i, :] += X[rt[r], rb[r], i] * D[r, :] over the compact rows r (ascending) and non-zero X.

    Rows i are split into blocks of ``blk`` (one prange iteration each); every element of g is summed
    in the order r = 0, 1, ... (= t ascending, then b ascending, as the reference kernel)."""
    N_in = X.shape[2]
    N = D.shape[1]
    R = rt.shape[0]
    nblk = (N_in + blk - 1) // blk
    for k in prange(nblk):
        i0 = k * blk
        i1 = min(N_in, i0 + blk)
        for r in range(R):
            t = rt[r]
            b = rb[r]
            for i in range(i0, i1):
                x = X[t, b, i]
                if x != 0.0:
                    for j in range(N):
                        g[i, j] += x * D[r, j]


# --------------------------------------------------------------------------------------- helpers
@parallel_kernel
def _fast_backproject_kernel(D, Wt, beta, D2, prev, coef, out):
    """out[r, i] = beta sum_j W[i, j] D[r, j]  -  coef sum_j W[i, j] D2[prev[r], j]  (second term only if
    D2 has rows and prev[r] >= 0), with Wt = W^T (C-contiguous).

    The sums run over j ascending in float64, each product in the array dtype, exactly as the scalar
    loops of the reference kernel ((C5), (T3) and the tau_min = -1 term), but as axpy updates over i
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
            for i in range(N):
                acc[i] = 0.0
            for j in range(Na):
                d = D[r, j]
                if d != 0.0:
                    w = Wt[j]
                    for i in range(N):
                        acc[i] += w[i] * d
            o = out[r]
            if second and prev[r] >= 0:
                for i in range(N):
                    acc2[i] = 0.0
                p = prev[r]
                for j in range(Na):
                    d = D2[p, j]
                    if d != 0.0:
                        w = Wt[j]
                        for i in range(N):
                            acc2[i] += w[i] * d
                for i in range(N):
                    o[i] = beta * acc[i] - coef * acc2[i]
            else:
                for i in range(N):
                    o[i] = beta * acc[i]


@parallel_kernel
def _fast_colsum_kernel(D, blk, out):
    """out[j] = sum_r D[r, j] over r ascending (float64), columns split into blocks of ``blk``."""
    R, N = D.shape
    nblk = (N + blk - 1) // blk
    for k in prange(nblk):
        j0 = k * blk
        j1 = min(N, j0 + blk)
        for r in range(R):
            d = D[r]
            for j in range(j0, j1):
                out[j] += d[j]


IMPLS = ("fast", "reference")


def _resolve_options(rule, options):
    allowed = RULE_OPTIONS[rule]
    Vd.check_options(options, allowed, f"rule {rule!r}")
    opt = dict(allowed)
    opt.update(options)
    opt["ste_alpha"] = Vd.check_scalar(opt["ste_alpha"], "ste_alpha", lo=0.0)
    opt["ste_beta"] = Vd.check_scalar(opt["ste_beta"], "ste_beta", lo=0.0)
    Vd.check_choice(opt["impl"], "impl", IMPLS)
    if "vstar_mode" in opt:
        Vd.check_choice(opt["vstar_mode"], "vstar_mode", ("code", "appendix"))
        opt["vstar_floor"] = Vd.check_scalar(
            opt["vstar_floor"], "vstar_floor", lo=0.0, lo_open=True,
            hint="The floor guards the division -dT / Vstar (spec 1.4); the official value is 0.01.")
        tm = opt["timing_tau_min"]
        if isinstance(tm, (bool, np.bool_)) or tm not in (0, -1):
            raise ValueError(f"timing_tau_min must be 0 (official code) or -1 (appendix listing, adds the "
                             f"n = -1 term); got {tm!r}.")
        opt["timing_tau_min"] = int(tm)
        Vd.check_choice(opt["timing_impl"], "timing_impl", ("aux", "explicit"))
    if "timing_penalty" in opt:
        opt["timing_penalty"] = Vd.check_scalar(
            opt["timing_penalty"], "timing_penalty", lo=0.0,
            hint="It is the strength of the push on silent neurons (official 'Timing' runs use 100).")
    if "lambda_act" in opt:
        opt["lambda_act"] = Vd.check_scalar(opt["lambda_act"], "lambda_act")
        opt["lambda_tim"] = Vd.check_scalar(opt["lambda_tim"], "lambda_tim")
    return opt


def _pack(arrays, dtype):
    return np.ascontiguousarray(np.concatenate(arrays, axis=2), dtype=dtype)


def antlr_family_backward(net, trace, *, rule, dL_dS=None, dL_dt=None, dL_da=None, return_adjoints=False,
                          **options):
    r"""Backward pass of every ANTLR-family rule (spec 3.0-3.5, 3.7); called by :func:`snnref.backward`.

    See the module docstring for the recurrences and the public wrappers (:func:`act_rnn_backward`,
    :func:`act_srm_backward`, :func:`act_slayer_backward`, :func:`timing_backward`,
    :func:`antlr_backward`) for each rule's options. Inputs are assumed validated by
    :func:`snnref.backward.backward` (``dL_dS``, ``dL_dt`` of shape (T_sim, B, N_out) in the network
    dtype, or None = zeros); the options are validated here.

    ``impl="fast"`` (default option) runs the restructured fast path of the module docstring;
    ``impl="reference"`` the kernel described next.

    Loop order (reference): t = T-1..0 outer, l = L..1 inner (spec 3.7). Exception: with ``timing_tau_min=-1``
    the n = -1 term makes Tprop^{l-1}[t] depend on dV^l[t-1], which that order has not computed yet;
    the kernel then runs layers outer (l = L..1) and time inner (t = T-1..0). Both are topological
    orders of the same dependency graph, so for ``timing_tau_min=0`` they give bit-identical results.

    Returns
    -------
    Gradients
        ``dW[l]`` (N_{l-1}, N_l), ``db[l]`` (N_l,) in the network dtype (accumulated in float64).
        With ``return_adjoints`` one dict per spiking layer with arrays (T_sim, B, N_l):

        - ``dS``: activation signal arriving at the layer: ``dL_dS`` (output layer, zeros if None) or
          (C5) from the layer above. Not computed (zeros) in hidden layers by ``timing``.
        - ``dV``: the injected voltage gradient dV[t] (3.2 / (T2) / 3.5); for ``act_rnn`` the total
          derivative of (R2).
        - ``dV_dep``: the (C1) accumulation (for ``act_rnn`` identical to ``dV``).
        - ``dI``: (C2) (for ``act_rnn`` (R3)).
        - ``dT``: spike-time gradient of the layer, non-zero only at its spikes: ``dL_dt`` masked by
          S^L = 1 (output) or (T1) (hidden). Zeros for the activation rules.
        - ``Tprop`` (timing, antlr): the spike-time gradient arriving at the layer before masking:
          (T3) from the layer above (at every step), or ``dL_dt`` as given for the output layer.
        - ``E1``, ``E2`` (timing, antlr): the auxiliary traces of spec 3.4 (the explicit sums
          -sum_n vstar[n] dV[t+n] and -(1/beta_I) sum_n eps_star[n] dV[t+n] when
          ``timing_impl="explicit"``).
    """
    if rule not in _MODE:
        raise ValueError(f"rule must be one of {sorted(_MODE)} for antlr_family_backward; got {rule!r}.")
    check_trace(net, trace)
    if net.model.psp_output:
        raise ValueError(f"rule {rule!r} is an ANTLR-family rule; this network has a TSSL-BP model. Use rule='tsslbp'.")
    if dL_da is not None:
        raise ValueError(f"rule {rule!r} takes dL_dS and/or dL_dt; dL_da is for rule='tsslbp'.")
    opt = _resolve_options(rule, options)
    impl = _fast_backward if opt["impl"] == "fast" else _reference_backward
    dW, db, adjoints = impl(net, trace, rule, dL_dS, dL_dt, return_adjoints, opt)
    return Gradients(dW=dW, db=db, adjoints=adjoints, rule=rule, options=opt)


def _scalars(m, rule, opt, T):
    """Kernel mode code and the scalar settings shared by both implementations."""
    mode = _MODE[rule]
    use_tim = mode in (3, 4)
    tau_m1 = use_tim and opt["timing_tau_min"] == -1
    explicit = use_tim and opt["timing_impl"] == "explicit"
    vstar_code = (opt.get("vstar_mode", "code") == "code")
    vstar_floor = float(opt.get("vstar_floor", 0.01))
    lam_act = float(opt.get("lambda_act", 1.0))
    lam_tim = float(opt.get("lambda_tim", 1.0))
    es_m1 = 0.5 * float(_eps(m, 1)[0])  # eps_star[-1] = eps[0] / 2 (spec 1.4)
    if explicit:
        e = _eps(m, T + 1)  # untruncated kernel up to eps[T] (spec 1.4)
        e_prev = np.concatenate(([0.0], e[:T - 1]))
        es_over_bI = (e[1:] - e_prev) / (2.0 * m.beta_I)
        k = np.arange(T + 1, dtype=np.float64)
        pv = np.power(m.alpha_V, k)
        vs_n = 0.5 * (pv[1:] - np.concatenate(([0.0], pv[:T - 1])))
    else:
        es_over_bI = np.zeros(1)
        vs_n = np.zeros(1)
    return (mode, use_tim, tau_m1, explicit, vstar_code, vstar_floor, lam_act, lam_tim, es_m1,
            np.ascontiguousarray(es_over_bI, dtype=np.float64), np.ascontiguousarray(vs_n, dtype=np.float64))


def _timing_penalty(g, trace, l, N_in, penalty):
    """dW^l -= (penalty / N_{l-1}) * fraction of samples in which neuron j never fired (spec 3.4)."""
    S_l = trace.layers[l].S
    silent = ~np.any(S_l == 1, axis=0)  # (B, N): no spike in the simulated window
    g -= (penalty / N_in) * silent.mean(axis=0)[None, :]


def _reference_backward(net, trace, rule, dL_dS, dL_dt, return_adjoints, opt):
    """``impl="reference"``: the loop skeleton of spec 3.7 in one kernel over all layers packed along
    the last axis (t = T-1..0 outer, l = L..1 inner, every step of every sample), then (C3), (C4)."""
    m = net.model
    dt = net.dtype
    T, B = trace.T, trace.B
    L = net.n_layers
    sizes = np.array(net.sizes[1:], dtype=np.int64)
    n_off = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    Ntot = int(sizes.sum())
    w_sz = np.array([w.size for w in net.weights], dtype=np.int64)
    w_off = np.concatenate(([0], np.cumsum(w_sz)[:-1])).astype(np.int64)
    Wf = np.ascontiguousarray(np.concatenate([w.ravel() for w in net.weights]), dtype=dt)
    Vp = _pack([lt.V for lt in trace.layers], dt)
    Ip = _pack([lt.I for lt in trace.layers], dt)
    Sp = _pack([lt.S for lt in trace.layers], dt)
    n_out = net.sizes[-1]
    zeros_out = None
    if dL_dS is None or dL_dt is None:
        zeros_out = np.zeros((T, B, n_out), dtype=dt)
    dLdS = np.ascontiguousarray(dL_dS if dL_dS is not None else zeros_out, dtype=dt)
    dLdt = np.ascontiguousarray(dL_dt if dL_dt is not None else zeros_out, dtype=dt)
    mode, use_tim, tau_m1, explicit, vstar_code, vstar_floor, lam_act, lam_tim, es_m1, es_over_bI, vs_n = \
        _scalars(m, rule, opt, T)

    shape = (T, B, Ntot)
    dS, dV, dVdep, dI, dT, Tprop, E1, E2 = (np.zeros(shape, dtype=dt) for _ in range(8))
    _antlr_family_kernel(Vp, Ip, Sp, dLdS, dLdt, Wf, w_off, n_off, sizes, mode, bool(tau_m1),
                         m.alpha_I, m.alpha_V, m.beta_I, m.beta_V, m.theta, opt["ste_alpha"], opt["ste_beta"],
                         lam_act, lam_tim, bool(vstar_code), vstar_floor, bool(tau_m1), es_m1,
                         bool(explicit), es_over_bI, vs_n, dS, dV, dVdep, dI, dT, Tprop, E1, E2)

    dW, db = [], []
    for l in range(L):
        N = int(sizes[l])
        if l == 0:
            X, x_off = trace.x, 0
        else:
            X, x_off = Sp, int(n_off[l - 1])
        N_in = net.sizes[l]
        g = np.zeros((N_in, N), dtype=np.float64)
        _weight_grad_kernel(np.ascontiguousarray(X, dtype=dt), x_off, dI, int(n_off[l]), N_in, N, g)
        g *= m.beta_I
        gb = np.zeros(N, dtype=np.float64)
        _bias_grad_kernel(dVdep, int(n_off[l]), N, gb)
        gb *= m.beta_bias
        if rule == "timing" and opt["timing_penalty"] != 0.0:
            _timing_penalty(g, trace, l, N_in, opt["timing_penalty"])
        dW.append(g.astype(dt))
        db.append(gb.astype(dt))

    adjoints = None
    if return_adjoints:
        names = {"dS": dS, "dV": dV, "dV_dep": dVdep, "dI": dI, "dT": dT}
        if use_tim:
            names.update(Tprop=Tprop, E1=E1, E2=E2)
        adjoints = []
        for l in range(L):
            o, N = int(n_off[l]), int(sizes[l])
            adjoints.append({k: np.ascontiguousarray(a[:, :, o:o + N]) for k, a in names.items()})
    return dW, db, adjoints


def _block(n):
    """Neurons per parallel work item of the fast kernels: one contiguous block per thread (the rows
    are then read as long contiguous runs). Any block size gives the same result."""
    return max(1, -(-n // numba.get_num_threads()))


def active_rows(dL_dS, dL_dt, T, B, extend=0):
    """Compact row index of the steps that can carry a non-zero adjoint (fast path).

    t_end[b] = the last step at which sample b has a non-zero ``dL_dS`` or ``dL_dt`` entry in any
    output neuron (-1 if none), moved ``extend`` steps later (at most T-1) when it is >= 0. Returns
    ``(t_end, rowidx, rt, rb)``: the active rows are the (t, b) with t <= t_end[b], numbered
    r = 0..R-1 in the order t ascending, then b ascending; ``rowidx[t, b]`` = r (or -1), ``rt[r]``,
    ``rb[r]`` = its step and sample.
    """
    nz = np.zeros((T, B), dtype=bool)
    for arr in (dL_dS, dL_dt):
        if arr is not None:
            nz |= (arr != 0).any(axis=2)
    t_end = np.where(nz.any(axis=0), T - 1 - np.argmax(nz[::-1], axis=0), -1).astype(np.int64)
    t_end = np.where(t_end >= 0, np.minimum(t_end + extend, T - 1), -1)
    mask = np.arange(T)[:, None] <= t_end[None, :]
    rt, rb = np.nonzero(mask)  # C order: t ascending, then b ascending
    rowidx = np.full((T, B), -1, dtype=np.int64)
    rowidx[rt, rb] = np.arange(rt.size, dtype=np.int64)
    return t_end, rowidx, rt.astype(np.int64), rb.astype(np.int64)


#: upper-layer size above which the back-projection uses BLAS (numpy ``@``) instead of
#: :func:`_fast_backproject_kernel`; see :func:`_back_project`.
BLAS_MIN_NEURONS = 64


def _back_project(D, W, beta, D2, prev, coef):
    """Back-projection to the layer below over the active rows (R rows)::

        out[r, i] = beta sum_j W[i, j] D[r, j] - coef sum_j W[i, j] D2[prev[r], j]   (second term if D2
                                                                                      has rows, prev[r] >= 0)

    i.e. (C5) (D = dI), (T3) (D = E2) and the tau_min = -1 term (D2 = dV). With at most
    ``BLAS_MIN_NEURONS`` upper-layer neurons (the official networks' 10 outputs) a kernel with the
    reference's summation order (bit-identical); above that BLAS matrix products (summation order of
    the BLAS library, float32 accumulated in float32), which are much faster for wide layers.
    """
    R = D.shape[0]
    if W.shape[1] <= BLAS_MIN_NEURONS:
        out = np.empty((R, W.shape[0]), dtype=D.dtype)
        _fast_backproject_kernel(D, np.ascontiguousarray(W.T), beta, D2, prev, coef, out)
        return out
    out = D @ W.T
    out *= beta
    if D2.shape[0] > 0:
        has = prev >= 0
        out[has] -= coef * (D2 @ W.T)[prev[has]]
    return out


def _fast_backward(net, trace, rule, dL_dS, dL_dt, return_adjoints, opt):
    """``impl="fast"`` (default): the same recurrences, restructured (module docstring, "Two implementations")."""
    m = net.model
    dt = net.dtype
    T, B = trace.T, trace.B
    L = net.n_layers
    mode, use_tim, tau_m1, explicit, vstar_code, vstar_floor, lam_act, lam_tim, es_m1, es_over_bI, vs_n = \
        _scalars(m, rule, opt, T)
    use_act = mode != 3
    # only the loss gradients the rule uses (act_*: dL_dS, timing: dL_dt, antlr: both) define t_end;
    # tau_min = -1 feeds dV^l[t-1] into Tprop^{l-1}[t]: each layer down reaches one step further
    t_end, rowidx, rt, rb = active_rows(dL_dS if use_act else None, dL_dt if use_tim else None, T, B,
                                        extend=(L - 1) if tau_m1 else 0)
    R = rt.size
    empty = np.zeros((0, 0), dtype=dt)
    n_out = net.sizes[-1]
    # signals arriving at the output layer, on the active rows
    dS_in = np.zeros((R, n_out), dtype=dt) if dL_dS is None else np.ascontiguousarray(dL_dS[rt, rb], dtype=dt)
    Tp_in = np.zeros((R, n_out), dtype=dt) if dL_dt is None else np.ascontiguousarray(dL_dt[rt, rb], dtype=dt)
    # row of (t-1, b) for each active row (t, b), -1 at t = 0 (the tau_min = -1 term)
    prev = np.where(rt >= 1, rowidx[np.maximum(rt - 1, 0), rb], -1) if tau_m1 else np.zeros(0, dtype=np.int64)
    dW = [None] * L
    db = [None] * L
    adj_c = [None] * L
    for l in range(L - 1, -1, -1):
        lt = trace.layers[l]
        N = lt.S.shape[2]
        below = l > 0
        store_dV = return_adjoints or explicit or (tau_m1 and below)
        store_E2 = use_tim and (return_adjoints or below)
        dI_c = np.empty((R, N), dtype=dt)
        dVdep_c = np.empty((R, N), dtype=dt)
        dV_c = np.zeros((R, N), dtype=dt) if store_dV else empty
        E2_c = np.empty((R, N), dtype=dt) if store_E2 else empty
        if return_adjoints:
            dT_c, E1_c = (np.zeros((R, N), dtype=dt) for _ in range(2))
        else:
            dT_c = E1_c = empty
        Vl, Il, Sl = (np.ascontiguousarray(a, dtype=dt) for a in (lt.V, lt.I, lt.S))  # no copy from forward
        _fast_layer_kernel(Vl, Il, Sl, dS_in, Tp_in, rowidx, t_end, mode, _block(N),
                           m.alpha_I, m.alpha_V, m.beta_V, m.theta, opt["ste_alpha"], opt["ste_beta"],
                           lam_act, lam_tim, bool(vstar_code), vstar_floor, bool(explicit), es_over_bI, vs_n,
                           bool(return_adjoints), bool(store_dV), bool(store_E2),
                           dV_c, dVdep_c, dI_c, dT_c, E1_c, E2_c)
        # (C3) over the presynaptic non-zeros of the active rows, (C4) over the active rows
        X = np.ascontiguousarray(trace.x if l == 0 else trace.layers[l - 1].S, dtype=dt)
        N_in = X.shape[2]
        g = np.zeros((N_in, N), dtype=np.float64)
        _fast_weight_grad_kernel(X, rt, rb, dI_c, _block(N_in), g)
        g *= m.beta_I
        gb = np.zeros(N, dtype=np.float64)
        _fast_colsum_kernel(dVdep_c, _block(N), gb)
        gb *= m.beta_bias
        if rule == "timing" and opt["timing_penalty"] != 0.0:
            _timing_penalty(g, trace, l, N_in, opt["timing_penalty"])
        dW[l] = g.astype(dt)
        db[l] = gb.astype(dt)
        if return_adjoints:
            adj_c[l] = {"dS": dS_in, "dV": dV_c, "dV_dep": dVdep_c, "dI": dI_c, "dT": dT_c}
            if use_tim:
                adj_c[l].update(Tprop=Tp_in, E1=E1_c, E2=E2_c)
        if below:
            W = net.weights[l]
            N_below = W.shape[0]
            if use_act:
                dS_in = _back_project(dI_c, W, m.beta_I, empty, prev, 0.0)
            else:
                dS_in = np.zeros((R, N_below), dtype=dt)  # not used by timing (reference: zeros)
            if use_tim:
                Tp_in = _back_project(E2_c, W, m.beta_I, dV_c if tau_m1 else empty, prev, es_m1)
            else:
                Tp_in = dS_in  # not read (the kernel takes row views of both inputs)
    adjoints = None
    if return_adjoints:
        adjoints = []
        for l in range(L):
            N = trace.layers[l].S.shape[2]
            full = {}
            for k, a in adj_c[l].items():
                arr = np.zeros((T, B, N), dtype=dt)
                arr[rt, rb] = a
                full[k] = arr
            if l == L - 1:  # the given loss gradients, as the reference stores them
                full["dS"] = np.zeros((T, B, N), dtype=dt) if dL_dS is None else np.array(dL_dS, dtype=dt)
                if use_tim:
                    full["Tprop"] = np.zeros((T, B, N), dtype=dt) if dL_dt is None else np.array(dL_dt, dtype=dt)
            adjoints.append(full)
    return dW, db, adjoints


# --------------------------------------------------------------------------------------- wrappers
def act_rnn_backward(net, trace, dL_dS=None, *, return_adjoints=False, ste_alpha=1.0, ste_beta=3.0, impl="fast"):
    r"""Activation-based BPTT through the RNN-like form WITH reset paths (spec 3.1; paper Sec. 3.1,
    appendix C Eqs. 11-17). Rule name ``act_rnn``; not part of the official code (spec A1).

    For t = T-1..0 (outer), l = L..1 (inner), neuron j, states of t+1 already final (zero at T)::

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
    return_adjoints : bool, see :func:`antlr_family_backward` ("dV" = "dV_dep" = the total dV)
    ste_alpha, ste_beta : float >= 0, surrogate parameters (defaults 1.0, 3.0)
    impl : "fast" (default) or "reference", see the module docstring (same results up to the rounding
        of reordered sums)

    Returns
    -------
    Gradients
    """
    return backward(net, trace, "act_rnn", dL_dS, return_adjoints=return_adjoints,
                    ste_alpha=ste_alpha, ste_beta=ste_beta, impl=impl)


def act_srm_backward(net, trace, dL_dS=None, *, return_adjoints=False, ste_alpha=1.0, ste_beta=3.0, impl="fast"):
    r"""SRM-based activation rule, ANTLR appendix Algorithm 1 with V_dep (spec 3.2; official
    lrule "Activation"). Rule name ``act_srm``.

    For t = T-1..0 (outer), l = L..1 (inner), zero states at t = T::

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
    return backward(net, trace, "act_srm", dL_dS, return_adjoints=return_adjoints,
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
    return backward(net, trace, "act_slayer", dL_dS, return_adjoints=return_adjoints,
                    ste_alpha=ste_alpha, ste_beta=ste_beta, impl=impl)


_TIMING_DOC = r"""
    vstar_mode : "code" (default) or "appendix"
        Vstar[t] (spec 1.4, A7): "code" = V[t] - (1 - S[t-1]) V[t-1] (V[0] at t = 0), "appendix" =
        V[t] - V[t-1] (V[-1] = 0). Both are floored at ``vstar_floor`` **[choice for "appendix"]**.
    vstar_floor : float > 0, default 0.01
        Vstar = max(Vstar, vstar_floor); keeps -dT / Vstar finite.
    timing_tau_min : 0 (default) or -1
        0: (T3) sums n = 0..n_max (official code). -1: adds the n = -1 term of the appendix listing
        (spec A6), defined here as the effect of moving the presynaptic spike at t one step earlier on
        V_j[t-1]: Tprop^{l-1}_i[t] -= eps_star[-1] sum_j w^l_ij dV^l_j[t-1], eps_star[-1] = eps[0]/2,
        ungated (no spike of j can cut a window that starts at t-1), zero for t = 0. Because this makes
        layer l-1 at t depend on layer l at t-1, the loops then run layers outer, time inner.
    timing_impl : "aux" (default) or "explicit"
        "aux": the O(1)-per-step traces E1/E2 of spec 3.4. "explicit": the causal sums of (T3) with
        eps_star from the untruncated kernel (eps[T] included, spec 1.4), O(T) per step: a slow
        reference for tests."""


def timing_backward(net, trace, dL_dt=None, *, return_adjoints=False, vstar_mode="code", vstar_floor=0.01,
                    timing_tau_min=0, timing_impl="aux", timing_penalty=0.0, impl="fast"):
    r"""Timing-based rule, ANTLR appendix Algorithm 2 (spec 3.4; official lrule "Timing").
    Rule name ``timing``.

    For t = T-1..0 (outer), l = L..1 (inner), zero states at t = T::

        dT^L[t] = dL_dt[t] if S^L[t] = 1 else 0;   dT^l[t] = [S^l[t] = 1] Tprop^l[t]      (T1)
        dV[t]   = -dT[t] / Vstar[t] if S[t] = 1 else 0                                  (T2)
        (C1), (C2), (C3), (C4) as in :func:`act_srm_backward`
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
    return_adjoints : bool, see :func:`antlr_family_backward` (adds "Tprop", "E1", "E2")
    timing_penalty : float >= 0, default 0.0 (official "Timing" runs use 100)
    impl : "fast" (default) or "reference", see the module docstring
""" + _TIMING_DOC + r"""

    Returns
    -------
    Gradients
    """
    return backward(net, trace, "timing", None, dL_dt, return_adjoints=return_adjoints, vstar_mode=vstar_mode,
                    vstar_floor=vstar_floor, timing_tau_min=timing_tau_min, timing_impl=timing_impl,
                    timing_penalty=timing_penalty, impl=impl)


def antlr_backward(net, trace, dL_dS=None, dL_dt=None, *, return_adjoints=False, lambda_act=1.0, lambda_tim=1.0,
                   ste_alpha=1.0, ste_beta=3.0, vstar_mode="code", vstar_floor=0.01, timing_tau_min=0,
                   timing_impl="aux", impl="fast"):
    r"""ANTLR: combined activation- and timing-based rule, ANTLR appendix Algorithm 3 (spec 3.5;
    official lrule "ANTLR"). Rule name ``antlr``.

    For t = T-1..0 (outer), l = L..1 (inner), zero states at t = T::

        l = L:  dS^L[t] = dL_dS[t],  dT^L[t] = dL_dt[t] [S^L[t] = 1]
        l < L:  dS^l[t] = (C5) from layer l+1,  dT^l[t] = [S^l[t] = 1] Tprop^l[t]   (T1, T3 / E1-E2)
        dV[t] = lambda_act sigma(V[t]) dS[t] + lambda_tim (-dT[t] / Vstar[t]) [S[t] = 1]
        (C1), (C2), gradients (C3), (C4); E1/E2 from the COMBINED dV (cross terms between the
        activation and timing paths appear below the top layer).

    antlr(lambda_act=1, lambda_tim=0) == act_srm and antlr(0, 1) == timing without penalty
    (spec 10.3 P-T3). No timing penalty (official code).

    Parameters
    ----------
    net : Network (ANTLR model)
    trace : Trace, ``snnref.forward(net, x)`` with S in {0, 1}
    dL_dS : array (T_sim, B, N_out) or None (zeros)
    dL_dt : array (T_sim, B, N_out) or None (zeros); only entries at output spikes are used.
    return_adjoints : bool, see :func:`antlr_family_backward`
    lambda_act, lambda_tim : float, default 1, 1 (hard-coded in the official code, spec A9)
    ste_alpha, ste_beta : float >= 0, surrogate sigma(v) = ste_alpha exp(-ste_beta |v - theta|)
    impl : "fast" (default) or "reference", see the module docstring
""" + _TIMING_DOC + r"""

    Returns
    -------
    Gradients
    """
    return backward(net, trace, "antlr", dL_dS, dL_dt, return_adjoints=return_adjoints, lambda_act=lambda_act,
                    lambda_tim=lambda_tim, ste_alpha=ste_alpha, ste_beta=ste_beta, vstar_mode=vstar_mode,
                    vstar_floor=vstar_floor, timing_tau_min=timing_tau_min, timing_impl=timing_impl,
                    impl=impl)
