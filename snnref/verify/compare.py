r"""``snnref.verify.verify``: compare a candidate implementation's numbers with a reference case.

What is compared (docs/VERIFYING.md): every address present in both the reference case and the
candidate. Per quantity q (an array r of the reference, c of the candidate) the error is the
max-norm relative error::

    err(q) = max |c - r| / scale(r),     scale(r) = max |r|  (1 if r is all zero)

and q passes when err(q) <= rtol(kind, dtype) (:data:`TOLERANCES`, measured, see
scripts/measure_tolerances.py). Spike rasters S must agree exactly. An element diverges when
|c - r| > rtol * scale(r) (S: when c != r; NaN or inf in c always diverges).

First divergence (the root cause, not a consequence):

* forward order: t ascending, then layer ascending, then I, V, S, du, a, then sample, then neuron
  (a topological order of the forward recurrences of spec 1.1/2.1: nothing earlier in this order
  depends on anything later, so the first diverging element has only agreeing causes);
* backward order of spec 3.7: t descending, then layer descending (output first), then the
  adjoints in the order the rule forms them (dS, Tprop, dT, dV, dV_dep, dI, E1, E2; TSSL-BP: E,
  A, rho, G_tssl, G); then dW, db, layer descending.

At a forward divergence the threshold margin V_ref - theta (and the candidate's) is reported; a
raster flip (S differs) at a margin below ``NEAR_THRESHOLD_FACTOR`` times the forward tolerance is
flagged ``near_threshold``: it can come from a legitimate change of summation order.

The fingerprint re-runs snnref on the reference's input with model variants (no current reset,
strict threshold, input delayed by one step, a square weight transposed, float32 arithmetic) and
with every rule and documented option variant, and reports which the candidate matches instead.
"""
import json
import math
import os

import numpy as np

from ..errors import SnnrefError
from .golden import FORWARD_NAMES, GoldenCase, GoldenError, expected_shape, read_case

__all__ = ["verify", "VerifyReport", "TOLERANCES", "NEAR_THRESHOLD_FACTOR", "ADJOINT_ORDER"]

#: max-norm relative tolerances per dtype and kind of quantity. Measured by
#: scripts/measure_tolerances.py (docs/VERIFYING.md): the largest error observed between snnref and
#: an independent implementation with another summation order, times a safety factor.
TOLERANCES = {
    "float64": {"forward": 1e-10, "loss": 1e-10, "adjoints": 1e-9, "gradients": 1e-9},
    "float32": {"forward": 1e-4, "loss": 1e-4, "adjoints": 1e-3, "gradients": 1e-3},
}
#: a raster flip whose reference margin |V - theta| is below this factor times the forward tolerance
#: (relative to max |V|) is flagged ``near_threshold``
NEAR_THRESHOLD_FACTOR = 10.0
#: order in which the rules form their adjoints within one (t, layer) (spec 3.7, 4.2)
ADJOINT_ORDER = ("dS", "Tprop", "dT", "dV", "dV_dep", "dI", "E1", "E2", "E", "A", "rho", "G_tssl", "G", "intra")
_LAYOUTS = ("TBN", "BTN")
_WEIGHT_LAYOUTS = ("in_out", "out_in")


def _kind(address):
    head = address.split("/")[0]
    return {"input": "forward", "params": "forward", "forward": "forward", "loss": "loss",
            "gradients": "gradients", "adjoints": "adjoints"}.get(head)


def _flatten(obj, prefix=""):
    """Nested mappings {"forward": {0: {"V": arr}}} -> {"forward/0/V": arr}; flat keys are kept."""
    out = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "/"))
        elif isinstance(v, (list, tuple)) and v and not np.isscalar(v[0]) and np.asarray(v[0]).ndim > 0 \
                and key.split("/")[-1] in ("dW", "db", "W", "b"):
            for l, a in enumerate(v):
                out[f"{key}/{l}"] = a
        else:
            out[key] = v
    return out


