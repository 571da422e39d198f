"""Differentiable companion models of the learning rules (spec 10.2, 10.3, 10.5).

A surrogate-gradient rule is not the gradient of the (step-function) spiking network, but each
rule IS the exact gradient of a smooth companion model. This package builds those models, so that
a teacher can show what a rule computes and the tests can check it by finite differences:

ANTLR family (:mod:`snnref.companion.antlr`):
    :func:`relaxed_forward` (spikes S = g(V), g' = surrogate; ``act_rnn`` = its gradient, P-A1),
    :func:`frozen_reset_forward` (the same with stop-gradient on the reset; ``act_srm``, P-A2),
    :func:`relaxed_objective`, :func:`timing_tangent` (tangent model of the timing rule, P-T2),
    :func:`directional_fd`, :func:`grad_dot`, :func:`random_direction`, :func:`smooth_spike`,
    :func:`vstar`.
TSSL-BP (:mod:`snnref.companion.tsslbp`): see that module.

Names resolve lazily (importing :mod:`snnref.companion` imports nothing heavy); extend :data:`_WHERE`
to register more names.
"""
import importlib

#: public name -> submodule of snnref.companion that defines it
_WHERE = {
    # ANTLR family (spec 10.2, 10.3)
    "relaxed_forward": "antlr",
    "frozen_reset_forward": "antlr",
    "relaxed_objective": "antlr",
    "smooth_spike": "antlr",
    "vstar": "antlr",
    "timing_tangent": "antlr",
    "TimingTangentModel": "antlr",
    "directional_fd": "antlr",
    "grad_dot": "antlr",
    "random_direction": "antlr",
    # TSSL-BP (spec 10.5): entries of snnref/companion/tsslbp.py go here
    "tssl_tangent_layer": "tsslbp",
    "tssl_logistic_g": "tsslbp",
    "tssl_surrogate_loss": "tsslbp",
    "tssl_surrogate_gradient_fd": "tsslbp",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
