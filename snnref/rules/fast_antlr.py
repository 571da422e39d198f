r"""``impl="fast"`` (default) of the ANTLR-family rules: the recurrences of the reference kernels
(:mod:`snnref.rules.activation`, :mod:`~snnref.rules.timing`, :mod:`~snnref.rules.antlr`) with the
same arithmetic (the step functions of :mod:`snnref.rules.steps`) and the same summation order,
restructured so that no work is spent on terms that are exactly zero. The results are
bit-identical to the reference (up to the sign of zero), except with upper layers of more than
``BLAS_MIN_NEURONS`` neurons, whose back-projections use BLAS (item 2); tests/test_fast_antlr.py
checks both. What is skipped or reordered, and why it is exact:

1. Steps after t_end(b). Let t_end(b) be the last step at which sample b has a non-zero dL_dS or
   dL_dt in any output neuron (only the one(s) the rule uses: act_* ignore dL_dt, timing ignores
   dL_dS). Every backward quantity is a linear function of dL_dS[t'], dL_dt[t'] at steps t' >= t
   (the recurrences carry t+1 -> t, and the loss injects at the same step), so all of them are
   exactly 0 at t > t_end(b): each sample's backward starts at t_end(b) with zero states (with the
   latency loss t_end is the last first-spike step, often << T). Exception: the n = -1 term of
   ``timing_tau_min=-1`` feeds dV^l[t-1] into Tprop^{l-1}[t], so a layer k levels below the output
   can be non-zero up to t_end + k; t_end is then extended by L-1 steps. The active rows
   (t <= t_end(b), ordered t ascending, then b) are stored compactly: O(R N_l) memory per layer
   with R = sum_b (t_end(b) + 1) <= T B; nothing is O(T^2).
2. The connection step (:mod:`snnref.rules.connections`) over the active rows only: the exact
   kernels (reference order), or, for upper layers wider than ``BLAS_MIN_NEURONS``, BLAS matrix
   products for the back-projections (other order; float32 sums in float32).
3. The surrogate exp where its factor is 0: sigma(V) dS with dS == 0 (act_rnn: with g == 0) is 0.
4. (C3) over the non-zero presynaptic values of the active rows only (dI^l = 0 elsewhere), (C4) over
   the active rows, both in the reference's order (t descending, then b descending), with the real
   value of S (exact for relaxed traces).
5. Work split: within a layer the neurons are independent, so the parallel work items are blocks of
   neurons (one per thread; balanced even when t_end differs between samples). Every value is
   computed by exactly one item in a fixed order, so results do not depend on the thread count.
6. Fusion (dense networks, no adjoints returned: the training case; :func:`_fused_layer_kernel`):
   the connection steps run inside the layer sweep. The signal from a layer above of at most
   ``BLAS_MIN_NEURONS`` neurons is projected down row by row (Tprop only at spikes, where it is used),
   and (C3), (C4) are summed while the rows are produced (t descending, then b descending: the
   reference's order), over the input events the forward pass listed. The layer's dS, Tprop, dV_dep
   rows are never stored, and dI, E2 only for the layer below: one pass over V and S per layer.

Two kernels serve the five rules (:func:`_fast_layer_kernel` when adjoints are returned, with the
explicit timing sums, ``timing_tau_min=-1`` or layered networks; else the fused one); what a rule uses
is given by :class:`FastRule` (which signals it takes, whether its core has the act_rnn reset paths
or the (1 - S) gates).
"""
from typing import NamedTuple

import numpy as np

from .._jit import kernel, parallel_kernel, prange
from ..workspace import _Fresh
from . import connections
from .._user_trace import _is_forward_trace
from ..fast_forward import input_events
from .connections import BLAS_MIN_NEURONS, block_size, connections_of, previous_rows, project_row
from .steps import (aux_traces_step, causal_sum_term, core_step, current_step, dep_step, reset_path_signal,
                    surrogate, surrogate_constants, timing_injection)

__all__ = ["FastRule", "TimingSettings", "backward", "active_rows", "BLAS_MIN_NEURONS",
           "ACT_RNN", "ACT_SRM", "ACT_SLAYER", "TIMING", "ANTLR"]


