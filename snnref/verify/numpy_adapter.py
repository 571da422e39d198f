r"""A deliberately simple, independent NumPy implementation of the ANTLR neuron and of the rules
``act_rnn``, ``act_srm``, ``timing`` and ``antlr``, written as a conformance-suite adapter.

It shares no code with snnref's kernels: plain NumPy, one loop over time, vectorised over samples
and neurons, layer by layer (a valid topological order of the recurrences), the timing
back-projection by the explicit causal-window sum (T3) with the kernel slope eps_star instead of
the auxiliary traces E1/E2. It is what a careful port looks like, and the conformance suite runs
it in CI (``snnref conformance --adapter snnref.verify.numpy_adapter:factory``).

Every model or rule ingredient is a small method, so that a test can derive a *mutant* (a
subclass with one deliberate bug) and check that ``snnref verify`` and the conformance suite find
it at the right layer, step and quantity.

Forward (spec 1.1), layer input X (spikes of the layer below, or x), t = 0..T-1::

    I[t] = alpha_I keep_I(S[t-1]) I[t-1] + beta_I X[t] W       keep_I = 1 - S[t-1] (reset_current)
    V[t] = alpha_V (1 - S[t-1]) V[t-1] + beta_V I[t] + beta_bias b
    S[t] = V[t] >= theta   (> with strict_threshold)

Backward, per layer from the output down (spec 3.0-3.5): dS from above (C5), Tprop from above
(T3), dT = S Tprop (T1), injected dV by the rule, then (C1), (C2) (act_rnn: (R1)-(R3)), (C3), (C4).
"""
import numpy as np

__all__ = ["NumpyAdapter", "factory"]


