"""Training configuration: :class:`TrainConfig`, loaded from JSON presets / files and CLI overrides.

A configuration is a flat JSON object whose keys are exactly the fields of :class:`TrainConfig`
(keys starting with ``_``, e.g. ``"_comment"``, are ignored). Unknown keys are errors. Resolution
order (later wins)::

    TrainConfig defaults  <  preset or --config file  <  command-line overrides

The resolved configuration is validated (ranges, choices, combinations) and saved as
``config.json`` in the run directory, so a run can always be repeated or resumed from it.

Every field cites where its value comes from (spec = docs/ALGORITHMS.md; option names follow
spec section 11).
"""
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from importlib import resources

from ..errors import SnnrefError
from ..rules import RULES as _RULE_REGISTRY
from ..rules.options import ALL_OPTIONS as _RULE_OPTIONS
from ..rules.options import OPTIONS as _OPTIONS_BY_RULE

__all__ = ["TrainConfig", "ConfigError", "NAME_PATTERN", "MAX_EPOCHS", "list_presets", "load_preset", "preset_path",
           "resolve_config",
           "DATASETS", "ENCODINGS", "RULES", "LOSSES", "SELECTIONS"]

DATASETS = ("mnist", "fashion_mnist", "nmnist", "spike_train_task")
ENCODINGS = ("latency", "static", "rate")
RULES = tuple(_RULE_REGISTRY)
ANTLR_RULES = tuple(r for r in RULES if _RULE_REGISTRY[r].family == "antlr")
ANTLR_LOSSES = ("count", "latency", "spike_train")
TSSL_LOSSES = ("psp_kernel", "psp_count", "psp_softmax")
LOSSES = ANTLR_LOSSES + TSSL_LOSSES
SELECTIONS = ("first", "count", "psp")
#: rule -> config fields passed to snnref.backward as rule options (when not None): every option of
#: the rule's entry in the option table snnref.rules.options.OPTIONS
RULE_OPTION_NAMES = {rule: tuple(table) for rule, table in _OPTIONS_BY_RULE.items()}
OPTIMIZERS = ("sgd", "adam", "adamw")
INITS = ("torch_linear", "kaiming_normal", "normal")
NEURONS = ("antlr", "tsslbp")


#: run names: they become directory names under runs/, so no path separators, no leading dot
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,99}")
#: upper bounds that catch typos (1e30 epochs) before anything is allocated; memory is checked separately
MAX_EPOCHS = 100_000
MAX_T = 1_000_000
MAX_LAYER = 1_000_000
MAX_BATCH = 1_000_000
MAX_SAMPLES = 100_000_000


class ConfigError(SnnrefError):
    """A configuration is invalid (unknown key, wrong type, out-of-range value or bad combination)."""


