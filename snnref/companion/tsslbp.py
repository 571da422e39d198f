r"""Smooth models whose exact gradients ARE the TSSL-BP estimates (spec 10.5, P-S3 and P-S4).

TSSL-BP (spec 4) is not the gradient of the (hard, spiking) loss. But it is the exact gradient of
a smooth surrogate model built around the current forward pass. This module builds that model,
so that the rule can be checked by plain finite differences and, for teaching, so that one can
SEE which dependences the rule keeps and which it drops.

Frozen at the reference weights W0 (from ``trace``): spike rasters s0, pre-reset potentials u0,
rho0 = s0 clamp(1/du0, 0, tssl_inv_du_max), the output traces a0 and the output error E = dL/da.

**Tangent model (P-S3), one layer.** For new input currents x[t] (e.g. W^T of the tangent trace
of the layer below), each frozen spike t_k of a neuron gets a continuous time

    util[t_k] = sum_{t'=t_prev+1}^{t_k} (1 - theta_m)^(t_k - t') x[t']                   (membrane since the last reset)
                - theta_m u0[t_prev] (1 - theta_m)^(t_k - t_prev - 1) (that_prev - t_prev)  (shifted reset, intra-neuron)
    that_k    = t_k - (util[t_k] - u0[t_k]) rho0[t_k]                                   (threshold crossing moves)
    atil[m]   = a0[m] - sum_k eps_s[m - t_k] (that_k - t_k)                              (inter-neuron: trace moves)

(t_prev = the neuron's previous frozen spike; the second term of util is absent for the first
spike). At x = x0 every that_k = t_k and atil = a0. The first line is the leak, the second the
intra-neuron path (a later reset of the previous spike lowers this membrane), the last the
inter-neuron path. Differentiating gives exactly recursion (P1) of spec 4.2.

**One-step logistic relaxation (P-S4).** At a warm-up step t (a0[t] < 1/(4 tau_s), never a spike
step) the rule uses f(u[t]) A[t]. That is the gradient of replacing s[t] by g(u[t]) in the path
u[t] -> s[t] -> a[t..T-1] only, with u[t] moved by the CURRENT step's input alone (no leak into
later steps, no reset):

    atil[m] += sum_{t warm-up, t <= m} eps_s[m - t] ( g(u0[t] + x[t] - x0[t]) - g(u0[t]) )

with g the logistic 1/(1 + exp(-(u - theta)/0.2)), continued linearly with slope f(edge) where the
exponent leaves [-8, 8] (so g' = f exactly, clamp included). With ``warmup=True`` the input x[t] of a
warm-up step feeds ONLY this term (the override does not feed the recursion, spec 4.3), so the
gradient of the combined model equals the rule with warm-up; with ``warmup=False`` it is the pure
tangent model (P-S3).

Layer-wise composition: x^1 = W^1T a^0 (a^0 fixed), x^l = W^lT atil^{l-1}, and
``Ltil(W) = sum_{t,b,k} E[t,b,k] (atil^L[t,b,k] - a^L[t,b,k])`` (the loss change, to first order
in atil). Then ``tsslbp(net, trace, dL_da=E)`` (with or without warm-up) equals d Ltil / d W at W0.

Everything here is plain numpy and Python loops (slow, for small networks only).
"""
import math

import numpy as np

__all__ = ["tssl_tangent_layer", "tssl_logistic_g", "tssl_surrogate_loss", "tssl_surrogate_gradient_fd"]


def tssl_logistic_g(u, theta):
    """g(u) = 1/(1 + exp(-(u - theta)/0.2)) with linear continuation beyond |theta - u|/0.2 = 8.

    Its derivative is the warm-up slope f(u) of spec 4.3 everywhere (the exponent clamp included).
    """
    c = (theta - u) / 0.2
    if -8.0 <= c <= 8.0:
        return 1.0 / (1.0 + math.exp(c))
    edge = 8.0 if c > 8.0 else -8.0
    u_edge = theta - 0.2 * edge
    e = math.exp(edge)
    f_edge = e / ((1.0 + e) ** 2 * 0.2)
    return 1.0 / (1.0 + e) + f_edge * (u - u_edge)


