r"""Neuron model and network container.

The generalised current-based LIF neuron (spec sections 1.1 and 2.3). For neuron j of a spiking
layer, with P_j[t] = sum_i w_ij x_i[t] the projection of the layer's input at step t::

    I_j[t] = alpha_I * r_I[t] * I_j[t-1] + beta_I * P_j[t]                     (spec 1.1 Eq. 1)
    V_j[t] = alpha_V * (1 - S_j[t-1]) * V_j[t-1] + beta_V * I_j[t] + beta_bias * b_j   (Eq. 2)
    S_j[t] = H(V_j[t] - theta)   (">=";  ">" when strict_threshold)           (Eq. 3)

with r_I[t] = 1 - S_j[t-1] when ``reset_current`` (ANTLR: a spike cuts both recurrences) and
r_I[t] = 1 otherwise (TSSL-BP: only the membrane is reset). V and I are stored pre-reset.

``psp_output`` (TSSL-BP networks, spec 2.1-2.3): each layer also emits the PSP trace
a[t] = alpha_I a[t-1] + beta_I s[t]; the next layer's current is then exactly I = W^T a, and the
network input x is filtered the same way (a^0, spec 2.2) before the first layer.
"""
from dataclasses import dataclass, field, replace

import numpy as np

from . import _validate as V
from .neuron import unscaled_kernel_max

__all__ = ["NeuronModel", "Network", "SPECIAL_CASES"]

#: Appendix A special cases (spec 1.3): name -> (alpha_I, alpha_V) with None = free parameter in (0, 1).
SPECIAL_CASES = {
    "simple_if": (0.0, 1.0),                 # (a) step PSP
    "lif_instant_current": (0.0, None),      # (b) LIF without synaptic-current decay: alpha_V^tau
    "alpha_synapse": (None, None),           # (c) double exponential / alpha function
    "nonleaky_exponential": (None, 1.0),     # (d) (1 - alpha_I^(tau+1)) / (1 - alpha_I)
    "nonleaky_linear": (1.0, 1.0),           # (e) tau + 1
}


