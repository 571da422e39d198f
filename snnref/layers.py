r"""Layer objects of convolutional (and layered dense) networks: ``Network(layers=[...], input_shape=...)``.

A layered network is a list of layers applied to an input of shape (C, H, W) (per time step):

=================================== ====================================================================
``Conv2d(weight, stride, padding)`` spiking layer; weight (C_out, C_in, kH, kW) (PyTorch layout); the
                                    projection is the cross-correlation of :mod:`snnref.conv` Eq. (1)
``Dense(weight, bias=None)``        spiking layer; weight (N_in, N_out) as in the dense ``Network``;
                                    needs a flat input (put ``Flatten()`` after spatial layers)
``SumPool2d(kernel_size, weight)``  NON-spiking: k x k sum pooling, window = stride = k, every weight
                                    1.1 by default (TSSL-BP "P2", spec 2.2, A31)
``Flatten()``                       (C, H, W) -> C*H*W in channel-major order (spec 2.2)
``Dropout(p)``                      NON-spiking, training only: inverted dropout with one mask per
                                    (sample, channel, row) shared over time (spec 2.2, A31)
=================================== ====================================================================

Every spiking layer is the neuron of spec 1.1 / 2.1 with the network's NeuronModel; what it
receives is its CONNECTION: the non-spiking layers between it and the spiking layer below (or the
input), followed by its own weight. The signal a connection carries is what a dense network
carries: the spikes S of the layer below (ANTLR family) or its PSP trace a (TSSL-BP, a^0 = the
filtered input, spec 2.2). Pooling and dropout therefore act on PSP traces in TSSL-BP networks
(as in the official code) and on spike counts in ANTLR-family networks. Every connection is
linear, so it equals a dense matrix M (the "Toeplitz" matrix of a convolution composed with the
pooling / flatten matrices): :func:`dense_equivalent` builds the dense ``Network`` with these
matrices, and the tests prove that both networks give the same traces and gradients.

Backward: every rule driver calls the connection step of :mod:`snnref.rules.connections`, which for
layered networks is :class:`LayeredConnection`: for a signal G at the spiking layer's input current,
its ``back_project`` returns M^T G (E of the layer below, spec 4.1: through a pooling layer the gradient
is multiplied by its weight and spread over its window; through dropout the same mask and
scale) and its ``weight_grad`` returns sum_{t,b} (connection input)^T G in the weight's shape
(spec 4.4), so no rule file knows about convolutions.

Where the dropout mask is drawn: in :func:`snnref.forward` when it is given a
``dropout_rng`` (a ``numpy.random.Generator``); the masks are stored in ``trace.masks`` and
the backward rules reuse them. Without ``dropout_rng`` (evaluation) dropout is the identity.
"""
import numpy as np

from . import _validate as V
from . import conv as _conv
from .errors import SnnrefError

__all__ = ["Layer", "Conv2d", "Dense", "SumPool2d", "Flatten", "Dropout", "LayeredConnection", "dense_equivalent",
           "parse_architecture"]


def _int(value, name, lo, hint=""):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {value!r} ({type(value).__name__}).")
    if value < lo:
        raise SnnrefError(f"{name} must be >= {lo}; got {value}.{(' ' + hint) if hint else ''}")
    return int(value)


def _weight(weight, name, ndim, layout):
    arr = np.asarray(weight)
    if arr.ndim != ndim:
        raise SnnrefError(f"{name} must have {ndim} dimensions {layout}; got shape {arr.shape}.")
    arr = V.as_float_array(arr, name, ndim=ndim, dtype=arr.dtype if arr.dtype.kind == "f" else np.float64)
    if 0 in arr.shape:
        raise SnnrefError(f"{name} has an empty dimension (shape {arr.shape}); every dimension must be >= 1.")
    return arr


def _bias(bias, name, n, what):
    if bias is None:
        return None
    b = np.asarray(bias)
    b = V.as_float_array(b, name, ndim=1, dtype=b.dtype if b.dtype.kind == "f" else np.float64)
    if b.shape[0] != n:
        raise SnnrefError(f"{name} has length {b.shape[0]}; expected {what} = {n}.")
    return b


