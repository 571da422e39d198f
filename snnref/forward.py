r"""Forward simulation of dense feed-forward SNNs, in RNN-like form and in SRM form.

Model (spec 1.1 Eqs. 1-3 and 2.3), neuron j of spiking layer l, input projection
P_j[t] = sum_i w_ij x_i[t] of the layer below (x = spikes, or for TSSL-BP the real-valued input)::

    I_j[t] = alpha_I * r_I * I_j[t-1] + beta_I * P_j[t]        r_I = 1 - S_j[t-1] if reset_current else 1
    V_j[t] = alpha_V * (1 - S_j[t-1]) * V_j[t-1] + beta_V * I_j[t] + beta_bias * b_j
    S_j[t] = 1 if V_j[t] >= theta (> theta when strict_threshold) else 0

States at t = -1 are zero; I and V are stored pre-reset. There is no synaptic delay: an input spike
at t acts on V[t]. For PSP-output (TSSL-BP) models each layer also records, with u = V (pre-reset),
u^+[t] = (1 - S[t]) u[t]::

    du[t] = u[t] - u^+[t-1]                    (the "membrane update" of spec 2.1)
    a[t]  = alpha_I * a[t-1] + beta_I * S[t]   (PSP trace, = (1 - 1/tau_s) a[t-1] + s[t]/tau_s)

and the current is exactly I = W^T a^{l-1} (spec 2.3), with a^0 the PSP-filtered input (spec 2.2).

SRM form (spec 1.2 Eqs. 4-5), computed without any recurrence, with tlast_j(t) the last spike of j
before t (or -1) and the causal set C(t) = (tlast_j(t), t]::

    V_j[t] = sum_i w_ij sum_{tau in C(t), S_i[tau]=1} eps[t - tau] + beta_bias b_j sum_{k=0}^{t-tlast-1} alpha_V^k
    I_j[t] = beta_I sum_i w_ij sum_{tau in C(t), S_i[tau]=1} alpha_I^(t - tau)

For models without current reset (TSSL-BP) the causal set does not cut the current (spec 2.3,
A36); the SRM form then uses I_j[t] = beta_I sum_{tau <= t} alpha_I^(t-tau) P_j[tau] and
V_j[t] = sum_{k in C(t)} alpha_V^(t-k) (beta_V I_j[k] + beta_bias b_j).

Work: the input projection of spike inputs touches one weight row per input event (cost
proportional to the number of spikes, not to N_in x T); real-valued TSSL-BP inputs use a dense
matrix product. ``impl="reference"`` simulates the samples of a batch one after the other (serial
kernels compile in a fraction of the time of parallel ones); layered networks and :func:`project`
run them in parallel (``prange``), deterministically.
"""
import numpy as np

from . import _validate as validate
from ._user_trace import register_forward_trace
from .errors import SnnrefError
from ._jit import kernel, parallel_kernel, prange
from .model import Network
from .neuron import eps as _eps
from .trace import LayerTrace, Trace
from . import fast_forward as _fast

__all__ = ["forward", "Trace", "LayerTrace", "project"]


# --------------------------------------------------------------------------------------- kernels
@kernel
def _project_events_kernel(b0, b1, X, W, P):
    """Kernel of :func:`project` for the samples b0 <= b < b1, one after the other:
    P[t, b, :] += X[t, b, i] * W[i, :] for every non-zero X[t, b, i]. Serial (the reference forward);
    :func:`_project_events_parallel_kernel` runs it per sample in parallel."""
    T, B, N_in = X.shape
    N = W.shape[1]
    for b in range(b0, b1):
        for t in range(T):
            for i in range(N_in):
                x = X[t, b, i]
                if x != 0.0:
                    for j in range(N):
                        P[t, b, j] += x * W[i, j]


@parallel_kernel
def _project_events_parallel_kernel(X, W, P):
    """:func:`_project_events_kernel` on all samples, in parallel (``prange``; same results)."""
    for b in prange(X.shape[1]):
        b0 = np.int64(b)  # the serial kernel's signature (int64 bounds)
        _project_events_kernel(b0, b0 + 1, X, W, P)


