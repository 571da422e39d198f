r"""Smooth companion models of the ANTLR-family rules (spec 10.2, 10.3).

Each ANTLR-family rule is the exact gradient of one of the models below; the identity tests
(P-A1, P-A2, P-T2) compare :func:`snnref.backward` with central finite differences of them.
Everything here is plain numpy written to be read next to the spec, not to be fast.

1. Relaxed forward (spec 10.2), P-A1: the network of spec 1.1 with the step H replaced by a smooth
   g whose derivative is the rule's surrogate sigma (spec 1.5)::

       I[t] = alpha_I (1 - S[t-1]) I[t-1] + beta_I (S_in[t] @ W)
       V[t] = alpha_V (1 - S[t-1]) V[t-1] + beta_V I[t] + beta_b b
       S[t] = g(V[t]),   g(v) = (a/b) exp(b (v - theta))          for v < theta
                         g(v) = (a/b) (2 - exp(-b (v - theta)))   for v >= theta
       g'(v) = a exp(-b |v - theta|) = sigma(v)   (a = ste_alpha, b = ste_beta)

   S is real-valued (in (0, 2a/b)) and every (1 - S) factor uses it. ``act_rnn`` (spec 3.1) on
   this trace is the exact gradient of any smooth loss L(S_out).

2. Frozen-reset forward, P-A2: the relaxed forward with every reset factor (1 - S[t-1]) replaced
   by the constant (1 - S_frozen[t-1]) of a given trace (stop-gradient on the reset).
   ``act_srm`` (spec 3.2) on the relaxed trace is its exact gradient at S_frozen = that trace's S.

3. Timing tangent model (spec 10.3 P-T2): the mathematical meaning of the timing rule (spec 3.4).
   See :func:`timing_tangent`.
"""
import numpy as np

from .. import _validate as V
from ..forward import LayerTrace, Trace, forward
from ..model import Network
from ..neuron import eps as _eps
from ..neuron import eps_star as _eps_star

__all__ = ["smooth_spike", "relaxed_forward", "frozen_reset_forward", "relaxed_objective", "vstar",
           "timing_tangent", "TimingTangentModel", "directional_fd", "grad_dot", "random_direction"]

_SMOOTH = ("exp",)


# --------------------------------------------------------------------------------------- relaxed
def smooth_spike(v, theta=1.0, ste_alpha=1.0, ste_beta=3.0):
    """The smooth spike function g of spec 10.2 with g' = sigma = a exp(-b |v - theta|).

    g(v) = (a/b) exp(b (v - theta)) below theta and (a/b)(2 - exp(-b (v - theta))) above; g is
    C^1 (g(theta) = a/b), increasing, with range (0, 2a/b). Returns float64.
    """
    d = np.asarray(v, dtype=np.float64) - theta
    e = np.exp(-ste_beta * np.abs(d))
    return (ste_alpha / ste_beta) * np.where(d < 0, e, 2.0 - e)


def _check_antlr_net(net, where):
    if not isinstance(net, Network):
        raise TypeError(f"{where}: net must be a snnref.Network; got {type(net).__name__}.")
    if net.model.psp_output:
        raise ValueError(f"{where} is a model of the ANTLR-family rules; this network has a TSSL-BP model.")


def _check_input(net, x):
    x = V.as_float_array(x, "x", dtype=np.float64, allow_int=True)
    V.check_time_major(x, "x", net.sizes[0])
    return x


def _surrogate_params(smooth, ste_alpha, ste_beta):
    V.check_choice(smooth, "smooth", _SMOOTH)
    a = V.check_scalar(ste_alpha, "ste_alpha", lo=0.0, lo_open=True)
    b = V.check_scalar(ste_beta, "ste_beta", lo=0.0, lo_open=True)
    return a, b


def _relaxed(net, x, weights, biases, frozen, a, b):
    """Relaxed forward over all layers; ``frozen`` = None or a list of frozen rasters (T, B, N_l)."""
    m = net.model
    T, B, _ = x.shape
    layers = []
    inp = x
    for l, (W, bias) in enumerate(zip(weights, biases)):
        W = np.asarray(W, dtype=np.float64)
        bias = np.asarray(bias, dtype=np.float64)
        N = W.shape[1]
        I = np.zeros((T, B, N))
        Vm = np.zeros((T, B, N))
        S = np.zeros((T, B, N))
        i_prev = np.zeros((B, N))
        v_prev = np.zeros((B, N))
        keep = np.ones((B, N))                      # 1 - S[t-1] (S[-1] = 0)
        for t in range(T):
            I[t] = m.alpha_I * keep * i_prev + m.beta_I * (inp[t] @ W)
            Vm[t] = m.alpha_V * keep * v_prev + m.beta_V * I[t] + m.beta_bias * bias
            S[t] = smooth_spike(Vm[t], m.theta, a, b)
            i_prev, v_prev = I[t], Vm[t]
            keep = 1.0 - (S[t] if frozen is None else frozen[l][t])
        layers.append((I, Vm, S))
        inp = S
    return layers


