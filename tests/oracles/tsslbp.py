"""Slow, literal oracles for TSSL-BP (spec 2.1-2.2, 4.2-4.5, 5.4-5.6), written independently of snnref.

Everything is a plain Python loop in the order in which the official code's loops run (as described
by the spec), with the official names: ``theta`` is the running variable of the backward loop (which
equals G_tssl[t]), ``grad_tmp`` the per-step gradient, ``syn_a`` the kernel vector eps_s built by
its own recurrence, ``partial_u`` = clamp(-1/du, -8, 0) * s (sign carried through), and
``partial_a`` = -syn_a / tau_s (the kernel derivative) multiplied back by tau_s. Only plain
numbers and numpy arrays go in and out; nothing is imported from snnref.

Shapes: all per-layer arrays are (T, B, N), time-major as in snnref.
"""
import math

import numpy as np


# ------------------------------------------------------------------------------------- forward
def forward_official(weights, tau_m, tau_s, threshold, x_in):
    """Official forward (spec 2.1-2.2): returns a0 and per layer dict(x, u, du, s, a)."""
    T, B, N0 = x_in.shape
    theta_m = 1.0 / tau_m
    a0 = np.zeros((T, B, N0))
    for b in range(B):
        for i in range(N0):
            syn = 0.0
            for t in range(T):
                syn = syn + (x_in[t, b, i] - syn) / tau_s       # a^0 = (1 - 1/tau_s) a^0 + x / tau_s
                a0[t, b, i] = syn
    layers = []
    a_prev = a0
    for W in weights:
        n_in, N = W.shape
        x = np.zeros((T, B, N))
        u = np.zeros((T, B, N))
        du = np.zeros((T, B, N))
        s = np.zeros((T, B, N))
        a = np.zeros((T, B, N))
        for b in range(B):
            for j in range(N):
                mem = 0.0
                syn = 0.0
                for t in range(T):
                    cur = 0.0
                    for i in range(n_in):
                        cur += W[i, j] * a_prev[t, b, i]
                    mem_update = -theta_m * mem + cur
                    mem = mem + mem_update
                    out = 1.0 if mem > threshold else 0.0
                    x[t, b, j] = cur
                    u[t, b, j] = mem
                    du[t, b, j] = mem_update
                    s[t, b, j] = out
                    mem = mem * (1.0 - out)
                    syn = syn + (out - syn) / tau_s
                    a[t, b, j] = syn
        layers.append(dict(x=x, u=u, du=du, s=s, a=a))
        a_prev = a
    return a0, layers


def syn_a(T, tau_s):
    """Kernel vector eps_s[k], k < T, built as in the official init: v[0] = 1, v[k+1] = v[k] - v[k]/tau_s, / tau_s."""
    v = [1.0]
    for _ in range(T - 1):
        v.append(v[-1] - v[-1] / tau_s)
    return [w / tau_s for w in v]


def warmup_f(u, threshold):
    """f(u) = e^c / ((1 + e^c)^2 * 0.2), c = clamp((threshold - u)/0.2, -8, 8) (spec 4.3)."""
    c = min(max((threshold - u) / 0.2, -8.0), 8.0)
    e = math.exp(c)
    return e / ((1.0 + e) * (1.0 + e) * 0.2)


# ------------------------------------------------------------------------------------- backward
def layer_backward_final(grad_delta, u, du, s, syns, tau_m, tau_s, threshold, inv_du_max=8.0, warmup=True,
                         intra=True, float32_constants=False):
    """The final official backward loop of one layer (spec 4.2-4.3), literally.

    Returns (grad, G_tssl) where grad = dL/dx (after warm-up) and G_tssl is the running ``theta``
    after each step. O(T^2) sums, as in the official code.

    Switches (snnref options ``tssl_intra`` / ``tssl_float32_constants``): ``intra=False`` skips the
    line that adds the intra-neuron term ``theta * u * (-theta_m) * partial_u``;
    ``float32_constants=True`` reads (threshold, tau_s, theta_m) back from a float32 tensor, as the
    official ``others = torch.tensor([threshold, tau_s, theta_m])`` with torch's default dtype
    (the kernel vector is built from the full-precision tau_s, like the official glv.syn_a).
    """
    T, B, N = grad_delta.shape
    theta_m = 1.0 / tau_m
    kern = syn_a(T, tau_s)
    if float32_constants:
        stored = np.array([threshold, tau_s, theta_m], dtype=np.float32)
        threshold, tau_s, theta_m = (stored[i].item() for i in range(3))
    th = 1.0 / (4.0 * tau_s)
    partial_a = [k / (-tau_s) for k in kern]
    grad = np.zeros((T, B, N))
    G_tssl = np.zeros((T, B, N))
    for b in range(B):
        for j in range(N):
            theta = 0.0
            for t in range(T - 1, -1, -1):
                out = s[t, b, j]
                partial_u = min(max(-1.0 / du[t, b, j], -inv_du_max), 0.0) * out if out else 0.0
                grad_tmp = 0.0
                for k in range(T - t):
                    grad_tmp += partial_u * partial_a[k] * grad_delta[t + k, b, j] * tau_s
                if t != T - 1:
                    if intra:
                        grad_tmp += theta * u[t, b, j] * (-1.0) * theta_m * partial_u
                    grad_tmp += theta * (1.0 - theta_m) * (1.0 - out)
                theta = grad_tmp * out + theta * (1.0 - out) * (1.0 - theta_m)
                G_tssl[t, b, j] = theta
                grad_a = 0.0
                for k in range(T - t):
                    grad_a += kern[k] * grad_delta[t + k, b, j]
                grad_a *= warmup_f(u[t, b, j], threshold)
                if warmup and syns[t, b, j] < th:
                    grad_tmp = grad_a
                grad[t, b, j] = grad_tmp
    return grad, G_tssl


