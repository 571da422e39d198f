"""The result type shared by every loss in :mod:`snnref.losses`."""
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LossResult"]


@dataclass
class LossResult:
    """Value and output gradients of a loss.

    value : float
        The loss as the official code reports it (normalisation as documented per loss).
    dL_dS, dL_dt : arrays (T_sim, B, N_out) or None
        ANTLR family: gradients w.r.t. output spikes and output spike times.
    dL_da : array (T_sim, B, N_out) or None
        TSSL-BP: gradient w.r.t. the output PSP trace.
    info : dict
        Loss-specific extras (e.g. first spike times, softmax probabilities, per-sample values).
    """

    value: float
    dL_dS: np.ndarray = None
    dL_dt: np.ndarray = None
    dL_da: np.ndarray = None
    info: dict = field(default_factory=dict)
