"""The one table of rule options: rule -> option name -> :class:`Option` (default, allowed values,
one-line doc). Names follow spec section 11.

Everything that knows about rule options reads this table: :func:`resolve` (the checks of
:func:`snnref.backward`), :mod:`snnref.config` (every option is a config key; ``None`` there means
the rule's default), the ``rules`` sub-command of the command line, and the option lists in the
docs (:func:`format_table`). A new rule adds one entry to :data:`OPTIONS` (reusing the shared groups
below where they apply).
"""
import numpy as np

from .. import _validate as validate

__all__ = ["Option", "OPTIONS", "ALL_OPTIONS", "resolve", "format_table", "format_markdown"]


class Option:
    """One rule option: ``default``; ``kind`` "real" (range lo..hi, open ends optional), "choice"
    (one of ``choices``), "bool" or "int_choice" (an integer of ``choices``, bool rejected; ``hint`` lists them); ``doc``
    one line; ``hint`` appended to range errors; ``none_default`` maps ``None`` to a value from the
    other resolved options (e.g. a variant's own default)."""

    def __init__(self, default, kind, doc, *, choices=(), lo=None, hi=None, lo_open=False, hi_open=False,
                 hint="", none_default=None):
        self.default = default
        self.kind = kind
        self.doc = doc
        self.choices = tuple(choices)
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open
        self.hint = hint
        self.none_default = none_default

    def check(self, name, value):
        """Return the checked value (floats for "real"); raise TypeError/ValueError saying what to do."""
        if self.kind == "real":
            return validate.check_scalar(value, name, lo=self.lo, hi=self.hi, lo_open=self.lo_open,
                                         hi_open=self.hi_open, hint=self.hint)
        if self.kind == "choice":
            return validate.check_choice(value, name, self.choices)
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False; got {value!r}.")
            return bool(value)
        # int_choice
        if isinstance(value, (bool, np.bool_)) or value not in self.choices:
            raise ValueError(f"{name} must be {self.hint}; got {value!r}.")
        return int(value)

    def allowed(self):
        """The allowed values as text (for tables and help)."""
        if self.kind == "real":
            if self.lo is None and self.hi is None:
                return "real"
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            lo = "-inf" if self.lo is None else f"{self.lo:g}"
            hi = "inf" if self.hi is None else f"{self.hi:g}"
            text = f"real in {left}{lo}, {hi}{right}"
            return text + (" or None" if self.none_default is not None else "")
        if self.kind == "bool":
            return "True | False"
        return " | ".join(repr(c) for c in self.choices)


# --------------------------------------------------------------------------------------- shared groups
SURROGATE = {
    "ste_alpha": Option(1.0, "real", "surrogate height: sigma(v) = ste_alpha exp(-ste_beta |v - theta|) "
                        "(spec 1.5; timing accepts and ignores it)", lo=0.0),
    "ste_beta": Option(3.0, "real", "surrogate sharpness ste_beta of sigma(v) (spec 1.5)", lo=0.0),
}
IMPL = {
    "impl": Option("fast", "choice", "implementation: 'fast' or 'reference' (the readable per-layer loops; "
                   "the same results)", choices=("fast", "reference")),
}
TIMING = {
    "vstar_mode": Option("code", "choice", "Vstar of (T2): 'code' V[t] - (1 - S[t-1]) V[t-1], 'appendix' "
                         "V[t] - V[t-1] (spec 1.4, A7)", choices=("code", "appendix")),
    "vstar_floor": Option(0.01, "real", "floor of Vstar, keeps -dT / Vstar finite (spec 1.4)", lo=0.0, lo_open=True,
                          hint="The floor guards the division -dT / Vstar (spec 1.4); the official value is 0.01."),
    "timing_tau_min": Option(0, "int_choice", "0: (T3) sums n = 0..n_max (official); -1: adds the n = -1 term "
                             "of the appendix listing (spec A6)", choices=(0, -1),
                             hint="0 (official code) or -1 (appendix listing, adds the n = -1 term)"),
    "timing_impl": Option("aux", "choice", "(T3) by the O(1) traces E1/E2 ('aux') or the explicit O(T) causal "
                          "sums ('explicit', a slow reference)", choices=("aux", "explicit")),
}

