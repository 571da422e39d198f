"""``impl="fast"`` (default) of TSSL-BP, variant "final" (spec 4): the per-neuron recursion of
:func:`snnref.rules.tsslbp.tsslbp_final_layer` with the same per-element arithmetic (the step functions of
:mod:`snnref.rules.steps`) in the same order, so the results are bit-identical (tests/test_fast_tsslbp.py checks it)."""
import numpy as np

from .._jit import parallel_kernel, prange
from .steps import WARMUP_CLAMP, psp_adjoint_step, tssl_rho, tssl_step, warmup_exponent, warmup_slope_at

__all__ = ["tsslbp_final_fast_layer", "_tsslbp_final_fast_kernel"]


@parallel_kernel
def tsslbp_final_fast_layer(E, u, du, s, a, theta_m, alpha_s, beta_s, theta, inv_du_max, warm_th,
                            use_warmup, store_all, A, rho, G_tssl, G, use_intra=True):
    """Fast kernel of TSSL-BP (variant "final", ``impl="fast"``), one layer.

    The same per-element arithmetic as the reference kernel in the same order (so the results are
    bit-identical), with three changes that do not touch any rounding:

    - loop order b (prange) > t (reverse) > j: the innermost loop walks contiguous memory; the
      per-neuron running values A[t+1], G_tssl[t+1] live in float64 work rows (as the scalars of
      the reference kernel);
    - A, rho, G_tssl are stored only when ``store_all`` (``return_adjoints=True``); otherwise
      they may be empty arrays;
    - the warm-up slope f(u) is evaluated once per call for the two clamped exponents
      c = +WARMUP_CLAMP and c = -WARMUP_CLAMP (the same step function, hence the same bits) and exp is
      called only for |c| < WARMUP_CLAMP.
    """
    T, B, N = E.shape
    f_hi = warmup_slope_at(WARMUP_CLAMP)       # f at c = +8 (u <= theta - 1.6)
    f_lo = warmup_slope_at(-WARMUP_CLAMP)      # f at c = -8 (u >= theta + 1.6)
    for b in prange(B):
        A_next = np.zeros(N)      # A[t+1] per neuron (float64, like the reference's scalars)
        g_next = np.zeros(N)      # G_tssl[t+1]
        for t in range(T - 1, -1, -1):
            for j in range(N):
                A_t = psp_adjoint_step(E[t, b, j], A_next[j], alpha_s, beta_s)               # (P-S5)
                spike = s[t, b, j] != 0.0
                rho_t = tssl_rho(du[t, b, j], inv_du_max) if spike else 0.0
                g_t = tssl_step(spike, rho_t, A_t, u[t, b, j], g_next[j], theta_m, use_intra)  # (P1)
                if store_all:
                    A[t, b, j] = A_t
                    rho[t, b, j] = rho_t
                    G_tssl[t, b, j] = g_t
                if use_warmup and a[t, b, j] < warm_th:                                     # (P2), strict
                    c = warmup_exponent(u[t, b, j], theta)
                    if c >= WARMUP_CLAMP:
                        f = f_hi
                    elif c <= -WARMUP_CLAMP:
                        f = f_lo
                    else:
                        f = warmup_slope_at(c)
                    G[t, b, j] = f * A_t
                else:
                    G[t, b, j] = g_t
                A_next[j] = A_t
                g_next[j] = g_t


#: former name
_tsslbp_final_fast_kernel = tsslbp_final_fast_layer