@kernel
def _lif_rnn_kernel(b0, b1, P, bias, alpha_I, alpha_V, beta_I, beta_V, beta_b, theta, reset_current, strict,
                    psp_output, I, V, S, DU, A):
    """Kernel of :func:`forward` (form "rnn", ``impl="reference"``) for the samples b0 <= b < b1, one
    after the other: fills I, V, S (and DU, A when psp_output) at [:, b]. Serial (it compiles in a
    fraction of the time of a parallel kernel); :func:`_lif_rnn_parallel_kernel` runs it per sample
    in parallel."""
    T, B, N = P.shape
    for b in range(b0, b1):
        i_prev = np.zeros(N, dtype=np.float64)
        v_prev = np.zeros(N, dtype=np.float64)
        s_prev = np.zeros(N, dtype=np.float64)
        a_prev = np.zeros(N, dtype=np.float64)
        for t in range(T):
            for j in range(N):
                keep = 1.0 - s_prev[j]
                if reset_current:
                    i_t = alpha_I * keep * i_prev[j] + beta_I * P[t, b, j]
                else:
                    i_t = alpha_I * i_prev[j] + beta_I * P[t, b, j]
                u_plus = keep * v_prev[j]
                v_t = alpha_V * u_plus + beta_V * i_t + beta_b * bias[j]
                if strict:
                    s_t = 1.0 if v_t > theta else 0.0
                else:
                    s_t = 1.0 if v_t >= theta else 0.0
                I[t, b, j] = i_t
                V[t, b, j] = v_t
                S[t, b, j] = s_t
                if psp_output:
                    DU[t, b, j] = v_t - u_plus
                    a_t = alpha_I * a_prev[j] + beta_I * s_t
                    A[t, b, j] = a_t
                    a_prev[j] = a_t
                # keep the stored (possibly float32-rounded) values as the state, as a
                # framework that stores states in that dtype does
                i_prev[j] = I[t, b, j]
                v_prev[j] = V[t, b, j]
                s_prev[j] = s_t


@parallel_kernel
def _lif_rnn_parallel_kernel(P, bias, alpha_I, alpha_V, beta_I, beta_V, beta_b, theta, reset_current, strict,
                             psp_output, I, V, S, DU, A):
    """:func:`_lif_rnn_kernel` on all samples, in parallel (``prange``; same results): the neuron
    update of layered networks (:mod:`snnref.layers`)."""
    for b in prange(P.shape[1]):
        b0 = np.int64(b)  # the serial kernel's signature (int64 bounds)
        _lif_rnn_kernel(b0, b0 + 1, P, bias, alpha_I, alpha_V, beta_I, beta_V, beta_b, theta, reset_current,
                        strict, psp_output, I, V, S, DU, A)


@kernel
def _lif_srm_kernel(X, W, bias, epsk, pow_I, pow_V, geom_V, beta_I, beta_V, beta_b, theta,
                    reset_current, strict, I, V, S):
    """Kernel of :func:`forward` (form "srm"): causal-set sums, no recurrence (slow reference)."""
    T, B, N_in = X.shape
    N = W.shape[1]
    for b in range(B):
        for j in range(N):
            tlast = -1
            for t in range(T):
                lo = tlast + 1
                if reset_current:
                    v_sum = 0.0
                    c_sum = 0.0
                    for tau in range(lo, t + 1):
                        for i in range(N_in):
                            x = X[tau, b, i]
                            if x != 0.0:
                                v_sum += W[i, j] * x * epsk[t - tau]
                                c_sum += W[i, j] * x * pow_I[t - tau]
                    I[t, b, j] = beta_I * c_sum
                    V[t, b, j] = v_sum + beta_b * bias[j] * geom_V[t - lo]
                else:
                    c_sum = 0.0
                    for tau in range(0, t + 1):
                        for i in range(N_in):
                            x = X[tau, b, i]
                            if x != 0.0:
                                c_sum += W[i, j] * x * pow_I[t - tau]
                    I[t, b, j] = beta_I * c_sum
                    v_sum = 0.0
                    for k in range(lo, t + 1):
                        v_sum += pow_V[t - k] * (beta_V * I[k, b, j] + beta_b * bias[j])
                    V[t, b, j] = v_sum
                v_t = V[t, b, j]
                if strict:
                    s_t = 1.0 if v_t > theta else 0.0
                else:
                    s_t = 1.0 if v_t >= theta else 0.0
                S[t, b, j] = s_t
                if s_t != 0.0:
                    tlast = t


