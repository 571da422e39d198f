"""Slow, plainly written transcription of the ANTLR-family backward rules (spec 3.0-3.5).

Written independently of snnref/rules/antlr.py: plain Python loops over scalars, the kernel eps from
its defining sum (spec 1.2 Eq. 5), the timing back-projection by the explicit causal sum (T3)
(never the auxiliary traces). Layers are processed one after another (l = L..1, each over
t = T-1..0), which is a valid order of the recurrences of spec 3.7 (layer l only needs layer l+1
and its own t+1 values; with timing_tau_min = -1 also layer l+1 at t-1).

Only used as a test oracle.
"""
import math

import numpy as np


def kernel_eps(m, n):
    """eps[n] = beta_I beta_V sum_{k=0}^{n} alpha_I^k alpha_V^(n-k) for n >= 0, 0 for n < 0 (Eq. 5)."""
    if n < 0:
        return 0.0
    total = 0.0
    for k in range(n + 1):
        total += (m.alpha_I ** k) * (m.alpha_V ** (n - k))
    return m.beta_I * m.beta_V * total


def kernel_eps_star(m, n):
    """eps_star[n] = (eps[n+1] - eps[n-1]) / 2 with the untruncated kernel (spec 1.4)."""
    return (kernel_eps(m, n + 1) - kernel_eps(m, n - 1)) / 2.0


def vstar_kernel(m, n):
    """Central difference of alpha_V^n: (alpha_V^(n+1) - alpha_V^(n-1) [n >= 1]) / 2 (spec 3.4)."""
    return (m.alpha_V ** (n + 1) - (m.alpha_V ** (n - 1) if n >= 1 else 0.0)) / 2.0


def surrogate(v, theta, a, b):
    return a * math.exp(-b * abs(v - theta))


def naive_backward(weights, biases, m, x, layers, rule, dL_dS=None, dL_dt=None, *, ste_alpha=1.0, ste_beta=3.0,
                   lambda_act=1.0, lambda_tim=1.0, vstar_mode="code", vstar_floor=0.01, timing_tau_min=0,
                   timing_penalty=0.0):
    """Return (dW, db, adjoints) for ``rule``.

    weights[l] (N_{l-1}, N_l); x (T, B, N_0); layers[l] = (I, V, S) arrays (T, B, N_l).
    adjoints[l]: dict of dS, dV, dV_dep, dI, dT, Tprop, E1, E2 (T, B, N_l).
    """
    L = len(weights)
    T, B, _ = x.shape
    n_out = weights[-1].shape[1]
    if dL_dS is None:
        dL_dS = np.zeros((T, B, n_out))
    if dL_dt is None:
        dL_dt = np.zeros((T, B, n_out))
    use_act = rule in ("act_rnn", "act_srm", "act_slayer", "antlr")
    use_tim = rule in ("timing", "antlr")
    if rule in ("act_rnn", "act_srm", "act_slayer"):
        la, lt = 1.0, 0.0
    elif rule == "timing":
        la, lt = 0.0, 1.0
    else:
        la, lt = lambda_act, lambda_tim
    aI, aV, bI, bV, bb = m.alpha_I, m.alpha_V, m.beta_I, m.beta_V, m.beta_bias
    adj = [None] * L
    for l in range(L - 1, -1, -1):
        I, V, S = layers[l]
        N = weights[l].shape[1]
        A = {k: np.zeros((T, B, N)) for k in ("dS", "dV", "dV_dep", "dI", "dT", "Tprop", "E1", "E2")}
        for b in range(B):
            # signals arriving from above
            for t in range(T):
                for j in range(N):
                    if l == L - 1:
                        A["dS"][t, b, j] = dL_dS[t, b, j]
                        A["Tprop"][t, b, j] = dL_dt[t, b, j]
                    else:
                        up = adj[l + 1]
                        Wa = weights[l + 1]
                        if use_act:
                            A["dS"][t, b, j] = bI * sum(Wa[j, k] * up["dI"][t, b, k] for k in range(Wa.shape[1]))
                        if use_tim:
                            # (T3): explicit causal sum over the window of each post neuron k
                            tp = 0.0
                            for k in range(Wa.shape[1]):
                                Sa = layers[l + 1][2]
                                inner = 0.0
                                n = 0
                                while t + n <= T - 1:
                                    inner += kernel_eps_star(m, n) * up["dV"][t + n, b, k]
                                    if Sa[t + n, b, k] == 1:
                                        break
                                    n += 1
                                if timing_tau_min == -1 and t >= 1:
                                    inner += kernel_eps_star(m, -1) * up["dV"][t - 1, b, k]
                                tp += -Wa[j, k] * inner
                            A["Tprop"][t, b, j] = tp
            # own recurrences, t = T-1 .. 0
            for j in range(N):
                dV_next = 0.0
                dVdep_next = 0.0
                dI_next = 0.0
                for t in range(T - 1, -1, -1):
                    s = S[t, b, j]
                    v = V[t, b, j]
                    sig = surrogate(v, m.theta, ste_alpha, ste_beta)
                    dT = 0.0
                    if use_tim and s == 1:
                        dT = A["Tprop"][t, b, j]
                    A["dT"][t, b, j] = dT
                    if rule == "act_rnn":
                        g = A["dS"][t, b, j] - aI * I[t, b, j] * dI_next - aV * v * dV_next
                        dv = sig * g + aV * (1 - s) * dV_next
                        dvdep = dv
                        di = bV * dv + aI * (1 - s) * dI_next
                    else:
                        dv = 0.0
                        if use_act:
                            dv += la * sig * A["dS"][t, b, j]
                        if use_tim and s == 1:
                            if t == 0:
                                vs = v
                            elif vstar_mode == "code":
                                vs = v - (1 - S[t - 1, b, j]) * V[t - 1, b, j]
                            else:
                                vs = v - V[t - 1, b, j]
                            vs = max(vs, vstar_floor)
                            dv += lt * (-dT / vs)
                        if rule == "act_slayer":
                            dvdep = dv + aV * dVdep_next
                            di = bV * dvdep + aI * dI_next
                        else:
                            dvdep = dv + aV * (1 - s) * dVdep_next
                            di = bV * dvdep + aI * (1 - s) * dI_next
                    A["dV"][t, b, j] = dv
                    A["dV_dep"][t, b, j] = dvdep
                    A["dI"][t, b, j] = di
                    dV_next, dVdep_next, dI_next = dv, dvdep, di
            # E1 / E2 as explicit sums (their definition in spec 3.4)
            if use_tim:
                for j in range(N):
                    for t in range(T):
                        e1 = 0.0
                        e2 = 0.0
                        n = 0
                        while t + n <= T - 1:
                            e1 -= vstar_kernel(m, n) * A["dV"][t + n, b, j]
                            e2 -= kernel_eps_star(m, n) * A["dV"][t + n, b, j] / bI
                            if S[t + n, b, j] == 1:
                                break
                            n += 1
                        A["E1"][t, b, j] = e1
                        A["E2"][t, b, j] = e2
        adj[l] = A
    dW, db = [], []
    for l in range(L):
        X = x if l == 0 else layers[l - 1][2]
        N_in, N = weights[l].shape
        g = np.zeros((N_in, N))
        for i in range(N_in):
            for j in range(N):
                g[i, j] = bI * sum(X[t, b, i] * adj[l]["dI"][t, b, j] for t in range(T) for b in range(B))
        gb = np.array([bb * adj[l]["dV_dep"][:, :, j].sum() for j in range(N)])
        if rule == "timing" and timing_penalty:
            S = layers[l][2]
            for j in range(N):
                silent_frac = sum(1.0 for b in range(B) if not any(S[t, b, j] == 1 for t in range(T))) / B
                for i in range(N_in):
                    g[i, j] -= timing_penalty / N_in * silent_frac
        dW.append(g)
        db.append(gb)
    return dW, db, adj


