"""Fingerprint of a diverging candidate: which snnref model variant or rule/options it matches instead.

Used by :func:`snnref.verify.verify` (``fingerprint=True``). Every variant is a real snnref run on
the reference case's input, so a match is an exact statement ("your dW equals act_srm's"), not a
guess. A match is "all of the candidate's quantities of that kind within the tolerance".
"""
import numpy as np

from .cases import ANTLR_RULES

__all__ = ["fingerprint", "RULE_VARIANTS", "HINTS"]

#: (rule, options) variants tried for a diverging rule, besides the five ANTLR-family rules
RULE_VARIANTS = {
    "antlr": [("timing", {}), ("antlr", {"vstar_mode": "appendix"}), ("antlr", {"timing_tau_min": -1}),
              ("antlr", {"lambda_tim": 0.0}), ("antlr", {"lambda_act": 0.0})],
    "timing": [("timing", {"vstar_mode": "appendix"}), ("timing", {"timing_tau_min": -1})],
    "tsslbp": [("tsslbp", {"tssl_variant": "global_rate_switch"}), ("tsslbp", {"tssl_warmup": False}),
               ("tsslbp", {"tssl_intra": False})],
}

#: (expected rule, matched variant label) -> explanation
HINTS = {
    ("act_rnn", "act_srm"): "the reset paths of (R1) (spec 3.1: -alpha_I I dI[t+1] - alpha_V V dV[t+1]) are missing "
                            "or detached from the graph",
    ("act_rnn", "act_slayer"): "the reset paths and the (1 - S) gates are missing",
    ("act_srm", "act_rnn"): "the reset paths are differentiated (BPTT through the reset = act_rnn); "
                            "Algorithm 1 treats the reset as constant",
    ("act_srm", "act_slayer"): "the (1 - S) gates of (C1)/(C2) are missing (spec 3.3)",
    ("antlr", "act_srm"): "the timing part (T1)-(T3) is missing",
    ("antlr", "antlr lambda_tim=0.0"): "the timing part (T1)-(T3) is missing",
    ("antlr", "timing"): "the activation part is missing",
    ("antlr", "antlr lambda_act=0.0"): "the activation part is missing",
    ("antlr", "antlr vstar_mode=appendix"): "Vstar ignores the reset after a spike at t-1 (appendix form, spec 1.4)",
    ("timing", "timing vstar_mode=appendix"): "Vstar ignores the reset after a spike at t-1 (appendix form, spec 1.4)",
    ("antlr", "antlr timing_tau_min=-1"): "(T3) includes an n = -1 term (appendix listing); the code starts at n = 0",
    ("timing", "timing timing_tau_min=-1"): "(T3) includes an n = -1 term (appendix listing); the code starts at n = 0",
    ("tsslbp", "tsslbp tssl_warmup=False"): "the warm-up surrogate (spec 4.3, P2) is missing",
    ("tsslbp", "tsslbp tssl_intra=False"): "the intra-neuron term of (P1) is missing",
    ("tsslbp", "tsslbp tssl_variant=global_rate_switch"): "this is the Sep 2020 code (spec 4.5), not the final one",
}

_FWD_HINTS = {
    "reset_current": "the current reset is {what} (spec 1.1 Eq. 1: a spike at t-1 zeroes alpha_I I[t-1] "
                     "when reset_current=True)",
    "strict_threshold": "the threshold comparison is {what} (ANTLR: V >= theta; TSSL-BP: V > theta)",
    "delay": "the candidate's forward is the reference delayed by one step: an off-by-one in time "
             "(spec 1.1: an input spike at t acts on V[t], no synaptic delay)",
    "advance": "the candidate's forward is the reference one step early: an off-by-one in time",
    "transpose": "weights[{l}] is used transposed (a square layer cannot be detected by shape; "
                 "torch.nn.Linear.weight is (out, in) = W^T)",
    "float32": "the candidate agrees with snnref run in float32: float32 arithmetic where float64 is claimed",
}


def _label(rule, opts):
    return rule + "".join(f" {k}={v}" for k, v in opts.items())


