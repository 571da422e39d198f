r"""TSSL-BP backward (Zhang & Li, NeurIPS 2020), official final code (spec section 4).

Notation per spiking layer l, neuron j (index dropped where clear), all arrays (T, B, N_l)::

    x[t]   input current W^T a^{l-1}[t]          (= LayerTrace.I)
    u[t]   membrane potential, PRE-reset          (= LayerTrace.u / .V)
    du[t]  membrane update u[t] - u^+[t-1]        (= LayerTrace.du)
    s[t]   spike in {0, 1};  a[t] PSP trace a[t] = (1 - 1/tau_s) a[t-1] + s[t]/tau_s
    theta_m = 1/tau_m,  eps_s[k] = (1/tau_s) (1 - 1/tau_s)^k   (spike kernel of the trace)

Backward quantities (names of the ``return_adjoints`` dicts)::

    E[t]      = dL/da[t]        output layer: from the loss; hidden: E^{l-1} = W^l G^l     (spec 4.1, 4.4)
    A[t]      = sum_{k=0}^{T-1-t} eps_s[k] E[t+k]
              = E[t]/tau_s + (1 - 1/tau_s) A[t+1]          reverse recursion (P-S5), A[T] = 0
    rho[t]    = s[t] * clamp(1/du[t], 0, tssl_inv_du_max)  (= -d t_m / d u[t]; du > 0 at spikes)
    G_tssl[t] = s[t] rho[t] (A[t] + theta_m u[t] G_tssl[t+1]) + (1 - s[t]) (1 - theta_m) G_tssl[t+1]   (P1)
    G[t]      = f(u[t]) A[t] if a[t] < 1/(4 tau_s) else G_tssl[t]          (warm-up, spec 4.3, P2)
    G[t]      = dL/dx[t],   dW^l = sum_{t, b} a^{l-1}[t] (x) G^l[t],   a^0 = trace.a0   (spec 4.4)

What "inter-neuron" and "intra-neuron" mean
-------------------------------------------
TSSL-BP treats every spike as an event at a (continuous) time t_m and asks how the loss changes
when the membrane potential u at the spike step is raised a little: the threshold is crossed
earlier, ``d t_m / d u[t] = -1/du[t]`` (the crossing moves back by the overshoot divided by the
membrane's slope, approximated by the last update du). A shifted spike then acts through two
channels, and the two terms of (P1) are exactly these two channels:

* **inter-neuron term** ``rho[t] * A[t]``: the spike's effect on OTHER neurons. Neurons of the next
  layer see this neuron only through its PSP trace a[t+k] = ... + eps_s[k] s[t]. Moving the spike
  earlier by d t_m changes that trace by ``d a[t+k] / d t_m = -eps_s[k]`` (the final code uses the
  kernel VALUE here, spec A24), so ``dL/du[t] = sum_k E[t+k] (-eps_s[k]) (-1/du[t]) = rho[t] A[t]``.
  It is the error signal sent *between* neurons, from this spike to everything downstream.
* **intra-neuron term** ``rho[t] * theta_m * u[t] * G_tssl[t+1]``: the spike's effect on the SAME
  neuron's future. At the spike the reset removes u[t] from the membrane; the reset "happens" at
  t_m, and the removed amount would have decayed by theta_m u[t] per step, so a shift of the spike
  changes the next membrane value by ``d u[t+1] / d t_m = -theta_m u[t]``; with
  ``d t_m / d u[t] = -1/du[t]`` this is ``rho[t] theta_m u[t]`` per unit of ``dL/du[t+1]``.
  ``G_tssl[t+1]`` is that ``dL/du[t+1]`` (= dL/dx[t+1]); it carries the influence on the neuron's
  NEXT spike. Chains to later spikes arise recursively. It is the signal *within* one neuron,
  from one of its spikes to its next one, through the reset.
* **leak** ``(1 - theta_m) G_tssl[t+1]`` at non-spike steps: ``d u[t+1] / d u[t] = 1 - theta_m``
  (no reset). There is no direct path from u to a at non-spike steps (all-or-none spikes), so
  before its first spike, between spikes and after its last spike a neuron only forwards the
  next spike's signal, decayed: ``G_tssl[t] = (1 - theta_m)^(t_p - t) G_tssl[t_p]`` (P-S2).

Warm-up (spec 4.3): a neuron whose own trace is small (``a[t] < 1/(4 tau_s)``, strict, per neuron
and step, e.g. before its first spike) would get (almost) no gradient, so G[t] is replaced by the
logistic surrogate ``f(u[t]) A[t]``, with f(u) = e^c / ((1 + e^c)^2 * 0.2),
c = clamp((theta - u)/0.2, -8, 8). The replacement does NOT feed back into (P1): the recursion
always carries G_tssl. A spike step is never replaced (a >= 1/tau_s there).

Variant ``tssl_variant="global_rate_switch"`` (Sep 2020 code, spec 4.5, A25) is documented at
:func:`tsslbp_backward`, as are two switches that are not official variants: ``tssl_intra=False``
(ablation: drop the intra-neuron term, asked for by a reviewer of the paper) and
``tssl_float32_constants=True`` (the official backward's float32 storage of threshold, tau_s and
theta_m, for 1e-8-level comparisons with official runs).

Layout: per layer (top first) the layer kernel (:func:`tsslbp_final_layer`, its fast twin
:func:`snnref.rules.fast_tsslbp.tsslbp_final_fast_layer` for ``impl="fast"``, or
:func:`tsslbp_rate_switch_layer`) on E, the gradient arriving at the layer's PSP trace; then the
connection step (:mod:`snnref.rules.connections`): dW^l = sum a^{l-1}[t]^T G^l[t] and
E^{l-1} = G^l W^{l T} for the layer below, both as BLAS products in the compute dtype.
"""
import numpy as np

