"""TrainConfig: loading, unknown keys, validation messages, resolution order, presets."""
import json

import pytest

from snnref.config import (ConfigError, RULE_OPTION_NAMES, TrainConfig, list_presets, load_preset, preset_path,
                           resolve_config)

EXPECTED_PRESETS = {"quickstart", "antlr-mnist-latency", "activation-mnist-latency", "timing-mnist-latency",
                    "tsslbp-mnist-mlp", "spike-train-matching"}


def test_defaults_are_valid():
    cfg = TrainConfig().validated()
    assert cfg.selection == "first"          # latency loss -> first-spike selection (A17)


def test_all_presets_present_and_valid():
    assert EXPECTED_PRESETS <= set(list_presets())
    for name in list_presets():
        cfg = load_preset(name)
        assert cfg.name == name
        with open(preset_path(name), encoding="utf-8") as f:
            raw = json.load(f)
        assert "_comment" in raw, f"preset {name} must document its choices in _comment"


def test_table_a2_values():
    """The three latency-MNIST presets carry the Table A2 values (spec 7.3)."""
    a, t, act = (load_preset(n) for n in ("antlr-mnist-latency", "timing-mnist-latency", "activation-mnist-latency"))
    for c in (a, t, act):
        assert c.hidden == [800] and c.T == 300 and c.alpha_I == c.alpha_V == 0.99 and c.beta_auto
        assert c.optimizer == "adam" and c.grad_clip_value == 1e6 and c.batch_size == 16 and c.epochs == 10
        assert c.validation_size == 10000 and c.weight_decay == 0.0
    assert (a.rule, a.loss, a.lr, a.init_bias, a.ste_alpha, a.ste_beta, a.beta_softmax) == \
        ("antlr", "latency", 1e-3, 1.0, 1.0, 3.0, 1.0)
    assert (t.rule, t.loss, t.lr, t.init_bias, t.timing_penalty) == ("timing", "latency", 1e-4, 1.0, 100.0)
    assert (act.rule, act.loss, act.lr, act.init_bias, act.max_target_spikes, act.min_target_spikes) == \
        ("act_srm", "count", 1e-3, 0.0, 1, 0)
    assert act.selection == "count" and a.selection == "first"


def test_tsslbp_preset_values():
    c = load_preset("tsslbp-mnist-mlp")
    assert (c.hidden, c.T, c.tau_m, c.tau_s, c.theta) == ([400, 400], 5, 5.0, 3.0, 1.0)
    assert (c.optimizer, c.lr, c.weight_decay, c.batch_size) == ("adamw", 5e-4, 0.01, 100)
    assert (c.grad_clip_norm, c.weight_clamp, c.init, c.encoding, c.loss) == (1.0, 4.0, "kaiming_normal", "static",
                                                                             "psp_kernel")
    assert c.selection == "psp" and c.validation_size == 0


def test_unknown_key_names_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['learning_rate'\]\. Valid keys: .*\blr\b"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_comment_keys_ignored():
    assert TrainConfig.from_dict({"_comment": "anything", "T": 30}).T == 30


@pytest.mark.parametrize("changes, pattern", [
    ({"T": 0}, r"T must be >= 1; got 0"),
    ({"T": 2.5}, r"T must be an integer"),
    ({"lr": -1.0}, r"lr must be in \(0"),
    ({"alpha_V": 1.5}, r"alpha_V must be in \[0, 1\]; got 1.5"),
    ({"dtype": "float16"}, r"dtype must be one of \['float64', 'float32'\]"),
    ({"rule": "bptt"}, r"rule must be one of \["),
    ({"hidden": [8, 0]}, r"hidden must be a list of positive integers"),
    ({"betas": [0.9]}, r"betas must be a list of two numbers"),
    ({"beta_auto": 1}, r"beta_auto must be true or false"),
    ({"grad_clip_value": 0.0}, r"grad_clip_value must be in \(0"),
    ({"kappa_exp": 1.0}, r"kappa_exp must be in \[0, 1\); got 1.0"),
    ({"rule": "tsslbp"}, r"rule 'tsslbp' needs neuron 'tsslbp'"),
    ({"neuron": "tsslbp"}, r"needs neuron 'antlr'"),
    ({"loss": "psp_kernel"}, r"needs an ANTLR-family loss"),
    ({"loss": "spike_train"}, r"spike_train loss goes with dataset 'spike_train_task'"),
    ({"encoding": "static"}, r"static \(analog current\) encoding needs a TSSL-BP model"),
    ({"init": "normal"}, r"init 'normal' needs init_std"),
    ({"min_target_spikes": 2}, r"min_target_spikes \(2\) must be <= max_target_spikes \(1\)"),
    ({"selection": "psp"}, r"selection 'psp' is the TSSL-BP read-out"),
    ({"lambda_nospike": float("nan")}, r"lambda_nospike must be finite"),
])
def test_validation_messages(changes, pattern):
    with pytest.raises(ConfigError, match=pattern):
        TrainConfig.from_dict(changes)


def test_not_a_mapping():
    with pytest.raises(ConfigError, match="must be a JSON object"):
        TrainConfig.from_dict([1, 2])


def test_resolution_order(tmp_path):
    # preset < overrides
    cfg = resolve_config(preset="antlr-mnist-latency", overrides={"epochs": 3, "seed": None, "rule": "timing"})
    assert cfg.epochs == 3 and cfg.seed == 0 and cfg.rule == "timing" and cfg.lr == 1e-3
    # config file < overrides
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"T": 40, "hidden": [5], "seed": 7}))
    cfg = resolve_config(config_file=str(path), overrides={"seed": 9})
    assert (cfg.T, cfg.hidden, cfg.seed) == (40, [5], 9)
    with pytest.raises(ConfigError, match="either a preset or a config file"):
        resolve_config(preset="quickstart", config_file=str(path))


def test_override_rule_resets_selection():
    cfg = resolve_config(preset="activation-mnist-latency", overrides={"rule": "antlr"})
    assert cfg.selection == "count"            # loss still count
    cfg = resolve_config(preset="tsslbp-mnist-mlp", overrides={"epochs": 1})
    assert cfg.selection == "psp"


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_json(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        TrainConfig.from_json(str(bad))
    with pytest.raises(ConfigError, match=r"unknown preset 'nope'\. Available presets: .*quickstart"):
        load_preset("nope")


def test_round_trip():
    cfg = load_preset("spike-train-matching")
    again = TrainConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg


def test_rule_options_only_those_of_the_rule():
    cfg = load_preset("timing-mnist-latency")
    assert cfg.rule_options() == {"timing_penalty": 100.0}
    switched = cfg.replace(rule="antlr", ste_alpha=1.0)
    assert "timing_penalty" not in switched.rule_options()
    assert switched.rule_options() == {"ste_alpha": 1.0}
    from snnref.rules.options import OPTIONS
    assert set(RULE_OPTION_NAMES) == set(OPTIONS)
    for rule, names in RULE_OPTION_NAMES.items():
        assert set(names) == set(OPTIONS[rule]), rule