def layer_backward_sep2020(grad_delta, u, du, s, tau_m, tau_s, threshold, inv_du_max=10.0, rate_switch=0.1,
                           intra=True):
    """The Sep 2020 official backward of one layer (spec 4.5), with explicit T x T matrices.

    partial_a[i, k] = eps_s[k - i] (k >= i); delta_refs[k', k] = the change at step k of the decaying
    reset memory "ref" of an earlier spike k', recorded only at spike steps k (replayed here from
    u and s as the official forward builds it); grad_a[t] = sum_k (partial_a + partial_a @ delta_refs)[t, k] E[k];
    grad = clamp(1/du, -10, 10) s grad_a if the layer rate > 0.1 else f(u) grad_a.
    ``intra=False`` (snnref ablation ``tssl_intra=False``) drops the reset-history part: total = partial_a.
    """
    T, B, N = grad_delta.shape
    theta_m = 1.0 / tau_m
    kern = syn_a(T, tau_s)
    P = np.zeros((T, T))
    for i in range(T):
        for k in range(i, T):
            P[i, k] = kern[k - i]
    rate = s.sum() / (B * N * T)
    grad = np.zeros((T, B, N))
    for b in range(B):
        for j in range(N):
            ref = np.zeros(T)
            delta_refs = np.zeros((T, T))
            for t in range(T):                       # replay of the forward's reset memory
                delta_ref = -theta_m * ref
                ref = ref + delta_ref
                out = s[t, b, j]
                if t > 0:
                    ref[:t] *= (1.0 - out)
                    delta_ref[:t] *= out
                ref[t] = -u[t, b, j] * out
                delta_refs[:t, t] = delta_ref[:t]
            total = P + P @ delta_refs if intra else P
            for t in range(T):
                grad_a = sum(total[t, k] * grad_delta[k, b, j] for k in range(t, T))
                if rate > rate_switch:
                    pu = min(max(1.0 / du[t, b, j], -inv_du_max), inv_du_max) * s[t, b, j] if s[t, b, j] else 0.0
                    grad[t, b, j] = grad_a * pu
                else:
                    grad[t, b, j] = grad_a * warmup_f(u[t, b, j], threshold)
    return grad


def network_backward(weights, a0, layers, dL_da, layer_fn):
    """Chain of layers: E^{l-1}_i[t] = sum_j w_ij G_j[t], dW_ij = sum_{t,b} a^{l-1}_i[t] G_j[t] (spec 4.4).

    ``layer_fn(E, layer_dict) -> G`` is one of the layer backwards above (partially applied).
    """
    L = len(weights)
    dW = [None] * L
    Gs = [None] * L
    Es = [None] * L
    E = dL_da
    for l in range(L - 1, -1, -1):
        G = layer_fn(E, layers[l])
        Gs[l], Es[l] = G, E
        a_prev = a0 if l == 0 else layers[l - 1]["a"]
        W = weights[l]
        T, B, N = G.shape
        n_in = W.shape[0]
        g = np.zeros(W.shape)
        for i in range(n_in):
            for j in range(N):
                acc = 0.0
                for t in range(T):
                    for b in range(B):
                        acc += a_prev[t, b, i] * G[t, b, j]
                g[i, j] = acc
        dW[l] = g
        E_new = np.zeros((T, B, n_in))
        for t in range(T):
            for b in range(B):
                for i in range(n_in):
                    E_new[t, b, i] = sum(W[i, j] * G[t, b, j] for j in range(N))
        E = E_new
    return dW, Gs, Es


# ------------------------------------------------------------------------------------- losses
def psp_target(T, tau_s, pattern, passes=2):
    """Target trace: the pattern filtered ``passes`` times by syn = syn - syn/tau_s + d; out = syn/tau_s."""
    d = [float(v) for v in pattern] * (T // len(pattern))
    for _ in range(passes):
        syn = 0.0
        out = []
        for t in range(T):
            syn = syn - syn / tau_s + d[t]
            out.append(syn / tau_s)
        d = out
    return np.array(d)


def kernel_loss(a, labels, tau_s, pattern=(0, 1, 1, 1, 1), passes=2):
    T, B, N = a.shape
    tgt = psp_target(T, tau_s, pattern, passes)
    delta = np.zeros_like(a)
    val = 0.0
    for b in range(B):
        for k in range(N):
            for t in range(T):
                target = tgt[t] if k == labels[b] else 0.0
                delta[t, b, k] = a[t, b, k] - target
                val += 0.5 * delta[t, b, k] ** 2
    return val, delta


def count_loss(a, labels, desired, undesired):
    """Official loss_count: delta = (sum_t a - target)/T with the two masks, repeated over t."""
    T, B, N = a.shape
    delta = np.zeros_like(a)
    val = 0.0
    for b in range(B):
        for k in range(N):
            target = desired if k == labels[b] else undesired
            d = (sum(a[t, b, k] for t in range(T)) - target) / T
            if target != undesired and not d < 0:
                d = 0.0
            if target != desired and not d > 0:
                d = 0.0
            for t in range(T):
                delta[t, b, k] = d
                val += 0.5 * d * d
    return val, delta
