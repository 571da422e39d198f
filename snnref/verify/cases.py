r"""Reference cases: :func:`make_case` (any network and input) and the standard golden set.

A case is computed with the public API only (``snnref.forward``, ``snnref.losses``,
``snnref.backward`` with ``return_adjoints=True``), so a golden file is exactly what a user of
snnref gets. The standard set (:data:`STANDARD_CASES`, written by ``snnref golden write``) is
deterministic: every case is built from a fixed seed, and the files are byte-identical from run to
run on the same platform.

ANTLR-model cases use the loss ``"count+latency"``: the sum of the count loss (spec 5.1, one target
spike for the label neuron, zero for the others) and the latency loss (spec 5.3, beta_softmax 1,
lambda_nospike 0.1), so that every ANTLR-family rule receives a non-zero signal (dL_dS drives the
activation rules, dL_dt the timing rule, both drive ANTLR). TSSL-BP cases use the kernel loss with
explicit target spike trains (spec 5.4).
"""
import numpy as np

from .golden import GoldenCase, MODEL_FIELDS, SCHEMA, SCHEMA_VERSION

__all__ = ["make_case", "STANDARD_CASES", "standard_case", "ANTLR_RULES"]

ANTLR_RULES = ("act_rnn", "act_srm", "act_slayer", "timing", "antlr")
LOSSES = ("count+latency", "count", "latency", "psp_kernel")


def _model_attrs(model):
    out = {k: getattr(model, k) for k in MODEL_FIELDS}
    for k in ("tau_m", "tau_s", "beta_auto_T"):
        v = getattr(model, k, None)
        if v is not None:
            out[k] = v
    return out


def _loss(trace, loss, labels, target):
    from .. import losses

    if loss == "count+latency":
        a = losses.count(trace, labels)
        b = losses.latency(trace, labels, beta_softmax=1.0, lambda_nospike=0.1)
        return a.value + b.value, {"dL_dS": a.dL_dS + b.dL_dS, "dL_dt": a.dL_dt + b.dL_dt}
    if loss == "count":
        r = losses.count(trace, labels)
        return r.value, {"dL_dS": r.dL_dS, "dL_dt": r.dL_dt}
    if loss == "latency":
        r = losses.latency(trace, labels, beta_softmax=1.0, lambda_nospike=0.1)
        return r.value, {"dL_dS": r.dL_dS, "dL_dt": r.dL_dt}
    if loss == "psp_kernel":
        r = losses.psp_kernel(trace, target=target, single_pass=True)
        return r.value, {"dL_da": r.dL_da}
    raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}.")


def make_case(net, x, *, labels=None, target=None, loss=None, rules=None, rule_options=None,
              latency_early_stop=False, adjoints=True, name="case", description=""):
    """Compute a complete reference case with snnref (float64 or float32, as ``net.dtype``).

    Parameters
    ----------
    net : snnref.Network
    x : array (T, B, N_0), time-major
    labels : int array (B,)  (ANTLR losses)      target : 0/1 array (T, B, N_out)  (psp_kernel)
    loss : "count+latency" (ANTLR default), "count", "latency" or "psp_kernel" (TSSL-BP default)
    rules : rule names (default: the five ANTLR-family rules, or ("tsslbp",))
    rule_options : dict rule -> dict of rule options (spec 11 names), default none
    latency_early_stop : passed to ``snnref.forward`` (spec 5.3)
    adjoints : also store every rule's adjoints (``return_adjoints=True``)

    Returns
    -------
    GoldenCase
    """
    from .. import __version__, backward, forward

    tssl = net.model.psp_output
    loss = loss or ("psp_kernel" if tssl else "count+latency")
    rules = tuple(rules or (("tsslbp",) if tssl else ANTLR_RULES))
    rule_options = dict(rule_options or {})
    trace = forward(net, x, latency_early_stop=latency_early_stop)
    if labels is None and not tssl:
        labels = np.arange(trace.B) % net.sizes[-1]
    if target is not None:
        target = np.asarray(target)[:trace.T]
    value, grads = _loss(trace, loss, labels, target)
    dt = net.dtype
    arrays = {"input/x": np.asarray(x, dtype=dt)}
    if trace.a0 is not None:
        arrays["input/a0"] = trace.a0
    for l in range(net.n_layers):
        arrays[f"params/W/{l}"] = net.weights[l]
        arrays[f"params/b/{l}"] = net.biases[l]
        lt = trace.layers[l]
        for n in ("I", "V", "S", "du", "a"):
            v = getattr(lt, n)
            if v is not None:
                arrays[f"forward/{l}/{n}"] = v
    arrays["loss/value"] = np.asarray(value, dtype=dt)
    for k, v in grads.items():
        arrays[f"loss/{k}"] = np.asarray(v, dtype=dt)
    resolved = {}
    for rule in rules:
        g = backward(net, trace, rule, return_adjoints=adjoints, **grads, **rule_options.get(rule, {}))
        resolved[rule] = {k: v for k, v in g.options.items()}
        for l in range(net.n_layers):
            arrays[f"gradients/{rule}/dW/{l}"] = g.dW[l]
            arrays[f"gradients/{rule}/db/{l}"] = g.db[l]
            if adjoints:
                for n, v in g.adjoints[l].items():
                    arrays[f"adjoints/{rule}/{l}/{n}"] = v
    attrs = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "name": name, "description": description,
        "dtype": np.dtype(dt).name, "T": trace.T, "T_full": trace.T_full, "B": trace.B,
        "sizes": np.asarray(net.sizes, dtype=np.int64), "rules": ",".join(rules), "loss": loss,
        "latency_early_stop": bool(latency_early_stop), "snnref_version": __version__,
    }
    if labels is not None:
        attrs["labels"] = np.asarray(labels, dtype=np.int64)
    return GoldenCase(attrs=attrs, model=_model_attrs(net.model), arrays=arrays, rule_options=resolved)


