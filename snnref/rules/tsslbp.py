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
"""
import numpy as np

from .. import _validate as V
from .. import layers as _layers
from .._jit import parallel_kernel, prange
from ..backward import Gradients

__all__ = ["tsslbp_backward", "TSSLBP_OPTIONS"]

#: option name -> default (spec 11). ``None`` for tssl_inv_du_max = the variant's official clamp.
TSSLBP_OPTIONS = {
    "tssl_variant": "final",
    "tssl_inv_du_max": None,
    "tssl_warmup": True,
    "warmup_rate": 0.1,
    "tssl_intra": True,
    "tssl_float32_constants": False,
    "impl": "fast",
}
_VARIANTS = ("final", "global_rate_switch")
_IMPLS = ("fast", "reference")
_INV_DU_MAX_DEFAULT = {"final": 8.0, "global_rate_switch": 10.0}
#: logistic slope scale of the warm-up surrogate and clamp of its exponent (spec 4.3)
_WARMUP_SCALE = 0.2
_WARMUP_CLAMP = 8.0


# --------------------------------------------------------------------------------------- kernels
@parallel_kernel
def _tsslbp_final_kernel(E, u, du, s, a, theta_m, alpha_s, beta_s, theta, inv_du_max, warm_th,
                         use_warmup, A, rho, G_tssl, G, use_intra=True):
    """Kernel of :func:`tsslbp_backward` (variant "final"): fills A, rho, G_tssl, G of one layer."""
    T, B, N = E.shape
    for b in prange(B):
        for j in range(N):
            A_next = 0.0    # A[t+1]
            g_next = 0.0    # G_tssl[t+1]  (the official loop's running variable "theta")
            for t in range(T - 1, -1, -1):
                A_t = beta_s * E[t, b, j] + alpha_s * A_next                          # (P-S5)
                if s[t, b, j] != 0.0:
                    inv = 1.0 / du[t, b, j]   # du > 0 at a spike; 1/+0 = inf -> clamped
                    rho_t = min(max(inv, 0.0), inv_du_max)
                    if use_intra:
                        g_t = rho_t * (A_t + theta_m * u[t, b, j] * g_next)           # inter + intra
                    else:
                        g_t = rho_t * A_t                                             # inter only (ablation)
                else:
                    rho_t = 0.0
                    g_t = (1.0 - theta_m) * g_next                                    # leak
                A[t, b, j] = A_t
                rho[t, b, j] = rho_t
                G_tssl[t, b, j] = g_t
                if use_warmup and a[t, b, j] < warm_th:                               # (P2), strict
                    c = min(max((theta - u[t, b, j]) / 0.2, -8.0), 8.0)
                    ec = np.exp(c)
                    G[t, b, j] = ec / ((1.0 + ec) * (1.0 + ec) * 0.2) * A_t
                else:
                    G[t, b, j] = g_t
                A_next = A_t
                g_next = g_t                  # the override never feeds back


@parallel_kernel
def _tsslbp_final_fast_kernel(E, u, du, s, a, theta_m, alpha_s, beta_s, theta, inv_du_max, warm_th,
                              use_warmup, store_all, A, rho, G_tssl, G, use_intra=True):
    """Fast kernel of :func:`tsslbp_backward` (variant "final", ``impl="fast"``).

    The same per-element arithmetic as :func:`_tsslbp_final_kernel` in the same order (so the
    results are bit-identical), with three changes that do not touch any rounding:

    - loop order b (prange) > t (reverse) > j: the innermost loop walks contiguous memory; the
      per-neuron running values A[t+1], G_tssl[t+1] live in float64 work rows (as the scalars of
      the reference kernel);
    - A, rho, G_tssl are stored only when ``store_all`` (``return_adjoints=True``); otherwise
      they may be empty arrays;
    - the warm-up factor f(u) is evaluated once per call for the two clamped exponents c = +8 and
      c = -8 (same expression, hence the same bits) and exp is called only for |c| < 8.
    """
    T, B, N = E.shape
    ec_hi = np.exp(8.0)
    f_hi = ec_hi / ((1.0 + ec_hi) * (1.0 + ec_hi) * 0.2)      # f at c = +8 (u <= theta - 1.6)
    ec_lo = np.exp(-8.0)
    f_lo = ec_lo / ((1.0 + ec_lo) * (1.0 + ec_lo) * 0.2)      # f at c = -8 (u >= theta + 1.6)
    for b in prange(B):
        A_next = np.zeros(N)      # A[t+1] per neuron (float64, like the reference's scalars)
        g_next = np.zeros(N)      # G_tssl[t+1]
        for t in range(T - 1, -1, -1):
            for j in range(N):
                A_t = beta_s * E[t, b, j] + alpha_s * A_next[j]                     # (P-S5)
                if s[t, b, j] != 0.0:
                    inv = 1.0 / du[t, b, j]
                    rho_t = min(max(inv, 0.0), inv_du_max)
                    if use_intra:
                        g_t = rho_t * (A_t + theta_m * u[t, b, j] * g_next[j])      # inter + intra
                    else:
                        g_t = rho_t * A_t                                           # inter only (ablation)
                else:
                    rho_t = 0.0
                    g_t = (1.0 - theta_m) * g_next[j]                               # leak
                if store_all:
                    A[t, b, j] = A_t
                    rho[t, b, j] = rho_t
                    G_tssl[t, b, j] = g_t
                if use_warmup and a[t, b, j] < warm_th:                             # (P2), strict
                    c = (theta - u[t, b, j]) / 0.2
                    if c >= 8.0:
                        f = f_hi
                    elif c <= -8.0:
                        f = f_lo
                    else:
                        ec = np.exp(min(max(c, -8.0), 8.0))
                        f = ec / ((1.0 + ec) * (1.0 + ec) * 0.2)
                    G[t, b, j] = f * A_t
                else:
                    G[t, b, j] = g_t
                A_next[j] = A_t
                g_next[j] = g_t


@parallel_kernel
def _tsslbp_rate_switch_kernel(E, u, du, s, theta_m, alpha_s, beta_s, theta, inv_du_max, use_tssl,
                               A, intra, rho, G_tssl, G, use_intra=True):
    """Kernel of :func:`tsslbp_backward` (variant "global_rate_switch"): fills A, intra, rho, G_tssl, G."""
    T, B, N = E.shape
    for b in prange(B):
        for j in range(N):
            A_next = 0.0
            Q_next = 0.0        # intra[t+1]
            decayed_E = 0.0     # (1 - theta_m)^(k - 1 - t) E[k], k = next spike after t (0 if none)
            for t in range(T - 1, -1, -1):
                A_t = beta_s * E[t, b, j] + alpha_s * A_next
                # reset-history weight of the pair (t, next spike k): theta_m u[t] (1-theta_m)^(k-1-t) E[k]
                c_t = theta_m * u[t, b, j] * decayed_E if (use_intra and s[t, b, j] != 0.0) else 0.0
                Q_t = beta_s * c_t + alpha_s * Q_next
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
                    c = min(max((theta - u[t, b, j]) / 0.2, -8.0), 8.0)
                    ec = np.exp(c)
                    G[t, b, j] = ec / ((1.0 + ec) * (1.0 + ec) * 0.2) * (A_t + Q_t)
                # update the decayed next-spike error for step t-1
                if s[t, b, j] != 0.0:
                    decayed_E = E[t, b, j]
                else:
                    decayed_E = (1.0 - theta_m) * decayed_E
                A_next = A_t
                Q_next = Q_t


# --------------------------------------------------------------------------------------- API
def _resolve_options(options):
    V.check_options(options, TSSLBP_OPTIONS, "rule 'tsslbp'")
    opts = dict(TSSLBP_OPTIONS)
    opts.update(options)
    variant = opts["tssl_variant"]
    if not isinstance(variant, str) or variant not in _VARIANTS:
        raise ValueError(f"tssl_variant must be one of {list(_VARIANTS)}; got {variant!r}.")
    if opts["tssl_inv_du_max"] is None:
        opts["tssl_inv_du_max"] = _INV_DU_MAX_DEFAULT[variant]
    opts["tssl_inv_du_max"] = V.check_scalar(
        opts["tssl_inv_du_max"], "tssl_inv_du_max", lo=0.0, lo_open=True,
        hint="It bounds 1/du at spike steps (official: 8 in the final code, 10 in Sep 2020).")
    opts["warmup_rate"] = V.check_scalar(
        opts["warmup_rate"], "warmup_rate", lo=0.0, hi=1.0,
        hint="It is the layer firing rate (spikes per neuron and step) above which the Sep 2020 code uses TSSL.")
    for name in ("tssl_warmup", "tssl_intra", "tssl_float32_constants"):
        if not isinstance(opts[name], (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {opts[name]!r}.")
        opts[name] = bool(opts[name])
    V.check_choice(opts["impl"], "impl", _IMPLS)
    return opts


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
    opts = _resolve_options(options)
    if dL_da is None:
        raise ValueError("rule 'tsslbp' needs dL_da (e.g. snnref.losses.psp_kernel(...).dL_da).")
    if dL_dS is not None or dL_dt is not None:
        raise ValueError("rule 'tsslbp' takes dL_da only; dL_dS / dL_dt belong to the ANTLR-family rules.")
    m = net.model
    dt = net.dtype
    tau_s, tau_m = float(m.tau_s), float(m.tau_m)
    theta_m = 1.0 / tau_m
    # the kernel eps_s of A (official glv.syn_a, built from the config's Python float) is exact
    alpha_s, beta_s = 1.0 - 1.0 / tau_s, 1.0 / tau_s
    theta = float(m.theta)
    tau_s_c = tau_s                       # tau_s as the backward reads it back (warm-up switch)
    if opts["tssl_float32_constants"]:    # official torch.tensor([threshold, tau_s, theta_m]).item()
        theta, tau_s_c, theta_m = (float(np.float32(v)) for v in (theta, tau_s, theta_m))
    # the switch compares the stored trace with 1/(4 tau_s) rounded to the compute dtype
    warm_th = float(dt(1.0 / (4.0 * tau_s_c)))
    inv_du_max = float(opts["tssl_inv_du_max"])
    L = net.n_layers
    T, B = trace.T, trace.B
    dW = [None] * L
    adjoints = [None] * L if return_adjoints else None
    fast = opts["impl"] == "fast"
    E = np.ascontiguousarray(dL_da, dtype=dt)        # no copy: backward() already cast it
    empty = np.empty((0, 0, 0), dtype=dt)
    # the kernels' trailing use_intra defaults to True: pass it only for the ablation, so the
    # official path keeps one compiled signature per dtype
    intra_arg = () if opts["tssl_intra"] else (False,)
    layered = net.layers is not None
    for l in range(L - 1, -1, -1):
        lt = trace.layers[l]
        if layered:       # spatial traces (T, B, C, H, W): the per-neuron kernels see (T, B, N) views
            lt = _flat_layer(lt, T, B)
        N = lt.S.shape[2]
        G = np.empty((T, B, N), dtype=dt)
        if fast and opts["tssl_variant"] == "final" and not return_adjoints:
            A = rho = G_tssl = empty                       # not stored (kernel's store_all=False)
        else:
            A = np.empty_like(G)
            rho = np.empty_like(G)
            G_tssl = np.empty_like(G)
        extra = {}
        if opts["tssl_variant"] == "final" and fast:
            _tsslbp_final_fast_kernel(E, lt.u, lt.du, lt.S, lt.a, theta_m, alpha_s, beta_s, theta, inv_du_max,
                                      warm_th, opts["tssl_warmup"], bool(return_adjoints), A, rho, G_tssl, G,
                                      *intra_arg)
        elif opts["tssl_variant"] == "final":
            _tsslbp_final_kernel(E, lt.u, lt.du, lt.S, lt.a, theta_m, alpha_s, beta_s, theta, inv_du_max,
                                 warm_th, opts["tssl_warmup"], A, rho, G_tssl, G, *intra_arg)
        else:
            rate = float(np.sum(lt.S, dtype=np.float64)) / float(B * N * T)
            intra = np.empty_like(A)
            _tsslbp_rate_switch_kernel(E, lt.u, lt.du, lt.S, theta_m, alpha_s, beta_s, theta, inv_du_max,
                                       rate > opts["warmup_rate"], A, intra, rho, G_tssl, G, *intra_arg)
            extra = {"intra": intra, "rate": rate}
        if layered:
            # connection step of layered networks (snnref.layers): dW = the connection's weight
            # gradient with its input, E^{l-1} = M^T G (transposed convolution, pooling adjoint)
            dW[l] = _layers.weight_grad(net, trace, l, G)
        else:
            a_prev = trace.layer_input(l)                       # a^{l-1}, a^0 = trace.a0
            n_prev = a_prev.shape[2]
            # BLAS in the compute dtype (sgemm for float32); reshape/.T are views, the product is
            # already of dtype dt (astype(copy=False) is a no-op kept for safety)
            dW[l] = (a_prev.reshape(T * B, n_prev).T @ G.reshape(T * B, N)).astype(dt, copy=False)
        if return_adjoints:
            adjoints[l] = {"E": E, "A": A, "rho": rho, "G_tssl": G_tssl, "G": G}
            if layered:       # spatial shape of the layer, as its trace
                shape = (T, B) + net.shapes[l + 1]
                adjoints[l] = {k: v.reshape(shape) for k, v in adjoints[l].items()}
            if "intra" in extra:
                adjoints[l]["intra"] = extra["intra"]
        if l > 0 and layered:
            E = _layers.back_project(net, trace, l, G).reshape(T, B, -1)
        elif l > 0:             # E^{l-1} = W^l G^l (dense BLAS; none into the input layer, spec 4.4)
            E = (G.reshape(T * B, N) @ net.weights[l].T).reshape(T, B, n_prev)   # C-contiguous, dtype dt
    db = [np.zeros_like(b) for b in net.biases]
    return Gradients(dW=dW, db=db, adjoints=adjoints, rule=rule, options=opts)


def _flat_layer(lt, T, B):
    """(T, B, N) views of a layered network's spatial LayerTrace (C-contiguous reshapes, no copies)."""
    from ..forward import LayerTrace

    def flat(arr):
        return None if arr is None else arr.reshape(T, B, -1)
    return LayerTrace(flat(lt.I), flat(lt.V), flat(lt.S), flat(lt.du), flat(lt.a))