def _as_trace(net, x, layers):
    dt = net.dtype
    lts = [LayerTrace(*(np.ascontiguousarray(arr, dtype=dt) for arr in layer)) for layer in layers]
    return Trace(layers=lts, x=np.ascontiguousarray(x, dtype=dt), a0=None, model=net.model, form="relaxed",
                 T_full=x.shape[0])


def relaxed_forward(net, x, smooth="exp", ste_alpha=1.0, ste_beta=3.0):
    """Relaxed (smooth) forward of spec 10.2: the model of spec 1.1 with S[t] = g(V[t]).

    See the module docstring for the recurrence and g (:func:`smooth_spike`). All reset factors
    (1 - S[t-1]) use the smooth S. ``snnref.backward(net, trace, rule="act_rnn", dL_dS=dL/dS_out,
    ste_alpha=.., ste_beta=..)`` is the exact gradient of L(S_out) of this model (P-A1).

    Parameters
    ----------
    net : Network (ANTLR model)
    x : array (T, B, N_0)
        Input (spikes or real values).
    smooth : "exp"
        The smooth spike function; "exp" is the g whose derivative is sigma of spec 1.5.
    ste_alpha, ste_beta : float > 0
        Surrogate parameters a, b (must equal the rule's options).

    Returns
    -------
    Trace
        ``form = "relaxed"``, S real-valued in (0, 2a/b); I, V as in spec 1.1 (pre-reset); net.dtype.
    """
    _check_antlr_net(net, "relaxed_forward")
    a, b = _surrogate_params(smooth, ste_alpha, ste_beta)
    x = _check_input(net, x)
    return _as_trace(net, x, _relaxed(net, x, net.weights, net.biases, None, a, b))


def _frozen_rasters(net, x, frozen_trace):
    if not isinstance(frozen_trace, Trace):
        raise TypeError(f"frozen_trace must be a snnref.Trace; got {type(frozen_trace).__name__}.")
    shapes = [lt.S.shape for lt in frozen_trace.layers]
    expected = [(x.shape[0], x.shape[1], n) for n in net.sizes[1:]]
    if shapes != expected:
        raise ValueError(f"frozen_trace layer shapes {shapes} do not match the network and input {expected}.")
    return [np.asarray(lt.S, dtype=np.float64) for lt in frozen_trace.layers]


def frozen_reset_forward(net, x, frozen_trace, smooth="exp", ste_alpha=1.0, ste_beta=3.0):
    """Relaxed forward with every reset factor frozen: keep[t] = 1 - S_frozen[t-1] (spec 10.2, P-A2).

    Identical to :func:`relaxed_forward` except that the factors multiplying I[t-1] and V[t-1] are
    the constants 1 - ``frozen_trace.layers[l].S[t-1]`` (a stop-gradient on the reset paths); the
    spikes passed to the next layer and to the loss are still the smooth g(V). With
    ``frozen_trace = relaxed_forward(net, x)`` the values equal the relaxed forward, and
    ``act_srm`` on that trace is the exact gradient of this model at ``net``.

    Returns a Trace (``form = "relaxed"``) like :func:`relaxed_forward`.
    """
    _check_antlr_net(net, "frozen_reset_forward")
    a, b = _surrogate_params(smooth, ste_alpha, ste_beta)
    x = _check_input(net, x)
    frozen = _frozen_rasters(net, x, frozen_trace)
    return _as_trace(net, x, _relaxed(net, x, net.weights, net.biases, frozen, a, b))


def _loss_value(out):
    return float(out.value) if hasattr(out, "value") else float(out)


def relaxed_objective(net, x, loss, *, frozen_trace=None, smooth="exp", ste_alpha=1.0, ste_beta=3.0):
    """The function (weights, biases) -> L(S_out) of the relaxed (or frozen-reset) model.

    ``loss`` maps the real-valued output raster (T, B, N_out) to a float or a LossResult, e.g.
    ``lambda S: (C * S).sum()`` or ``lambda S: snnref.losses.count(S, labels)``. With
    ``frozen_trace`` the reset factors are frozen (:func:`frozen_reset_forward`). Use it with
    :func:`directional_fd`.
    """
    _check_antlr_net(net, "relaxed_objective")
    a, b = _surrogate_params(smooth, ste_alpha, ste_beta)
    x = _check_input(net, x)
    frozen = None if frozen_trace is None else _frozen_rasters(net, x, frozen_trace)
    if not callable(loss):
        raise TypeError(f"loss must be a callable S_out -> float (or LossResult); got {type(loss).__name__}.")

    def objective(weights, biases):
        return _loss_value(loss(_relaxed(net, x, weights, biases, frozen, a, b)[-1][2]))

    return objective