# --------------------------------------------------------------------------------------- API
def project(X, W, parallel=True):
    """Input projection P[t, b, j] = sum_i X[t, b, i] W[i, j], skipping zero inputs.

    Cost is proportional to (number of non-zero X) x N_out. Arrays must already be validated,
    C-contiguous and of one dtype. ``parallel``: the samples in parallel (default), else one after
    the other (the reference forward: a serial kernel compiles faster); the results are the same.
    """
    P = np.zeros((X.shape[0], X.shape[1], W.shape[1]), dtype=W.dtype)
    if parallel:
        _project_events_parallel_kernel(X, W, P)
    else:
        _project_events_kernel(0, X.shape[1], X, W, P)
    return P


def _psp_filter(x, alpha, beta):
    """a[t] = alpha a[t-1] + beta x[t] along axis 0 (a[-1] = 0)."""
    a = np.empty_like(x)
    prev = np.zeros(x.shape[1:], dtype=x.dtype)
    for t in range(x.shape[0]):
        prev = alpha * prev + beta * x[t]
        a[t] = prev
    return a


def _validate_input(net, x, allow_beta_auto_mismatch=False):
    if not isinstance(net, Network):
        raise TypeError(f"net must be a snnref.Network; got {type(net).__name__}.")
    psp = net.model.psp_output
    x = validate.as_float_array(x, "x", dtype=net.dtype, allow_int=True)
    _check_input_layout(net, x, allow_beta_auto_mismatch)
    if not psp:
        validate.check_binary(x, "x")
    return x


def _check_input_layout(net, x, allow_beta_auto_mismatch):
    """(T, B, N_0) checks whose messages name the likely mistake (batch-first input, transposed W^1,
    a beta_auto model built for another T)."""
    n0 = net.sizes[0]
    w0 = net.weights[0]
    if x.ndim == 3 and x.shape[2] != n0 and x.shape[2] == w0.shape[1] and w0.shape[0] != w0.shape[1]:
        raise ValueError(
            f"x has {x.shape[2]} input features = weights[0].shape[1], but the network has N_0 = {n0} inputs: "
            f"weights[0] (shape {w0.shape}) is probably given as (out, in) (torch.nn.Linear.weight); "
            "snnref expects (N_in, N_out): pass weights[0].T."
        )
    validate.check_time_major(x, "x", n0)
    _check_beta_auto(net.model, x, allow_beta_auto_mismatch)


def _check_beta_auto(model, x, allow_beta_auto_mismatch):
    """Reject an input whose T changes the beta_auto normaliser of ``model`` (spec 1.1) unless allowed."""
    T, B = x.shape[:2]
    msg = model.beta_auto_mismatch(T)
    if msg and not allow_beta_auto_mismatch:
        if B == model.beta_auto_T:
            msg += f" (x has shape {x.shape}: if it is batch-first (B, T, N), pass x.transpose(1, 0, 2).)"
        raise SnnrefError(msg)