def _match(qs, arrays, rtol):
    """All candidate quantities ``qs`` agree with ``arrays`` (address -> array) within rtol."""
    if not qs:
        return False
    for q in qs:
        a = arrays.get(q.address)
        if a is None or a.shape != q.c.shape:
            return False
        a = np.asarray(a, dtype=np.float64)
        if q.exact:
            if np.any(a != q.c):
                return False
        else:
            scale = float(np.max(np.abs(a))) or 1.0
            if not np.all(np.abs(q.c - a) <= rtol * scale):
                return False
    return True


def _forward_arrays(net, x, latency):
    from .. import forward

    tr = forward(net, x, latency_early_stop=latency)
    out = {}
    for l, lt in enumerate(tr.layers):
        for n in ("I", "V", "S", "du", "a"):
            v = getattr(lt, n)
            if v is not None:
                out[f"forward/{l}/{n}"] = v
    return out, tr


def _stored_post_reset(ref, fq, l, rtol, out):
    """The candidate's V of layer l equals the reference's V (1 - S): stored after the reset."""
    S = ref.arrays.get(f"forward/{l}/S")
    for q in fq:
        if q.address != f"forward/{l}/V" or q.ok or S is None:
            continue
        if _match([q], {q.address: q.r * (1 - np.asarray(S, dtype=np.float64))}, rtol):
            out["forward"].append("post_reset:V")
            out["hints"].append(f"your V of layer {l} equals snnref's V (1 - S): you store it after the reset; "
                                "snnref stores the pre-reset value (the one compared with theta, spec 1.1)")


def _scale_factor(q, B, rtol, out):
    """The candidate is a constant multiple k != 1 of the reference (a normalisation difference)."""
    rr = float(np.sum(q.r * q.r))
    if rr == 0 or not np.all(np.isfinite(q.c)):
        return
    k = float(np.sum(q.c * q.r)) / rr
    if abs(k - 1) < 1e-6 or not np.all(np.abs(q.c - k * q.r) <= rtol * q.scale * max(1.0, abs(k))):
        return
    what = ""
    if B > 1 and abs(k * B - 1) < 1e-6:
        what = " = 1/B: you average over the batch; snnref sums over it (the loss carries the 1/B, spec 0)"
    elif B > 1 and abs(k / B - 1) < 1e-6:
        what = " = B: you sum where the reference averages over the batch (check the loss normalisation)"
    elif abs(k + 1) < 1e-6:
        what = ": the sign is flipped"
    out.setdefault("scale", {})[q.address] = k
    out["hints"].append(f"{q.address} equals {k:.6g} x the reference{what}")


