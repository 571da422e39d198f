"""The trainer: run directory contents, metrics, resume equality, learning, active presets at init."""
import json
import os

import numpy as np
import pytest

from snnref import checkpoint as ckpt
from snnref import encoders, forward
from snnref.config import TrainConfig, load_preset
from snnref.data import load_mnist
from snnref.train import TIME_KEYS, RunError, build_network, evaluate, evaluate_run, load_data, train

#: a tiny ANTLR run on latency-coded MNIST (T 30 keeps every latency spike, t_in <= 23)
TINY = dict(name="tiny", T=30, hidden=[8], train_limit=48, test_limit=32, batch_size=16, test_batch_size=16,
            epochs=2, rule="antlr", ste_alpha=1.0, ste_beta=3.0, loss="latency", init_scale=5.0, init_bias=1.0,
            grad_clip_value=1e6, lr_step_size=1, lr_gamma=0.5)

TINY_TSSL = dict(name="tiny-tssl", dataset="mnist", encoding="static", T=5, hidden=[8, 8], neuron="tsslbp",
                 rule="tsslbp", loss="psp_kernel", optimizer="adamw", lr=5e-4, weight_decay=0.01,
                 grad_clip_norm=1.0, weight_clamp=4.0, init="kaiming_normal", nan_to_zero=False,
                 batch_size=16, test_batch_size=16, train_limit=32, test_limit=32, epochs=1)

TASK = dict(name="task", dataset="spike_train_task", loss="spike_train", T=40, task_n_inputs=20, hidden=[10],
            task_n_outputs=1, task_input_rate=0.1, task_n_target_spikes=3, task_steps_per_epoch=20,
            alpha_I=0.95, alpha_V=0.95, rule="antlr", ste_alpha=0.3, ste_beta=1.0, optimizer="adam", lr=1e-2,
            init_scale=2.0, batch_size=2, test_batch_size=2, train_limit=2, epochs=3)


def _cfg(base, **changes):
    d = dict(base)
    d.update(changes)
    return TrainConfig.from_dict(d)


def _strip_times(obj):
    if isinstance(obj, dict):
        return {k: _strip_times(v) for k, v in obj.items() if k not in TIME_KEYS}
    if isinstance(obj, list):
        return [_strip_times(v) for v in obj]
    return obj


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = str(tmp_path_factory.mktemp("runs") / "full")
    events = []
    metrics = train(_cfg(TINY), run, callback=lambda ev, info: events.append(ev))
    return run, metrics, events


def test_run_directory_contents(tiny_run):
    run, metrics, events = tiny_run
    assert sorted(os.listdir(run)) == [".snnref.lock", "best.h5", "config.json", "last.h5", "metrics.json"]
    with open(os.path.join(run, "config.json")) as f:
        assert TrainConfig.from_dict(json.load(f)) == _cfg(TINY)
    with open(os.path.join(run, "metrics.json")) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(metrics))
    assert [e["epoch"] for e in saved["epochs"]] == [1, 2]
    required = {"train_loss", "train_accuracy_first", "train_accuracy_count", "test_accuracy", "test_accuracy_first",
                "test_accuracy_count", "test_loss", "spikes_per_sample", "necessary_spikes_per_sample",
                "firing_fraction", "silent_fraction", "wall_time_s", "samples_per_s", "lr"}
    for e in saved["epochs"]:
        assert required <= set(e)
        assert e["test_accuracy"] == e["test_accuracy_first"]          # latency loss -> first (A17)
        assert 0 <= e["test_accuracy"] <= 1 and len(e["firing_fraction"]) == 2
        assert e["necessary_spikes_per_sample"] <= e["spikes_per_sample"]
    # StepLR(1, 0.5) stepped after every epoch
    assert [e["lr"] for e in saved["epochs"]] == [1e-3, 5e-4]
    assert saved["test_samples"] == 32 and saved["train_samples"] == 48
    last = ckpt.load_checkpoint(os.path.join(run, "last.h5"))
    assert last["epoch"] == 2 and [w.shape for w in last["weights"]] == [(784, 8), (8, 10)]
    assert events[0] == "start" and events[-1] == "end" and events.count("epoch") == 2
    assert events.count("batch") == 2 * 3


