"""Gradient post-processing used by the official training codes (spec 3.6, 7.6, A14).

All functions take and return lists of arrays; the inputs are not modified.
"""
import numpy as np

from ._jit import kernel

__all__ = ["nan_to_zero", "clip_by_value", "clip_by_norm", "global_norm", "clamp_weights"]


def nan_to_zero(grads, inplace=False):
    """Replace NaN entries by 0 (official ANTLR code, spec 3.6 step 1). inf entries are kept.
    ``inplace``: change the given arrays (and return them) instead of copies."""
    if inplace:
        for g in grads:
            np.copyto(g, g.dtype.type(0), where=np.isnan(g))
        return list(grads)
    return [np.where(np.isnan(g), g.dtype.type(0), g) for g in grads]


def clip_by_value(grads, clip, inplace=False):
    """Element-wise clip to [-clip, +clip] (official ANTLR ``grad_clip``, spec 3.6 step 2).
    ``inplace``: change the given arrays (and return them) instead of copies."""
    if not clip > 0:
        raise ValueError(f"grad_clip_value must be > 0; got {clip!r}.")
    return [np.clip(g, -clip, clip, out=g if inplace else None) for g in grads]


@kernel
def _sum_of_squares(a):
    """sum_k a[k]^2 of a flat array, each square and the sum in float64 (one pass, no temporaries)."""
    total = 0.0
    for k in range(a.shape[0]):
        v = np.float64(a[k])
        total += v * v
    return total


def global_norm(grads):
    """L2 norm over all arrays together (squares summed in float64)."""
    total = 0.0
    for g in grads:
        a = np.asarray(g)
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float64)
        total += _sum_of_squares(np.ascontiguousarray(a).reshape(-1))
    return float(np.sqrt(total))


def clip_by_norm(grads, max_norm, eps=1e-6):
    """Global L2-norm clipping as PyTorch ``clip_grad_norm_`` (TSSL-BP, spec 7.6).

    g <- g * min(1, max_norm / (||g||_2 + eps)), the norm taken over all arrays together.
    """
    if not max_norm > 0:
        raise ValueError(f"grad_clip_norm must be > 0; got {max_norm!r}.")
    total = global_norm(grads)
    coef = max_norm / (total + eps)
    if coef >= 1.0:
        return [g.copy() for g in grads]
    return [(g * coef).astype(g.dtype, copy=False) for g in grads]


def clamp_weights(weights, limit):
    """Clamp every weight to [-limit, limit] in place (TSSL-BP: 4 after each step, spec 7.6)."""
    if not limit > 0:
        raise ValueError(f"weight_clamp must be > 0; got {limit!r}.")
    for w in weights:
        np.clip(w, -limit, limit, out=w)
    return weights