class FastRule(NamedTuple):
    """What the fast kernel computes for one rule."""

    activation: bool   #: dV gets the surrogate term lambda_act sigma(V) dS (act_*, antlr)
    timing: bool       #: dV gets the spike-time term (-dT / Vstar) [S = 1], E1/E2 traces (timing, antlr)
    reset_paths: bool  #: act_rnn: (R1)-(R3) instead of (C1), (C2)
    gated: bool        #: (1 - S) gates in (C1), (C2) (False: act_slayer)


ACT_RNN = FastRule(activation=True, timing=False, reset_paths=True, gated=True)
ACT_SRM = FastRule(activation=True, timing=False, reset_paths=False, gated=True)
ACT_SLAYER = FastRule(activation=True, timing=False, reset_paths=False, gated=False)
TIMING = FastRule(activation=False, timing=True, reset_paths=False, gated=True)
ANTLR = FastRule(activation=True, timing=True, reset_paths=False, gated=True)


class TimingSettings(NamedTuple):
    """The timing-path settings shared by both implementations (see :func:`snnref.rules.timing.settings`)."""

    vstar_code: bool
    vstar_floor: float
    tau_min_m1: bool      #: timing_tau_min == -1
    es_m1: float          #: eps_star[-1] = eps[0] / 2
    explicit: bool        #: timing_impl == "explicit"
    es_over_bI: np.ndarray
    vs_n: np.ndarray


NO_TIMING = TimingSettings(True, 0.01, False, 0.0, False, np.zeros(1), np.zeros(1))


# --------------------------------------------------------------------------------------- kernel
@kernel
def _activation_dv(reset_paths, ds, s, v, i, dV1, dI1, alpha_I, alpha_V, theta, ste_alpha, ste_beta, lam_act):
    """The activation part of dV[t]: (R1) then (C1) with the reset paths (act_rnn), else
    lam_act sigma(V[t]) dS[t] (spec 3.1-3.3); the exp is skipped where its factor is exactly 0."""
    if reset_paths:
        g = reset_path_signal(ds, i, v, dV1, dI1, alpha_I, alpha_V)
        inj = 0.0
        if g != 0.0:
            inj = surrogate(v, theta, ste_alpha, ste_beta) * g
        return dep_step(inj, s, dV1, alpha_V)
    if ds != 0.0:
        return lam_act * (surrogate(v, theta, ste_alpha, ste_beta) * ds)
    return 0.0


@parallel_kernel
def _fast_layer_kernel(V, I, S, dS_c, Tp_c, rowidx, t_end, use_act, use_tim, reset_paths, gated, blk,
                       alpha_I, alpha_V, beta_V, theta, ste_alpha, ste_beta, lam_act, lam_tim,
                       vstar_code, vstar_floor, explicit, es_over_bI, vs_n,
                       store_adj, store_dV, store_E2,
                       dV_c, dVdep_c, dI_c, dT_c, E1_c, E2_c):
    """All steps of ONE layer, fast path of every ANTLR-family rule.

    Per sample b only the compact rows t = t_end[b] .. 0 (row index rowidx[t, b]); the states at
    t_end[b] + 1 are zero. Neurons are independent within a layer, so the work is split into blocks
    of ``blk`` neurons (one prange iteration each, no shared writes). The arithmetic per neuron and
    step is the reference kernels' (the same step functions), with the [t+1] states kept in block-local
    carries of the array dtype (the values the reference re-reads from its arrays). Writes dI_c and
    dVdep_c, and dV_c, E2_c, dT_c, E1_c when asked to.
    """
    T, B, N = V.shape
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
                for j in range(j0, j1):
                    s = S_t[j]
                    v = V_t[j]
                    spike = s == 1.0
                    dV1 = c_dV[j]
                    dVdep1 = c_dVdep[j]
                    dI1 = c_dI[j]
                    dv = 0.0
                    if use_act:
                        dv = _activation_dv(reset_paths, dS_r[j], s, v, I_t[j], dV1, dI1, alpha_I, alpha_V, theta,
                                            ste_alpha, ste_beta, lam_act)
                    if use_tim:
                        dt_ = 0.0
                        if spike:
                            dt_ = Tp_r[j]
                            tim = timing_injection(dt_, t, v, V_p[j], S_p[j], vstar_code, vstar_floor)
                            dv = dv + lam_tim * tim if use_act else tim
                        if store_adj:
                            dT_c[r, j] = dt_
                    if reset_paths:
                        dvdep = dv
                        di = current_step(dv, s, dI1, alpha_I, beta_V)
                    else:
                        dvdep, di = core_step(dv, s if gated else 0.0, dVdep1, dI1, alpha_I, alpha_V, beta_V)
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
                            e1, e2 = aux_traces_step(dv, dV1, c_E1[j], c_E2[j], last or spike,
                                                     alpha_I, alpha_V, beta_V)
                        else:
                            # explicit causal sums (slow reference, O(T) per step); dV = 0 after t_end
                            e1 = 0.0
                            e2 = 0.0
                            for n in range(te + 1 - t):
                                dvn = dv if n == 0 else dV_c[rowidx[t + n, b], j]
                                e1, e2 = causal_sum_term(e1, e2, vs_n[n], es_over_bI[n], dvn)
                                if S[t + n, b, j] == 1.0:
                                    break
                        c_E1[j] = e1
                        c_E2[j] = e2
                        if store_adj:
                            E1_c[r, j] = c_E1[j]
                        if store_E2:
                            E2_c[r, j] = c_E2[j]


