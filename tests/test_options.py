"""The option table (snnref/rules/options.py) is the one source of the rule options: the registry,
snnref.backward, the config, the ``rules`` sub-command and docs/OPTIONS.md all agree with it."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import snnref
from snnref.config import RULE_OPTION_NAMES, RULES, TrainConfig, resolve_config
from snnref.rules import RULES as REGISTRY
from snnref.rules.options import ALL_OPTIONS, OPTIONS, format_markdown, resolve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: a valid value different from the default, per option (None defaults get a concrete value)
NON_DEFAULT = {
    "ste_alpha": 0.5, "ste_beta": 1.5, "impl": "reference", "vstar_mode": "appendix", "vstar_floor": 0.2,
    "timing_tau_min": -1, "timing_impl": "explicit", "timing_penalty": 3.0, "lambda_act": 0.5, "lambda_tim": 2.0,
    "tssl_variant": "global_rate_switch", "tssl_inv_du_max": 4.0, "tssl_warmup": False, "warmup_rate": 0.3,
    "tssl_intra": False, "tssl_float32_constants": True,
}


def test_registry_config_and_table_name_the_same_rules():
    assert list(REGISTRY) == list(OPTIONS) == list(RULES) == list(snnref.backward.__globals__["RULES"])
    assert set(RULE_OPTION_NAMES) == set(OPTIONS)
    for rule, names in RULE_OPTION_NAMES.items():
        assert list(names) == list(OPTIONS[rule]), rule


def test_every_option_has_a_non_default_test_value():
    assert set(NON_DEFAULT) == set(ALL_OPTIONS)
    for rule, table in OPTIONS.items():
        for name, o in table.items():
            assert resolve(rule, {name: NON_DEFAULT[name]})[name] != resolve(rule, {})[name], (rule, name)


@pytest.mark.parametrize("rule", list(OPTIONS))
def test_every_rule_option_is_settable_from_a_config_file(rule, tmp_path):
    """A config file setting every option of ``rule`` to a non-default value passes them all to the rule."""
    family = REGISTRY[rule].family
    data = {"rule": rule, "neuron": "tsslbp" if family == "tsslbp" else "antlr",
            "loss": "psp_kernel" if family == "tsslbp" else "latency",
            "encoding": "static" if family == "tsslbp" else "latency"}
    data.update({name: NON_DEFAULT[name] for name in OPTIONS[rule]})
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(data))
    cfg = resolve_config(config_file=str(path))
    got = cfg.rule_options()
    assert got == {name: NON_DEFAULT[name] for name in OPTIONS[rule]}
    resolved = resolve(rule, got)  # the rule accepts them
    for name in OPTIONS[rule]:
        assert resolved[name] == NON_DEFAULT[name]


def test_config_rejects_bad_option_values_with_the_table_message():
    from snnref.config import ConfigError
    with pytest.raises(ConfigError, match="timing_impl must be one of"):
        TrainConfig().replace(timing_impl="slow")
    with pytest.raises(ConfigError, match=r"warmup_rate must be in \[0, 1\]"):
        TrainConfig().replace(warmup_rate=2.0)
    with pytest.raises(ConfigError, match="tssl_float32_constants must be true or false"):
        TrainConfig().replace(tssl_float32_constants="yes")


def test_backward_accepts_exactly_the_table_options():
    m = snnref.NeuronModel.antlr(0.9, 0.9, T=4)
    net = snnref.Network([np.ones((2, 2))], model=m)
    tr = snnref.forward(net, np.ones((4, 1, 2)))
    for rule in ("act_rnn", "act_srm", "act_slayer", "timing", "antlr"):
        g = snnref.backward(net, tr, rule, dL_dS=np.ones((4, 1, 2)))
        assert set(OPTIONS[rule]) <= set(g.options)
        with pytest.raises(TypeError, match="unknown option"):
            snnref.backward(net, tr, rule, dL_dS=np.ones((4, 1, 2)), not_an_option=1)


def test_docs_option_table_is_up_to_date():
    with open(os.path.join(ROOT, "docs", "OPTIONS.md"), encoding="utf-8") as f:
        text = f.read()
    assert format_markdown() in text


def test_rules_command_lists_every_option():
    out = subprocess.run([sys.executable, "-m", "snnref", "rules"], capture_output=True, text=True, check=True,
                         env=dict(os.environ)).stdout
    for rule, table in OPTIONS.items():
        assert f"{rule} (" in out
        for name in table:
            assert f"  {name} = " in out
    bad = subprocess.run([sys.executable, "-m", "snnref", "rules", "nope"], capture_output=True, text=True,
                         env=dict(os.environ))
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("snnref: error:")