# --------------------------------------------------------------------------------------- timing
def vstar(V_, S, mode="code", floor=0.01):
    """Approximate voltage slope at spikes, Vstar (spec 1.4), float64 (T, B, N).

    "code":     Vstar[t] = max(V[t] - (1 - S[t-1]) V[t-1], floor),  Vstar[0] = max(V[0], floor)
    "appendix": Vstar[t] = max(V[t] - V[t-1], floor)                 (floor applied too, [choice])
    """
    V.check_choice(mode, "vstar_mode", ("code", "appendix"))
    floor = V.check_scalar(floor, "vstar_floor", lo=0.0, lo_open=True)
    V_ = np.asarray(V_, dtype=np.float64)
    S = np.asarray(S, dtype=np.float64)
    prev = np.zeros_like(V_)
    prev[1:] = V_[:-1] if mode == "appendix" else (1.0 - S[:-1]) * V_[:-1]
    return np.maximum(V_ - prev, floor)


class TimingTangentModel:
    r"""Tangent model of the timing rule around (W0, b0) (spec 10.3 P-T2); build with :func:`timing_tangent`.

    Frozen at (W0, b0): the hard forward's rasters S0, hence every causal set, the pre-reset
    voltages V0 and the slopes Vstar0 (:func:`vstar`, with floor). For parameters (W, b) every
    frozen spike (l, j, t_k) gets a continuous time, computed layer by layer from the input up
    (input spike times are fixed, that = tau)::

        that_j,k = t_k - (Vtil_j[t_k] - V0_j[t_k]) / Vstar0_j[t_k]
        Vtil_j[t] = sum_i w_ij sum_{frozen input spikes (i, tau) in C_ij(t)}
                        ( eps[t - tau] + eps_star[t - tau] (tau - that_i,tau) )
                    + beta_b b_j sum_{k=0}^{t - tlast_j(t) - 1} alpha_V^k

    with C_ij(t) = (tlast_j(t), t] the causal set of spec 1.2 (tlast from S0), eps the untruncated
    kernel (5) and eps_star its central slope (spec 1.4; eps[T] is the kernel value). Vtil is the
    first-order Taylor expansion of the SRM voltage (4) in the presynaptic spike times (a spike
    moved later by d lowers V by eps'(t - tau) d), and that is the linear interpolation of the
    threshold crossing. The surrogate loss is::

        Ltil(W, b) = L0 + sum over output spikes (j, t_k) of dL_dt_j[t_k] (that_j,k - t_k)

    The timing rule (spec 3.4, ``timing_penalty = 0``) applied to the frozen trace with
    ``dL_dt`` is exactly grad Ltil at (W0, b0): (T2) dV = -dT / Vstar0 is d that / d Vtil, the
    linear core (C1)-(C4) is the transpose of (W, b) -> Vtil at fixed times, and (T3) Tprop is
    d Vtil / d that of the layer below over the causal window.

    Calling the model: ``model(weights, biases) -> Ltil`` (float);
    ``model.spike_times(weights, biases)`` -> list over spiking layers of (T, B, N_l) arrays with
    that at frozen spikes and NaN elsewhere.
    """

    def __init__(self, net0, x, dL_dt, L0=0.0, vstar_mode="code", vstar_floor=0.01):
        _check_antlr_net(net0, "timing_tangent")
        x = _check_input(net0, x)
        trace0 = forward(net0, x)
        T, B, n_out = trace0.T, trace0.B, net0.sizes[-1]
        dL_dt = V.as_float_array(dL_dt, "dL_dt", dtype=np.float64)
        if dL_dt.shape != (T, B, n_out):
            raise ValueError(f"dL_dt must have shape (T, B, N_out) = {(T, B, n_out)}; got {dL_dt.shape}.")
        m = net0.model
        self.model = m
        self.x = x
        self.L0 = V.check_scalar(L0, "L0")
        self.dL_dt = dL_dt
        self.S0 = [np.asarray(lt.S, dtype=np.float64) for lt in trace0.layers]
        self.V0 = [np.asarray(lt.V, dtype=np.float64) for lt in trace0.layers]
        self.Vstar0 = [vstar(lt.V, lt.S, vstar_mode, vstar_floor) for lt in trace0.layers]
        self.eps = _eps(m, T)                       # eps[0..T-1]
        self.eps_star = _eps_star(m, T)             # eps_star[0..T-1], untruncated (uses eps[T])
        self.geom = np.cumsum(np.power(m.alpha_V, np.arange(T, dtype=np.float64)))  # sum_{k<=n} alpha_V^k
        self.trace0 = trace0

    def spike_times(self, weights, biases):
        """Continuous spike times that of every frozen spike; list of (T, B, N_l), NaN off spikes."""
        m = self.model
        T, B, _ = self.x.shape
        S_in = self.x
        shift_in = np.zeros_like(self.x)            # S_in * (tau - that): zero for the input layer
        times = []
        for l, (W, bias) in enumerate(zip(weights, biases)):
            W = np.asarray(W, dtype=np.float64)
            bias = np.asarray(bias, dtype=np.float64)
            S0, V0, Vs = self.S0[l], self.V0[l], self.Vstar0[l]
            N = W.shape[1]
            that = np.full((T, B, N), np.nan)
            for b in range(B):
                for j in range(N):
                    tlast = -1
                    for t in np.flatnonzero(S0[:, b, j]):
                        lo = tlast + 1                          # causal set (tlast, t]
                        lags = t - np.arange(lo, t + 1)
                        drive = (S_in[lo:t + 1, b, :] * self.eps[lags][:, None]
                                 + shift_in[lo:t + 1, b, :] * self.eps_star[lags][:, None]).sum(axis=0)
                        Vtil = drive @ W[:, j] + m.beta_bias * bias[j] * self.geom[t - lo]
                        that[t, b, j] = t - (Vtil - V0[t, b, j]) / Vs[t, b, j]
                        tlast = t
            times.append(that)
            steps = np.arange(T, dtype=np.float64)[:, None, None]
            S_in = S0
            shift_in = np.where(S0 != 0, steps - np.nan_to_num(that), 0.0)
        return times

    def __call__(self, weights, biases):
        """Ltil(W, b) = L0 + sum over output spikes dL_dt (that - t_k)."""
        that = self.spike_times(weights, biases)[-1]
        T = that.shape[0]
        steps = np.arange(T, dtype=np.float64)[:, None, None]
        spikes = self.S0[-1] != 0
        return self.L0 + float((self.dL_dt * np.where(spikes, that - steps, 0.0)).sum())