def _forward_layered(net, x, form, latency_early_stop, dropout_rng, allow_beta_auto_mismatch=False):
    """:func:`forward` for ``Network(layers=...)``: the same neuron kernel, connections of :mod:`snnref.layers`."""
    from .layers import connection_input

    if form != "rnn":
        raise ValueError("layered networks simulate in form 'rnn' only; for the SRM form use the dense "
                         "equivalent network, snnref.layers.dense_equivalent(net).")
    if latency_early_stop:
        raise ValueError("latency_early_stop is not available for layered networks; truncate the trace of a full run.")
    m = net.model
    dt = net.dtype
    x = validate.as_float_array(x, "x", dtype=dt, allow_int=True)
    want = "(T, B) + input_shape = (T, B" + "".join(f", {n}" for n in net.input_shape) + ")"
    if x.ndim != 2 + len(net.input_shape) or x.shape[2:] != net.input_shape:
        raise ValueError(f"x must have shape {want}; got {x.shape}. Reshape flat inputs with "
                         "x.reshape(T, B, *net.input_shape).")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must have at least one time step and one sample; got shape {x.shape}.")
    if not m.psp_output:
        validate.check_binary(x, "x")
    T, B = x.shape[:2]
    _check_beta_auto(m, x, allow_beta_auto_mismatch)
    a0 = _psp_filter(x, dt(m.alpha_I), dt(m.beta_I)) if m.psp_output else None
    masks = {}
    if dropout_rng is not None:
        from .layers import Dropout

        if not isinstance(dropout_rng, np.random.Generator):
            raise TypeError(f"dropout_rng must be a numpy.random.Generator (np.random.default_rng(seed)); "
                            f"got {type(dropout_rng).__name__}.")
        for i, lay in enumerate(net.layers):
            if isinstance(lay, Dropout):          # drawn in layer order, once per forward pass
                masks[i] = lay.draw_mask(dropout_rng, B, dt)
    layers, inputs = [], []
    prev, prev_trace = x, a0
    empty = np.empty((0, 0, 0), dtype=dt)
    for k, (_, wi) in enumerate(net.connections):
        lay = net.layers[wi]
        # As in the dense kernel, the layer projects the raw signal (x or the spikes S below) and
        # the neuron kernel filters it (I = alpha_I I + beta_I P); for PSP-output models this is
        # I = M^T a exactly because the connection M (conv, pooling, flatten, dropout with a mask
        # fixed over time) is linear and the same at every step.
        raw = np.ascontiguousarray(connection_input(net, k, prev, masks))
        # what the weight sees, for the weight gradients: a (TSSL-BP, spec 4.4) or S
        inputs.append(np.ascontiguousarray(connection_input(net, k, prev_trace, masks)) if m.psp_output else raw)
        # spikes (and pooled spike counts: sparse) are projected event by event; the analog input of
        # a PSP-output model's first layer by im2col + BLAS (as the dense path)
        P = lay.project(raw, spikes=not (m.psp_output and k == 0))
        shape = (T, B) + lay.out_shape
        N = int(np.prod(lay.out_shape))
        arrays = [np.empty(shape, dtype=dt) for _ in range(5 if m.psp_output else 3)]
        flat = [arr.reshape(T, B, N) for arr in arrays]
        DU, A = (flat[3], flat[4]) if m.psp_output else (empty, empty)
        _lif_rnn_parallel_kernel(P.reshape(T, B, N), lay.neuron_bias(), m.alpha_I, m.alpha_V, m.beta_I, m.beta_V,
                                 m.beta_bias, m.theta, m.reset_current, m.strict_threshold, m.psp_output,
                                 flat[0], flat[1], flat[2], DU, A)
        lt = LayerTrace(*arrays)
        layers.append(lt)
        prev, prev_trace = lt.S, lt.a
    return Trace(layers=layers, x=x, a0=a0, model=m, form=form, T_full=T, inputs=inputs, masks=masks)