from .._jit import parallel_kernel, prange
from .connections import connections_of, rows
from .fast_tsslbp import _tsslbp_final_fast_kernel, tsslbp_final_fast_layer  # noqa: F401 (former name kept)
from .options import OPTIONS
from .steps import psp_adjoint_step, tssl_rho, tssl_step, warmup_slope

__all__ = ["tsslbp_backward", "tsslbp_final_layer", "tsslbp_rate_switch_layer", "tsslbp_final_fast_layer",
           "TSSLBP_OPTIONS"]

#: option name -> default (a view of snnref.rules.options.OPTIONS["tsslbp"])
TSSLBP_OPTIONS = {name: o.default for name, o in OPTIONS["tsslbp"].items()}


# --------------------------------------------------------------------------------------- layer kernels
@parallel_kernel
def tsslbp_final_layer(E, u, du, s, a, theta_m, alpha_s, beta_s, theta, inv_du_max, warm_th,
                       use_warmup, A, rho, G_tssl, G, use_intra=True):
    """TSSL-BP, variant "final", one layer (spec 4.1-4.3): for every sample and neuron, t = T-1..0
    (A[T] = G_tssl[T] = 0)::

        A[t]      = E[t]/tau_s + (1 - 1/tau_s) A[t+1]                             (P-S5)
        rho[t]    = clamp(1/du[t], 0, inv_du_max) at a spike, else 0
        G_tssl[t] = rho (A[t] + theta_m u[t] G_tssl[t+1])  at a spike            (P1: inter + intra)
                  = (1 - theta_m) G_tssl[t+1]              otherwise              (leak)
        G[t]      = f(u[t]) A[t] if a[t] < warm_th else G_tssl[t]                 (P2, warm-up)

    (beta_s = 1/tau_s, alpha_s = 1 - beta_s; ``use_intra=False`` drops the intra term). The warm-up
    replacement never feeds back into (P1). Fills A, rho, G_tssl, G."""
    T, B, N = E.shape
    for b in prange(B):
        for j in range(N):
            A_next = 0.0    # A[t+1]
            g_next = 0.0    # G_tssl[t+1]  (the official loop's running variable "theta")
            for t in range(T - 1, -1, -1):
                A_t = psp_adjoint_step(E[t, b, j], A_next, alpha_s, beta_s)                  # (P-S5)
                spike = s[t, b, j] != 0.0
                rho_t = tssl_rho(du[t, b, j], inv_du_max) if spike else 0.0
                g_t = tssl_step(spike, rho_t, A_t, u[t, b, j], g_next, theta_m, use_intra)    # (P1)
                A[t, b, j] = A_t
                rho[t, b, j] = rho_t
                G_tssl[t, b, j] = g_t
                if use_warmup and a[t, b, j] < warm_th:                                     # (P2), strict
                    G[t, b, j] = warmup_slope(u[t, b, j], theta) * A_t
                else:
                    G[t, b, j] = g_t
                A_next = A_t
                g_next = g_t                  # the override never feeds back


#: former name
_tsslbp_final_kernel = tsslbp_final_layer