# ------------------------------------------------------------------------------- standard families
def _antlr_model(T, aI=0.9, aV=0.9):
    from .. import NeuronModel

    return NeuronModel.antlr(alpha_I=aI, alpha_V=aV, T=T)


def _raster(rng, T, B, N, p):
    return (rng.random((T, B, N)) < p).astype(np.float64)


def _weights(rng, sizes, scale, bias=0.0):
    Ws = [rng.normal(0.0, scale / np.sqrt(n_in), size=(n_in, n_out)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    bs = [np.full(n, bias) for n in sizes[1:]]
    return Ws, bs


def _case_deep(dtype):
    rng = np.random.default_rng(102)
    T, B, sizes = 12, 1, (4, 6, 5, 4, 3)
    Ws, bs = _weights(rng, sizes, 4.0, 0.1)
    return dict(model=_antlr_model(T), Ws=Ws, bs=bs, x=_raster(rng, T, B, sizes[0], 0.3),
                description="four spiking layers, moderate activity: every rule's signal crosses three hidden layers")


def _case_bursty(dtype):
    rng = np.random.default_rng(202)
    T, B, sizes = 16, 2, (4, 6, 3)
    Ws, bs = _weights(rng, sizes, 6.0, 0.6)
    Ws = [np.abs(W) for W in Ws]
    return dict(model=_antlr_model(T, 0.5, 0.5), Ws=Ws, bs=bs, x=_raster(rng, T, B, sizes[0], 0.5),
                description="strong positive weights and bias: runs of consecutive spikes (reset paths, Vstar after a spike)")


def _case_edges(dtype):
    rng = np.random.default_rng(303)
    T, B, sizes = 12, 2, (3, 5, 3)
    Ws, bs = _weights(rng, sizes, 1.0)
    Ws = [np.abs(W) * 12.0 for W in Ws]
    x = np.zeros((T, B, sizes[0]))
    x[0, 0, :] = 1.0
    x[T - 1, :, 1] = 1.0
    x[T // 2, 1, 2] = 1.0
    return dict(model=_antlr_model(T), Ws=Ws, bs=bs, x=x,
                description="input spikes at t = 0 and t = T-1 through weights large enough to fire at once: "
                            "spikes at the window edges")


def _case_near_threshold(dtype):
    """One output neuron's potential peaks at theta (1 + 1e-9) before its first spike."""
    from .. import Network, forward

    rng = np.random.default_rng(404)
    T, B, sizes = 14, 1, (4, 5, 2)
    model = _antlr_model(T)
    Ws, bs = _weights(rng, sizes, 2.0, 0.0)
    Ws[0] = np.abs(Ws[0]) * 2.0
    x = _raster(rng, T, B, sizes[0], 0.4)
    W1 = np.abs(Ws[1])
    Ws[1] = W1
    # scale column 0 of the last layer so that its peak potential (no spike yet: V linear in the
    # column) is theta * (1 + 1e-9): one spike with a tiny margin
    probe = Network([W.copy() for W in Ws], bs, model, dtype=np.float64)
    probe.weights[1][:, 0] *= 1e-6
    V = forward(probe, x).layers[1].V[:, 0, 0] / 1e-6
    Ws[1][:, 0] *= model.theta * (1 + 1e-9) / V.max()
    return dict(model=model, Ws=Ws, bs=bs, x=x,
                description="an output neuron whose potential peaks at theta (1 + 1e-9): a raster flip in "
                            "any other summation order is possible (threshold margin)")


def _case_silent_layer(dtype):
    rng = np.random.default_rng(505)
    T, B, sizes = 12, 2, (4, 5, 4, 3)
    Ws, bs = _weights(rng, sizes, 3.0, 0.0)
    bs[1] = np.full(sizes[2], -5.0)
    return dict(model=_antlr_model(T), Ws=Ws, bs=bs, x=_raster(rng, T, B, sizes[0], 0.4),
                description="the second spiking layer never fires (negative bias): silent output, "
                            "gradients only through the surrogate")


def _case_latency_stop(dtype):
    rng = np.random.default_rng(606)
    T, B, sizes = 30, 2, (4, 6, 3)
    Ws, bs = _weights(rng, sizes, 4.0, 1.0)
    Ws = [np.abs(W) for W in Ws]
    return dict(model=_antlr_model(T), Ws=Ws, bs=bs, x=_raster(rng, T, B, sizes[0], 0.3), loss="latency",
                latency_early_stop=True,
                description="latency loss with the official early stop: the trace ends when every output has fired")


def _tssl_case(seed, T, sizes, scale, p, description, pick=None):
    from .. import NeuronModel

    rng = np.random.default_rng(seed)
    model = NeuronModel.tsslbp(tau_m=5.0, tau_s=3.0)
    Ws, _ = _weights(rng, sizes, scale)
    x = _raster(rng, T, 2, sizes[0], p)
    target = np.zeros((T, 2, sizes[-1]))
    target[T // 3::4, :, 0] = 1.0
    return dict(model=model, Ws=Ws, bs=None, x=x, target=target, description=description)


def _case_tssl_warmup(dtype):
    return _tssl_case(707, 12, (5, 6, 3), 1.5, 0.5,
                      "TSSL-BP with sparse activity: the warm-up surrogate (a < 1/(4 tau_s)) decides most gradients")


def _case_tssl_clamp(dtype):
    """Constant drive just above theta/tau_m per step: slow crossings, 1/du above the clamp 8."""
    from .. import NeuronModel

    T, sizes = 24, (2, 3, 2)
    model = NeuronModel.tsslbp(tau_m=5.0, tau_s=3.0)
    # u grows to tau_m x: x slightly above theta / tau_m crosses slowly, du ~ x - u/tau_m small
    W0 = np.array([[0.205, 0.21, 0.26], [0.0, 0.0, 0.0]])
    W1 = np.array([[3.0, 0.5], [2.0, 1.0], [1.0, 3.0]])
    x = np.zeros((T, 2, 2))
    x[:, 0, 0] = 1.0
    x[:, 1, 0] = 1.1
    x[::3, 1, 1] = 1.0
    target = np.zeros((T, 2, 2))
    target[5::6, :, :] = 1.0
    return dict(model=model, Ws=[W0, W1], bs=None, x=x, target=target,
                description="TSSL-BP with slow threshold crossings: the clamp 1/du <= 8 is active")


def _case_tssl_deep(dtype):
    return _tssl_case(808, 10, (5, 6, 5, 3), 4.0, 0.5, "TSSL-BP, three spiking layers, dense activity")


#: name -> builder(dtype) returning the network, input and loss settings
STANDARD_CASES = {
    "deep": _case_deep,
    "bursty": _case_bursty,
    "edges": _case_edges,
    "near_threshold": _case_near_threshold,
    "silent_layer": _case_silent_layer,
    "latency_stop": _case_latency_stop,
    "tsslbp_warmup": _case_tssl_warmup,
    "tsslbp_clamp": _case_tssl_clamp,
    "tsslbp_deep": _case_tssl_deep,
}


def standard_case(name, dtype="float64", adjoints=True):
    """Build standard case ``name`` in ``dtype`` (a :class:`GoldenCase` named ``<name>-<f64|f32>``)."""
    from .. import Network

    if name not in STANDARD_CASES:
        raise ValueError(f"unknown standard case {name!r}; choose from {sorted(STANDARD_CASES)}.")
    spec = STANDARD_CASES[name](dtype)
    net = Network(spec["Ws"], spec["bs"], spec["model"], dtype=dtype)
    tag = "f64" if np.dtype(dtype) == np.float64 else "f32"
    return make_case(net, spec["x"], target=spec.get("target"), loss=spec.get("loss"),
                     latency_early_stop=spec.get("latency_early_stop", False), adjoints=adjoints,
                     name=f"{name}-{tag}", description=spec["description"])