@parallel_kernel
def _fused_layer_kernel(V, I, S, dS_c, Tp_c, up_dI, up_E2, Wt_up, beta_up, X, ev_ptr, ev_idx, rowidx, t_end,
                        use_act, use_tim, reset_paths, gated, blk, alpha_I, alpha_V, beta_V, theta, ste_alpha,
                        ste_beta, lam_act, lam_tim, vstar_code, vstar_floor, store_below, dI_c, E2_c, g, gb):
    """All steps of ONE layer of a dense network, with the connection steps fused into the sweep.

    The arithmetic per neuron and step is the one of :func:`_fast_layer_kernel` (the reference step
    functions); what it adds is where the inputs come from and where the results go:

    * the signals arriving at the layer (C5), (T3): the rows ``dS_c``, ``Tp_c`` if ``Wt_up`` is empty,
      else computed per row from the (narrow) layer above, dS[j] = beta_up sum_o W_up[j, o] dI_up[o]
      and Tprop[j] = beta_up sum_o W_up[j, o] E2_up[o] (o ascending in float64, products in the array
      dtype, zero terms skipped: the exact back-projection's arithmetic); Tprop only at spikes, where
      it is used. No (R, N) signal array is read or written.
    * (C4) gb[j] += dV_dep and (C3) g[i, j] += x_i dI[j] over the input events i of the row (``X``,
      ``ev_ptr``, ``ev_idx``: the event lists of :func:`snnref.fast_forward.simulate`), in float64, in the order
      the sweep produces the rows: t descending, then b descending (the order of
      :mod:`snnref.rules.connections`). No dI / dV_dep array is needed for them.
    * ``store_below``: dI and E2 rows are written (``dI_c``, ``E2_c``) for the layer below.

    Loop order: blocks of ``blk`` neurons in parallel (each block owns the columns j0:j1 of g and gb);
    in a block, t descending, then b descending, with the [t+1] states of every sample in block-local
    carries of the array dtype. Each row of a block is two passes over its neurons: the injected dV[t]
    (exp calls and spike branches), then the linear core with the carries and the bias sum, written
    without calls or data-dependent branches so that the compiler vectorises it (measured 1.4x faster
    per neuron-step than one loop doing both, same bits).
    """
    T, B, N = V.shape
    from_up = Wt_up.shape[0] > 0
    dt = dI_c.dtype
    nblk = (N + blk - 1) // blk
    for k in prange(nblk):
        j0 = k * blk
        j1 = min(N, j0 + blk)
        nb = j1 - j0
        c_dV = np.zeros((B, nb), dtype=dt)
        c_dVdep = np.zeros((B, nb), dtype=dt)
        c_dI = np.zeros((B, nb), dtype=dt)
        c_E1 = np.zeros((B, nb), dtype=dt)
        c_E2 = np.zeros((B, nb), dtype=dt)
        ds = np.zeros(nb, dtype=dt)
        tpb = np.zeros(1, dtype=dt)  # Tprop of one neuron, rounded to the dtype as the stored rows
        acc = np.zeros(nb, dtype=np.float64)
        acc1 = np.zeros(1, dtype=np.float64)
        dvb = np.zeros(nb, dtype=np.float64)  # dV[t] of the block (unrounded, as the reference uses it)
        gbk = gb[j0:j1]
        for t in range(T - 1, -1, -1):
            last = t + 1 >= T
            for b in range(B - 1, -1, -1):
                if t > t_end[b]:
                    continue
                r = rowidx[t, b]
                S_t = S[t, b, j0:j1]
                V_t = V[t, b, j0:j1]
                I_t = I[t, b, j0:j1]
                S_p = S[max(t - 1, 0), b, j0:j1]  # previous step (used only for t >= 1)
                V_p = V[max(t - 1, 0), b, j0:j1]
                cdV = c_dV[b]
                cdVdep = c_dVdep[b]
                cdI = c_dI[b]
                cE1 = c_E1[b]
                cE2 = c_E2[b]
                if use_act:  # dS of the row: given, or projected down from the layer above
                    if from_up:
                        project_row(up_dI[r], Wt_up, j0, j1, acc)
                        for jj in range(nb):
                            ds[jj] = beta_up * acc[jj]
                    else:
                        ds[:] = dS_c[r, j0:j1]
                # pass 1: dV[t] injected by the loss signals (surrogate exp, spike-time terms: calls and
                # branches), from the [t+1] carries
                for jj in range(nb):
                    s = S_t[jj]
                    v = V_t[jj]
                    dv = 0.0
                    if use_act:
                        dv = _activation_dv(reset_paths, ds[jj], s, v, I_t[jj], cdV[jj], cdI[jj], alpha_I, alpha_V,
                                            theta, ste_alpha, ste_beta, lam_act)
                    if use_tim and s == 1.0:
                        if from_up:  # Tprop of this neuron only: it is read at spikes
                            project_row(up_E2[r], Wt_up, j0 + jj, j0 + jj + 1, acc1)
                            tpb[0] = beta_up * acc1[0]
                            tp = tpb[0]
                        else:
                            tp = Tp_c[r, j0 + jj]
                        tim = timing_injection(tp, t, v, V_p[jj], S_p[jj], vstar_code, vstar_floor)
                        dv = dv + lam_tim * tim if use_act else tim
                    dvb[jj] = dv
                # pass 2: the linear core, the carries (dtype-rounded, as the reference re-reads them), the
                # bias sum and the timing traces; one loop per case, without calls or data-dependent
                # branches, so that it vectorises
                if reset_paths:  # act_rnn: (R2) done in pass 1, (R3) here
                    for jj in range(nb):
                        dv = dvb[jj]
                        di = current_step(dv, S_t[jj], cdI[jj], alpha_I, beta_V)
                        cdV[jj] = dv
                        cdVdep[jj] = dv
                        cdI[jj] = di
                        gbk[jj] += cdVdep[jj]
                elif use_tim and store_below:  # E1, E2 feed the layer below
                    for jj in range(nb):
                        s = S_t[jj]
                        dv = dvb[jj]
                        dvdep, di = core_step(dv, s if gated else 0.0, cdVdep[jj], cdI[jj], alpha_I, alpha_V, beta_V)
                        e1, e2 = aux_traces_step(dv, cdV[jj], cE1[jj], cE2[jj], last or s == 1.0, alpha_I, alpha_V,
                                                 beta_V)
                        cE1[jj] = e1
                        cE2[jj] = e2
                        cdV[jj] = dv
                        cdVdep[jj] = dvdep
                        cdI[jj] = di
                        gbk[jj] += cdVdep[jj]
                else:  # dV[t+1] is not read again
                    for jj in range(nb):
                        s = S_t[jj]
                        dvdep, di = core_step(dvb[jj], s if gated else 0.0, cdVdep[jj], cdI[jj], alpha_I, alpha_V,
                                              beta_V)
                        cdVdep[jj] = dvdep
                        cdI[jj] = di
                        gbk[jj] += cdVdep[jj]
                if store_below:
                    dI_c[r, j0:j1] = cdI
                    if use_tim:
                        E2_c[r, j0:j1] = cE2
                for kin in range(ev_ptr.shape[1]):
                    for e in range(ev_ptr[b, kin, t], ev_ptr[b, kin, t + 1]):
                        i = ev_idx[b, kin, e]
                        x = X[t, b, i]
                        gi = g[i, j0:j1]
                        for jj in range(nb):
                            gi[jj] += x * cdI[jj]


