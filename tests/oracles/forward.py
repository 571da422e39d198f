"""Slow, plainly written oracles of the forward model, transcribed from the spec (docs/ALGORITHMS.md).

Nothing here is compiled or vectorised: every equation is a Python loop over t, b, j, i so that it
can be read next to the spec line by line. Only :class:`snnref.NeuronModel` / :class:`snnref.Network`
are used from snnref (as parameter containers); no snnref computation is reused.

Oracles
-------
forward_rnn(net, x)
    The generalised neuron of spec 1.1 Eqs. 1-3 and 2.3 in the order of the equations:
        I_j[t] = alpha_I r_I I_j[t-1] + beta_I sum_i w_ij x_i[t]   (r_I = 1 - S_j[t-1] if reset_current else 1)
        V_j[t] = alpha_V (1 - S_j[t-1]) V_j[t-1] + beta_V I_j[t] + beta_bias b_j
        S_j[t] = [V_j[t] >= theta]   ([V_j[t] > theta] with strict_threshold)
    For psp_output models (reset_current = False): a-trace a[t] = alpha_I a[t-1] + beta_I S[t], the
    input x is filtered the same way (a^0, spec 2.2), and each layer's current is I = W^T a of the
    layer below (spec 2.3) instead of the Eq. 1 recurrence; du[t] = V[t] - (1 - S[t-1]) V[t-1].
forward_tsslbp_official(weights, tau_m, tau_s, theta, x)
    Spec 2.1-2.2 written the way the official TSSL-BP code computes it (not through the ANTLR
    variables): a^0 filter of the input, x = W^T a of the layer below, du = -(1/tau_m) u+ + x,
    u = u+ + du, s = [u > theta], u+ = u (1 - s), a = (1 - 1/tau_s) a + s / tau_s.
frozen_raster_V(inp, S, W, b, model)
    V of one layer when its own raster S is held fixed (no thresholding): the recurrence of Eqs. 1-2
    with the reset factors taken from the given S. Linear in (W, b) (P-F2).
srm_layer(inp, S, W, b, model)
    Spec 1.2 Eqs. 4-5 (causal-set sums with the bias term) for one layer given its raster S.
eps_by_definition(model, tau)
    Spec 1.2 Eq. 5 as a literal sum.
"""
import numpy as np

__all__ = ["forward_rnn", "forward_tsslbp_official", "frozen_raster_V", "psp_filter", "eps_by_definition", "srm_layer"]


def psp_filter(x, alpha_I, beta_I):
    """a[t] = alpha_I a[t-1] + beta_I x[t], a[-1] = 0 (spec 2.2), element by element."""
    T, B, N = x.shape
    a = np.zeros((T, B, N))
    for b in range(B):
        for n in range(N):
            prev = 0.0
            for t in range(T):
                prev = alpha_I * prev + beta_I * x[t, b, n]
                a[t, b, n] = prev
    return a


def _layer_rnn(inp, W, bias, m, current_is_projection=False):
    """One spiking layer by Eqs. 1-3 (spec 1.1, with the reset_current option of spec 2.3).

    ``current_is_projection``: the layer receives a PSP trace and its current is I = W^T a directly
    (spec 2.3, psp_output models) instead of the recurrence of Eq. 1 driven by spikes.
    """
    T, B, N_in = inp.shape
    N = W.shape[1]
    I = np.zeros((T, B, N))
    V = np.zeros((T, B, N))
    S = np.zeros((T, B, N))
    DU = np.zeros((T, B, N))
    A = np.zeros((T, B, N))
    for b in range(B):
        for j in range(N):
            I_prev = V_prev = S_prev = A_prev = 0.0  # states at t = -1 are zero
            for t in range(T):
                proj = 0.0
                for i in range(N_in):
                    if inp[t, b, i] != 0.0:
                        proj += inp[t, b, i] * W[i, j]
                if current_is_projection:
                    I_t = proj                                                                  # I = W^T a
                else:
                    reset_I = (1.0 - S_prev) if m.reset_current else 1.0
                    I_t = m.alpha_I * reset_I * I_prev + m.beta_I * proj                        # Eq. 1
                u_plus_prev = (1.0 - S_prev) * V_prev
                V_t = m.alpha_V * u_plus_prev + m.beta_V * I_t + m.beta_bias * bias[j]          # Eq. 2
                if m.strict_threshold:
                    S_t = 1.0 if V_t > m.theta else 0.0                                         # Eq. 3 (">")
                else:
                    S_t = 1.0 if V_t >= m.theta else 0.0                                        # Eq. 3 (">=")
                A_t = m.alpha_I * A_prev + m.beta_I * S_t                                       # PSP trace
                I[t, b, j], V[t, b, j], S[t, b, j] = I_t, V_t, S_t
                DU[t, b, j] = V_t - u_plus_prev
                A[t, b, j] = A_t
                I_prev, V_prev, S_prev, A_prev = I_t, V_t, S_t, A_t
    return I, V, S, DU, A