@parallel_kernel
def tsslbp_rate_switch_layer(E, u, du, s, theta_m, alpha_s, beta_s, theta, inv_du_max, use_tssl,
                             A, intra, rho, G_tssl, G, use_intra=True):
    """TSSL-BP, variant "global_rate_switch" (Sep 2020 code, spec 4.5), one layer: fills A, intra,
    rho, G_tssl, G (the recurrences at :func:`tsslbp_backward`)."""
    T, B, N = E.shape
    for b in prange(B):
        for j in range(N):
            A_next = 0.0
            Q_next = 0.0        # intra[t+1]
            decayed_E = 0.0     # (1 - theta_m)^(k - 1 - t) E[k], k = next spike after t (0 if none)
            for t in range(T - 1, -1, -1):
                A_t = psp_adjoint_step(E[t, b, j], A_next, alpha_s, beta_s)
                # reset-history weight of the pair (t, next spike k): theta_m u[t] (1-theta_m)^(k-1-t) E[k]
                c_t = theta_m * u[t, b, j] * decayed_E if (use_intra and s[t, b, j] != 0.0) else 0.0
                Q_t = psp_adjoint_step(c_t, Q_next, alpha_s, beta_s)
                if s[t, b, j] != 0.0:
                    rho_t = min(max(1.0 / du[t, b, j], -inv_du_max), inv_du_max)
                else:
                    rho_t = 0.0
                A[t, b, j] = A_t
                intra[t, b, j] = Q_t
                rho[t, b, j] = rho_t
                g_t = rho_t * (A_t + Q_t)
                G_tssl[t, b, j] = g_t
                if use_tssl:
                    G[t, b, j] = g_t
                else:
                    G[t, b, j] = warmup_slope(u[t, b, j], theta) * (A_t + Q_t)
                # update the decayed next-spike error for step t-1
                if s[t, b, j] != 0.0:
                    decayed_E = E[t, b, j]
                else:
                    decayed_E = (1.0 - theta_m) * decayed_E
                A_next = A_t
                Q_next = Q_t


# --------------------------------------------------------------------------------------- driver
def gradients(net, trace, dL_dS, dL_dt, dL_da, return_adjoints, opt):
    """Registry entry of ``tsslbp`` (inputs validated, options resolved): for l = L..1 the layer
    kernel on E (= dL_da for the output layer), then the connection step (dW^l, and E^{l-1})."""
    m = net.model
    dtype = net.dtype
    tau_s, tau_m = float(m.tau_s), float(m.tau_m)
    theta_m = 1.0 / tau_m
    # the kernel eps_s of A (official glv.syn_a, built from the config's Python float) is exact
    alpha_s, beta_s = 1.0 - 1.0 / tau_s, 1.0 / tau_s
    theta = float(m.theta)
    tau_s_c = tau_s                       # tau_s as the backward reads it back (warm-up switch)
    if opt["tssl_float32_constants"]:    # official torch.tensor([threshold, tau_s, theta_m]).item()
        theta, tau_s_c, theta_m = (float(np.float32(v)) for v in (theta, tau_s, theta_m))
    # the switch compares the stored trace with 1/(4 tau_s) rounded to the compute dtype
    warm_th = float(dtype(1.0 / (4.0 * tau_s_c)))
    inv_du_max = float(opt["tssl_inv_du_max"])
    L = net.n_layers
    T, B = trace.T, trace.B
    dW = [None] * L
    adjoints = [None] * L if return_adjoints else None
    fast = opt["impl"] == "fast"
    E = np.ascontiguousarray(dL_da, dtype=dtype)        # no copy: the checks already cast it
    empty = np.empty((0, 0, 0), dtype=dtype)
    # the kernels' trailing use_intra defaults to True: pass it only for the ablation, so the
    # official path keeps one compiled signature per dtype
    intra_arg = () if opt["tssl_intra"] else (False,)
    for l, conn in reversed(list(enumerate(connections_of(net, trace)))):
        lt = trace.layers[l].flat()
        N = lt.S.shape[2]
        G = np.empty((T, B, N), dtype=dtype)
        if fast and opt["tssl_variant"] == "final" and not return_adjoints:
            A = rho = G_tssl = empty                       # not stored (kernel's store_all=False)
        else:
            A = np.empty_like(G)
            rho = np.empty_like(G)
            G_tssl = np.empty_like(G)
        extra = {}
        if opt["tssl_variant"] == "final" and fast:
            tsslbp_final_fast_layer(E, lt.u, lt.du, lt.S, lt.a, theta_m, alpha_s, beta_s, theta, inv_du_max,
                                    warm_th, opt["tssl_warmup"], bool(return_adjoints), A, rho, G_tssl, G,
                                    *intra_arg)
        elif opt["tssl_variant"] == "final":
            tsslbp_final_layer(E, lt.u, lt.du, lt.S, lt.a, theta_m, alpha_s, beta_s, theta, inv_du_max,
                               warm_th, opt["tssl_warmup"], A, rho, G_tssl, G, *intra_arg)
        else:
            rate = float(np.sum(lt.S, dtype=np.float64)) / float(B * N * T)
            intra = np.empty_like(A)
            tsslbp_rate_switch_layer(E, lt.u, lt.du, lt.S, theta_m, alpha_s, beta_s, theta, inv_du_max,
                                     rate > opt["warmup_rate"], A, intra, rho, G_tssl, G, *intra_arg)
            extra = {"intra": intra, "rate": rate}
        # the connection step: dW^l = sum a^{l-1}[t]^T G^l[t] (a^0 = trace.a0), BLAS in the compute
        # dtype (sgemm for float32; astype(copy=False) is a no-op kept for safety)
        dW[l] = conn.weight_grad_blas(trace.layer_input(l), G).astype(dtype, copy=False)
        if return_adjoints:
            adjoints[l] = {"E": E, "A": A, "rho": rho, "G_tssl": G_tssl, "G": G}
            if "intra" in extra:
                adjoints[l]["intra"] = extra["intra"]
        if l > 0:  # E^{l-1} = W^l G^l (BLAS; none into the input layer, spec 4.4), C-contiguous, of the compute dtype
            E = conn.back_project(rows(G), exact=False).reshape(T, B, conn.n_in)
    db = [np.zeros_like(b) for b in net.biases]
    return dW, db, adjoints