def timing_tangent(net0, x, dL_dt, L0=0.0, vstar_mode="code", vstar_floor=0.01):
    """Build the timing tangent model Ltil of spec 10.3 P-T2 around ``net0`` (see :class:`TimingTangentModel`).

    Parameters
    ----------
    net0 : Network (ANTLR model)
        The expansion point (W0, b0); the hard forward ``forward(net0, x)`` is frozen.
    x : array (T, B, N_0)
        Input spikes.
    dL_dt : array (T, B, N_out)
        Output spike-time gradient of a loss at (W0, b0) (e.g. ``latency(...).dL_dt``).
    L0 : float
        The loss value at (W0, b0) (an additive constant).
    vstar_mode, vstar_floor :
        Must equal the rule's options (defaults "code", 0.01; spec 1.4).

    Returns
    -------
    TimingTangentModel
        ``model(weights, biases) -> Ltil``; ``model.spike_times(weights, biases)``.
    """
    return TimingTangentModel(net0, x, dL_dt, L0=L0, vstar_mode=vstar_mode, vstar_floor=vstar_floor)


# --------------------------------------------------------------------------------------- FD tools
def random_direction(net, rng):
    """A random perturbation direction (list of dW like net.weights, list of db like net.biases), N(0, 1)."""
    rng = np.random.default_rng(rng)
    return ([rng.standard_normal(W.shape) for W in net.weights],
            [rng.standard_normal(b.shape) for b in net.biases])


def directional_fd(fun, net, direction, h=1e-6):
    """Central difference (fun(p + h u) - fun(p - h u)) / (2 h) at p = (net.weights, net.biases).

    ``fun(weights, biases) -> float`` (e.g. from :func:`relaxed_objective` or :func:`timing_tangent`);
    ``direction = (dWs, dbs)`` (e.g. from :func:`random_direction`).
    """
    dWs, dbs = direction

    def shifted(s):
        return ([np.asarray(W, dtype=np.float64) + s * h * dW for W, dW in zip(net.weights, dWs)],
                [np.asarray(b, dtype=np.float64) + s * h * db for b, db in zip(net.biases, dbs)])

    return (fun(*shifted(1.0)) - fun(*shifted(-1.0))) / (2.0 * h)


def grad_dot(grads, direction):
    """<grad, u> = sum_l <dW_l, u_W_l> + <db_l, u_b_l> for a :class:`snnref.Gradients` and a direction."""
    dWs, dbs = direction
    total = 0.0
    for g, u in zip(grads.dW, dWs):
        total += float(np.vdot(np.asarray(g, dtype=np.float64), u))
    for g, u in zip(grads.db, dbs):
        total += float(np.vdot(np.asarray(g, dtype=np.float64), u))
    return total