@dataclass
class TrainConfig:
    """All settings of one training run (spec 7 experiments, spec 11 option names).

    Data and encoding
    -----------------
    name : label of the run (the preset name; used for the default run directory).
    dataset : "mnist" | "fashion_mnist" | "nmnist" | "spike_train_task" (spec 6, 7.2).
    data_dir : directory of the dataset files; None = the shipped MNIST copy / default location.
    encoding : "latency" (ANTLR, spec 6.1) | "static" (TSSL-BP analog current, spec 6.3) |
        "rate" (Bernoulli rate code, snnref extra). Ignored for nmnist / spike_train_task.
    T : simulated time steps (ANTLR MNIST 300, spec 7.5 / A19; TSSL-BP 5, spec 7.6).
    max_input_timing, min_input_timing : latency code, spike step = trunc((max - min) x + min)
        (spec 6.1, code defaults 0 / 24).
    input_mean, input_std : normalisation of the static code (spec 6.3: MNIST statistics 0.1307 /
        0.3081, also for Fashion-MNIST, A31).
    max_rate : spike probability per step of a white pixel for the rate code.
    nmnist_binning : "antlr" (1 ms bins, spec 6.2) | "tssl" (3 ms bins, spec 6.4).
    task_n_inputs, task_n_outputs, task_input_rate, task_n_target_spikes : spike-train task
        (spec 7.2 suggested defaults 100, 1, 0.05, 5; hidden size from ``hidden``).
    task_steps_per_epoch : optimiser steps per "epoch" on the fixed spike-train task set.

    Network and neuron
    ------------------
    hidden : hidden layer sizes, e.g. [800] (spec 7.3) or [400, 400] (spec 7.6).
    architecture : convolutional hidden layers in the official notation (spec 7.6, 8), e.g.
        "15C5-P2-40C5-P2-300" (``<C>C<k>`` convolution with optional ``p<pad>`` / ``s<stride>``,
        ``P<k>`` TSSL-BP sum pooling, ``D<p>`` dropout, ``<N>`` dense; see
        :func:`snnref.layers.parse_architecture`); the output layer is appended. None = the dense
        network of ``hidden``; when set, ``hidden`` must be [].
    neuron : "antlr" (NeuronModel.antlr, spec 1.1) | "tsslbp" (NeuronModel.tsslbp, spec 2.1).
    alpha_I, alpha_V : ANTLR per-step decays (Table A2: 0.99; Table A1: 0.95).
    beta_auto : ANTLR code default True: beta_I = 1, beta_V = beta_bias = 1/max kernel (spec 1.1, A4).
    beta_I, beta_V, beta_bias : explicit scales when beta_auto is False.
    theta : firing threshold (1 in both codes, A3).
    tau_m, tau_s : TSSL-BP time constants in steps (spec 7.6: 5 / 3).

    Rule and rule options (None = the rule's own default)
    ------------------------------------------------------
    rule : act_rnn | act_srm | act_slayer | timing | antlr | tsslbp (spec 3, 4, 11).
    The other fields of this group are the rule options of the option table
    snnref.rules.options.OPTIONS (defaults, allowed values and one line each there; listed by
    ``python -m snnref rules``), checked by that table; a rule uses only its own options:
    ste_alpha, ste_beta : surrogate sigma(v) = ste_alpha exp(-ste_beta |theta - v|) (spec 1.5).
    lambda_act, lambda_tim : ANTLR mixing weights (A9, code: 1, 1).
    vstar_mode, vstar_floor, timing_tau_min, timing_impl : timing path (A7: "code", 0.01; A6: 0; "aux").
    timing_penalty : Timing-rule penalty (A11: 100 in the official Timing presets, else 0).
    tssl_inv_du_max, tssl_variant, warmup_rate : TSSL-BP options (A26: 8; A25: "final"; 0.1).
    tssl_warmup, tssl_intra, tssl_float32_constants : TSSL-BP switches (official: true, true, false;
        see snnref.rules.tsslbp and scripts/ablation.py).
    impl : "fast" | "reference" (every rule; the same results).

    Loss (spec 5)
    -------------
    loss : count | latency | spike_train (ANTLR family) | psp_kernel | psp_count | psp_softmax (TSSL-BP).
    max_target_spikes, min_target_spikes : count loss targets (spec 5.1, Table A2: 1 / 0).
    beta_softmax, lambda_nospike : latency loss (spec 5.3, Table A2: 1; A12: 0.1).
    kappa_exp, train_tail : spike-train loss (spec 5.2, Table A1: 0.95; A15).
    tssl_target_pattern : kernel-loss target (A29: "final").
    desired_count, undesired_count : TSSL-BP count loss (spec 5.5, 7.6).

    Optimisation (spec 3.6, 7.5, 7.6)
    ---------------------------------
    optimizer : "sgd" | "adam" | "adamw"; lr; weight_decay; momentum (sgd); betas; eps.
    grad_clip_value : element-wise clip of weight and bias gradients (ANTLR, A14); None = off.
    grad_clip_norm : global L2-norm clip of the weight gradients (TSSL-BP 1, A14); None = off.
    nan_to_zero : replace NaN gradients by 0 (official ANTLR code, spec 3.6).
    weight_clamp : clamp weights to [-c, c] after every step (TSSL-BP 4, spec 7.6); None = off.
    lr_step_size, lr_gamma : StepLR per epoch (ANTLR code: 10, 0.1, spec 7.5); None = no schedule.
    init : "torch_linear" (ANTLR code, A35) | "kaiming_normal" (TSSL-BP, A35) | "normal".
    init_std : std of the "normal" scheme; init_scale : factor on the initial weights.
    init_bias : initial bias value (A10; Table A2 init_bias_center 1 -> 1.0).

    Loop and evaluation
    -------------------
    batch_size, test_batch_size : minibatch sizes (ANTLR 16, TSSL-BP 100). The test batch size
        does not change evaluation results (samples are simulated independently, no early stop).
    epochs : number of epochs.
    train_limit, test_limit, validation_limit : use only the first N samples (None = all).
    validation_size : samples of the 60000 training images held out for validation (ANTLR code:
        10000, spec 6.1 / 7.5); 0 = none (TSSL-BP: model selection on the test set, A33).
    selection : accuracy used for best-model selection: "first" (latency loss), "count" (count
        loss), "psp" (TSSL-BP); None = chosen from the loss (A17).
    latency_early_stop : official latency early stop during training (A13; evaluation never stops early).
    seed : seeds weight init, the validation split, shuffling and rate coding (np.random.default_rng).
    dtype : "float64" (reference) | "float32".
    """

    name: str = "custom"
    # data / encoding
    dataset: str = "mnist"
    data_dir: str = None
    encoding: str = "latency"
    T: int = 300
    max_input_timing: float = 0.0
    min_input_timing: float = 24.0
    input_mean: float = 0.1307
    input_std: float = 0.3081
    max_rate: float = 1.0
    nmnist_binning: str = "antlr"
    task_n_inputs: int = 100
    task_n_outputs: int = 1
    task_input_rate: float = 0.05
    task_n_target_spikes: int = 5
    task_steps_per_epoch: int = 1
    # network / neuron
    hidden: list = field(default_factory=lambda: [800])
    architecture: str = None
    neuron: str = "antlr"
    alpha_I: float = 0.99
    alpha_V: float = 0.99
    beta_auto: bool = True
    beta_I: float = 1.0
    beta_V: float = 1.0
    beta_bias: float = 1.0
    theta: float = 1.0
    tau_m: float = 5.0
    tau_s: float = 3.0
    # rule
    rule: str = "antlr"
    ste_alpha: float = None
    ste_beta: float = None
    lambda_act: float = None
    lambda_tim: float = None
    vstar_mode: str = None
    vstar_floor: float = None
    timing_tau_min: int = None
    timing_impl: str = None
    timing_penalty: float = None
    tssl_inv_du_max: float = None
    tssl_variant: str = None
    tssl_warmup: bool = None
    warmup_rate: float = None
    tssl_intra: bool = None
    tssl_float32_constants: bool = None
    impl: str = None
    # loss
    loss: str = "latency"
    max_target_spikes: int = 1
    min_target_spikes: int = 0
    beta_softmax: float = 1.0
    lambda_nospike: float = 0.1
    kappa_exp: float = 0.95
    train_tail: int = None
    tssl_target_pattern: str = "final"
    desired_count: int = 5
    undesired_count: int = 1
    # optimisation
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    grad_clip_value: float = None
    grad_clip_norm: float = None
    nan_to_zero: bool = True
    weight_clamp: float = None
    lr_step_size: int = None
    lr_gamma: float = 0.1
    init: str = "torch_linear"
    init_std: float = None
    init_scale: float = 1.0
    init_bias: float = 0.0
    # loop
    batch_size: int = 16
    test_batch_size: int = 64
    epochs: int = 1
    train_limit: int = None
    test_limit: int = None
    validation_size: int = 0
    validation_limit: int = None
    selection: str = None
    latency_early_stop: bool = False
    seed: int = 0
    dtype: str = "float64"

    # ------------------------------------------------------------------ construction
    @classmethod
    def field_names(cls):
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, data, *, source="config"):
        """Build and validate a config from a mapping; unknown keys raise :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source} must be a JSON object (mapping of option names to values); "
                              f"got {type(data).__name__}.")
        valid = cls.field_names()
        clean = {k: v for k, v in data.items() if not str(k).startswith("_")}
        unknown = sorted(k for k in clean if k not in valid)
        if unknown:
            raise ConfigError(
                f"{source} has unknown key(s) {unknown}. Valid keys: {', '.join(valid)}. "
                "(Keys starting with '_' are comments.)"
            )
        cfg = cls(**clean)
        return cfg.validated(source=source)

    @classmethod
    def from_json(cls, path):
        """Load a config file (JSON object); see :meth:`from_dict`."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ConfigError(f"config file {str(path)!r} does not exist. "
                              "Pass an existing JSON file or use --preset.") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {str(path)!r} is a directory; pass a JSON file "
                              "(e.g. <run dir>/config.json).") from None
        except PermissionError:
            raise ConfigError(f"config file {str(path)!r} cannot be read (permission denied).") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                              "save it as UTF-8 JSON.") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid JSON: {exc}. "
                              "Fix the file (a JSON object of options).") from None
        return cls.from_dict(data, source=f"config file {str(path)!r}")

    def replace(self, **changes):
        """A validated copy with some fields changed (unknown names raise ConfigError)."""
        data = self.to_dict()
        data.update(changes)
        return type(self).from_dict(data, source="config overrides")

    def to_dict(self):
        return asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    # ------------------------------------------------------------------ derived
    @property
    def family(self):
        """"tsslbp" or "antlr" (the rule family)."""
        return "tsslbp" if self.rule == "tsslbp" else "antlr"

    def rule_options(self):
        """Rule options to pass to :func:`snnref.backward`: those set (not None) that ``rule`` accepts.

        Options of other rules are ignored (e.g. ``timing_penalty`` after ``--rule antlr`` on the
        Timing preset), so one config can be re-run with another rule.
        """
        return {k: getattr(self, k) for k in RULE_OPTION_NAMES[self.rule] if getattr(self, k) is not None}

    # ------------------------------------------------------------------ validation
    def validated(self, source="config"):
        """Check types, ranges, choices and combinations; fill ``selection``. Returns self."""
        def err(msg):
            raise ConfigError(f"{source}: {msg}")

        def choice(name, options, allow_none=False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if v not in options:
                err(f"{name} must be one of {list(options)}; got {v!r}.")

        def integer(name, lo=None, allow_none=False, hi=None):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if isinstance(v, bool) or not isinstance(v, int):
                if isinstance(v, float) and v.is_integer():
                    v = int(v)
                    setattr(self, name, v)
                else:
                    err(f"{name} must be an integer{' or null' if allow_none else ''}; got {v!r}.")
            if lo is not None and v < lo:
                err(f"{name} must be >= {lo}; got {v}.")
            if hi is not None and v > hi:
                err(f"{name} must be <= {hi}; got {v}.")

        def real(name, lo=None, hi=None, lo_open=False, hi_open=False, allow_none=False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                err(f"{name} must be a number{' or null' if allow_none else ''}; got {v!r}.")
            v = float(v)
            setattr(self, name, v)
            if v != v or v in (float("inf"), float("-inf")):
                err(f"{name} must be finite; got {v}.")
            below = lo is not None and (v < lo or (lo_open and v == lo))
            above = hi is not None and (v > hi or (hi_open and v == hi))
            if below or above:
                left, right = "(" if lo_open else "[", ")" if hi_open else "]"
                rng = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
                err(f"{name} must be in {rng}; got {v}.")

        def boolean(name):
            if not isinstance(getattr(self, name), bool):
                err(f"{name} must be true or false; got {getattr(self, name)!r}.")

        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            err(f"name must be 1-100 letters, digits or . _ + = - (starting with a letter or digit; it names "
                f"the run directory runs/<name>-<time>); got {self.name!r}. Use --out DIR to choose a directory.")
        choice("dataset", DATASETS)
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            err(f"data_dir must be a path string or null; got {self.data_dir!r}.")
        choice("encoding", ENCODINGS)
        integer("T", lo=1, hi=MAX_T)
        real("max_input_timing", lo=0)
        real("min_input_timing", lo=0)
        real("input_mean")
        real("input_std", lo=0, lo_open=True)
        real("max_rate", lo=0, hi=1)
        choice("nmnist_binning", ("antlr", "tssl"))
        integer("task_n_inputs", lo=1, hi=MAX_LAYER)
        integer("task_n_outputs", lo=1, hi=MAX_LAYER)
        real("task_input_rate", lo=0, hi=1)
        integer("task_n_target_spikes", lo=0)
        integer("task_steps_per_epoch", lo=1, hi=MAX_SAMPLES)
        if not isinstance(self.hidden, (list, tuple)) or any(
                isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= MAX_LAYER for h in self.hidden):
            err(f"hidden must be a list of integers in [1, {MAX_LAYER}] (hidden layer sizes, [] for none); "
                f"got {self.hidden!r}.")
        self.hidden = list(self.hidden)
        if self.architecture is not None:
            from ..errors import SnnrefError
            from ..layers import parse_architecture

            if not isinstance(self.architecture, str):
                err(f"architecture must be a string like '15C5-P2-40C5-P2-300' or null; got {self.architecture!r}.")
            if self.hidden:
                err("give either hidden (dense layers) or architecture (convolutional network), not both; "
                    "set hidden to [].")
            if self.dataset not in ("mnist", "fashion_mnist", "nmnist"):
                err(f"architecture needs image data (mnist, fashion_mnist, nmnist); got dataset {self.dataset!r}.")
            try:
                parse_architecture(self.architecture, (1, 1, 1), 1)
            except SnnrefError as exc:
                err(str(exc))
        choice("neuron", NEURONS)
        real("alpha_I", lo=0, hi=1)
        real("alpha_V", lo=0, hi=1)
        boolean("beta_auto")
        real("beta_I", lo=0, lo_open=True)
        real("beta_V", lo=0, lo_open=True)
        real("beta_bias", lo=0)
        real("theta", lo=0, lo_open=True)
        real("tau_m", lo=1)
        real("tau_s", lo=1)
        choice("rule", RULES)
        for name, option in _RULE_OPTIONS.items():  # rule options: checked by the option table
            if getattr(self, name) is None:
                continue
            if option.kind == "bool":
                boolean(name)
                continue
            try:
                setattr(self, name, option.check(name, getattr(self, name)))
            except (TypeError, ValueError) as exc:
                err(str(exc))
        choice("loss", LOSSES)
        integer("max_target_spikes", lo=0)
        integer("min_target_spikes", lo=0)
        real("beta_softmax", lo=0, lo_open=True)
        real("lambda_nospike", lo=0)
        real("kappa_exp", lo=0, hi=1, hi_open=True)
        integer("train_tail", lo=0, allow_none=True)
        if not isinstance(self.tssl_target_pattern, str):
            err(f"tssl_target_pattern must be a string; got {self.tssl_target_pattern!r}.")
        integer("desired_count", lo=0)
        integer("undesired_count", lo=0)
        choice("optimizer", OPTIMIZERS)
        real("lr", lo=0, lo_open=True)
        real("weight_decay", lo=0)
        real("momentum", lo=0, hi=1, hi_open=True)
        if (not isinstance(self.betas, (list, tuple)) or len(self.betas) != 2
                or any(isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b < 1 for b in self.betas)):
            err(f"betas must be a list of two numbers in [0, 1); got {self.betas!r}.")
        self.betas = [float(b) for b in self.betas]
        real("eps", lo=0, lo_open=True)
        real("grad_clip_value", lo=0, lo_open=True, allow_none=True)
        real("grad_clip_norm", lo=0, lo_open=True, allow_none=True)
        boolean("nan_to_zero")
        real("weight_clamp", lo=0, lo_open=True, allow_none=True)
        integer("lr_step_size", lo=1, allow_none=True)
        real("lr_gamma", lo=0, lo_open=True)
        choice("init", INITS)
        real("init_std", lo=0, lo_open=True, allow_none=True)
        real("init_scale", lo=0, lo_open=True)
        real("init_bias")
        integer("batch_size", lo=1, hi=MAX_BATCH)
        integer("test_batch_size", lo=1, hi=MAX_BATCH)
        integer("epochs", lo=1, hi=MAX_EPOCHS)
        integer("train_limit", lo=1, allow_none=True, hi=MAX_SAMPLES)
        integer("test_limit", lo=1, allow_none=True, hi=MAX_SAMPLES)
        integer("validation_size", lo=0, hi=MAX_SAMPLES)
        integer("validation_limit", lo=1, allow_none=True, hi=MAX_SAMPLES)
        choice("selection", SELECTIONS, allow_none=True)
        boolean("latency_early_stop")
        integer("seed", lo=0)
        choice("dtype", ("float64", "float32"))

        # combinations
        if self.family == "tsslbp":
            if self.neuron != "tsslbp":
                err("rule 'tsslbp' needs neuron 'tsslbp' (PSP-output model, spec 2.3); set \"neuron\": \"tsslbp\".")
            if self.loss not in TSSL_LOSSES:
                err(f"rule 'tsslbp' needs a TSSL-BP loss {list(TSSL_LOSSES)}; got loss {self.loss!r}.")
        else:
            if self.neuron != "antlr":
                err(f"rule {self.rule!r} is an ANTLR-family rule and needs neuron 'antlr'; got {self.neuron!r}. "
                    "Use rule 'tsslbp' for TSSL-BP neurons.")
            if self.loss not in ANTLR_LOSSES:
                err(f"rule {self.rule!r} needs an ANTLR-family loss {list(ANTLR_LOSSES)}; got loss {self.loss!r}.")
        if (self.dataset == "spike_train_task") != (self.loss == "spike_train"):
            err("the spike_train loss goes with dataset 'spike_train_task' (and only with it, spec 7.2); "
                f"got dataset {self.dataset!r} with loss {self.loss!r}.")
        if self.neuron == "antlr" and self.dataset in ("mnist", "fashion_mnist") and self.encoding == "static":
            err("the static (analog current) encoding needs a TSSL-BP model; ANTLR neurons take spikes. "
                "Use encoding 'latency' or 'rate'.")
        if self.min_target_spikes > self.max_target_spikes:
            err(f"min_target_spikes ({self.min_target_spikes}) must be <= max_target_spikes "
                f"({self.max_target_spikes}).")
        if self.init == "normal" and self.init_std is None:
            err("init 'normal' needs init_std (the standard deviation of the weights).")
        if self.validation_size and self.dataset == "spike_train_task":
            err("validation_size must be 0 for the spike_train_task dataset.")
        if self.validation_limit is not None and not self.validation_size:
            err(f"validation_limit ({self.validation_limit}) needs a validation split, but validation_size is 0 "
                "(model selection uses the test set). Drop --validation-limit, or set validation_size.")
        if self.selection is None:
            self.selection = ("psp" if self.family == "tsslbp" else
                              "count" if self.loss == "count" else "first")
        if self.family == "tsslbp" and self.selection != "psp":
            err(f"selection {self.selection!r} needs spike read-outs of the ANTLR family; "
                "TSSL-BP runs use 'psp' (spec 5.7).")
        if self.architecture is not None and self.family != "tsslbp":
            err(f"convolutional networks (architecture) train with rule 'tsslbp' only so far; got rule {self.rule!r}.")
        if self.family == "antlr" and self.selection == "psp":
            err("selection 'psp' is the TSSL-BP read-out; use 'first' or 'count' for ANTLR-family rules.")
        return self


# ---------------------------------------------------------------------------------- presets
def _preset_dir():
    return resources.files("snnref") / "configs"


def list_presets():
    """Names of the shipped presets (snnref/configs/*.json), sorted."""
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".json"))


def preset_path(name):
    """Path of the preset ``name``; raises ConfigError naming the available presets."""
    names = list_presets()
    if name not in names:
        raise ConfigError(f"unknown preset {name!r}. Available presets: {', '.join(names)} (see `snnref presets`).")
    return os.fspath(_preset_dir() / f"{name}.json")


def load_preset(name):
    """The validated :class:`TrainConfig` of a shipped preset (its ``name`` is the preset name)."""
    path = preset_path(name)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    data.setdefault("name", name)
    return TrainConfig.from_dict(data, source=f"preset {name!r}")


def resolve_config(preset=None, config_file=None, overrides=None):
    """Resolve defaults < preset or config file < overrides (dict of field -> value, None = unset)."""
    if preset is not None and config_file is not None:
        raise ConfigError("give either a preset or a config file, not both.")
    if config_file is not None:
        cfg = TrainConfig.from_json(config_file)
    elif preset is not None:
        cfg = load_preset(preset)
    else:
        cfg = TrainConfig().validated()
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    if changes:
        # a new rule may need a different default selection
        if "rule" in changes or "loss" in changes:
            changes.setdefault("selection", None)
        cfg = cfg.replace(**changes)
    return cfg