def tssl_tangent_layer(x, layer, tau_m, tau_s, theta, *, tssl_inv_du_max=8.0, warmup=False):
    """Tangent trace atil (T, B, N) of one layer for input currents ``x`` (T, B, N) (module docstring).

    ``layer`` is the frozen :class:`snnref.LayerTrace` (I = x0, u, du, S, a used).
    """
    x = np.asarray(x, dtype=np.float64)
    u0 = np.asarray(layer.u, dtype=np.float64)
    du0 = np.asarray(layer.du, dtype=np.float64)
    s0 = np.asarray(layer.S, dtype=np.float64)
    a0 = np.asarray(layer.a, dtype=np.float64)
    x0 = np.asarray(layer.I, dtype=np.float64)
    T, B, N = x.shape
    theta_m = 1.0 / tau_m
    eps_s = (1.0 / tau_s) * (1.0 - 1.0 / tau_s) ** np.arange(T)
    warm_th = 1.0 / (4.0 * tau_s)
    atil = a0.copy()
    for b in range(B):
        for j in range(N):
            warm = (a0[:, b, j] < warm_th) if warmup else np.zeros(T, dtype=bool)
            t_prev, shift_prev = -1, 0.0
            for t_k in range(T):
                if s0[t_k, b, j] == 0.0:
                    continue
                util = sum((1.0 - theta_m) ** (t_k - tp) * x[tp, b, j]
                           for tp in range(t_prev + 1, t_k + 1) if not warm[tp])
                # a warm-up step's input is frozen in this path (the override does not feed back)
                util += sum((1.0 - theta_m) ** (t_k - tp) * x0[tp, b, j]
                            for tp in range(t_prev + 1, t_k + 1) if warm[tp])
                if t_prev >= 0:
                    util -= theta_m * u0[t_prev, b, j] * (1.0 - theta_m) ** (t_k - t_prev - 1) * shift_prev
                rho0 = min(max(1.0 / du0[t_k, b, j], 0.0), tssl_inv_du_max)
                shift = -(util - u0[t_k, b, j]) * rho0                 # that_k - t_k
                atil[t_k:, b, j] -= eps_s[: T - t_k] * shift
                t_prev, shift_prev = t_k, shift
            for t in np.flatnonzero(warm):
                dg = tssl_logistic_g(u0[t, b, j] + x[t, b, j] - x0[t, b, j], theta) - tssl_logistic_g(u0[t, b, j], theta)
                atil[t:, b, j] += eps_s[: T - t] * dg
    return atil


def tssl_surrogate_loss(net, trace, dL_da, weights, *, warmup=False, tssl_inv_du_max=8.0):
    """Ltil(weights) = sum E (atil^L - a^L), composed layer by layer (module docstring).

    Its gradient at ``weights = net.weights`` equals ``snnref.backward(net, trace, "tsslbp",
    dL_da=dL_da, tssl_warmup=warmup, tssl_inv_du_max=tssl_inv_du_max).dW``.
    """
    m = net.model
    a = np.asarray(trace.a0, dtype=np.float64)
    for l, W in enumerate(weights):
        x = np.einsum("tbi,ij->tbj", a, np.asarray(W, dtype=np.float64))
        a = tssl_tangent_layer(x, trace.layers[l], m.tau_m, m.tau_s, m.theta,
                          tssl_inv_du_max=tssl_inv_du_max, warmup=warmup)
    return float(np.sum(np.asarray(dL_da, dtype=np.float64) * (a - trace.output.a)))


def tssl_surrogate_gradient_fd(net, trace, dL_da, *, h=1e-6, warmup=False, tssl_inv_du_max=8.0):
    """Central finite-difference gradient of :func:`tssl_surrogate_loss` w.r.t. every weight (small nets only)."""
    W0 = [np.asarray(w, dtype=np.float64).copy() for w in net.weights]
    grads = []
    for l, W in enumerate(W0):
        g = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            vals = []
            for sign in (1.0, -1.0):
                Ws = [w.copy() for w in W0]
                Ws[l][idx] += sign * h
                vals.append(tssl_surrogate_loss(net, trace, dL_da, Ws, warmup=warmup, tssl_inv_du_max=tssl_inv_du_max))
            g[idx] = (vals[0] - vals[1]) / (2 * h)
        grads.append(g)
    return grads