@dataclass(frozen=True)
class NeuronModel:
    """Parameters of the generalised LIF neuron (spec 1.1, 2.3, option names of spec 11).

    Parameters
    ----------
    alpha_I, alpha_V : float in [0, 1]
        Per-step decay of the synaptic current and of the membrane potential.
    beta_I, beta_V : float > 0
        Input scaling of the current and of the potential.
    beta_bias : float >= 0
        Scale of the bias added to V every step (beta_b of the spec).
    theta : float > 0
        Firing threshold.
    reset_current : bool
        True (ANTLR): a spike at t-1 zeroes the recurrent terms of both I and V at t.
        False (TSSL-BP): only V is reset.
    strict_threshold : bool
        False (ANTLR): spike when V >= theta. True (TSSL-BP): spike when V > theta.
    psp_output : bool
        True for TSSL-BP networks: layers emit the PSP trace a (and the input is PSP-filtered).
        Requires reset_current=False (otherwise I = W^T a of the layer below would not hold).
    tau_m, tau_s : float or None
        The TSSL-BP time constants the model was built from (informational; see :meth:`tsslbp`).
    beta_auto_T : int or None
        Set by :meth:`antlr` with ``beta_auto``: the number of steps T the normaliser
        1 / max_{tau < T} e[tau] was computed for. :func:`snnref.forward` rejects an input with
        another T when that normaliser differs (spec 1.1: beta_auto depends on T), unless
        ``allow_beta_auto_mismatch=True``.
    """

    alpha_I: float
    alpha_V: float
    beta_I: float = 1.0
    beta_V: float = 1.0
    beta_bias: float = 1.0
    theta: float = 1.0
    reset_current: bool = True
    strict_threshold: bool = False
    psp_output: bool = False
    tau_m: float = None
    tau_s: float = None
    beta_auto_T: int = None

    def __post_init__(self):
        hint_a = "alpha is a per-step decay factor exp(-dt/tau); for TSSL-BP time constants use NeuronModel.tsslbp(tau_m=..., tau_s=...)."
        object.__setattr__(self, "alpha_I", V.check_scalar(self.alpha_I, "alpha_I", lo=0.0, hi=1.0, hint=hint_a))
        object.__setattr__(self, "alpha_V", V.check_scalar(self.alpha_V, "alpha_V", lo=0.0, hi=1.0, hint=hint_a))
        object.__setattr__(self, "beta_I", V.check_scalar(self.beta_I, "beta_I", lo=0.0, lo_open=True))
        object.__setattr__(self, "beta_V", V.check_scalar(self.beta_V, "beta_V", lo=0.0, lo_open=True))
        object.__setattr__(self, "beta_bias", V.check_scalar(self.beta_bias, "beta_bias", lo=0.0))
        object.__setattr__(
            self, "theta", V.check_scalar(self.theta, "theta", lo=0.0, lo_open=True, hint="The threshold must be positive.")
        )
        for flag in ("reset_current", "strict_threshold", "psp_output"):
            val = getattr(self, flag)
            if not isinstance(val, (bool, np.bool_)):
                raise TypeError(f"{flag} must be True or False; got {val!r}.")
            object.__setattr__(self, flag, bool(val))
        if self.beta_auto_T is not None:
            T = self.beta_auto_T
            if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
                raise ValueError(f"beta_auto_T must be None or a positive integer; got {T!r}.")
            object.__setattr__(self, "beta_auto_T", int(T))
        if self.psp_output and self.reset_current:
            raise ValueError(
                "psp_output=True (TSSL-BP PSP-trace output) requires reset_current=False: the next layer's "
                "current is W^T a only when the current is not reset (spec 2.3). Use NeuronModel.tsslbp(...)."
            )

    # ----------------------------------------------------------------------------- constructors
    @classmethod
    def antlr(cls, alpha_I=0.99, alpha_V=0.99, *, T=300, beta_auto=True, beta_I=1.0, beta_V=1.0,
              beta_bias=1.0, theta=1.0):
        """ANTLR parameterisation (spec 1.1, official code defaults).

        With ``beta_auto`` (the official default) beta_I = 1 and
        beta_V = beta_bias = 1 / max_{0 <= tau < T} e[tau], e the un-scaled kernel, so that the PSP
        kernel peaks at exactly 1 within the simulated window. The normaliser depends on ``T``
        when T is shorter than the kernel's peak (spec 1.1, A4). Without ``beta_auto`` the given
        beta_I, beta_V, beta_bias are used. Reset of both I and V, threshold ">=".
        """
        alpha_I = V.check_scalar(alpha_I, "alpha_I", lo=0.0, hi=1.0)
        alpha_V = V.check_scalar(alpha_V, "alpha_V", lo=0.0, hi=1.0)
        if beta_auto:
            if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
                raise ValueError(f"T must be a positive integer (number of simulated steps) for beta_auto; got {T!r}.")
            m = unscaled_kernel_max(alpha_I, alpha_V, int(T))
            beta_I, beta_V, beta_bias = 1.0, 1.0 / m, 1.0 / m
        return cls(alpha_I=alpha_I, alpha_V=alpha_V, beta_I=beta_I, beta_V=beta_V, beta_bias=beta_bias,
                   theta=theta, reset_current=True, strict_threshold=False, psp_output=False,
                   beta_auto_T=int(T) if beta_auto else None)

    @classmethod
    def tsslbp(cls, tau_m=5.0, tau_s=3.0, theta=1.0):
        """TSSL-BP parameterisation (spec 2.1-2.3, P-F4).

        alpha_I = 1 - 1/tau_s, beta_I = 1/tau_s, alpha_V = 1 - 1/tau_m, beta_V = 1, beta_bias = 0,
        no current reset, strict threshold ">", PSP-trace output a[t] = (1 - 1/tau_s) a[t-1] + s[t]/tau_s,
        and first-layer input filtering. tau_m and tau_s are in time steps and must be >= 1.
        """
        hint = "TSSL-BP time constants are in time steps; tau >= 1 keeps the decay 1 - 1/tau in [0, 1)."
        tau_m = V.check_scalar(tau_m, "tau_m", lo=1.0, hint=hint)
        tau_s = V.check_scalar(tau_s, "tau_s", lo=1.0, hint=hint)
        theta = V.check_scalar(theta, "theta", lo=0.0, lo_open=True, hint="The threshold must be positive.")
        return cls(alpha_I=1.0 - 1.0 / tau_s, alpha_V=1.0 - 1.0 / tau_m, beta_I=1.0 / tau_s, beta_V=1.0,
                   beta_bias=0.0, theta=theta, reset_current=False, strict_threshold=True, psp_output=True,
                   tau_m=tau_m, tau_s=tau_s)

    @classmethod
    def special_case(cls, name, *, alpha_I=None, alpha_V=None, beta_I=1.0, beta_V=1.0, beta_bias=1.0, theta=1.0):
        """One of the five neuron types of the ANTLR appendix A (spec 1.3 table).

        ``name``: "simple_if" (alpha_I=0, alpha_V=1), "lif_instant_current" (alpha_I=0, alpha_V given),
        "alpha_synapse" (both given), "nonleaky_exponential" (alpha_I given, alpha_V=1),
        "nonleaky_linear" (alpha_I=alpha_V=1). No beta_auto (explicit betas).
        """
        V.check_choice(name, "name", SPECIAL_CASES)
        fixed_I, fixed_V = SPECIAL_CASES[name]
        vals = {}
        for key, fixed, given in (("alpha_I", fixed_I, alpha_I), ("alpha_V", fixed_V, alpha_V)):
            if fixed is None:
                if given is None:
                    raise ValueError(f"special case {name!r} needs {key} in (0, 1).")
                vals[key] = V.check_scalar(given, key, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
            else:
                if given is not None and float(given) != fixed:
                    raise ValueError(f"special case {name!r} fixes {key} = {fixed}; got {given}.")
                vals[key] = fixed
        return cls(beta_I=beta_I, beta_V=beta_V, beta_bias=beta_bias, theta=theta, **vals)

    def beta_auto_mismatch(self, T):
        """None, or a message if this model's beta_auto scales were computed for another window
        than ``T`` steps and the normaliser max_{tau < T} e[tau] differs (spec 1.1)."""
        if self.beta_auto_T is None or int(T) == self.beta_auto_T:
            return None
        m_model = unscaled_kernel_max(self.alpha_I, self.alpha_V, self.beta_auto_T)
        m_T = unscaled_kernel_max(self.alpha_I, self.alpha_V, int(T))
        if m_model == m_T:
            return None
        return (f"the model's beta_auto scales were computed for T = {self.beta_auto_T} "
                f"(beta_V = beta_bias = {1.0 / m_model:.6g}), but the input has T = {int(T)} steps, for which "
                f"beta_auto gives {1.0 / m_T:.6g} (spec 1.1: the normaliser max e[tau < T] depends on T). "
                f"Build the model with NeuronModel.antlr(..., T={int(T)}), or pass allow_beta_auto_mismatch=True "
                "to simulate with the current scales.")

    def replace(self, **changes):
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)

    @property
    def family(self):
        """"tsslbp" for PSP-output models, "antlr" otherwise."""
        return "tsslbp" if self.psp_output else "antlr"