# --------------------------------------------------------------------------------------- checks
#: the ANTLR-family rules and the adjoint names the checks compare
RULES = ("act_rnn", "act_srm", "act_slayer", "timing", "antlr")
ADJ_KEYS = ("dS", "dV", "dV_dep", "dI", "dT")
TIM_KEYS = ("Tprop", "E1", "E2")


def run_naive(net, trace, rule, dS, dt, **opt):
    """The oracle on a snnref network and trace (``timing_impl`` is not an oracle option)."""
    opt = {k: v for k, v in opt.items() if k != "timing_impl"}
    layers = [(lt.I, lt.V, lt.S) for lt in trace.layers]
    return naive_backward(net.weights, net.biases, net.model, trace.x, layers, rule, dS, dt, **opt)


def compare_with_naive(net, trace, rule, dS, dt, **opt):
    """snnref.backward(rule) against the oracle: gradients and every adjoint, to ORACLE_TIMING
    relative to each array's scale; returns snnref's Gradients."""
    from snnref.backward import backward
    from tolerances import ORACLE_TIMING, assert_close

    g = backward(net, trace, rule, dS, dt, return_adjoints=True, **opt)
    dW, db, adj = run_naive(net, trace, rule, dS, dt, **opt)
    for l in range(net.n_layers):
        assert_close(g.dW[l], dW[l], f"{rule} dW[{l}]", ORACLE_TIMING)
        assert_close(g.db[l], db[l], f"{rule} db[{l}]", ORACLE_TIMING)
        keys = ADJ_KEYS + (TIM_KEYS if rule in ("timing", "antlr") else ())
        for k in keys:
            if k == "Tprop" and l == net.n_layers - 1:
                continue  # output layer: dL_dt as given (naive stores it as well)
            assert_close(g.adjoints[l][k], adj[l][k], f"{rule} adjoint {k} of layer {l}", ORACLE_TIMING)
    return g
