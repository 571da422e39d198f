r"""ANTLR ``antlr`` (spec 3.5; ANTLR appendix Algorithm 3; official lrule "ANTLR"): the activation
and timing paths combined.

Read next to :mod:`snnref.rules.timing` (Algorithm 2): everything is the same (zero states at
t = T, layers top first, t = T-1 .. 0, the linear core (C1), (C2), the traces E1/E2, (T3), (C3),
(C4)) except the injected voltage gradient, which mixes the surrogate term of
:mod:`snnref.rules.activation` with the timing term::

    dS^L[t] = dL_dS[t],   dS^l[t] = beta_I sum_j w^{l+1}_ij dI^{l+1}_j[t]                   (C5)
    dV[t]   = lambda_act sigma(V[t]) dS[t]  +  lambda_tim (-dT[t] / Vstar[t]) [S[t] = 1]   (spec 3.5)

and the signal arriving at a hidden layer has both parts, dS (C5) and Tprop (T3); E1/E2 are built
from the COMBINED dV (cross terms between the paths appear below the top layer). No timing penalty
(official code). antlr(lambda_act=1, lambda_tim=0) == act_srm and antlr(0, 1) == timing without
penalty (spec 10.3 P-T3).

``impl="reference"`` runs :func:`antlr_layer` for one layer at a time through the driver of
:mod:`snnref.rules.timing`; ``impl="fast"`` (default) is :mod:`snnref.rules.fast_antlr`
(bit-identical results).

This module also keeps the names of the former single-module layout: the wrappers of the other
ANTLR-family rules, :func:`antlr_family_backward` and :func:`active_rows`.
"""
from .._jit import parallel_kernel, prange
from . import fast_antlr, timing
from .activation import act_rnn_backward, act_slayer_backward, act_srm_backward
from .fast_antlr import BLAS_MIN_NEURONS, active_rows
from .options import OPTIONS
from .steps import surrogate, timing_injection
from .timing import store_step, timing_backward

__all__ = ["antlr_backward", "antlr_layer", "antlr_family_backward", "act_rnn_backward", "act_srm_backward",
           "act_slayer_backward", "timing_backward", "active_rows", "BLAS_MIN_NEURONS", "RULE_OPTIONS"]

#: rule -> {option name: default} of the ANTLR-family rules (a view of snnref.rules.options.OPTIONS)
RULE_OPTIONS = {rule: {name: o.default for name, o in OPTIONS[rule].items()}
                for rule in ("act_rnn", "act_srm", "act_slayer", "timing", "antlr")}


# --------------------------------------------------------------------------------------- layer kernel
@parallel_kernel
def antlr_layer(V, S, dS, Tprop, alpha_I, alpha_V, beta_V, theta, ste_alpha, ste_beta, lam_act, lam_tim,
                vstar_code, vstar_floor, explicit, es_over_bI, vs_n, dT, dV, dV_dep, dI, E1, E2):
    """antlr, one layer (Algorithm 3, spec 3.5): :func:`snnref.rules.timing.timing_layer` with the
    injected gradient dV[t] = lambda_act sigma(V[t]) dS[t] + lambda_tim (T2) [S[t] = 1].

    ``dS``, ``Tprop`` (T, B, N) are the signals arriving at the layer; fills dT, dV, dV_dep, dI, E1, E2."""
    T, B, N = V.shape
    for b in prange(B):
        for t in range(T - 1, -1, -1):
            tp = max(t - 1, 0)  # previous step (used only for t >= 1)
            for j in range(N):
                v = V[t, b, j]
                spike = S[t, b, j] == 1.0
                dt_ = 0.0
                dv = lam_act * (surrogate(v, theta, ste_alpha, ste_beta) * dS[t, b, j])           # activation
                if spike:
                    dt_ = Tprop[t, b, j]                                                        # (T1)
                    dv = dv + lam_tim * timing_injection(dt_, t, v, V[tp, b, j], S[tp, b, j],
                                                         vstar_code, vstar_floor)              # + timing (T2)
                store_step(t, b, j, dt_, dv, S, alpha_I, alpha_V, beta_V, explicit, es_over_bI, vs_n,
                           dT, dV, dV_dep, dI, E1, E2)                                 # (C1), (C2), E1, E2


def gradients(net, trace, dL_dS, dL_dt, dL_da, return_adjoints, opt):
    """Registry entry of ``antlr`` (inputs validated, options resolved)."""
    if opt["impl"] == "fast":
        return fast_antlr.backward(net, trace, fast_antlr.ANTLR, dL_dS, dL_dt, return_adjoints, opt,
                                   timing=timing.settings(net.model, opt, trace.T))
    return timing.reference_backward(antlr_layer, net, trace, dL_dS, dL_dt, return_adjoints, opt,
                                     with_activation=True)


# --------------------------------------------------------------------------------------- public wrappers
def antlr_backward(net, trace, dL_dS=None, dL_dt=None, *, return_adjoints=False, lambda_act=1.0, lambda_tim=1.0,
                   ste_alpha=1.0, ste_beta=3.0, vstar_mode="code", vstar_floor=0.01, timing_tau_min=0,
                   timing_impl="aux", impl="fast"):
    r"""ANTLR: combined activation- and timing-based rule, ANTLR appendix Algorithm 3 (spec 3.5;
    official lrule "ANTLR"). Rule name ``antlr``.

    For t = T-1..0, l = L..1, zero states at t = T::

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
    return_adjoints : bool, see :func:`snnref.backward`
    lambda_act, lambda_tim : float, default 1, 1 (hard-coded in the official code, spec A9)
    ste_alpha, ste_beta : float >= 0, surrogate sigma(v) = ste_alpha exp(-ste_beta |v - theta|)
    impl : "fast" (default) or "reference" (:func:`antlr_layer`; the same results)
""" + timing.TIMING_OPTIONS_DOC + r"""

    Returns
    -------
    Gradients
    """
    from . import run  # the registry imports this module: look it up at call time
    return run(net, trace, "antlr", dL_dS=dL_dS, dL_dt=dL_dt, return_adjoints=return_adjoints,
               lambda_act=lambda_act, lambda_tim=lambda_tim, ste_alpha=ste_alpha, ste_beta=ste_beta,
               vstar_mode=vstar_mode, vstar_floor=vstar_floor, timing_tau_min=timing_tau_min,
               timing_impl=timing_impl, impl=impl)


def antlr_family_backward(net, trace, *, rule, dL_dS=None, dL_dt=None, dL_da=None, return_adjoints=False,
                          **options):
    """Any ANTLR-family rule by name (former entry point; the same as :func:`snnref.backward` without
    the gradient post-processing options). Raises ValueError for a rule outside the family."""
    from . import RULES, run
    if rule not in RULES or RULES[rule].family != "antlr":
        fam = sorted(k for k, v in RULES.items() if v.family == "antlr")
        raise ValueError(f"rule must be one of {fam} for antlr_family_backward; got {rule!r}.")
    return run(net, trace, rule, dL_dS=dL_dS, dL_dt=dL_dt, dL_da=dL_da, return_adjoints=return_adjoints, **options)