class Layer:
    """Base class. ``spiking`` layers have a weight and neurons; the others are fixed linear maps."""

    spiking = False
    has_weight = False
    in_shape = None
    out_shape = None

    def _bind(self, in_shape, dtype, where):
        """A copy of this layer for a network: weights in ``dtype``, shapes checked against ``in_shape``."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self._describe()})"

    def _describe(self):
        return ""


class Conv2d(Layer):
    """Spiking 2-D convolution layer (stride, zero padding), spec 2.1 / 4.4; equations in :mod:`snnref.conv`.

    Parameters
    ----------
    weight : array (C_out, C_in, kH, kW)
        PyTorch's layout (weights of a ``torch.nn.Conv2d`` can be copied as they are).
    stride : int >= 1
    padding : int, 0 <= padding < min(kH, kW)
        Zero padding on each side (larger paddings would add outputs that only see zeros).
    bias : array (C_out,) or None
        One bias per output channel (ANTLR-family models, beta_bias * b); None = zeros.
    """

    spiking = True
    has_weight = True

    def __init__(self, weight, stride=1, padding=0, bias=None):
        self.weight = _weight(weight, "Conv2d weight", 4, "(C_out, C_in, kH, kW)")
        self.stride = _int(stride, "Conv2d stride", 1)
        self.padding = _int(padding, "Conv2d padding", 0)
        kH, kW = self.weight.shape[2:]
        if self.padding >= min(kH, kW):
            raise SnnrefError(f"Conv2d padding ({self.padding}) must be smaller than the kernel size ({kH}x{kW}).")
        self.bias = _bias(bias, "Conv2d bias", self.weight.shape[0], "C_out")

    def _describe(self):
        return f"weight shape {self.weight.shape}, stride={self.stride}, padding={self.padding}"

    def _bind(self, in_shape, dtype, where):
        Co, Ci, kH, kW = self.weight.shape
        if len(in_shape) != 3:
            raise SnnrefError(f"{where}: Conv2d needs a (C, H, W) input; it receives shape {in_shape}. "
                              "Convolutions must come before Flatten.")
        C, H, W = in_shape
        if C != Ci:
            raise SnnrefError(f"{where}: Conv2d weight has C_in = {Ci} but its input has {C} channels "
                              f"(input shape {in_shape}); the weight layout is (C_out, C_in, kH, kW).")
        Ho = _conv.out_size(H, kH, self.stride, self.padding)
        Wo = _conv.out_size(W, kW, self.stride, self.padding)
        if Ho < 1 or Wo < 1:
            raise SnnrefError(f"{where}: Conv2d kernel {kH}x{kW} (padding {self.padding}) does not fit its "
                              f"{H}x{W} input; use a smaller kernel or more padding.")
        out = Conv2d.__new__(Conv2d)
        out.weight = np.array(self.weight, dtype=dtype, order="C")
        out.stride, out.padding = self.stride, self.padding
        out.bias = np.zeros(Co, dtype=dtype) if self.bias is None else np.array(self.bias, dtype=dtype)
        out.in_shape, out.out_shape = tuple(in_shape), (Co, Ho, Wo)
        return out

    def neuron_bias(self):
        """The per-neuron bias (C_out * H_out * W_out,): each channel's bias at every position."""
        return np.ascontiguousarray(np.repeat(self.bias, self.out_shape[1] * self.out_shape[2]))

    def project(self, X, spikes):
        """Input current projection (T, B, C_out, H_out, W_out): event-driven for spikes, else im2col + BLAS."""
        if spikes:
            return _conv.conv2d_events(X, self.weight, self.stride, self.padding)
        return _conv.conv2d(X, self.weight, self.stride, self.padding)

    def back_project(self, G):
        """M^T G (transposed convolution), shape (T, B) + in_shape."""
        return _conv.conv2d_transpose(G, self.weight, self.stride, self.padding, self.in_shape[1:])

    def weight_grad(self, X, G):
        """sum_{t,b,positions} X G in the weight's shape (C_out, C_in, kH, kW)."""
        return _conv.conv2d_weight_grad(X, G, self.stride, self.padding, self.weight.shape[2:])


