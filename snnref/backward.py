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

The rule implementations live in :mod:`snnref.rules`; this module validates the common inputs,
dispatches, and applies the optional gradient post-processing of the official codes.
"""
import importlib
from dataclasses import dataclass, field

import numpy as np

from . import _validate as V
from . import postprocess
from .forward import Trace
from .errors import SnnrefError
from .model import Network

__all__ = ["backward", "Gradients", "RULES"]

#: rule name -> (module, function). Each function has the signature
#: ``fn(net, trace, *, rule, dL_dS, dL_dt, dL_da, return_adjoints, **options) -> Gradients``.
RULES = {
    "act_rnn": ("snnref.rules.antlr", "antlr_family_backward"),
    "act_srm": ("snnref.rules.antlr", "antlr_family_backward"),
    "act_slayer": ("snnref.rules.antlr", "antlr_family_backward"),
    "timing": ("snnref.rules.antlr", "antlr_family_backward"),
    "antlr": ("snnref.rules.antlr", "antlr_family_backward"),
    "tsslbp": ("snnref.rules.tsslbp", "tsslbp_backward"),
}

_POST_OPTIONS = ("nan_to_zero", "grad_clip_value", "grad_clip_norm")


@dataclass
class Gradients:
    """Result of :func:`backward`.

    dW : list of arrays, ``dW[l]`` has the shape of ``net.weights[l]`` (summed over time and batch).
    db : list of arrays, ``db[l]`` has the shape of ``net.biases[l]`` (zeros for TSSL-BP).
    adjoints : None, or (with ``return_adjoints=True``) a list with one dict per spiking layer
        mapping adjoint names (e.g. "dV", "dV_dep", "dI", "dS", "dT" for the ANTLR family;
        "E", "A", "G", "G_tssl" for TSSL-BP) to arrays of shape (T, B, N_l).
    rule : the rule name. options : the resolved rule options.
    """

    dW: list
    db: list
    adjoints: list = None
    rule: str = ""
    options: dict = field(default_factory=dict)


def _check_grad_array(arr, name, trace, n_out, dtype):
    if arr is None:
        return None
    arr = V.as_float_array(arr, name, dtype=dtype)
    expected = (trace.T, trace.B, n_out)
    if arr.shape != expected:
        raise ValueError(
            f"{name} must have shape (T_sim, B, N_out) = {expected} (the trace's output layer); got {arr.shape}."
        )
    return arr


def check_trace(net, trace):
    """Raise unless ``trace`` is a forward trace of ``net`` (same model and layer sizes)."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a snnref.Network; got {type(net).__name__}.")
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be the result of snnref.forward(net, x); got {type(trace).__name__}.")
    if (getattr(net, "layers", None) is None) != (trace.inputs is None):
        raise ValueError("trace and network differ in kind (layered vs dense); run forward(net, x) again.")
    sizes = (int(np.prod(trace.x.shape[2:])),) + tuple(int(np.prod(lt.S.shape[2:])) for lt in trace.layers)
    if sizes != net.sizes:
        raise ValueError(f"trace layer sizes {sizes} do not match the network's {net.sizes}; run forward(net, x) again.")
    if trace.model != net.model:
        raise ValueError("trace was produced with a different NeuronModel than net.model; run forward(net, x) again.")
    if trace.dtype != net.dtype:
        raise ValueError(f"trace dtype {np.dtype(trace.dtype)} differs from the network dtype {np.dtype(net.dtype)}.")


def backward(net, trace, rule, dL_dS=None, dL_dt=None, dL_da=None, *, return_adjoints=False,
             nan_to_zero=False, grad_clip_value=None, grad_clip_norm=None, **options):
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
    **options
        Rule options with the names of spec 11 (e.g. ``ste_alpha``, ``ste_beta``, ``lambda_act``,
        ``vstar_mode``, ``timing_penalty``, ``tssl_inv_du_max``); unknown names raise TypeError.

    Returns
    -------
    Gradients
    """
    V.check_choice(rule, "rule", RULES)
    check_trace(net, trace)
    n_out = net.sizes[-1]
    dL_dS = _check_grad_array(dL_dS, "dL_dS", trace, n_out, net.dtype)
    dL_dt = _check_grad_array(dL_dt, "dL_dt", trace, n_out, net.dtype)
    dL_da = _check_grad_array(dL_da, "dL_da", trace, n_out, net.dtype)
    if rule == "tsslbp":
        if not net.model.psp_output:
            raise ValueError("rule 'tsslbp' needs a TSSL-BP model (NeuronModel.tsslbp(...), psp_output=True).")
        if dL_da is None:
            raise ValueError("rule 'tsslbp' needs dL_da (e.g. snnref.losses.psp_kernel(...).dL_da).")
        if dL_dS is not None or dL_dt is not None:
            raise ValueError("rule 'tsslbp' takes dL_da only; dL_dS / dL_dt belong to the ANTLR-family rules.")
    else:
        if net.model.psp_output:
            raise ValueError(f"rule {rule!r} is an ANTLR-family rule; this network has a TSSL-BP model. Use rule='tsslbp'.")
        if dL_da is not None:
            raise ValueError(f"rule {rule!r} takes dL_dS and/or dL_dt; dL_da is for rule='tsslbp'.")
    if net.layers is not None and rule != "tsslbp":
        raise SnnrefError(
            f"rule {rule!r} is not available for layered (convolutional) networks yet; only 'tsslbp' is. "
            "For verification, run it on the equivalent dense network snnref.layers.dense_equivalent(net).")
    module, name = RULES[rule]
    fn = getattr(importlib.import_module(module), name)
    grads = fn(net, trace, rule=rule, dL_dS=dL_dS, dL_dt=dL_dt, dL_da=dL_da,
               return_adjoints=bool(return_adjoints), **options)
    if nan_to_zero:
        grads.dW = postprocess.nan_to_zero(grads.dW)
        grads.db = postprocess.nan_to_zero(grads.db)
    if grad_clip_value is not None:
        grads.dW = postprocess.clip_by_value(grads.dW, grad_clip_value)
        grads.db = postprocess.clip_by_value(grads.db, grad_clip_value)
    if grad_clip_norm is not None:
        grads.dW = postprocess.clip_by_norm(grads.dW, grad_clip_norm)
    grads.options.update(nan_to_zero=nan_to_zero, grad_clip_value=grad_clip_value, grad_clip_norm=grad_clip_norm)
    return grads