def fingerprint(ref, qs, forward_div, backward_div, tol, dtype):
    """Return {"forward": [labels], "gradients": {rule: [labels]}, "precision": str or None, "hints": [...]}."""
    from ..errors import SnnrefError
    from .. import Network
    from .compare import TOLERANCES

    out = {"forward": [], "gradients": {}, "precision": None, "hints": []}
    net = ref.network()
    x = ref.x
    latency = bool(ref.attrs.get("latency_early_stop", False))
    m = net.model
    # forward variants are judged on the layer of the first divergence (a per-layer bug such as an
    # input delay of every layer shifts layer l by l + 1 steps; the first layer shows the cause)
    fq = [q for q in qs if forward_div and q.address.startswith(f"forward/{forward_div['layer']}/")]
    if forward_div and fq:
        variants = []
        if not m.psp_output:
            variants.append(("reset_current", dict(model=m.replace(reset_current=not m.reset_current))))
        variants.append(("strict_threshold", dict(model=m.replace(strict_threshold=not m.strict_threshold))))
        xd = np.zeros_like(x)
        xd[1:] = x[:-1]
        variants.append(("delay", dict(x=xd)))
        xa = np.zeros_like(x)
        xa[:-1] = x[1:]
        variants.append(("advance", dict(x=xa)))
        for l, W in enumerate(net.weights):
            if W.shape[0] == W.shape[1]:
                Ws = [w.copy() for w in net.weights]
                Ws[l] = np.ascontiguousarray(W.T)
                variants.append((f"transpose:{l}", dict(weights=Ws)))
        if dtype == "float64":
            variants.append(("float32", dict(dtype=np.float32)))
        for label, v in variants:
            try:
                vnet = Network(v.get("weights", net.weights), net.biases, v.get("model", m),
                               dtype=v.get("dtype", net.dtype))
                arrays, _ = _forward_arrays(vnet, v.get("x", x), latency)
            except (SnnrefError, ValueError, TypeError):
                continue
            rt = TOLERANCES["float32"]["forward"] if label == "float32" else tol["forward"]
            if _match(fq, arrays, rt):
                out["forward"].append(label)
                key, _, l = label.partition(":")
                what = "missing" if getattr(m, key, False) else "present"
                if key == "strict_threshold":
                    what = "'>'" if not m.strict_threshold else "'>='"
                out["hints"].append(_FWD_HINTS[key].format(what=what, l=l))
                if key == "float32":
                    out["precision"] = "float32"
    if forward_div and fq:
        _stored_post_reset(ref, fq, forward_div["layer"], tol["forward"], out)
    for q in qs:
        if q.kind in ("gradients", "adjoints", "loss") and not q.ok:
            _scale_factor(q, ref.B, tol[q.kind], out)
    gq_rules = {r for r in backward_div}
    if gq_rules and not forward_div:
        from .. import backward

        _, trace = _forward_arrays(net, x, latency)
        grads = ref.loss_gradients()
        for rule in sorted(gq_rules):
            cq = [q for q in qs if q.address.startswith(f"gradients/{rule}/")]
            if not cq:
                continue
            tried = [(r, {}) for r in (("tsslbp",) if m.psp_output else ANTLR_RULES)] + RULE_VARIANTS.get(rule, [])
            matches = []
            for vr, vopts in tried:
                base = dict(ref.rule_options.get(vr, {})) if vr == rule else {}
                base = {k: v for k, v in base.items() if k not in ("nan_to_zero", "grad_clip_value", "grad_clip_norm")}
                base.update(vopts)
                try:
                    kw = dict(grads)
                    if vr != "tsslbp":
                        kw.pop("dL_da", None)
                    g = backward(net, trace, vr, **kw, **base)
                except (SnnrefError, ValueError, TypeError):
                    continue
                arrays = {f"gradients/{rule}/dW/{l}": g.dW[l] for l in range(net.n_layers)}
                arrays.update({f"gradients/{rule}/db/{l}": g.db[l] for l in range(net.n_layers)})
                label = _label(vr, vopts)
                if label == rule:
                    continue
                if _match(cq, arrays, tol["gradients"]):
                    matches.append(label)
            # weights gradient given transposed (square layers)
            tq = []
            for q in cq:
                if q.address.split("/")[2] == "dW" and q.c.shape[0] == q.c.shape[1] and not q.ok:
                    if np.all(np.abs(q.c.T - q.r) <= tol["gradients"] * q.scale):
                        tq.append(q.address)
            out["gradients"][rule] = matches
            for lab in matches:
                why = HINTS.get((rule, lab))
                out["hints"].append(f"your gradients for {rule} equal snnref's {lab}" + (f": {why}" if why else ""))
            for a in tq:
                out["hints"].append(f"{a} equals the reference transposed: the candidate gives dW as (out, in); "
                                    "pass weight_layout='out_in' (or transpose it)")
    if out["precision"] is None and dtype == "float64":
        errs = [q.err for q in qs if not q.exact and not q.ok and np.isfinite(q.err)]
        if errs and not forward_div or (forward_div and forward_div["quantity"] != "S" and errs):
            if max(errs) < 1e-4 and min(errs) > 1e-9:
                out["precision"] = "float32-like"
                out["hints"].append("the errors (%.1e..%.1e) are at float32 rounding level: float32 arithmetic or "
                                    "storage where float64 is claimed" % (min(errs), max(errs)))
    return out