def _load(obj, what, partial):
    if isinstance(obj, GoldenCase):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return read_case(obj, partial=partial)
    if isinstance(obj, dict) and partial:
        return GoldenCase(attrs={}, model={}, arrays=_flatten(obj))
    raise TypeError(f"{what} must be a golden file path or a GoldenCase"
                    + (", or a dict of arrays by address" if partial else "") + f"; got {type(obj).__name__}.")


def _convert(address, arr, layout, weight_layout, ref_shape, ref_dtype):
    """Candidate array -> reference layout (time-major, W as (in, out)) as float64, with checks."""
    if hasattr(arr, "detach"):  # a torch tensor: a clear hint rather than a confusing failure
        raise SnnrefError(f"candidate {address} is a tensor; pass tensor.detach().cpu().numpy().")
    try:
        a = np.asarray(arr)
    except Exception as exc:
        raise SnnrefError(f"candidate {address}: not convertible to an array ({exc}).") from exc
    if a.dtype.kind not in "fiub":
        raise SnnrefError(f"candidate {address}: dtype {a.dtype} is not numeric.")
    parts = address.split("/")
    is_w = (parts[0] == "params" and parts[1] == "W") or (parts[0] == "gradients" and parts[2] == "dW")
    if a.ndim == 3 and layout == "BTN":
        a = a.transpose(1, 0, 2)
    if is_w and weight_layout == "out_in" and a.ndim == 2:
        a = a.T
    if a.shape != ref_shape:
        hint = ""
        if a.ndim == 3 and a.shape == (ref_shape[1], ref_shape[0], ref_shape[2]):
            other = "BTN" if layout == "TBN" else "TBN"
            hint = f" It fits with layout={other!r} (your arrays are {'batch' if other == 'BTN' else 'time'}-first)."
        elif a.ndim == 2 and a.shape == ref_shape[::-1]:
            other = "out_in" if weight_layout == "in_out" else "in_out"
            hint = f" It fits with weight_layout={other!r} (e.g. torch.nn.Linear weights are (out, in))."
        raise SnnrefError(f"candidate {address} has shape {tuple(np.asarray(arr).shape)} "
                          f"(after layout {layout}/{weight_layout}: {a.shape}); the reference has {ref_shape}.{hint}")
    return np.asarray(a, dtype=np.float64), a.dtype


class _Q:
    """Comparison of one quantity."""

    def __init__(self, address, r, c, rtol):
        self.address = address
        self.kind = _kind(address)
        self.r, self.c, self.rtol = r, c, rtol
        diff = np.abs(c - r)
        finite = np.isfinite(c)
        self.exact = address.endswith("/S")
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        self.scale = scale if scale > 0 else 1.0
        if self.exact:
            self.mask = c != r
            self.err = float(np.count_nonzero(self.mask))
            self.ok = self.err == 0
        else:
            self.mask = (diff > rtol * self.scale) | ~finite
            self.err = math.inf if not finite.all() else (float(diff.max()) / self.scale if r.size else 0.0)
            self.ok = not self.mask.any()
        self.max_abs = float(np.max(np.where(finite, diff, np.inf))) if r.size else 0.0

    def summary(self):
        d = {"quantity": self.address, "kind": self.kind, "ok": bool(self.ok), "shape": list(self.r.shape),
             "mismatches": int(np.count_nonzero(self.mask))}
        if self.exact:
            d["rule"] = "exact"
        else:
            d.update(max_rel_error=_num(self.err), max_abs_error=_num(self.max_abs), rtol=self.rtol)
        return d


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else str(v)


def _parse(address):
    parts = address.split("/")
    if parts[0] == "forward":
        return {"layer": int(parts[1]), "name": parts[2]}
    if parts[0] == "adjoints":
        return {"rule": parts[1], "layer": int(parts[2]), "name": parts[3]}
    if parts[0] == "gradients":
        return {"rule": parts[1], "layer": int(parts[3]), "name": parts[2]}
    return {"layer": None, "name": parts[-1]}


def _order_index(name, order):
    return order.index(name) if name in order else len(order)