def forward_rnn(net, x):
    """Generalised forward of every layer of ``net`` on x (T, B, N_0); returns (a0, [dict per layer]).

    Each dict has I, V, S and, for psp_output models, du and a (float64 arrays (T, B, N_l)); a0 is
    the filtered input (psp_output models) or None. For psp_output models each layer's current is
    computed as I = W^T a of the layer below (a^0 for the first layer), spec 2.3; this needs
    reset_current = False (the TSSL-BP neuron).
    """
    m = net.model
    x = np.asarray(x, dtype=np.float64)
    if m.psp_output:
        assert not m.reset_current, "psp_output oracle is defined for reset_current=False (spec 2.3)"
    a0 = psp_filter(x, m.alpha_I, m.beta_I) if m.psp_output else None
    inp = a0 if m.psp_output else x
    layers = []
    for W, bias in zip(net.weights, net.biases):
        W = np.asarray(W, dtype=np.float64)
        bias = np.asarray(bias, dtype=np.float64)
        I, V, S, DU, A = _layer_rnn(inp, W, bias, m, current_is_projection=m.psp_output)
        d = {"I": I, "V": V, "S": S}
        if m.psp_output:
            d["du"], d["a"] = DU, A
            inp = A
        else:
            inp = S
        layers.append(d)
    return a0, layers


def forward_tsslbp_official(weights, tau_m, tau_s, theta, x):
    """TSSL-BP forward in the official code's order (spec 2.1-2.2); returns (a0, [dict per layer]).

    Each dict has x (the input current W^T a), du, u (pre-reset), s, a. All float64 (T, B, N_l).
    """
    x_in = np.asarray(x, dtype=np.float64)
    T, B, N0 = x_in.shape
    # spec 2.2: first-layer input filter a^0[t] = (1 - 1/tau_s) a^0[t-1] + x_in[t] / tau_s
    a_below = np.zeros((T, B, N0))
    for b in range(B):
        for n in range(N0):
            prev = 0.0
            for t in range(T):
                prev = (1.0 - 1.0 / tau_s) * prev + x_in[t, b, n] / tau_s
                a_below[t, b, n] = prev
    a0 = a_below.copy()
    layers = []
    for W in weights:
        W = np.asarray(W, dtype=np.float64)
        N_in, N = W.shape
        cur = np.zeros((T, B, N))
        du = np.zeros((T, B, N))
        u = np.zeros((T, B, N))
        s = np.zeros((T, B, N))
        a = np.zeros((T, B, N))
        for b in range(B):
            for i in range(N):  # post-synaptic neuron i (spec 2.1 names it i)
                u_plus = 0.0   # u^+[-1] = 0
                a_prev = 0.0   # a[-1] = 0
                for t in range(T):
                    x_t = 0.0
                    for j in range(N_in):
                        x_t += W[j, i] * a_below[t, b, j]          # x_i[t] = sum_j w_ji a_j[t]
                    du_t = -(1.0 / tau_m) * u_plus + x_t          # du_i[t] = -(1/tau_m) u^+[t-1] + x_i[t]
                    u_t = u_plus + du_t                            # u_i[t] = u^+[t-1] + du_i[t]
                    s_t = 1.0 if u_t > theta else 0.0              # strict threshold
                    u_plus = u_t * (1.0 - s_t)                     # hard reset to 0
                    a_t = (1.0 - 1.0 / tau_s) * a_prev + s_t / tau_s
                    a_prev = a_t
                    cur[t, b, i], du[t, b, i], u[t, b, i], s[t, b, i], a[t, b, i] = x_t, du_t, u_t, s_t, a_t
        layers.append({"x": cur, "du": du, "u": u, "s": s, "a": a})
        a_below = a
    return a0, layers