def test_eval_matches_recorded_metrics(tiny_run):
    run, metrics, _ = tiny_run
    res = evaluate_run(run, checkpoint="last")
    last = metrics["epochs"][-1]
    assert res["epoch"] == 2
    assert res["accuracy_first"] == last["test_accuracy_first"]
    assert res["accuracy_count"] == last["test_accuracy_count"]
    assert res["spikes_per_sample"] == last["spikes_per_sample"]
    best = evaluate_run(run, checkpoint="best", test_limit=16)
    assert best["samples"] == 16 and best["epoch"] == metrics["summary"]["best_epoch"]


def test_best_selection_is_by_selection_accuracy(tiny_run):
    _, metrics, _ = tiny_run
    summ = metrics["summary"]
    accs = [e["test_accuracy_first"] for e in metrics["epochs"]]
    assert summ["selected_on"] == "test" and summ["selection"] == "first"
    assert summ["best_epoch"] == 1 + int(np.argmax(accs))               # first maximum wins
    assert summ["best_test_accuracy_over_epochs"] == max(accs)


def test_resume_is_bit_identical(tiny_run, tmp_path):
    run_full, metrics_full, _ = tiny_run
    run = str(tmp_path / "resumed")
    train(_cfg(TINY, epochs=1), run)                          # "killed" after epoch 1
    metrics = train(_cfg(TINY, epochs=2), run, resume=True)
    a = ckpt.load_checkpoint(os.path.join(run_full, "last.h5"))
    b = ckpt.load_checkpoint(os.path.join(run, "last.h5"))
    for wa, wb in zip(a["weights"] + a["biases"], b["weights"] + b["biases"]):
        np.testing.assert_array_equal(wa, wb)
    assert a["rng_state"] == b["rng_state"]
    assert _strip_times(metrics) == _strip_times(json.loads(json.dumps(metrics_full)))
    for k in ("exp_avg", "exp_avg_sq"):
        for x, y in zip(a["optimizer_state"][k], b["optimizer_state"][k]):
            np.testing.assert_array_equal(x, y)


def test_resume_errors(tiny_run, tmp_path):
    run_full, _, _ = tiny_run
    with pytest.raises(RunError, match=r"already holds a run \(.*\); use --resume"):
        train(_cfg(TINY), run_full)
    with pytest.raises(RunError, match="cannot resume: .*is not a directory"):
        train(_cfg(TINY), str(tmp_path / "missing"), resume=True)
    os.mkdir(tmp_path / "empty")
    with pytest.raises(RunError, match="cannot resume: .*last.h5' does not exist"):
        train(_cfg(TINY), str(tmp_path / "empty"), resume=True)
    with pytest.raises(RunError, match=r"cannot resume: the configuration differs from the saved run in \['lr'\]"):
        train(_cfg(TINY, lr=0.5), run_full, resume=True)


def test_evaluate_run_errors(tmp_path):
    with pytest.raises(RunError, match="is not a run directory"):
        evaluate_run(str(tmp_path))
    with pytest.raises(RunError, match="checkpoint must be 'best' or 'last'"):
        evaluate_run(str(tmp_path), checkpoint="first")


def test_validation_split(tmp_path):
    cfg = _cfg(TINY, epochs=1, validation_size=10000, validation_limit=16, train_limit=16)
    train_set, val, test = load_data(cfg)
    assert (len(train_set), len(val), len(test)) == (16, 16, 32)
    full = load_data(_cfg(TINY, validation_size=10000, train_limit=None))
    assert len(full[0]) + len(full[1]) == 60000 and len(full[0]) == 50000
    metrics = train(cfg, str(tmp_path / "val"))
    e = metrics["epochs"][0]
    assert {"validation_accuracy_first", "validation_accuracy_count", "validation_loss"} <= set(e)
    assert metrics["summary"]["selected_on"] == "validation"


