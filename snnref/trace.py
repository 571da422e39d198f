"""The tape of a forward pass and the result of a backward pass: :class:`Trace`, :class:`LayerTrace`,
:class:`Gradients`, and the checks every backward rule runs once on its inputs.

A leaf module (imports only numpy, :mod:`snnref._validate` and :mod:`snnref.model`), so that
:mod:`snnref.forward`, :mod:`snnref.backward`, the losses and every rule in :mod:`snnref.rules` can
share these types without importing each other.
"""
from dataclasses import dataclass, field

import numpy as np

from . import _validate as validate
from .model import Network

__all__ = ["Trace", "LayerTrace", "Gradients", "check_trace", "check_loss_gradients"]


# --------------------------------------------------------------------------------------- results
@dataclass
class LayerTrace:
    """Forward states of one spiking layer, each of shape (T, B, N_l).

    I, V : current and membrane potential, pre-reset. S : spikes in {0, 1} (compute dtype).
    du, a : TSSL-BP only: membrane update and PSP trace (None for ANTLR models). ``u`` is V.
    """

    I: np.ndarray
    V: np.ndarray
    S: np.ndarray
    du: np.ndarray = None
    a: np.ndarray = None

    @property
    def u(self):
        """Pre-reset membrane potential (TSSL-BP name); the same array as ``V``."""
        return self.V

    def flat(self):
        """(T, B, N) views of the arrays (layered networks keep (T, B, C, H, W); the per-neuron rule
        kernels see every layer as (T, B, N), channel-major). ``self`` when already flat."""
        if self.S.ndim == 3:
            return self

        def view(arr):
            return None if arr is None else arr.reshape(arr.shape[0], arr.shape[1], -1)
        return LayerTrace(view(self.I), view(self.V), view(self.S), view(self.du), view(self.a))

    def _truncate(self, T):
        def cut(arr):
            return None if arr is None else np.ascontiguousarray(arr[:T])
        return LayerTrace(cut(self.I), cut(self.V), cut(self.S), cut(self.du), cut(self.a))


@dataclass
class Trace:
    """The tape of one forward pass, consumed by every backward rule and loss.

    Attributes
    ----------
    layers : list of LayerTrace
        ``layers[l]`` is spiking layer l+1 (0-based over spiking layers).
    x : ndarray (T, B, N_0)
        The network input as simulated (compute dtype).
    a0 : ndarray (T, B, N_0) or None
        PSP-filtered input a^0 of TSSL-BP models (spec 2.2); None for ANTLR models.
    model : NeuronModel
    form : "rnn" or "srm"
    T_full : int
        Number of steps requested; ``T`` (= T_sim) is smaller after a latency early stop.
    inputs : list of ndarray or None
        Layered networks only: ``inputs[l]`` is what the weight of spiking layer l sees (the layer
        below's S or a after the connection's pooling / flatten / dropout), shape (T, B) + its shape.
    masks : dict or None
        Layered networks only: dropout masks by layer index (drawn from ``dropout_rng``).
    """

    layers: list
    x: np.ndarray
    a0: np.ndarray
    model: object
    form: str
    T_full: int
    inputs: list = None
    masks: dict = None

    @property
    def T(self):
        """Number of simulated steps T_sim (the length of every array in the trace)."""
        return self.x.shape[0]

    @property
    def B(self):
        return self.x.shape[1]

    @property
    def output(self):
        """The output layer's LayerTrace."""
        return self.layers[-1]

    @property
    def dtype(self):
        return self.x.dtype.type

    def layer_input(self, l):
        """What spiking layer l (0-based) receives: x for l = 0, else S of layer l-1
        (for TSSL-BP models the PSP trace a^{l-1}, with a^0 = ``a0``); for layered networks the
        connection's output (``inputs[l]``)."""
        if self.inputs is not None:
            return self.inputs[l]
        if self.model.psp_output:
            return self.a0 if l == 0 else self.layers[l - 1].a
        return self.x if l == 0 else self.layers[l - 1].S


@dataclass
class Gradients:
    """Result of :func:`snnref.backward`.

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


# --------------------------------------------------------------------------------------- checks
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


def _check_grad_array(arr, name, trace, n_out, dtype):
    if arr is None:
        return None
    arr = validate.as_float_array(arr, name, dtype=dtype)
    expected = (trace.T, trace.B, n_out)
    if arr.shape != expected:
        raise ValueError(
            f"{name} must have shape (T_sim, B, N_out) = {expected} (the trace's output layer); got {arr.shape}."
        )
    return arr


def check_loss_gradients(net, trace, rule, family, dL_dS=None, dL_dt=None, dL_da=None):
    """Check the inputs of a backward rule once; return ``(dL_dS, dL_dt, dL_da)`` as C-contiguous
    arrays of the network dtype (None stays None).

    ``family`` is "antlr" (the rule takes ``dL_dS`` and/or ``dL_dt`` on an ANTLR model) or "tsslbp"
    (the rule needs ``dL_da`` on a PSP-output model).
    """
    check_trace(net, trace)
    n_out = net.sizes[-1]
    dL_dS = _check_grad_array(dL_dS, "dL_dS", trace, n_out, net.dtype)
    dL_dt = _check_grad_array(dL_dt, "dL_dt", trace, n_out, net.dtype)
    dL_da = _check_grad_array(dL_da, "dL_da", trace, n_out, net.dtype)
    if family == "tsslbp":
        if not net.model.psp_output:
            raise ValueError(f"rule {rule!r} needs a TSSL-BP model (NeuronModel.tsslbp(...), psp_output=True).")
        if dL_da is None:
            raise ValueError(f"rule {rule!r} needs dL_da (e.g. snnref.losses.psp_kernel(...).dL_da).")
        if dL_dS is not None or dL_dt is not None:
            raise ValueError(f"rule {rule!r} takes dL_da only; dL_dS / dL_dt belong to the ANTLR-family rules.")
    else:
        if net.model.psp_output:
            raise ValueError(f"rule {rule!r} is an ANTLR-family rule; this network has a TSSL-BP model. Use rule='tsslbp'.")
        if dL_da is not None:
            raise ValueError(f"rule {rule!r} takes dL_dS and/or dL_dt; dL_da is for rule='tsslbp'.")
    return dL_dS, dL_dt, dL_da
