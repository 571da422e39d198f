"""The learning rules: one module per rule family, and the static registry :data:`RULES`.

==================== ====================================================================
``activation``       act_rnn, act_srm, act_slayer (spec 3.1-3.3, Algorithm 1)
``timing``           timing (spec 3.4, Algorithm 2)
``antlr``            antlr (spec 3.5, Algorithm 3)
``tsslbp``           tsslbp (spec 4)
``fast_antlr``       ``impl="fast"`` of the ANTLR family; ``fast_tsslbp``: of TSSL-BP
``steps``            every per-step formula, once (compiled step functions)
``connections``      the connection step between layers (back-projection, weight gradient)
``options``          the option table of every rule
==================== ====================================================================

:func:`run` is what :func:`snnref.backward` calls: it checks the inputs once, resolves the
options from :mod:`snnref.rules.options`, calls the rule's entry and applies the optional gradient
post-processing. A rule entry has the signature
``fn(net, trace, dL_dS, dL_dt, dL_da, return_adjoints, opt) -> (dW, db, adjoints)`` and receives
validated arrays (network dtype, C-contiguous, or None) and resolved options.
"""
from typing import Callable, NamedTuple

import numpy as np

from .. import _validate as validate
from .. import postprocess
from .._user_trace import check_user_trace
from ..trace import Gradients, check_loss_gradients
from ..workspace import Workspace
from . import activation, antlr, options, timing, tsslbp

__all__ = ["RULES", "Rule", "run"]


class Rule(NamedTuple):
    """A registry entry."""

    fn: Callable   #: ``fn(net, trace, dL_dS, dL_dt, dL_da, return_adjoints, opt) -> (dW, db, adjoints)``
    family: str    #: "antlr" (takes dL_dS / dL_dt, ANTLR model) or "tsslbp" (takes dL_da, PSP-output model)
    summary: str   #: one line for listings


#: rule name (spec 11) -> entry. The options of each rule are in :data:`snnref.rules.options.OPTIONS`.
RULES = {
    "act_rnn": Rule(activation.act_rnn, "antlr", "activation-based BPTT with reset paths (spec 3.1)"),
    "act_srm": Rule(activation.act_srm, "antlr", "SRM-based activation rule, Algorithm 1 with V_dep (spec 3.2)"),
    "act_slayer": Rule(activation.act_slayer, "antlr", "ungated propagation style of the official code (spec 3.3)"),
    "timing": Rule(timing.gradients, "antlr", "timing-based rule, Algorithm 2 (spec 3.4)"),
    "antlr": Rule(antlr.gradients, "antlr", "ANTLR, Algorithm 3 (spec 3.5)"),
    "tsslbp": Rule(tsslbp.gradients, "tsslbp", "TSSL-BP (spec 4), for PSP-output models"),
}


def run(net, trace, rule, dL_dS=None, dL_dt=None, dL_da=None, *, return_adjoints=False, nan_to_zero=False,
        grad_clip_value=None, grad_clip_norm=None, trace_check="auto", workspace=None,
        **rule_options):
    """Gradients of ``rule`` (see :func:`snnref.backward` for the parameters): checks once, dispatch,
    post-processing (NaN -> 0, value clip, norm clip, in that order). ``workspace`` reaches the rule
    entry as ``opt["workspace"]`` (not among the options of the result)."""
    validate.check_choice(rule, "rule", RULES)
    if not isinstance(nan_to_zero, (bool, np.bool_)):
        raise TypeError(f"nan_to_zero must be True or False; got {nan_to_zero!r}.")
    entry = RULES[rule]
    dL_dS, dL_dt, dL_da = check_loss_gradients(net, trace, rule, entry.family, dL_dS, dL_dt, dL_da)
    check_user_trace(net, trace, trace_check)
    if workspace is not None and not isinstance(workspace, Workspace):
        raise TypeError(f"workspace must be a snnref.workspace.Workspace or None; got {type(workspace).__name__}.")
    opt = options.resolve(rule, rule_options)
    opt["workspace"] = workspace
    dW, db, adjoints = entry.fn(net, trace, dL_dS, dL_dt, dL_da, bool(return_adjoints), opt)
    del opt["workspace"]
    if adjoints is not None and getattr(net, "layers", None) is not None:   # the layers' spatial shapes
        adjoints = [{k: v.reshape(v.shape[:2] + net.shapes[l + 1]) if isinstance(v, np.ndarray) and v.ndim == 3
                     else v for k, v in adj.items()} for l, adj in enumerate(adjoints)]
    # dW, db are the rule's own new arrays: post-processed in place
    if nan_to_zero:
        dW = postprocess.nan_to_zero(dW, inplace=True)
        db = postprocess.nan_to_zero(db, inplace=True)
    if grad_clip_value is not None:
        dW = postprocess.clip_by_value(dW, grad_clip_value, inplace=True)
        db = postprocess.clip_by_value(db, grad_clip_value, inplace=True)
    if grad_clip_norm is not None:
        dW = postprocess.clip_by_norm(dW, grad_clip_norm)
    opt.update(nan_to_zero=nan_to_zero, grad_clip_value=grad_clip_value, grad_clip_norm=grad_clip_norm)
    return Gradients(dW=dW, db=db, adjoints=adjoints, rule=rule, options=opt)
