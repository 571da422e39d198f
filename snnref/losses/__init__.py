"""Loss functions and their output gradients (spec section 5).

ANTLR family (outputs ``dL_dS`` and ``dL_dt``, spec 5.1-5.3):
    :func:`count`, :func:`spike_train`, :func:`latency`
TSSL-BP (output ``dL_da``, spec 5.4-5.6):
    :func:`psp_kernel`, :func:`psp_count`, :func:`psp_softmax`
Read-out rules (spec 5.7) are in :mod:`snnref.readout`.
"""
import importlib

from ._result import LossResult

_WHERE = {
    "count": "antlr", "spike_train": "antlr", "latency": "antlr",
    "psp_kernel": "tsslbp", "psp_count": "tsslbp", "psp_softmax": "tsslbp",
}

__all__ = ["LossResult"] + sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