# --------------------------------------------------------------------------------------- public wrapper
def tsslbp_backward(net, trace, *, rule="tsslbp", dL_dS=None, dL_dt=None, dL_da=None,
                    return_adjoints=False, **options):
    r"""TSSL-BP gradient estimate (spec 4; Zhang & Li, NeurIPS 2020), normally via ``snnref.backward``.

    For each spiking layer l = L..1 (t = T-1..0, per neuron, G_tssl[T] = A[T] = 0)::

        A[t]      = E[t]/tau_s + (1 - 1/tau_s) A[t+1]                      = sum_k eps_s[k] E[t+k]
        rho[t]    = s[t] * clamp(1/du[t], 0, tssl_inv_du_max)
        G_tssl[t] = s[t] * rho[t] * ( A[t]                                  inter-neuron term
                                      + theta_m * u[t] * G_tssl[t+1] )      intra-neuron term
                  + (1 - s[t]) * (1 - theta_m) * G_tssl[t+1]                leak        (P1)
        G[t]      = f(u[t]) * A[t]   if a[t] < 1/(4 tau_s)   else G_tssl[t]  (warm-up, P2)
        dW^l      = sum_{t,b} a^{l-1}[t]^T G^l[t]     (a^0 = trace.a0)
        E^{l-1}   = G^l[t] W^{l T}   i.e. E^{l-1}_i[t] = sum_j w^l_ij G^l_j[t]

    The inter-neuron term ``rho A`` is the loss change caused by the spike at t through the PSP
    traces it sends to the NEXT LAYER (d a[t+k]/d t_m = -eps_s[k], d t_m/d u[t] = -1/du[t]); the
    intra-neuron term ``rho theta_m u G_tssl[t+1]`` is its effect on the SAME NEURON's next
    spike through the reset (the reset removes u[t] at time t_m, so shifting t_m changes
    u[t+1] by -theta_m u[t] per unit time); see the module docstring for the full derivation.

    Parameters
    ----------
    net : Network
        A TSSL-BP network (``NeuronModel.tsslbp(tau_m, tau_s, theta)``); no biases.
    trace : Trace
        ``snnref.forward(net, x)``: uses u (pre-reset), du, s, a per layer and a0.
    dL_da : array (T, B, N_L)
        dL/da of the output layer's PSP trace (e.g. ``snnref.losses.psp_kernel(...).dL_da``).
    dL_dS, dL_dt : must be None (ANTLR-family inputs).
    return_adjoints : bool
        Also return, per spiking layer, a dict of (T, B, N_l) arrays: "E" (dL/da), "A", "rho",
        "G_tssl" (recursion (P1)), "G" (= dL/dx, the gradient w.r.t. the input current x = I,
        after the warm-up). The "global_rate_switch" variant adds "intra" (see below).
    tssl_variant : "final" (default) or "global_rate_switch"
        "final": the Dec 2020 / final code described above.
        "global_rate_switch": the Sep 2020 ("final version" commit) code, spec 4.5 and A25. Per
        layer, with rate = sum(s) / (B N T) over the whole batch, ``G = rho * (A + intra)`` if
        rate > ``warmup_rate`` (strict), else ``G = f(u) * (A + intra)`` for the whole layer, with
        rho = s * clamp(1/du, -tssl_inv_du_max, tssl_inv_du_max) (official clamp 10) and the
        reset-history ("intra") term, for consecutive spikes t_j < t_k of a neuron,
        ``intra[t] = sum_{pairs with t_j >= t} eps_s[t_j - t] theta_m u[t_j] (1 - theta_m)^(t_k - 1 - t_j) E[t_k]``
        (computed by a reverse recursion). There is no leak: G is non-zero only at spike steps
        (TSSL branch). **Doubts**: spec 4.5 describes the intra term only as "explicit reset-history
        matrices"; the formula above is our reading of the official T x T matrices (delta_refs,
        which are non-zero only for consecutive spike pairs). Spec 4.5 says the warm-up branch
        uses f(u) A; the Sep 2020 code multiplies f(u) by the same inter + intra sum, which is what
        is implemented (the two agree for neurons with fewer than two spikes). The Sep 2020 code
        also filtered the kernel-loss target only once (``psp_kernel(..., single_pass=True)``).
        ``tssl_warmup`` is ignored by this variant.
    tssl_inv_du_max : float > 0 or None
        Clamp of 1/du at spike steps; None = the variant's official value (8 final, 10 Sep 2020).
    tssl_warmup : bool
        True (default, official): apply the warm-up override (P2). False: G = G_tssl everywhere
        (the pure TSSL-BP estimate, used by the tangent-model check P-S3) **[choice]**.
    warmup_rate : float in [0, 1]
        Layer firing-rate switch of the "global_rate_switch" variant (default 0.1; unused by "final").
    tssl_intra : bool
        True (default, official): (P1) as above. False: **ablation, not an official variant**
        (reviewer 4 of the paper asked for an ablation of the intra-neuron part): the intra-neuron
        term ``rho[t] theta_m u[t] G_tssl[t+1]`` is dropped, so at a spike step
        ``G_tssl[t] = rho[t] A[t]`` and G_tssl only carries each spike's inter-neuron signal back to
        the earlier silent steps through the leak. In "global_rate_switch" it likewise removes the
        reset-history term (``intra = 0``, G = rho A or f(u) A). See ``scripts/ablation.py``.
    tssl_float32_constants : bool
        False (default): the exact constants of the spec (theta_m = 1/tau_m, threshold, tau_s as
        float64). True: reproduce the official backward's storage of (threshold, tau_s, theta_m) in
        a default-dtype torch tensor read back with ``.item()``: with PyTorch's default float32 they
        become float32 values even in a float64 run, e.g. tau_m = 5 gives
        theta_m = float32(0.2) = 0.20000000298023224 in the intra-neuron and leak terms; threshold
        enters the warm-up exponent and tau_s the warm-up switch 1/(4 tau_s) (both exact for the
        released configs, threshold 1 and tau_s 2 or 3). The kernel eps_s of A is not affected
        (the official code builds it from the config's Python float). This matters at the 1e-8
        relative level: use it when comparing float64 snnref gradients with an official run made
        with the default torch dtype for these constants; the exact constants are the reference.
    impl : "fast" (default) or "reference"
        Which kernel computes the per-neuron recursion of the "final" variant. "reference" is the
        plain transcription (loop order b > j > t, every adjoint stored); "fast" runs the same
        per-element arithmetic in the same order (bit-identical results, tested) with the loop
        order b > t > j (contiguous inner loop), stores A, rho, G_tssl only for
        ``return_adjoints=True`` and calls exp only where the warm-up exponent is not clamped.
        Both use the same BLAS products for dW and E. Ignored by "global_rate_switch".

    Returns
    -------
    Gradients
        dW[l] of shape (N_{l-1}, N_l) (summed over time and batch), db[l] = zeros (no biases).

    Raises
    ------
    TypeError for unknown options or non-boolean switches; ValueError for bad option values.
    """
    if rule != "tsslbp":
        raise ValueError(f"tsslbp_backward computes rule 'tsslbp'; got rule={rule!r}. "
                         "Use snnref.backward for the other rules.")
    from . import run  # the registry imports this module: look it up at call time
    return run(net, trace, "tsslbp", dL_dS=dL_dS, dL_dt=dL_dt, dL_da=dL_da, return_adjoints=return_adjoints, **options)