class Dense(Layer):
    """Spiking fully connected layer: weight (N_in, N_out) (as ``Network(weights=...)``), bias (N_out,) or None."""

    spiking = True
    has_weight = True

    def __init__(self, weight, bias=None):
        self.weight = _weight(weight, "Dense weight", 2, "(N_in, N_out)")
        self.bias = _bias(bias, "Dense bias", self.weight.shape[1], "N_out")

    def _describe(self):
        return f"weight shape {self.weight.shape}"

    def _bind(self, in_shape, dtype, where):
        N_in, N_out = self.weight.shape
        if len(in_shape) != 1:
            raise SnnrefError(f"{where}: Dense needs a flat input; it receives shape {in_shape}. "
                              "Put snnref.layers.Flatten() before it.")
        if in_shape[0] != N_in:
            raise SnnrefError(f"{where}: Dense weight has N_in = {N_in} rows but its input has {in_shape[0]} "
                              "features; the weight layout is (N_in, N_out).")
        out = Dense.__new__(Dense)
        out.weight = np.array(self.weight, dtype=dtype, order="C")
        out.bias = np.zeros(N_out, dtype=dtype) if self.bias is None else np.array(self.bias, dtype=dtype)
        out.in_shape, out.out_shape = (N_in,), (N_out,)
        return out

    def neuron_bias(self):
        return self.bias

    def project(self, X, spikes):
        from .forward import project

        if spikes:
            return project(X, self.weight)
        T, B, N = X.shape
        return np.ascontiguousarray((X.reshape(T * B, N) @ self.weight).reshape(T, B, self.out_shape[0]))

    def back_project(self, G):
        T, B, N = G.shape
        return np.ascontiguousarray((G.reshape(T * B, N) @ self.weight.T).reshape(T, B, self.in_shape[0]))

    def weight_grad(self, X, G):
        T, B = X.shape[:2]
        N_in, N_out = self.weight.shape
        return (X.reshape(T * B, N_in).T @ G.reshape(T * B, N_out)).astype(self.weight.dtype, copy=False)