class NumpyAdapter:
    """Conformance adapter (protocol: docs/VERIFYING.md, "Conformance suite")."""

    name = "numpy-reference"
    rules = ("act_rnn", "act_srm", "timing", "antlr")
    dtypes = ("float64", "float32")
    layout = "TBN"
    weight_layout = "in_out"
    #: arithmetic dtype; None = the problem's dtype
    work_dtype = None

    # ------------------------------------------------------------------ model ingredients (hooks)
    def current_keep(self, S_prev):
        """Factor on alpha_I I[t-1] (spec 1.1 Eq. 1 with reset_current)."""
        return 1.0 - S_prev

    def layer_input(self, X, t):
        """What the layer receives at step t (no synaptic delay)."""
        return X[t]

    def project(self, x_t, W):
        """x_t (B, N_in) -> (B, N_out)."""
        return x_t @ W

    def surrogate(self, V, theta, opts):
        """sigma(V) = ste_alpha exp(-ste_beta |V - theta|) (spec 1.5)."""
        return opts.get("ste_alpha", 1.0) * np.exp(-opts.get("ste_beta", 3.0) * np.abs(V - theta))

    def reset_path(self, m, I, V, dI_next, dV_next):
        """The reset-path terms of (R1): alpha_I I[t] dI[t+1] + alpha_V V[t] dV[t+1]."""
        return m["alpha_I"] * I * dI_next + m["alpha_V"] * V * dV_next

    def kernel_slope(self, m, T):
        """eps_star[n] = (eps[n+1] - eps[n-1]) / 2, n = 0..T-1, untruncated kernel (spec 1.4)."""
        e = np.zeros(T + 1)
        for k in range(T + 1):
            e[k] = m["beta_I"] * m["beta_V"] * (m["alpha_I"] ** k) + (m["alpha_V"] * e[k - 1] if k else 0.0)
        prev = np.concatenate(([0.0], e[:T - 1]))
        return (e[1:] - prev) / 2.0

    # ------------------------------------------------------------------------------- forward
    def forward(self, problem):
        m = problem["model"]
        dt = np.dtype(self.work_dtype or problem["dtype"])
        X = np.asarray(problem["x"], dtype=dt)
        out = {"I": [], "V": [], "S": []}
        for W, b in zip(problem["weights"], problem["biases"]):
            W = np.asarray(W, dtype=dt)
            b = np.asarray(b, dtype=dt)
            T, B = X.shape[:2]
            N = W.shape[1]
            I, V, S = (np.zeros((T, B, N), dtype=dt) for _ in range(3))
            Ip, Vp, Sp = (np.zeros((B, N), dtype=dt) for _ in range(3))
            for t in range(T):
                keep_I = self.current_keep(Sp) if m["reset_current"] else 1.0
                It = dt.type(m["alpha_I"]) * keep_I * Ip + dt.type(m["beta_I"]) * self.project(self.layer_input(X, t), W)
                Vt = dt.type(m["alpha_V"]) * (1 - Sp) * Vp + dt.type(m["beta_V"]) * It + dt.type(m["beta_bias"]) * b
                St = (Vt > m["theta"]) if m["strict_threshold"] else (Vt >= m["theta"])
                I[t], V[t], S[t] = It, Vt, St
                Ip, Vp, Sp = I[t], V[t], S[t]
            out["I"].append(I)
            out["V"].append(V)
            out["S"].append(S)
            X = S
        return out

    # ------------------------------------------------------------------------------ backward
    def backward(self, problem, rule):
        if rule not in self.rules:
            raise ValueError(f"{self.name} does not implement rule {rule!r}")
        m = problem["model"]
        opts = problem.get("options", {})
        f = self.forward(problem)
        dt = np.dtype(self.work_dtype or problem["dtype"])
        Ws = [np.asarray(W, dtype=dt) for W in problem["weights"]]
        x = np.asarray(problem["x"], dtype=dt)
        L = len(Ws)
        T = x.shape[0]
        aI, aV, bI, bV = m["alpha_I"], m["alpha_V"], m["beta_I"], m["beta_V"]
        dLdS = np.asarray(problem["dL_dS"], dtype=dt)
        dLdt = np.asarray(problem["dL_dt"], dtype=dt)
        use_act = rule in ("act_rnn", "act_srm", "antlr")
        use_tim = rule in ("timing", "antlr")
        lam_act = opts.get("lambda_act", 1.0) if rule == "antlr" else 1.0
        lam_tim = opts.get("lambda_tim", 1.0) if rule == "antlr" else 1.0
        es = self.kernel_slope(m, T) if use_tim else None
        dW, db, adj = [None] * L, [None] * L, [None] * L
        dS_in, Tprop_in = dLdS, dLdt
        for l in range(L - 1, -1, -1):
            I, V, S = f["I"][l], f["V"][l], f["S"][l]
            shape = V.shape
            dV, dVdep, dI = (np.zeros(shape, dtype=dt) for _ in range(3))
            dT = S * Tprop_in if use_tim else None
            if use_tim:
                Vprev = np.concatenate([np.zeros_like(V[:1]), (1 - S[:-1]) * V[:-1]])
                if opts.get("vstar_mode", "code") == "appendix":
                    Vprev = np.concatenate([np.zeros_like(V[:1]), V[:-1]])
                vstar = np.maximum(V - Vprev, opts.get("vstar_floor", 0.01))
            nxt = lambda a, t: a[t + 1] if t + 1 < T else 0.0  # noqa: E731 - states beyond T-1 are 0
            for t in range(T - 1, -1, -1):
                if rule == "act_rnn":
                    g = dS_in[t] - self.reset_path(m, I[t], V[t], nxt(dI, t), nxt(dV, t))
                    dV[t] = self.surrogate(V[t], m["theta"], opts) * g + aV * (1 - S[t]) * nxt(dV, t)
                    dVdep[t] = dV[t]
                    dI[t] = bV * dV[t] + aI * (1 - S[t]) * nxt(dI, t)
                    continue
                inj = 0.0
                if use_act:
                    inj = lam_act * self.surrogate(V[t], m["theta"], opts) * dS_in[t]
                if use_tim:
                    inj = inj + lam_tim * np.where(S[t] == 1, -dT[t] / vstar[t], 0.0)
                dV[t] = inj
                dVdep[t] = dV[t] + aV * (1 - S[t]) * nxt(dVdep, t)
                dI[t] = bV * dVdep[t] + aI * (1 - S[t]) * nxt(dI, t)
            X = x if l == 0 else f["S"][l - 1]
            dW[l] = bI * np.einsum("tbi,tbj->ij", X, dI)
            db[l] = m["beta_bias"] * dVdep.sum(axis=(0, 1))
            a = {"dV": dV, "dV_dep": dVdep, "dI": dI}
            if use_act:
                a["dS"] = np.broadcast_to(dS_in, shape).astype(dt)
            if use_tim:
                a["dT"] = dT
                a["Tprop"] = np.broadcast_to(Tprop_in, shape).astype(dt)
            adj[l] = a
            if l > 0:
                dS_in = bI * dI @ Ws[l].T                                          # (C5)
                if use_tim:
                    Tprop_in = self._tprop(dV, S, Ws[l], es)                      # (T3)
        return {"dW": dW, "db": db, "adjoints": adj}

    def _tprop(self, dV, S, W, es):
        """(T3): Tprop_i[t] = -sum_j w_ij sum_{n=0}^{n_max(j,t)} eps_star[n] dV_j[t+n], the window
        ending at j's next spike (inclusive) or at T-1."""
        T = dV.shape[0]
        acc = np.zeros_like(dV)
        for t in range(T):
            alive = np.ones_like(dV[0])
            for n in range(T - t):
                acc[t] += alive * es[n] * dV[t + n]
                alive = alive * (1 - S[t + n])
        return -(acc @ W.T)


def factory():
    """The adapter object (``snnref conformance --adapter snnref.verify.numpy_adapter:factory``)."""
    return NumpyAdapter()
