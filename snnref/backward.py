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
             nan_to_zero=False, grad_clip_value=None, grad_clip_norm=None, workspace=None, **options):
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
    """
    return _rules.run(net, trace, rule, dL_dS, dL_dt, dL_da, return_adjoints=return_adjoints,
                      nan_to_zero=nan_to_zero, grad_clip_value=grad_clip_value, grad_clip_norm=grad_clip_norm,
                      workspace=workspace, **options)