@kernel
def _mark_event_inputs(ev_ptr, ev_idx, t_end, mark):
    """mark[i] = True for every input i with an event at a step t <= t_end[b] of some sample b."""
    B, K, _ = ev_ptr.shape
    for b in range(B):
        if t_end[b] < 0:
            continue
        for k in range(K):
            for e in range(ev_ptr[b, k, 0], ev_ptr[b, k, t_end[b] + 1]):
                mark[ev_idx[b, k, e]] = True


# --------------------------------------------------------------------------------------- driver
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


def backward(net, trace, rule, dL_dS, dL_dt, return_adjoints, opt, timing=NO_TIMING, weight_adjust=None):
    """Fast path of one ANTLR-family rule (``rule`` a :class:`FastRule`); inputs validated, ``opt``
    resolved. ``weight_adjust(l, g)`` may change the float64 weight gradient of layer l in place
    before its cast (the timing penalty). Returns ``(dW, db, adjoints)``."""
    m = net.model
    dtype = net.dtype
    T, B = trace.T, trace.B
    L = net.n_layers
    use_act, use_tim = rule.activation, rule.timing
    tau_m1 = use_tim and timing.tau_min_m1
    explicit = use_tim and timing.explicit
    lam_act = float(opt.get("lambda_act", 1.0))
    lam_tim = float(opt.get("lambda_tim", 1.0))
    # only the loss gradients the rule uses define t_end; tau_min = -1 feeds dV^l[t-1] into
    # Tprop^{l-1}[t]: each layer down reaches one step further
    t_end, rowidx, rt, rb = active_rows(dL_dS if use_act else None, dL_dt if use_tim else None, T, B,
                                        extend=(L - 1) if tau_m1 else 0)
    R = rt.size
    # internal arrays from the caller's workspace (none of them is returned unless return_adjoints)
    ws = opt.get("workspace")
    alloc = ws if ws is not None and not return_adjoints else _Fresh
    empty = np.zeros((0, 0), dtype=dtype)
    n_out = net.sizes[-1]
    # signals arriving at the output layer, on the active rows
    dS_in = np.zeros((R, n_out), dtype=dtype) if dL_dS is None else np.ascontiguousarray(dL_dS[rt, rb], dtype=dtype)
    Tp_in = np.zeros((R, n_out), dtype=dtype) if dL_dt is None else np.ascontiguousarray(dL_dt[rt, rb], dtype=dtype)
    conns = connections_of(net, trace)
    if not (return_adjoints or explicit or tau_m1) and all(isinstance(c, connections.Dense) for c in conns):
        return _fused_backward(net, trace, rule, conns, dS_in, Tp_in, rowidx, t_end, alloc, opt, timing,
                               lam_act, lam_tim, weight_adjust)
    prev = previous_rows(rowidx, rt, rb) if tau_m1 else None
    dW = [None] * L
    db = [None] * L
    adj_c = [None] * L
    for l, conn in reversed(list(enumerate(conns))):
        lt = trace.layers[l].flat()
        N = lt.S.shape[2]
        below = l > 0
        store_dV = return_adjoints or explicit or (tau_m1 and below)
        store_E2 = use_tim and (return_adjoints or below)
        dI_c = alloc.array(("backward dI", l), (R, N), dtype)
        dVdep_c = alloc.array(("backward dV_dep", l), (R, N), dtype)
        if store_dV:
            dV_c = alloc.array(("backward dV", l), (R, N), dtype)
            dV_c.fill(0.0)
        else:
            dV_c = empty
        E2_c = alloc.array(("backward E2", l), (R, N), dtype) if store_E2 else empty
        if return_adjoints:
            dT_c, E1_c = (np.zeros((R, N), dtype=dtype) for _ in range(2))
        else:
            dT_c = E1_c = empty
        Vl, Il, Sl = (np.ascontiguousarray(a, dtype=dtype) for a in (lt.V, lt.I, lt.S))  # no copy from forward
        _fast_layer_kernel(Vl, Il, Sl, dS_in, Tp_in, rowidx, t_end, use_act, use_tim, rule.reset_paths,
                           rule.gated, block_size(N), m.alpha_I, m.alpha_V, m.beta_V,
                           *surrogate_constants(dtype, m.theta, opt["ste_alpha"], opt["ste_beta"]), lam_act, lam_tim,
                           timing.vstar_code, timing.vstar_floor, explicit, timing.es_over_bI, timing.vs_n,
                           bool(return_adjoints), bool(store_dV), bool(store_E2),
                           dV_c, dVdep_c, dI_c, dT_c, E1_c, E2_c)
        # (C3) over the presynaptic non-zeros of the active rows, (C4) over the active rows
        X = np.ascontiguousarray(trace.layer_input(l), dtype=dtype)
        g = conn.weight_grad(X, rt, rb, dI_c)
        g *= m.beta_I
        gb = conn.bias_grad(dVdep_c)
        gb *= m.beta_bias
        if weight_adjust is not None:
            weight_adjust(l, g)
        dW[l] = g.astype(dtype)
        db[l] = gb.astype(dtype)
        if return_adjoints:
            adj_c[l] = {"dS": dS_in, "dV": dV_c, "dV_dep": dVdep_c, "dI": dI_c, "dT": dT_c}
            if use_tim:
                adj_c[l].update(Tprop=Tp_in, E1=E1_c, E2=E2_c)
        if below:  # the connection step: signals for the layer below (C5), (T3)
            exact = N <= connections.BLAS_MIN_NEURONS
            if use_act:
                dS_in = conn.back_project(dI_c, m.beta_I, exact=exact,
                                          out=alloc.array(("backward dS", l - 1), (R, conn.n_in), dtype))
            else:
                dS_in = np.zeros((R, conn.n_in), dtype=dtype)  # not used by timing (reference: zeros)
            if use_tim:
                Tp_in = conn.back_project(E2_c, m.beta_I, D_prev=dV_c if tau_m1 else None, prev=prev,
                                          coef=timing.es_m1, exact=exact,
                                          out=alloc.array(("backward Tprop", l - 1), (R, conn.n_in), dtype))
            else:
                Tp_in = dS_in  # not read (the kernel takes row views of both inputs)
    adjoints = None
    if return_adjoints:
        adjoints = []
        for l in range(L):
            N = trace.layers[l].flat().S.shape[2]
            full = {}
            for k, a in adj_c[l].items():
                arr = np.zeros((T, B, N), dtype=dtype)
                arr[rt, rb] = a
                full[k] = arr
            if l == L - 1:  # the given loss gradients, as the reference stores them
                full["dS"] = np.zeros((T, B, N), dtype=dtype) if dL_dS is None else np.array(dL_dS, dtype=dtype)
                if use_tim:
                    full["Tprop"] = np.zeros((T, B, N), dtype=dtype) if dL_dt is None else np.array(dL_dt, dtype=dtype)
            adjoints.append(full)
    return dW, db, adjoints