def test_tsslbp_float32_run(tmp_path):
    metrics = train(_cfg(TINY_TSSL, dtype="float32"), str(tmp_path / "tssl"))
    e = metrics["epochs"][0]
    assert e["test_accuracy"] == e["test_accuracy_psp"] and "test_accuracy_count" in e
    assert "test_accuracy_first" not in e and len(e["firing_fraction"]) == 3
    w = ckpt.load_checkpoint(os.path.join(tmp_path, "tssl", "last.h5"))["weights"]
    assert all(x.dtype == np.float32 and np.abs(x).max() <= 4.0 for x in w)


def test_loss_decreases_on_spike_train_task(tmp_path):
    """A learnable problem: 20-10-1 network matching 3 target spikes (spec 7.2 protocol)."""
    cfg = _cfg(TASK)
    _, _, task = load_data(cfg)
    initial = evaluate(build_network(cfg), cfg, task)["loss"]
    metrics = train(cfg, str(tmp_path / "task"))
    losses = [e["test_loss"] for e in metrics["epochs"]]
    assert losses[-1] < 0.6 * initial, (initial, losses)
    assert metrics["epochs"][-1]["test_accuracy"] is None
    assert metrics["summary"]["best_epoch"] == 1 + int(np.argmin(losses))


@pytest.mark.parametrize("name", ["quickstart", "antlr-mnist-latency", "timing-mnist-latency",
                                  "activation-mnist-latency"])
def test_antlr_presets_start_active(name):
    """ANTLR-family presets must start with an active network: hidden and output layers fire on most samples."""
    cfg = load_preset(name)
    net = build_network(cfg)
    images, _ = load_mnist("train", limit=16)
    x = encoders.latency(images, T=cfg.T, max_input_timing=cfg.max_input_timing,
                         min_input_timing=cfg.min_input_timing)
    tr = forward(net, x)
    for l, lt in enumerate(tr.layers):
        fired = lt.S.sum(axis=(0, 2)) > 0
        assert fired.mean() >= 0.9, f"{name}: layer {l + 1} silent on {100 * (1 - fired.mean()):.0f}% of the samples"


def test_spike_train_preset_starts_active():
    cfg = load_preset("spike-train-matching").replace(train_limit=8)
    net = build_network(cfg)
    x_set, _, _ = load_data(cfg)
    tr = forward(net, np.ascontiguousarray(x_set.inputs.transpose(1, 0, 2)))
    for lt in tr.layers:
        assert (lt.S.sum(axis=(0, 2)) > 0).mean() >= 0.9


@pytest.mark.parametrize("base, scanned", [(TINY, False), (TASK, True)])
def test_encoder_inputs_not_scanned_twice(monkeypatch, tmp_path, base, scanned):
    """Training inputs made by snnref's encoders go to forward with validated=True (their values are
    valid by construction); inputs read from spike data are scanned on every batch. Same results."""
    from snnref.training import loop

    seen = []
    real = loop.forward

    def spy(net, x, **kw):
        seen.append(kw.get("validated", False))
        return real(net, x, **kw)

    cfg = _cfg(base, epochs=1)
    monkeypatch.setattr(loop, "forward", spy)
    spied = train(cfg, str(tmp_path / "spied"))
    monkeypatch.setattr(loop, "forward", real)
    assert seen and seen[0] is (not scanned)
    monkeypatch.setattr(loop, "encoder_output_is_valid", lambda cfg: False)
    plain = train(cfg, str(tmp_path / "plain"))
    assert _strip_times(spied) == _strip_times(plain)


def test_input_buffer_equals_latency_encoder():
    """The reused latency input of the training loop equals encoders.latency batch after batch (entries of
    the previous batch reset; batch size and dtype changes reallocate)."""
    from snnref.training.data import InputBuffer, encode

    cfg = _cfg(TINY)
    images, _ = load_mnist("train", limit=40)
    buf = InputBuffer()
    rng = np.random.default_rng(0)
    for lo, hi, dtype in [(0, 16, np.float64), (16, 32, np.float64), (32, 40, np.float64), (0, 8, np.float32),
                          (8, 16, np.float32)]:
        got = encode(cfg, images[lo:hi], rng, dtype, buf)
        want = encoders.latency(images[lo:hi], T=cfg.T, max_input_timing=cfg.max_input_timing,
                                min_input_timing=cfg.min_input_timing, dtype=dtype)
        assert got.dtype == want.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
        assert want.sum() > 100