_INV_DU_MAX_DEFAULT = {"final": 8.0, "global_rate_switch": 10.0}

#: rule -> option name -> Option. The order is that of the checks and of the docs.
OPTIONS = {
    "act_rnn": {**SURROGATE, **IMPL},
    "act_srm": {**SURROGATE, **IMPL},
    "act_slayer": {**SURROGATE, **IMPL},
    "timing": {**SURROGATE, **IMPL, **TIMING, "timing_penalty": Option(
        0.0, "real", "push on silent neurons: dW -= (penalty / N_in) mean_b [never fired] (spec 3.4, A11; "
        "official Timing runs 100)", lo=0.0,
        hint="It is the strength of the push on silent neurons (official 'Timing' runs use 100).")},
    "antlr": {**SURROGATE, **IMPL, **TIMING,
              "lambda_act": Option(1.0, "real", "weight of the activation path in dV (spec 3.5, A9)"),
              "lambda_tim": Option(1.0, "real", "weight of the timing path in dV (spec 3.5, A9)")},
    "tsslbp": {
        "tssl_variant": Option("final", "choice", "'final' (Dec 2020 code) or 'global_rate_switch' (Sep 2020 "
                               "code, spec 4.5, A25)", choices=("final", "global_rate_switch")),
        "tssl_inv_du_max": Option(None, "real", "clamp of 1/du at spike steps; None = the variant's official "
                                  "value (8 final, 10 Sep 2020; A26)", lo=0.0, lo_open=True,
                                  hint="It bounds 1/du at spike steps (official: 8 in the final code, 10 in Sep 2020).",
                                  none_default=lambda opt: _INV_DU_MAX_DEFAULT[opt["tssl_variant"]]),
        "tssl_warmup": Option(True, "bool", "warm-up override G = f(u) A where a < 1/(4 tau_s) (spec 4.3); False = "
                              "pure TSSL-BP"),
        "warmup_rate": Option(0.1, "real", "layer firing rate above which 'global_rate_switch' uses TSSL "
                              "(unused by 'final')", lo=0.0, hi=1.0,
                              hint="It is the layer firing rate (spikes per neuron and step) above which the "
                                   "Sep 2020 code uses TSSL."),
        "tssl_intra": Option(True, "bool", "keep the intra-neuron term of (P1); False = ablation, not an "
                             "official variant"),
        "tssl_float32_constants": Option(False, "bool", "threshold, tau_s, theta_m as the official float32 "
                                         "torch storage (1e-8-level comparisons with official runs)"),
        **IMPL,
    },
}

#: every option name of any rule -> its Option (the first rule's, where rules share a name)
ALL_OPTIONS = {}
for _table in OPTIONS.values():
    for _name, _opt in _table.items():
        ALL_OPTIONS.setdefault(_name, _opt)


def resolve(rule, options):
    """The options of ``rule``: defaults updated by ``options``, each checked (unknown names raise
    TypeError naming the allowed ones). ``rule`` must be a key of :data:`OPTIONS`."""
    table = OPTIONS[rule]
    validate.check_options(options, table, f"rule {rule!r}")
    opt = {name: o.default for name, o in table.items()}
    opt.update(options)
    for name, o in table.items():
        if opt[name] is None and o.none_default is not None:
            opt[name] = o.none_default(opt)
        opt[name] = o.check(name, opt[name])
    return opt


def format_table(rules=None):
    """The option table as text, one line per option (``rules``: names, default all)."""
    lines = []
    for rule in (rules or OPTIONS):
        lines.append(f"{rule}:")
        for name, o in OPTIONS[rule].items():
            lines.append(f"  {name} = {o.default!r}  ({o.allowed()})  {o.doc}")
    return "\n".join(lines)


def format_markdown(rules=None):
    """The option table as Markdown (one row per rule option)."""
    def cell(text):
        return text.replace("|", "\\|")

    lines = ["| rule | option | default | allowed | meaning |", "|---|---|---|---|---|"]
    for rule in (rules or OPTIONS):
        for name, o in OPTIONS[rule].items():
            lines.append(f"| `{rule}` | `{name}` | `{o.default!r}` | {cell(o.allowed())} | {cell(o.doc)} |")
    return "\n".join(lines)
