r"""Weight and bias initialisation of the official codes (spec 7.5, 7.6, A10, A35).

Layer l (1-based) maps layer l-1 (size ``sizes[l-1]``; layer 0 is the input) to layer l, so its
weight matrix W_l has shape ``(sizes[l-1], sizes[l])`` (as in :class:`snnref.model.Network`) and
fan_in = ``sizes[l-1]``.

Schemes (option ``weight_init`` of spec 11):

=================  ===============================================  ==================================
``torch_linear``   uniform(-1/sqrt(fan_in), +1/sqrt(fan_in))        PyTorch nn.Linear default; official
                                                                    ANTLR (spec 7.5)
``kaiming_normal`` normal(0, sqrt(2 / fan_in))                      official TSSL-BP linear layers
                                                                    (spec 7.6)
``normal``         normal(0, std)                                   ``std`` required
=================  ===============================================  ==================================

every draw multiplied by ``scale`` (TSSL-BP ``weight_scale``). Numbers are drawn in float64 from a
numpy ``Generator`` (layer by layer, row-major) and then cast to ``dtype``, so a float32 network is
the rounded float64 one for the same seed. The PyTorch random streams are not reproduced: only the
distributions are (spec A35).
"""
import math

import numpy as np

from . import _validate as V

__all__ = ["init_weights", "init_biases", "WEIGHT_INIT_SCHEMES"]

WEIGHT_INIT_SCHEMES = ("torch_linear", "kaiming_normal", "normal")


def _check_sizes(sizes):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a sequence of layer sizes like [784, 800, 10]; got {sizes!r}.")
    out = []
    for i, n in enumerate(sizes):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"sizes[{i}] must be a positive integer (number of neurons); got {n!r}.")
        out.append(int(n))
    if len(out) < 2:
        raise ValueError(
            "sizes must list at least 2 layers (input and one spiking layer), e.g. [784, 800, 10]; "
            f"got {list(sizes)!r}."
        )
    return out


def _rng(rng):
    if rng is None or isinstance(rng, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(rng)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(f"rng seed must be a non-negative integer; got {rng}.")
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be None, an int seed or a numpy Generator; got {type(rng).__name__}.")


def init_weights(sizes, scheme="torch_linear", rng=None, std=None, scale=1.0, dtype=np.float64):
    r"""Draw the weight matrices W_1..W_L of a fully connected network.

    For layer l with fan_in = sizes[l-1] (spec 7.5, 7.6, A35)::

        torch_linear:   W_l[i, j] ~ scale * U(-1/sqrt(fan_in), +1/sqrt(fan_in))
        kaiming_normal: W_l[i, j] ~ scale * N(0, 2 / fan_in)
        normal:         W_l[i, j] ~ scale * N(0, std**2)

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes [N_0 (input), N_1, ..., N_L], at least two entries.
    scheme : {"torch_linear", "kaiming_normal", "normal"}
    rng : None, int or numpy.random.Generator
        Normalised with ``np.random.default_rng``; a Generator is advanced in place.
    std : float > 0, optional
        Standard deviation; required for (and only allowed with) ``scheme="normal"``.
    scale : float > 0
        Multiplies every weight (TSSL-BP ``weight_scale``).
    dtype : float64 (default) or float32

    Returns
    -------
    list of ndarray
        W_l of shape (sizes[l-1], sizes[l]), l = 1..L, C-contiguous, of ``dtype``.
    """
    sizes = _check_sizes(sizes)
    V.check_choice(scheme, "scheme", set(WEIGHT_INIT_SCHEMES))
    if scheme == "normal":
        if std is None:
            raise ValueError("scheme='normal' requires std (the standard deviation), e.g. std=0.1.")
        std = V.check_scalar(std, "std", lo=0.0, lo_open=True)
    elif std is not None:
        raise ValueError(
            f"std applies only to scheme='normal'; got std={std!r} with scheme={scheme!r}. "
            "Remove std, or use scale to multiply the weights."
        )
    scale = V.check_scalar(scale, "scale", lo=0.0, lo_open=True, hint="scale multiplies every weight (weight_scale).")
    dtype = V.resolve_dtype(dtype)
    gen = _rng(rng)
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        shape = (fan_in, fan_out)
        if scheme == "torch_linear":
            bound = 1.0 / math.sqrt(fan_in)
            w = gen.uniform(-bound, bound, size=shape)
        elif scheme == "kaiming_normal":
            w = gen.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)
        else:
            w = gen.normal(0.0, std, size=shape)
        if scale != 1.0:
            w *= scale
        weights.append(np.ascontiguousarray(w, dtype=dtype))
    return weights


def init_biases(sizes, value=0.0, dtype=np.float64):
    r"""Constant biases b_1..b_L (option ``init_bias``, spec A10).

    The official ANTLR code always uses 0 (its ``init_bias_center`` flag is parsed but unused);
    the appendix's ``init_bias_center = 1`` is modelled by ``value = 1.0`` (spec A10 [choice]).

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes [N_0 (input), N_1, ..., N_L].
    value : float
        Every bias entry.
    dtype : float64 (default) or float32

    Returns
    -------
    list of ndarray
        b_l of shape (sizes[l],), l = 1..L, filled with ``value``.
    """
    sizes = _check_sizes(sizes)
    value = V.check_scalar(value, "value")
    dtype = V.resolve_dtype(dtype)
    return [np.full(n, value, dtype=dtype) for n in sizes[1:]]