def _first_in_time(qs, descending, order):
    """The first diverging element over quantities of shape (T, B, N) in (t, layer, name) order."""
    best = None
    for q in qs:
        if q.ok or q.r.ndim != 3:
            continue
        p = _parse(q.address)
        ts = np.flatnonzero(q.mask.reshape(q.mask.shape[0], -1).any(axis=1))
        t = int(ts[-1] if descending else ts[0])
        layer = p["layer"] if p["layer"] is not None else -1
        key = (-t, -layer) if descending else (t, layer)
        key = key + (_order_index(p["name"], order),)
        if best is None or key < best[0]:
            best = (key, q, t)
    if best is None:
        return None
    _, q, t = best
    b, n = (int(i) for i in np.argwhere(q.mask[t])[0])
    return _element(q, (t, b, n), t=t, b=b, neuron=n)


def _element(q, idx, **where):
    p = _parse(q.address)
    r, c = float(q.r[idx]), float(q.c[idx])
    out = {"quantity": p["name"], "address": q.address, "layer": p["layer"], "t": None, "b": None, "neuron": None}
    if "rule" in p:
        out["rule"] = p["rule"]
    out.update(where)
    out.update(reference=r, candidate=_num(c), abs_error=_num(abs(c - r)),
               rel_error=_num(abs(c - r) / q.scale), tolerance=None if q.exact else q.rtol * q.scale)
    return out


def _first_gradient(qs):
    best = None
    for q in qs:
        if q.ok:
            continue
        p = _parse(q.address)
        key = (-p["layer"], 0 if p["name"] == "dW" else 1)
        if best is None or key < best[0]:
            best = (key, q)
    if best is None:
        return None
    q = best[1]
    idx = tuple(int(i) for i in np.argwhere(q.mask)[0])
    el = _element(q, idx, neuron=idx[-1])
    if len(idx) == 2:
        el["input"] = idx[0]
    return el