def forward(net, x, form="rnn", *, latency_early_stop=False, allow_beta_auto_mismatch=False,
            dropout_rng=None, impl="fast", workspace=None, validated=False, input_events=None):
    """Simulate ``net`` on input ``x`` and return the :class:`Trace` (spec 1.1-1.2, 2.1-2.3).

    Parameters
    ----------
    net : Network
    x : array (T, B, N_0)
        Time-major input. ANTLR models: spikes (0/1; bool, int or float). TSSL-BP models: real
        input values (spikes or currents), PSP-filtered before the first layer.
    form : "rnn" (default, the fast recurrent kernel) or "srm" (independent causal-set sums; slow,
        O(T^2 N_in) per neuron, meant for verification).
    latency_early_stop : bool
        Official latency-loss behaviour (spec 5.3, A13): stop at the first step at which every output
        neuron of every sample has fired; the trace then has T_sim = that step + 1 steps. Since the
        model is causal this equals truncating the full simulation. Dense networks only.
    allow_beta_auto_mismatch : bool
        A model from ``NeuronModel.antlr(..., T=T0)`` with ``beta_auto`` has scales for a T0-step
        window; an input with another T whose beta_auto normaliser differs is rejected
        (:class:`snnref.errors.SnnrefError`) unless this is True (spec 1.1).
    dropout_rng : numpy.random.Generator or None
        Layered networks with ``Dropout`` layers: draw the training-time dropout masks from it (in
        layer order, once per call; stored in ``trace.masks`` for the backward pass). None: dropout
        is the identity (evaluation).
    impl : "fast" (default) or "reference"
        Form "rnn" only: "fast" is the event-driven fused kernel of :mod:`snnref.fast_forward`,
        "reference" the projection kernel :func:`project` followed by the LIF kernel; the results are
        bit-identical.
    workspace : snnref.workspace.Workspace or None
        With ``impl="fast"``: buffers reused from call to call; the returned trace is then valid until
        the next forward call with the same workspace (see :class:`snnref.workspace.Workspace`).
    validated : bool
        True skips the O(size) checks of ``x`` (finite; 0/1 for ANTLR models) for an input already
        checked once (e.g. per data set): ``x`` must then be a C-contiguous array of the network dtype;
        shape and dtype are still checked. ``impl``, ``workspace`` and ``validated``: dense networks.
    input_events : (ptr, idx) or None
        With ``validated=True``, ANTLR models and the fast RNN form: where x is non-zero, as
        :func:`snnref.fast_forward.input_events` lists it (make it with
        :func:`snnref.fast_forward.events_from_spikes` from the spike coordinates, e.g. those of
        :func:`snnref.encoders.latency_events`), so that x is not scanned. Its layout is checked, its
        agreement with x is trusted like the values of a validated x.

    Layout: x must be time-major (T, B, N_0). A batch-first (B, T, N_0) array has a valid shape
    too; snnref names that reading when the shape fits it (a beta_auto model built for T steps
    given an input whose B equals T). Weights are (N_in, N_out); a transposed non-square weight is
    named in the error. A square transposed layer cannot be detected by shape: use
    :func:`snnref.verify.verify` with ``weight_layout`` (docs/VERIFYING.md).

    Layered networks (``Network(layers=...)``, :mod:`snnref.layers`) take x of shape
    (T, B) + ``net.input_shape`` and return traces of shape (T, B) + each layer's output shape;
    every connection is linear (convolution, pooling, flatten), so the neuron update is the one
    above with P = the connection's output.

    Returns
    -------
    Trace
        ``.layers[l]`` holds I, V, S (and du, a for TSSL-BP) of shape (T_sim, B, N_l).
    """
    validate.check_choice(form, "form", ("rnn", "srm"))
    if not isinstance(latency_early_stop, (bool, np.bool_)):
        raise TypeError(f"latency_early_stop must be True or False; got {latency_early_stop!r}.")
    if isinstance(net, Network) and net.layers is not None:
        return register_forward_trace(_forward_layered(net, x, form, bool(latency_early_stop), dropout_rng,
                                                       allow_beta_auto_mismatch))
    if dropout_rng is not None:
        raise ValueError("dropout_rng is for layered networks with Dropout layers; this network is dense.")
    validate.check_choice(impl, "impl", ("fast", "reference"))
    if validated:
        x = _fast.check_validated(net, x)
        _check_beta_auto(net.model, x, allow_beta_auto_mismatch)
    else:
        x = _validate_input(net, x, allow_beta_auto_mismatch)
    if input_events is not None:
        if not validated or impl != "fast" or form != "rnn" or net.model.psp_output:
            raise ValueError("input_events is for forward(..., validated=True) of an ANTLR model with the "
                             "default impl='fast' and form='rnn'; drop it otherwise.")
        input_events = _fast.check_input_events(x, input_events)
    m = net.model
    dtype = net.dtype
    T, B, _ = x.shape
    a0 = _psp_filter(x, dtype(m.alpha_I), dtype(m.beta_I)) if m.psp_output else None
    layers = []
    inp = x
    # ---- the event-driven fused kernel (snnref.fast_forward); the loop below is the reference
    events = []  # the input events of every layer (fast path): reused by the fast backward
    if form == "rnn" and impl == "fast":
        layers = _fast.simulate(net, x, workspace, events=events, known_events=input_events)
    # ----
    for l, (W, bias) in enumerate(zip(net.weights, net.biases) if not layers else ()):
        N = W.shape[1]
        I = np.empty((T, B, N), dtype=dtype)
        Vm = np.empty((T, B, N), dtype=dtype)
        S = np.empty((T, B, N), dtype=dtype)
        if m.psp_output:
            DU = np.empty((T, B, N), dtype=dtype)
            A = np.empty((T, B, N), dtype=dtype)
        else:
            DU = A = None
        if form == "rnn":
            if m.psp_output and l == 0:
                P = np.ascontiguousarray((inp.reshape(T * B, -1) @ W).reshape(T, B, N))
            else:
                P = project(inp, W, parallel=False)
            empty = np.empty((0, 0, 0), dtype=dtype)
            _lif_rnn_kernel(0, B, P, bias, m.alpha_I, m.alpha_V, m.beta_I, m.beta_V, m.beta_bias, m.theta,
                            m.reset_current, m.strict_threshold, m.psp_output, I, Vm, S,
                            DU if DU is not None else empty, A if A is not None else empty)
        else:
            epsk = _eps(m, T)
            k = np.arange(T, dtype=np.float64)
            pow_I = np.power(m.alpha_I, k)
            pow_V = np.power(m.alpha_V, k)
            geom_V = np.cumsum(pow_V)
            _lif_srm_kernel(inp, W, bias, epsk, pow_I, pow_V, geom_V, m.beta_I, m.beta_V, m.beta_bias,
                            m.theta, m.reset_current, m.strict_threshold, I, Vm, S)
            if m.psp_output:
                u_plus_prev = np.zeros_like(Vm)
                u_plus_prev[1:] = (1 - S[:-1]) * Vm[:-1]
                DU[...] = Vm - u_plus_prev
                # closed form a[t] = sum_k beta_I alpha_I^k S[t-k]
                kern = m.beta_I * pow_I
                A[...] = np.einsum("tk,kbn->tbn", np.tril(kern[np.subtract.outer(np.arange(T), np.arange(T)).clip(0)]), S)
        layers.append(LayerTrace(I, Vm, S, DU, A))
        inp = S
    trace = Trace(layers=layers, x=x, a0=a0, model=m, form=form, T_full=T)
    if len(events) == len(layers):
        trace._input_events = events  # valid as long as the trace (same workspace lifetime)
    if latency_early_stop:
        fired = np.maximum.accumulate(layers[-1].S, axis=0).reshape(T, -1).min(axis=1)
        hits = np.flatnonzero(fired > 0)
        if hits.size and hits[0] + 1 < T:
            T_sim = int(hits[0]) + 1
            trace = Trace(layers=[lt._truncate(T_sim) for lt in layers], x=np.ascontiguousarray(x[:T_sim]),
                          a0=None if a0 is None else np.ascontiguousarray(a0[:T_sim]), model=m, form=form,
                          T_full=T)
    return register_forward_trace(trace)  # backward(trace_check="auto") trusts traces made here