def _fused_backward(net, trace, rule, conns, dS_in, Tp_in, rowidx, t_end, alloc, opt, timing, lam_act, lam_tim,
                    weight_adjust):
    """The fast path of a dense network when no adjoint is returned (:func:`_fused_layer_kernel`: the
    signals from a narrow layer above, the weight and bias gradients computed inside the layer sweep).
    Same results as the unfused path, bit for bit."""
    m = net.model
    dtype = net.dtype
    L = net.n_layers
    R = dS_in.shape[0]
    use_act, use_tim = rule.activation, rule.timing
    empty = np.zeros((0, 0), dtype=dtype)
    dW = [None] * L
    db = [None] * L
    # the input events the forward pass made for this trace (a trace returned by snnref.forward)
    cached = getattr(trace, "_input_events", None) if _is_forward_trace(trace) else None
    up = None  # (dI rows, E2 rows, connection) of the layer above
    for l in range(L - 1, -1, -1):
        lt = trace.layers[l].flat()
        N = lt.S.shape[2]
        store_below = l > 0
        dS_c, Tp_c, up_dI, up_E2, Wt_up = dS_in, Tp_in, empty, empty, empty
        if up is not None:
            u_dI, u_E2, u_conn = up
            if u_conn.W.shape[1] <= connections.BLAS_MIN_NEURONS:  # exact, inside the sweep
                up_dI, up_E2, Wt_up = u_dI, u_E2, np.ascontiguousarray(u_conn.W.T)
                dS_c = Tp_c = empty
            else:  # a wide layer above: BLAS products, as the unfused path
                dS_c = u_conn.back_project(u_dI, m.beta_I, exact=False) if use_act else empty
                Tp_c = u_conn.back_project(u_E2, m.beta_I, exact=False) if use_tim else empty
        dI_c = alloc.array(("backward dI", l), (R, N), dtype) if store_below else empty
        E2_c = alloc.array(("backward E2", l), (R, N), dtype) if store_below and use_tim else empty
        X = np.ascontiguousarray(trace.layer_input(l), dtype=dtype)
        ev_ptr, ev_idx = cached[l] if cached is not None else input_events(X, alloc, key="backward")
        N_in = X.shape[2]
        # the rows of dW that can be non-zero: inputs with an event in an active row (sparse inputs, small
        # batches: zeroing, scaling and casting the full float64 accumulator would cost more than the sweep)
        rows_in = None
        if weight_adjust is None:
            mark = np.zeros(N_in, dtype=np.bool_)
            _mark_event_inputs(ev_ptr, ev_idx, t_end, mark)
            if 2 * int(mark.sum()) < N_in:
                rows_in = np.flatnonzero(mark)
        g = alloc.array(("backward g", l), (N_in, N), np.float64)  # float64 sums (C3), (C4)
        gb = alloc.array(("backward gb", l), (N,), np.float64)
        if rows_in is None:
            g.fill(0.0)
        else:
            g[rows_in] = 0.0
        gb.fill(0.0)
        Vl, Il, Sl = (np.ascontiguousarray(a, dtype=dtype) for a in (lt.V, lt.I, lt.S))  # no copy from forward
        _fused_layer_kernel(Vl, Il, Sl, dS_c, Tp_c, up_dI, up_E2, Wt_up, float(m.beta_I), X, ev_ptr, ev_idx,
                            rowidx, t_end, use_act, use_tim, rule.reset_paths, rule.gated, block_size(N),
                            m.alpha_I, m.alpha_V, m.beta_V,
                            *surrogate_constants(dtype, m.theta, opt["ste_alpha"], opt["ste_beta"]), lam_act,
                            lam_tim, timing.vstar_code, timing.vstar_floor, store_below, dI_c, E2_c, g, gb)
        gb *= m.beta_bias
        db[l] = gb.astype(dtype)  # copies: nothing returned is a view of the workspace
        if rows_in is None:
            g *= m.beta_I
            if weight_adjust is not None:
                weight_adjust(l, g)
            dW[l] = g.astype(dtype)
        else:  # the same values: the other rows are exactly 0
            gr = g[rows_in]
            gr *= m.beta_I
            dW[l] = np.zeros((N_in, N), dtype=dtype)
            dW[l][rows_in] = gr
        up = (dI_c, E2_c, conns[l])
    return dW, db, None
