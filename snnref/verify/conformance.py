r"""Conformance suite for other implementations of the ANTLR-family rules (docs/VERIFYING.md).

``snnref conformance --adapter package.module:factory`` imports ``factory``, calls it once, and
draws Hypothesis cases (network depth and widths, T, B, neuron parameters, input rasters, weights,
loss gradients, rules, dtypes). For each case it calls the adapter and compares with snnref by
:func:`snnref.verify.verify`. Hypothesis shrinks a failure to a minimal case, which is saved as a
golden file (the snnref reference) plus the adapter's numbers in the same schema, so that
``snnref verify MINIMAL.h5 MINIMAL-candidate.h5`` reproduces the report.

Adapter protocol (plain NumPy, no snnref types)::

    adapter.name            str
    adapter.rules           rule names it implements (subset of act_rnn, act_srm, act_slayer, timing, antlr)
    adapter.dtypes          subset of ("float64", "float32")
    adapter.layout          "TBN" (default) or "BTN": layout of x, dL_dS, dL_dt and of what it returns
    adapter.weight_layout   "in_out" (default) or "out_in": layout of the weights it receives and of dW
    adapter.forward(problem)        -> {"I": [...], "V": [...], "S": [...]}  one array per spiking layer
    adapter.backward(problem, rule) -> {"dW": [...], "db": [...], "adjoints": [dict per layer] (optional)}

``problem`` is a dict: ``model`` (alpha_I, alpha_V, beta_I, beta_V, beta_bias, theta,
reset_current, strict_threshold), ``weights``, ``biases``, ``x``, ``dL_dS``, ``dL_dt`` (arrays in
the problem's dtype and the adapter's layouts), ``dtype`` ("float64"/"float32"), ``options`` (rule
options: ste_alpha, ste_beta). ``backward`` runs its own forward first, as a port does. Adjoint
names and meanings are those of snnref (docs/VERIFYING.md); return only those you have.

Raster flips at near-threshold potentials (reference margin below the tolerance, see
:data:`snnref.verify.compare.NEAR_THRESHOLD_FACTOR`) are not failures: such a case is discarded.
"""
import importlib
import os
import sys
import time

import numpy as np

from ..errors import SnnrefError
from .cases import ANTLR_RULES
from .golden import SCHEMA, SCHEMA_VERSION, GoldenCase, write_case

__all__ = ["run_conformance", "load_adapter", "ConformanceResult", "problem_arrays"]


def load_adapter(spec):
    """``"package.module:factory"`` -> the adapter object returned by ``factory()``."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise SnnrefError(f"--adapter must be 'package.module:factory'; got {spec!r}.")
    mod, fn = spec.split(":")
    try:
        module = importlib.import_module(mod)
    except ImportError as exc:
        raise SnnrefError(f"cannot import adapter module {mod!r}: {exc}. Is it on PYTHONPATH?") from exc
    factory = getattr(module, fn, None)
    if not callable(factory):
        raise SnnrefError(f"module {mod!r} has no callable {fn!r}.")
    try:
        adapter = factory()
    except Exception as exc:
        raise SnnrefError(f"calling the adapter factory {spec} failed: {type(exc).__name__}: {exc}") from exc
    for attr in ("rules", "forward", "backward"):
        if not hasattr(adapter, attr):
            raise SnnrefError(f"adapter {spec} lacks {attr!r} (see the adapter protocol in docs/VERIFYING.md).")
    return adapter


class ConformanceResult:
    """``ok``, ``examples`` (cases run), ``discarded`` (near-threshold flips), ``report`` (VerifyReport of
    the minimal failing case or None), ``files`` (saved minimal case and candidate), ``error`` (str)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


class _Failure(Exception):
    def __init__(self, report, ref, cand, message):
        super().__init__(message)
        self.report, self.ref, self.cand = report, ref, cand


def _draw_case(data, rules, dtypes):
    import hypothesis.strategies as st

    n_layers = data.draw(st.integers(1, 3), label="n_layers")
    sizes = tuple(data.draw(st.lists(st.integers(1, 4), min_size=n_layers + 1, max_size=n_layers + 1), label="sizes"))
    T = data.draw(st.integers(1, 10), label="T")
    B = data.draw(st.integers(1, 2), label="B")
    model = dict(
        alpha_I=data.draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]), label="alpha_I"),
        alpha_V=data.draw(st.sampled_from([0.5, 0.9, 0.99, 1.0]), label="alpha_V"),
        beta_I=1.0, beta_V=data.draw(st.sampled_from([0.25, 0.5, 1.0]), label="beta_V"),
        beta_bias=data.draw(st.sampled_from([0.0, 0.5]), label="beta_bias"), theta=1.0,
        reset_current=True, strict_threshold=False, psp_output=False,
    )
    return dict(
        sizes=sizes, T=T, B=B, model=model,
        rule=data.draw(st.sampled_from(sorted(rules)), label="rule"),
        dtype=data.draw(st.sampled_from(sorted(dtypes, reverse=True)), label="dtype"),  # float64 first
        seed=data.draw(st.integers(0, 2 ** 16), label="seed"),
        weight_scale=data.draw(st.sampled_from([0.5, 1.5, 3.0]), label="weight_scale"),
        density=data.draw(st.sampled_from([0.2, 0.5]), label="density"),
        ste_beta=data.draw(st.sampled_from([3.0, 1.0]), label="ste_beta"),
    )