class SumPool2d(Layer):
    """Non-spiking k x k sum pooling (window = stride = k), every weight ``weight`` (TSSL-BP: 1.1; spec 2.2).

    The input's H and W must be multiples of k (the windows tile the image).
    """

    def __init__(self, kernel_size, weight=1.1):
        self.kernel_size = _int(kernel_size, "SumPool2d kernel_size", 1)
        self.weight = V.check_scalar(weight, "SumPool2d weight", hint="TSSL-BP pools with weight 1.1 (spec 2.2).")

    def _describe(self):
        return f"kernel_size={self.kernel_size}, weight={self.weight}"

    def _bind(self, in_shape, dtype, where):
        k = self.kernel_size
        if len(in_shape) != 3:
            raise SnnrefError(f"{where}: SumPool2d needs a (C, H, W) input; it receives shape {in_shape}.")
        C, H, W = in_shape
        if H % k or W % k:
            raise SnnrefError(f"{where}: SumPool2d windows of {k}x{k} do not tile the {H}x{W} input "
                              "(window = stride = kernel_size needs H and W divisible by it); change the "
                              "kernel size or the padding of the convolution before it.")
        out = SumPool2d(k, self.weight)
        out.in_shape, out.out_shape = tuple(in_shape), (C, H // k, W // k)
        return out

    def apply(self, X, mask=None):
        return _conv.sum_pool(X, self.kernel_size, self.weight)

    def adjoint(self, G, mask=None):
        return _conv.sum_pool_adjoint(G, self.kernel_size, self.weight)


class Flatten(Layer):
    """(C, H, W) -> (C*H*W,) in channel-major (C order) order, as the official code (spec 2.2)."""

    def _bind(self, in_shape, dtype, where):
        out = Flatten()
        out.in_shape, out.out_shape = tuple(in_shape), (int(np.prod(in_shape)),)
        return out

    def apply(self, X, mask=None):
        return X.reshape(X.shape[:2] + self.out_shape)

    def adjoint(self, G, mask=None):
        return G.reshape(G.shape[:2] + self.in_shape)


class Dropout(Layer):
    """Non-spiking inverted dropout, training only (spec 2.2, A31).

    With a mask m of 0/1 entries, each kept with probability 1 - p: out = m x / (1 - p). One mask
    entry per (sample, channel, row) of a (C, H, W) input, shared by every column and every time
    step; one per (sample, feature) of a flat input. The mask is drawn by :func:`snnref.forward`
    from its ``dropout_rng`` and stored in ``trace.masks``; without ``dropout_rng`` the layer is
    the identity (evaluation).
    """

    def __init__(self, p):
        self.p = V.check_scalar(p, "Dropout p", lo=0.0, hi=1.0, hi_open=True,
                                hint="p is the probability of dropping an entry.")

    def _describe(self):
        return f"p={self.p}"

    def _bind(self, in_shape, dtype, where):
        out = Dropout(self.p)
        out.in_shape, out.out_shape = tuple(in_shape), tuple(in_shape)
        return out

    def draw_mask(self, rng, B, dtype):
        """The scaled mask m / (1 - p), shape (B, C, H, 1) or (B, N), broadcast over time and columns."""
        shape = (B,) + self.in_shape[:2] + (1,) if len(self.in_shape) == 3 else (B,) + self.in_shape
        keep = rng.random(shape) >= self.p
        return (keep / (1.0 - self.p)).astype(dtype)

    def apply(self, X, mask=None):
        return X if mask is None else np.ascontiguousarray(X * mask[None])

    def adjoint(self, G, mask=None):
        return G if mask is None else np.ascontiguousarray(G * mask[None])


# ------------------------------------------------------------------------------------ network structure
def bind_layers(layers, input_shape, dtype):
    """Check ``layers`` against ``input_shape`` and return (bound layers, connections).

    ``connections[k]`` = (indices of the non-spiking layers before spiking layer k, index of spiking
    layer k). Raises SnnrefError with the failing layer's position and what to change.
    """
    if isinstance(layers, Layer) or not isinstance(layers, (list, tuple)):
        raise TypeError("layers must be a list of snnref.layers objects, e.g. [Conv2d(w1), SumPool2d(2), Flatten(), Dense(w2)].")
    if len(layers) == 0:
        raise SnnrefError("layers is empty: a network needs at least one spiking layer (Conv2d or Dense).")
    if input_shape is None:
        raise SnnrefError("input_shape is required with layers: the (C, H, W) of one input frame, e.g. (1, 28, 28).")
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if shape is None or len(shape) not in (1, 3) or any(
            isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1 for n in shape):
        raise SnnrefError(f"input_shape must be (C, H, W) (or (N,) for flat input) of positive integers; got {input_shape!r}.")
    shape = tuple(int(n) for n in shape)
    bound, conns, pending = [], [], []
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"layers[{i}] must be a snnref.layers object (Conv2d, Dense, SumPool2d, Flatten, Dropout); "
                            f"got {type(layer).__name__}.")
        b = layer._bind(shape, dtype, f"layers[{i}] ({type(layer).__name__})")
        bound.append(b)
        if b.spiking:
            conns.append((tuple(pending), i))
            pending = []
        else:
            pending.append(i)
        shape = b.out_shape
    if not conns:
        raise SnnrefError("layers has no spiking layer (Conv2d or Dense).")
    if pending or not isinstance(bound[-1], Dense):
        raise SnnrefError("the last layer must be a Dense output layer (the losses and read-outs take a flat "
                          "output); add Flatten() and Dense(weight) at the end.")
    return bound, conns


def connection_input(net, k, prev, masks=None):
    """What spiking layer k's weight sees: the non-spiking layers of connection k applied to ``prev``."""
    for i in net.connections[k][0]:
        prev = net.layers[i].apply(prev, None if masks is None else masks.get(i))
    return prev