class VerifyReport:
    """Result of :func:`verify`.

    Attributes: ``ok`` (bool), ``quantities`` (list of per-quantity dicts), ``first_divergence``
    (dict or None), ``forward_divergence``, ``backward_divergence`` (rule -> dict), ``fingerprint``
    (dict), ``not_compared`` (address -> reason), ``notes`` (list of str). ``to_dict()``,
    ``to_json()``, ``summary()`` (human-readable text).
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def to_dict(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def to_json(self, **kw):
        return json.dumps(self.to_dict(), default=_json_default, **kw)

    def summary(self):
        lines = [f"{'OK' if self.ok else 'DIVERGES'}: {self.n_ok}/{len(self.quantities)} quantities within tolerance "
                 f"(reference {self.reference}, dtype {self.dtype})"]
        bad = [q for q in self.quantities if not q["ok"]]
        for q in bad[:10]:
            if True:
                err = f"{q['mismatches']} spikes differ" if q.get("rule") == "exact" else \
                    f"max rel error {q['max_rel_error']:.3g} > rtol {q['rtol']:.3g}" if isinstance(q["max_rel_error"], float) \
                    else f"max rel error {q['max_rel_error']}"
                lines.append(f"  {q['quantity']}: {err}")
        if len(bad) > 10:
            lines.append(f"  ... and {len(bad) - 10} more (--json lists every quantity)")
        fd = self.first_divergence
        if fd:
            where = ", ".join(f"{k} {fd[k]}" for k in ("rule", "layer", "t", "b", "neuron", "input")
                              if fd.get(k) is not None)
            lines.append(f"first divergence ({fd['order']} order): {fd['quantity']} at {where}: "
                         f"reference {fd['reference']!r}, candidate {fd['candidate']!r}")
            if fd.get("margin") is not None:
                lines.append(f"  threshold margin V - theta: reference {fd['margin']:.3g}"
                             + (f", candidate {fd['candidate_margin']:.3g}" if fd.get("candidate_margin") is not None else "")
                             + (" (near threshold: a flip can come from summation order)" if fd.get("near_threshold") else ""))
        for hint in self.fingerprint.get("hints", []):
            lines.append(f"hint: {hint}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def verify(reference, candidate, *, layout="TBN", weight_layout="in_out", rtol=None, tolerances=None,
           fingerprint=True):
    """Compare ``candidate`` with the reference case; return a :class:`VerifyReport`.

    Parameters
    ----------
    reference : path of a golden file, or GoldenCase (e.g. from :func:`snnref.verify.make_case`)
    candidate : path of a file of the same schema (may hold any part of it), a GoldenCase, or a dict
        of arrays by address (``{"forward/0/V": V0, "gradients/act_rnn/dW/0": dW0, ...}``; nested
        dicts ``{"forward": {0: {"V": V0}}}`` and lists ``{"gradients/act_rnn/dW": [dW0, dW1]}``
        are flattened).
    layout : "TBN" (time-major, snnref) or "BTN" (batch-first, PyTorch): layout of the candidate's
        (T, B, N) arrays.
    weight_layout : "in_out" (snnref W^l (N_in, N_out)) or "out_in" (``torch.nn.Linear.weight``):
        layout of the candidate's ``params/W`` and ``gradients/*/dW``.
    rtol : float, overrides every tolerance.   tolerances : dict kind -> rtol, overrides some.
    fingerprint : re-run snnref variants to say what the candidate matches instead.

    Raises SnnrefError (exit status 2 on the command line) for unusable input: unreadable files,
    shapes that do not fit (with the layout hint that would make them fit), nothing to compare.
    """
    if layout not in _LAYOUTS:
        raise SnnrefError(f"layout must be one of {_LAYOUTS}; got {layout!r}.")
    if weight_layout not in _WEIGHT_LAYOUTS:
        raise SnnrefError(f"weight_layout must be one of {_WEIGHT_LAYOUTS}; got {weight_layout!r}.")
    ref = _load(reference, "reference", partial=False)
    cand = _load(candidate, "candidate", partial=True)
    dtype = np.dtype(ref.attrs["dtype"]).name
    tol = dict(TOLERANCES[dtype])
    if tolerances:
        unknown = set(tolerances) - set(tol)
        if unknown:
            raise SnnrefError(f"tolerances keys must be among {sorted(tol)}; got {sorted(unknown)}.")
        tol.update({k: float(v) for k, v in tolerances.items()})
    if rtol is not None:
        rtol = float(rtol)
        if not (rtol >= 0 and math.isfinite(rtol)):
            raise SnnrefError(f"rtol must be a finite number >= 0; got {rtol}.")
        tol = {k: rtol for k in tol}
    sizes, T, B = ref.sizes, ref.T, ref.B
    qs, not_compared, notes = [], {}, []
    cand_dtypes = set()
    for address in sorted(cand.arrays):
        if address in ("input/x",):
            not_compared[address] = "input (not a result)"
            continue
        if expected_shape(address, sizes, T, B, int(ref.attrs["T_full"])) is None:
            raise SnnrefError(f"candidate address {address!r} is not an address of the golden schema "
                              "(forward/<l>/<I|V|S|du|a>, gradients/<rule>/<dW|db>/<l>, adjoints/<rule>/<l>/<name>, "
                              "loss/<value|dL_dS|dL_dt|dL_da>, params/<W|b>/<l>; <l> is the 0-based spiking layer; "
                              f"this case has {len(sizes) - 1} spiking layers).")
        if address not in ref.arrays:
            not_compared[address] = "not in the reference"
            continue
        r = np.asarray(ref.arrays[address], dtype=np.float64)
        shape = np.shape(cand.arrays[address])
        T_full = int(ref.attrs["T_full"])
        if len(shape) == 3 and T_full != T and shape[0 if layout == "TBN" else 1] == T_full:
            raise SnnrefError(f"candidate {address} has {T_full} steps, but the reference trace stops at "
                              f"T_sim = {T} (latency early stop, spec 5.3): compare the first {T} steps.")
        c, cdt = _convert(address, cand.arrays[address], layout, weight_layout, r.shape, dtype)
        cand_dtypes.add(np.dtype(cdt).name)
        qs.append(_Q(address, r, c, tol[_kind(address)]))
    if not qs:
        raise SnnrefError("the candidate has no quantity in common with the reference; nothing to compare "
                          f"(candidate addresses: {sorted(cand.arrays)[:8]}).")
    if "float32" in cand_dtypes and dtype == "float64":
        notes.append("candidate arrays are float32 but the reference is float64: compare with a float32 "
                     "reference (the *-f32 golden cases) or compute in float64.")
    fwd = [q for q in qs if q.kind == "forward" and q.address.startswith("forward/")]
    forward_div = _first_in_time(fwd, False, FORWARD_NAMES)
    if forward_div:
        forward_div["order"] = "forward"
        _add_margin(forward_div, ref, cand, qs, tol["forward"], layout)
    loss_div = _first_in_time([q for q in qs if q.kind == "loss"], False, ("dL_dS", "dL_dt", "dL_da"))
    if loss_div is None:
        lv = [q for q in qs if q.address == "loss/value" and not q.ok]
        if lv:
            loss_div = _element(lv[0], ())
    if loss_div:
        loss_div["order"] = "loss"
    backward_div = {}
    for rule in sorted({_parse(q.address)["rule"] for q in qs if q.kind in ("adjoints", "gradients")}):
        adj = [q for q in qs if q.kind == "adjoints" and _parse(q.address)["rule"] == rule]
        d = _first_in_time(adj, True, ADJOINT_ORDER)
        if d is None:
            d = _first_gradient([q for q in qs if q.kind == "gradients" and _parse(q.address)["rule"] == rule])
        if d:
            d["order"] = "backward"
            backward_div[rule] = d
    params_div = [q for q in qs if q.address.startswith("params/") and not q.ok]
    first = forward_div or loss_div or (next(iter(backward_div.values())) if backward_div else None)
    if first is None and params_div:
        first = _element(params_div[0], tuple(int(i) for i in np.argwhere(params_div[0].mask)[0]))
        first["order"] = "parameters"
    fp = {"hints": []}
    if fingerprint and first is not None:
        try:
            from .fingerprint import fingerprint as _fp

            fp = _fp(ref, qs, forward_div, backward_div, tol, dtype)
        except SnnrefError as exc:
            notes.append(f"no fingerprint: {exc}")
    ok = all(q.ok for q in qs)
    return VerifyReport(
        ok=ok, reference=ref.path or ref.attrs.get("name"), dtype=dtype, tolerances=tol,
        quantities=[q.summary() for q in qs], n_ok=sum(q.ok for q in qs), first_divergence=first,
        forward_divergence=forward_div, loss_divergence=loss_div, backward_divergence=backward_div,
        fingerprint=fp, not_compared=not_compared, notes=notes,
        threshold_margins=_margins(ref),
    )


def _margins(ref):
    out = []
    theta = float(ref.model["theta"])
    for l in range(ref.n_layers):
        V = ref.arrays.get(f"forward/{l}/V")
        if V is None or V.size == 0:
            continue
        m = np.abs(V.astype(np.float64) - theta)
        idx = tuple(int(i) for i in np.unravel_index(np.argmin(m), m.shape))
        out.append({"layer": l, "min_abs_margin": float(m[idx]), "t": idx[0], "b": idx[1], "neuron": idx[2]})
    return out


def _add_margin(div, ref, cand, qs, rtol_fwd, layout):
    l, t, b, n = div["layer"], div["t"], div["b"], div["neuron"]
    theta = float(ref.model["theta"])
    Vr = ref.arrays.get(f"forward/{l}/V")
    div["margin"] = div["candidate_margin"] = None
    div["raster_flip"] = div["quantity"] == "S"
    div["near_threshold"] = False
    if Vr is None:
        return
    div["margin"] = float(Vr[t, b, n]) - theta
    Vq = [q for q in qs if q.address == f"forward/{l}/V"]
    if Vq:
        div["candidate_margin"] = float(Vq[0].c[t, b, n]) - theta
    scale = max(float(np.max(np.abs(Vr))), theta)
    if div["raster_flip"] and abs(div["margin"]) <= NEAR_THRESHOLD_FACTOR * rtol_fwd * scale:
        div["near_threshold"] = True