def _transposed_hint(ws):
    """A sentence naming the (out, in) layout when every weight chains only when read that way."""
    if all(ws[l].shape[1] == ws[l - 1].shape[0] for l in range(1, len(ws))):
        return (f" The shapes {[w.shape for w in ws]} chain if each is read as (out, in) (the layout of "
                "torch.nn.Linear.weight): snnref expects W^l as (N_in, N_out), pass [W.T for W in weights]. "
                "(A square layer cannot be detected by shape; snnref.verify with weight_layout='out_in' "
                "checks it, see docs/VERIFYING.md.)")
    return ""


@dataclass
class Network:
    """A feed-forward SNN: layer 0 is the input, layers 1..L spike (spec section 0).

    Dense: ``Network(weights=[W_1, ...], biases=..., model=...)``. Layered (convolutional):
    ``Network(layers=[Conv2d(w), SumPool2d(2), Flatten(), Dense(w2)], model=..., input_shape=(C, H, W))``
    (see :mod:`snnref.layers`); inputs then have shape (T, B, C, H, W) and spiking-layer traces
    keep their spatial shape.

    Parameters
    ----------
    weights : list of arrays
        ``weights[l-1]`` is W^l of shape (N_{l-1}, N_l); w_ij connects neuron i of layer l-1 to j of l.
    biases : list of arrays or None
        ``biases[l-1]`` of shape (N_l,); None means zeros (TSSL-BP models have beta_bias = 0).
    model : NeuronModel
        Shared by every spiking layer.
    dtype : "float64" (default) or "float32"
        Storage and compute precision; weights and biases are converted (copied) to it.

    layers : list of snnref.layers objects, or None
        Layered network; ``weights`` / ``biases`` must then be None (each layer has its own).
    input_shape : (C, H, W) (or (N,)) of one input frame; required with ``layers``.

    The arrays in ``weights`` / ``biases`` are owned by the network and updated in place by the
    optimisers.
    """

    weights: list = None
    biases: list = None
    model: NeuronModel = None
    dtype: object = None
    layers: list = None
    input_shape: tuple = None
    sizes: tuple = field(init=False)

    def __post_init__(self):
        if not isinstance(self.model, NeuronModel):
            raise TypeError(
                f"model must be a snnref.NeuronModel; got {type(self.model).__name__}. "
                "Use NeuronModel.antlr(...) or NeuronModel.tsslbp(...)."
            )
        self.dtype = V.resolve_dtype(self.dtype)
        if self.layers is not None:
            self._init_layers()
            return
        self.connections = None
        if self.weights is None:
            raise TypeError("Network needs weights=[W_1, ..., W_L] (dense) or layers=[...] with input_shape=(C, H, W).")
        if isinstance(self.weights, np.ndarray) or not isinstance(self.weights, (list, tuple)):
            raise TypeError("weights must be a list of 2-D arrays [W_1, ..., W_L], one per spiking layer.")
        if len(self.weights) == 0:
            raise ValueError("weights is empty: a network needs at least one spiking layer.")
        ws = [V.as_float_array(w, f"weights[{l}]", ndim=2, dtype=self.dtype).copy() for l, w in enumerate(self.weights)]
        for l in range(1, len(ws)):
            if ws[l].shape[0] != ws[l - 1].shape[1]:
                raise ValueError(
                    f"weights[{l}].shape[0] ({ws[l].shape[0]}) must equal weights[{l-1}].shape[1] "
                    f"({ws[l-1].shape[1]}): layer {l} has {ws[l-1].shape[1]} neurons. W^l has shape (N_(l-1), N_l)."
                    + _transposed_hint(ws)
                )
        for l, w in enumerate(ws):
            if w.shape[0] == 0 or w.shape[1] == 0:
                raise ValueError(f"weights[{l}] has an empty dimension (shape {w.shape}).")
        if self.biases is None:
            bs = [np.zeros(w.shape[1], dtype=self.dtype) for w in ws]
        else:
            if not isinstance(self.biases, (list, tuple)) or len(self.biases) != len(ws):
                raise ValueError(f"biases must be None or a list of {len(ws)} arrays (one per spiking layer).")
            bs = []
            for l, (b, w) in enumerate(zip(self.biases, ws)):
                b = V.as_float_array(b, f"biases[{l}]", ndim=1, dtype=self.dtype).copy()
                if b.shape[0] != w.shape[1]:
                    if b.shape[0] == w.shape[0]:
                        raise ValueError(
                            f"weights[{l}] has shape {w.shape} but biases[{l}] has length {b.shape[0]} = "
                            f"weights[{l}].shape[0]: weights[{l}] is probably given as (out, in) (the layout of "
                            f"torch.nn.Linear.weight). snnref expects W^l as (N_in, N_out): pass weights[{l}].T."
                        )
                    raise ValueError(f"biases[{l}] has length {b.shape[0]}; expected {w.shape[1]} (= weights[{l}].shape[1]).")
                bs.append(b)
        self.weights = ws
        self.biases = bs
        self.sizes = (ws[0].shape[0],) + tuple(w.shape[1] for w in ws)

    def _init_layers(self):
        """Layered network (spec 2.2; :mod:`snnref.layers`): bind the layers to the input shape and dtype.

        ``weights`` / ``biases`` then list the arrays of the spiking layers (Conv2d / Dense) in their
        own shapes (owned by the bound layers, updated in place by the optimisers); ``shapes`` the
        per-frame shape of the input and of every spiking layer; ``sizes`` their numbers of neurons.
        """
        from .layers import bind_layers

        if self.weights is not None or self.biases is not None:
            raise TypeError("pass either weights/biases (dense network) or layers (layered network), not both; "
                            "give each Dense / Conv2d layer its own weight and bias.")
        layers, conns = bind_layers(self.layers, self.input_shape, self.dtype)
        self.layers = layers
        self.connections = conns
        self.input_shape = tuple(int(n) for n in self.input_shape)
        spiking = [layers[wi] for _, wi in conns]
        self.weights = [lay.weight for lay in spiking]
        self.biases = [lay.bias for lay in spiking]
        self.shapes = (self.input_shape,) + tuple(lay.out_shape for lay in spiking)
        self.sizes = tuple(int(np.prod(s)) for s in self.shapes)

    @property
    def n_layers(self):
        """Number of spiking layers L."""
        return len(self.weights)

    def copy(self):
        if self.layers is not None:
            from copy import copy as _copy

            net = _copy(self)
            net.layers = [_copy(lay) for lay in self.layers]
            for _, wi in net.connections:
                net.layers[wi].weight = net.layers[wi].weight.copy()
                net.layers[wi].bias = net.layers[wi].bias.copy()
            spiking = [net.layers[wi] for _, wi in net.connections]
            net.weights = [lay.weight for lay in spiking]
            net.biases = [lay.bias for lay in spiking]
            return net
        return Network([w.copy() for w in self.weights], [b.copy() for b in self.biases], self.model, self.dtype)