def _reference(case):
    """The snnref reference GoldenCase of a drawn case (random loss gradients from the case seed)."""
    from .. import Network, NeuronModel, __version__, backward, forward

    rng = np.random.default_rng(case["seed"])
    sizes, T, B, dt = case["sizes"], case["T"], case["B"], case["dtype"]
    Ws = [rng.normal(0, case["weight_scale"], (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(0, 0.5, b) for b in sizes[1:]]
    x = (rng.random((T, B, sizes[0])) < case["density"]).astype(np.float64)
    net = Network(Ws, bs, NeuronModel(**case["model"]), dtype=dt)
    trace = forward(net, x)
    dLdS = rng.normal(0, 1, (T, B, sizes[-1])).astype(dt)
    dLdt = (rng.normal(0, 1, (T, B, sizes[-1])) * trace.layers[-1].S).astype(dt)
    opts = {"ste_beta": case["ste_beta"]}
    rule = case["rule"]
    g = backward(net, trace, rule, dL_dS=dLdS, dL_dt=dLdt, return_adjoints=True, **opts)
    arrays = {"input/x": trace.x, "loss/dL_dS": dLdS, "loss/dL_dt": dLdt}
    for l in range(net.n_layers):
        arrays[f"params/W/{l}"] = net.weights[l]
        arrays[f"params/b/{l}"] = net.biases[l]
        for n in ("I", "V", "S"):
            arrays[f"forward/{l}/{n}"] = getattr(trace.layers[l], n)
        arrays[f"gradients/{rule}/dW/{l}"] = g.dW[l]
        arrays[f"gradients/{rule}/db/{l}"] = g.db[l]
        for k, v in g.adjoints[l].items():
            arrays[f"adjoints/{rule}/{l}/{k}"] = v
    attrs = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "name": f"conformance-{rule}", "description":
             f"minimal failing conformance case (seed {case['seed']}, random loss gradients)", "dtype": np.dtype(dt).name,
             "T": T, "T_full": T, "B": B, "sizes": np.asarray(sizes, dtype=np.int64), "rules": rule,
             "loss": "random", "latency_early_stop": False, "snnref_version": __version__}
    model = dict(case["model"])
    return GoldenCase(attrs=attrs, model=model, arrays=arrays, rule_options={rule: dict(g.options)}), opts


def problem_arrays(ref, adapter, options):
    """The ``problem`` dict of the adapter protocol for a reference case (in the adapter's layouts)."""
    layout = getattr(adapter, "layout", "TBN")
    wl = getattr(adapter, "weight_layout", "in_out")
    dt = ref.attrs["dtype"]

    def tl(a):
        a = np.asarray(a, dtype=dt)
        return np.ascontiguousarray(a.transpose(1, 0, 2)) if layout == "BTN" else a.copy()

    def wt(a):
        a = np.asarray(a, dtype=dt)
        return np.ascontiguousarray(a.T) if wl == "out_in" else a.copy()

    m = {k: ref.model[k] for k in ("alpha_I", "alpha_V", "beta_I", "beta_V", "beta_bias", "theta",
                                   "reset_current", "strict_threshold")}
    return dict(model=m, weights=[wt(w) for w in ref.weights], biases=[np.asarray(b, dtype=dt).copy() for b in ref.biases],
                x=tl(ref.x[:ref.T]), dL_dS=tl(ref.arrays["loss/dL_dS"]), dL_dt=tl(ref.arrays["loss/dL_dt"]),
                dtype=dt, options=dict(options))


def _candidate(adapter, problem, rule, n_layers):
    cand = {}
    f = adapter.forward(problem)
    for n in ("I", "V", "S"):
        for l, a in enumerate(f.get(n) or []):
            cand[f"forward/{l}/{n}"] = a
    g = adapter.backward(problem, rule)
    for key in ("dW", "db"):
        for l, a in enumerate(g.get(key) or []):
            cand[f"gradients/{rule}/{key}/{l}"] = a
    for l, d in enumerate(g.get("adjoints") or []):
        for k, v in (d or {}).items():
            cand[f"adjoints/{rule}/{l}/{k}"] = v
    return cand


def run_conformance(adapter, *, max_examples=50, seed=0, rules=None, dtypes=None, out_dir=None, progress=None):
    """Run the suite on ``adapter`` (object or "module:factory"); return a :class:`ConformanceResult`.

    On failure the minimal case is written to ``out_dir`` (if given) as ``<name>.h5`` (reference)
    and ``<name>-candidate.h5`` (the adapter's numbers, converted to snnref layouts).
    """
    try:
        import hypothesis
        import hypothesis.strategies as st
        from hypothesis import HealthCheck, settings
    except ImportError as exc:
        raise SnnrefError("the conformance suite needs hypothesis: pip install hypothesis "
                          "(or pip install 'snnref[test]').") from exc
    from .compare import verify

    if isinstance(adapter, str):
        adapter = load_adapter(adapter)
    have = [r for r in getattr(adapter, "rules", ()) if r in ANTLR_RULES]
    rules = [r for r in (rules or have) if r in have]
    if not rules:
        raise SnnrefError(f"the adapter implements none of the requested ANTLR-family rules {rules or ANTLR_RULES}; "
                          f"it declares {list(getattr(adapter, 'rules', ()))}.")
    dtypes = [d for d in (dtypes or getattr(adapter, "dtypes", ("float64",))) if d in ("float64", "float32")]
    if not dtypes:
        raise SnnrefError("no usable dtype (float64 / float32) for this adapter.")
    stats = {"examples": 0, "discarded": 0}
    t0 = time.monotonic()

    def check(case):
        stats["examples"] += 1
        if progress and stats["examples"] % 10 == 0:
            progress(f"{stats['examples']} cases, {time.monotonic() - t0:.0f} s")
        ref, opts = _reference(case)
        problem = problem_arrays(ref, adapter, opts)
        try:
            cand = _candidate(adapter, problem, case["rule"], ref.n_layers)
        except Exception as exc:  # the adapter crashed: a failure to shrink like any other
            raise _Failure(None, ref, None, f"the adapter raised {type(exc).__name__}: {exc}") from exc
        try:
            rep = verify(ref, cand, layout=getattr(adapter, "layout", "TBN"),
                         weight_layout=getattr(adapter, "weight_layout", "in_out"), fingerprint=False)
        except SnnrefError as exc:
            raise _Failure(None, ref, cand, f"unusable adapter output: {exc}") from exc
        fd = rep.first_divergence
        if not rep.ok and fd and fd.get("near_threshold"):
            stats["discarded"] += 1
            hypothesis.reject()
        if not rep.ok:
            raise _Failure(rep, ref, cand, "diverges")

    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=False, print_blob=False,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @hypothesis.seed(seed)
    @hypothesis.given(st.data())
    def suite(data):
        check(_draw_case(data, rules, dtypes))

    try:
        suite()
    except _Failure as fail:
        files = []
        report = fail.report
        if fail.cand is not None and report is not None:
            report = verify(fail.ref, fail.cand, layout=getattr(adapter, "layout", "TBN"),
                            weight_layout=getattr(adapter, "weight_layout", "in_out"))
        if out_dir:
            files = _save(fail, adapter, out_dir)
        return ConformanceResult(ok=False, examples=stats["examples"], discarded=stats["discarded"], report=report,
                                 files=files, error=str(fail), case=fail.ref)
    except hypothesis.errors.Unsatisfiable as exc:
        raise SnnrefError(f"no usable case could be drawn ({exc}).") from exc
    return ConformanceResult(ok=True, examples=stats["examples"], discarded=stats["discarded"], report=None,
                             files=[], error=None, case=None)


def _save(fail, adapter, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    name = fail.ref.attrs["name"] + "-minimal"
    ref_path = os.path.join(out_dir, name + ".h5")
    write_case(fail.ref, ref_path)
    files = [ref_path]
    if fail.cand is not None:
        from .compare import _convert

        arrays = {}
        for a, v in fail.cand.items():
            if a in fail.ref.arrays:
                c, _ = _convert(a, v, getattr(adapter, "layout", "TBN"), getattr(adapter, "weight_layout", "in_out"),
                                fail.ref.arrays[a].shape, fail.ref.attrs["dtype"])
                arrays[a] = c.astype(fail.ref.arrays[a].dtype)
        attrs = dict(fail.ref.attrs, name=name + "-candidate", description=f"output of adapter {getattr(adapter, 'name', '?')}")
        cpath = os.path.join(out_dir, name + "-candidate.h5")
        write_case(GoldenCase(attrs=attrs, model=dict(fail.ref.model), arrays=arrays), cpath)
        files.append(cpath)
    return files


def main_progress(msg):
    sys.stderr.write(msg + "\n")
