"""``snnref.backward``: one entry point for every learning rule.

Rules (spec sections 3 and 4; names of spec 11):

============== ======================================================================
``act_rnn``    activation-based BPTT with reset paths (spec 3.1, ANTLR appendix C)
``act_srm``    SRM-based activation rule, Algorithm 1 with V_dep (spec 3.2)
``act_slayer`` ungated propagation style of the official code (spec 3.3)
``timing``     timing-based rule, Algorithm 2 (spec 3.4)
``antlr``      ANTLR, Algorithm 3 (spec 3.5)
``tsslbp``     TSSL-BP (spec 4), for PSP-output models
============== ======================================================================

The rule implementations live in :mod:`snnref.rules` (one module per family, the static registry
:data:`snnref.rules.RULES`, the option table :mod:`snnref.rules.options`); :func:`backward` checks the
inputs once, dispatches through the registry and applies the optional gradient post-processing of
the official codes (:func:`snnref.rules.run`).
"""
from . import rules as _rules
from .rules import RULES
from .trace import Gradients, check_trace

__all__ = ["backward", "Gradients", "RULES", "check_trace"]


def backward(net, trace, rule, dL_dS=None, dL_dt=None, dL_da=None, *, return_adjoints=False,
             nan_to_zero=False, grad_clip_value=None, grad_clip_norm=None, trace_check="auto",
             workspace=None, **options):
    """Gradient estimate of a loss w.r.t. the weights and biases of ``net`` by ``rule``.

    Parameters
    ----------
    net : Network
    trace : Trace
        ``snnref.forward(net, x)``.
    rule : str
        One of :data:`RULES` (see the module docstring).
    dL_dS : array (T_sim, B, N_out) or None
        Loss gradient w.r.t. output spikes (activation path; ANTLR family). None = zeros.
    dL_dt : array (T_sim, B, N_out) or None
        Loss gradient w.r.t. output spike times, non-zero only where the output spiked (timing
        path; ANTLR family). None = zeros.
    dL_da : array (T_sim, B, N_out) or None
        Loss gradient w.r.t. the output PSP trace (TSSL-BP). Required for ``rule="tsslbp"``.
    return_adjoints : bool
        Also return the per-layer adjoints (to find where two implementations first diverge).
    nan_to_zero, grad_clip_value, grad_clip_norm :
        Optional post-processing of the official codes (off by default): NaN -> 0 (spec 3.6),
        element-wise value clipping of weight and bias gradients (ANTLR), global L2-norm clipping
        over all weight gradients (TSSL-BP, spec 7.6). Applied in that order, after the rule
        (so after the timing penalty).
    trace_check : "auto" (default), "full", "basic" or "off"
        Validation of ``trace`` (docs/VERIFYING.md "Your own forward trace"): "auto" trusts traces
        returned by :func:`snnref.forward` and fully checks any other (binary S, finite values,
        S = H(V - theta), and I, V recomputed step by step from the input, the weights and the
        trace's own S); see :mod:`snnref._user_trace`.
    workspace : snnref.workspace.Workspace or None
        Buffers reused from call to call by the fast ANTLR-family paths for their internal arrays
        (nothing returned is a view of them; ignored with ``return_adjoints=True`` and by TSSL-BP and the
        reference implementations). May be the workspace passed to :func:`snnref.forward`.
    **options
        Rule options with the names of spec 11, listed with defaults and allowed values in
        :data:`snnref.rules.options.OPTIONS` (``python -m snnref rules``); unknown names raise TypeError.

    Returns
    -------
    Gradients
        ``dW[l]`` (N_{l-1}, N_l), ``db[l]`` (N_l,) in the network dtype (ANTLR family: accumulated in
        float64; TSSL-BP: db = zeros). With ``return_adjoints`` one dict per spiking layer of arrays
        (T_sim, B, N_l). ANTLR family (spec 3; the same in both implementations):

        - ``dS``: activation signal arriving at the layer: ``dL_dS`` (output layer, zeros if None) or
          (C5) from the layer above. Not computed (zeros) in hidden layers by ``timing``.
        - ``dV``: the injected voltage gradient dV[t] (3.2 / (T2) / 3.5); for ``act_rnn`` the total
          derivative of (R2).
        - ``dV_dep``: the (C1) accumulation (for ``act_rnn`` identical to ``dV``).
        - ``dI``: (C2) (for ``act_rnn`` (R3)).
        - ``dT``: spike-time gradient of the layer, non-zero only at its spikes: ``dL_dt`` masked by
          S^L = 1 (output) or (T1) (hidden). Zeros for the activation rules.
        - ``Tprop`` (timing, antlr): the spike-time gradient arriving at the layer before masking:
          (T3) from the layer above (at every step), or ``dL_dt`` as given for the output layer.
        - ``E1``, ``E2`` (timing, antlr): the auxiliary traces of spec 3.4 (the explicit sums
          -sum_n vstar[n] dV[t+n] and -(1/beta_I) sum_n eps_star[n] dV[t+n] when
          ``timing_impl="explicit"``).

        TSSL-BP (spec 4): "E" (dL/da), "A", "rho", "G_tssl", "G" (= dL/dx after the warm-up), and
        "intra" for ``tssl_variant="global_rate_switch"`` (see :func:`snnref.rules.tsslbp.tsslbp_backward`).
    """
    return _rules.run(net, trace, rule, dL_dS, dL_dt, dL_da, return_adjoints=return_adjoints,
                      nan_to_zero=nan_to_zero, grad_clip_value=grad_clip_value, grad_clip_norm=grad_clip_norm,
                      trace_check=trace_check, workspace=workspace, **options)