def frozen_raster_V(inp, S, W, bias, model):
    """V of one layer with its raster S frozen (spec 1.1 Eqs. 1-2, reset factors from S; P-F2).

    ``inp`` is what the layer receives through Eq. 1 (spikes of the layer below, or the raw input of
    a psp_output first layer), shape (T, B, N_in); S (T, B, N). Linear in (W, bias).
    """
    m = model
    T, B, N_in = inp.shape
    N = W.shape[1]
    V = np.zeros((T, B, N))
    for b in range(B):
        for j in range(N):
            I_prev = V_prev = S_prev = 0.0
            for t in range(T):
                proj = 0.0
                for i in range(N_in):
                    proj += inp[t, b, i] * W[i, j]
                reset_I = (1.0 - S_prev) if m.reset_current else 1.0
                I_t = m.alpha_I * reset_I * I_prev + m.beta_I * proj
                V_t = m.alpha_V * (1.0 - S_prev) * V_prev + m.beta_V * I_t + m.beta_bias * bias[j]
                V[t, b, j] = V_t
                I_prev, V_prev, S_prev = I_t, V_t, S[t, b, j]
    return V


def eps_by_definition(model, tau):
    """eps[tau] = beta_I beta_V sum_{k=0}^{tau} alpha_I^k alpha_V^(tau-k) (spec 1.2 Eq. 5; 0^0 = 1)."""
    if tau < 0:
        return 0.0
    return model.beta_I * model.beta_V * sum(model.alpha_I ** k * model.alpha_V ** (tau - k) for k in range(tau + 1))


def srm_layer(inp, S, W, bias, model):
    """SRM form of one ANTLR layer (spec 1.2 Eqs. 4-5, with the bias term), given its own raster S.

    Returns (I, V): for each t, tlast = latest x < t with S[x] = 1 (or -1), causal set
    C(t) = {tau : tlast < tau <= t, inp[tau] = 1}, and
        V_j[t] = sum_i w_ij sum_{tau in C} eps[t - tau] + beta_b b_j sum_{k=0}^{t-tlast-1} alpha_V^k
        I_j[t] = beta_I sum_i w_ij sum_{tau in C} alpha_I^(t - tau).
    Only for reset_current = True (ANTLR), where the causal-set form holds (spec 2.3).
    """
    m = model
    assert m.reset_current
    T, B, N_in = inp.shape
    N = W.shape[1]
    eps_tab = [eps_by_definition(m, tau) for tau in range(T)]
    I = np.zeros((T, B, N))
    V = np.zeros((T, B, N))
    for b in range(B):
        for j in range(N):
            for t in range(T):
                tlast = -1
                for x in range(t):
                    if S[x, b, j] == 1.0:
                        tlast = x
                v = 0.0
                c = 0.0
                for i in range(N_in):
                    for tau in range(tlast + 1, t + 1):
                        if inp[tau, b, i] == 1.0:
                            v += W[i, j] * eps_tab[t - tau]
                            c += W[i, j] * m.alpha_I ** (t - tau)
                v += m.beta_bias * bias[j] * sum(m.alpha_V ** k for k in range(t - tlast))
                I[t, b, j] = m.beta_I * c
                V[t, b, j] = v
    return I, V