class LayeredConnection:
    """The connection of spiking layer k of a layered network, with the methods every rule driver
    calls (the interface of :class:`snnref.rules.connections.Dense`; see that module).

    Arrays are *rows*: one row per (t, b) frame, N columns (flattened channel-major). Every
    connection acts frame by frame, so a set of rows is just a batch of frames; only dropout needs
    to know each row's sample (its mask), which is known when the rows are all T B rows in C order
    (TSSL-BP, reference paths), and refused otherwise.

    back_project(D, beta, D_prev, prev, coef)
        out[r] = beta M^T D[r] - coef M^T D_prev[prev[r]]  (second term for rows with prev[r] >= 0):
        the weight's adjoint (transposed convolution, or W D for a dense layer), then the adjoints of
        the connection's dropout / flatten / pooling layers in reverse order (spec 4.1, 4.4).
    weight_grad(X, rt, rb, D), weight_grad_blas(X, D)
        sum over the rows of (connection input)^T D in the weight's shape (float64 / compute dtype):
        :mod:`snnref.conv` Eq. (3) for a convolution.
    bias_grad(D)
        per-neuron sums, then per channel for a convolution (one bias per output channel).
    """

    def __init__(self, net, k, trace=None):
        self.pre, wi = net.connections[k]
        self.layers = net.layers
        self.layer = net.layers[wi]
        self.in_shape = net.shapes[k]                 # shape of the layer below (or the input)
        self.n_in = int(np.prod(self.in_shape))
        self.masks = {} if trace is None or not trace.masks else trace.masks
        self.T, self.B = (None, None) if trace is None else (trace.T, trace.B)

    def _frames(self, D):
        return D.reshape((1, D.shape[0]) + self.layer.out_shape)

    def _mask_rows(self, i, R):
        mask = self.masks[i]
        if R != self.T * self.B:
            raise SnnrefError("dropout masks are per sample: this rule's fast path works on a subset of the "
                              "time steps; use impl='reference' for networks trained with dropout.")
        return np.tile(mask, (self.T,) + (1,) * (mask.ndim - 1))[None]      # row r = t B + b -> mask[b]

    def _adjoint(self, D):
        E = self.layer.back_project(self._frames(np.ascontiguousarray(D)))
        for i in reversed(self.pre):
            lay = self.layers[i]
            E = lay.adjoint(E, self._mask_rows(i, D.shape[0])[0] if i in self.masks else None)
        return np.ascontiguousarray(E).reshape(D.shape[0], self.n_in)

    def back_project(self, D, beta=1.0, D_prev=None, prev=None, coef=0.0, exact=True, out=None):
        """As :meth:`snnref.rules.connections.Dense.back_project`; ``out`` (optional buffer) receives the result."""
        res = self._adjoint(D)
        if beta != 1.0:
            res *= beta
        if D_prev is not None and D_prev.shape[0] > 0:
            has = prev >= 0
            res[has] -= coef * self._adjoint(D_prev)[prev[has]]
        if out is None:
            return res
        out[...] = res
        return out

    def weight_grad(self, X, rt, rb, D):
        Xr = np.ascontiguousarray(X[rt, rb])                                   # (R,) + input shape
        return self.layer.weight_grad(Xr[None], self._frames(np.ascontiguousarray(D))).astype(np.float64)

    def weight_grad_blas(self, X, D):
        return self.layer.weight_grad(X, D.reshape(D.shape[:2] + self.layer.out_shape))

    def bias_grad(self, D):
        per_neuron = np.sum(D, axis=0, dtype=np.float64)
        if isinstance(self.layer, Conv2d):
            return per_neuron.reshape(self.layer.out_shape[0], -1).sum(axis=1)
        return per_neuron


def layered_connections(net, trace=None):
    """:class:`LayeredConnection` of every spiking layer of the layered ``net`` (masks from ``trace``)."""
    return [LayeredConnection(net, k, trace) for k in range(len(net.connections))]


def dense_equivalent(net):
    """The dense ``Network`` computing the same thing as the layered ``net`` (dropout omitted).

    Weight k is the matrix M_k (N_{k-1}, N_k) of connection k, obtained by sending every unit
    vector of the layer below through it (so it is as exact as the connection); biases are the
    per-neuron biases. Meant for verification and small networks (memory N_{k-1} x N_k).
    """
    from .conv import conv2d_reference
    from .model import Network

    if net.layers is None:
        raise SnnrefError("dense_equivalent needs a layered network (Network(layers=..., input_shape=...)).")
    weights, biases = [], []
    prev_shape = net.input_shape
    for k, (pre, wi) in enumerate(net.connections):
        n_prev = int(np.prod(prev_shape))
        basis = np.eye(n_prev, dtype=net.dtype).reshape((1, n_prev) + prev_shape)
        for i in pre:
            if not isinstance(net.layers[i], Dropout):
                basis = net.layers[i].apply(basis)
        wl = net.layers[wi]
        if isinstance(wl, Conv2d):
            out = conv2d_reference(np.ascontiguousarray(basis), wl.weight, wl.stride, wl.padding)
        else:
            out = np.ascontiguousarray(basis) @ wl.weight
        weights.append(np.ascontiguousarray(out.reshape(n_prev, -1)))
        biases.append(wl.neuron_bias().copy())
        prev_shape = wl.out_shape
    return Network(weights, biases, net.model, dtype=net.dtype)


# ------------------------------------------------------------------------------------ architecture strings
def parse_architecture(spec, input_shape, n_outputs):
    """Layer descriptions of an official-style architecture string (spec 7.6, 8).

    ``spec`` is "-"-separated: ``<C>C<k>`` a convolution with C output channels and a k x k kernel
    (optional ``p<padding>`` and ``s<stride>`` suffixes, e.g. ``12C5p1``), ``P<k>`` a TSSL-BP sum
    pooling (weight 1.1), ``D<p>`` dropout with probability p (e.g. ``D0.2``), ``<N>`` a dense
    layer of N neurons. A Flatten is inserted before the first dense layer, and the output layer
    of ``n_outputs`` neurons is appended. Returns a list of tuples ("conv", C, k, stride, padding),
    ("pool", k), ("dropout", p), ("flatten",), ("dense", N); raises SnnrefError for a bad token.
    """
    import re

    if not isinstance(spec, str) or not spec.strip():
        raise SnnrefError(f"architecture must be a string like '15C5-P2-40C5-P2-300'; got {spec!r}.")
    out, flat = [], len(input_shape) == 1
    for tok in spec.strip().split("-"):
        m_conv = re.fullmatch(r"(\d+)C(\d+)((?:[ps]\d+)*)", tok)
        if m_conv:
            if flat:
                raise SnnrefError(f"architecture {spec!r}: convolution {tok!r} after a dense layer.")
            pad = stride = None
            for key, val in re.findall(r"([ps])(\d+)", m_conv.group(3)):
                if key == "p":
                    pad = int(val)
                else:
                    stride = int(val)
            out.append(("conv", int(m_conv.group(1)), int(m_conv.group(2)), stride or 1, pad or 0))
        elif re.fullmatch(r"P(\d+)", tok):
            if flat:
                raise SnnrefError(f"architecture {spec!r}: pooling {tok!r} after a dense layer.")
            out.append(("pool", int(tok[1:])))
        elif re.fullmatch(r"D(0?\.\d+)", tok):
            out.append(("dropout", float(tok[1:])))
        elif re.fullmatch(r"\d+", tok):
            if not flat:
                out.append(("flatten",))
                flat = True
            out.append(("dense", int(tok)))
        else:
            raise SnnrefError(f"architecture {spec!r}: cannot read {tok!r}; use <C>C<k>[p<pad>][s<stride>] "
                              "(convolution), P<k> (sum pooling), D<p> (dropout) or <N> (dense), joined by '-'.")
        if out[-1][0] in ("conv", "dense", "pool") and out[-1][1] < 1:
            raise SnnrefError(f"architecture {spec!r}: {tok!r} needs a positive size.")
    if not flat:
        out.append(("flatten",))
    out.append(("dense", int(n_outputs)))
    return out
