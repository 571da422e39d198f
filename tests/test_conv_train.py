"""Convolutional architectures in the training config: parsing, presets, init, tiny runs (MNIST, N-MNIST files)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from snnref.config import ConfigError, TrainConfig, load_preset
from snnref.errors import SnnrefError
from snnref.layers import Conv2d, Dense, Flatten, SumPool2d, parse_architecture
from snnref.train import build_network, evaluate_run, train
from test_nmnist import _make_tree

TINY_CNN = dict(name="tiny-cnn", dataset="mnist", encoding="static", T=5, hidden=[], architecture="4C5-P2-6C5-P2-16",
                neuron="tsslbp", rule="tsslbp", loss="psp_kernel", optimizer="adamw", lr=5e-4, weight_decay=0.01,
                grad_clip_norm=1.0, weight_clamp=4.0, init="kaiming_normal", nan_to_zero=False,
                batch_size=8, test_batch_size=16, train_limit=16, test_limit=16, epochs=2, seed=3)


def test_parse_architecture():
    assert parse_architecture("15C5-P2-40C5-P2-300", (1, 28, 28), 10) == [
        ("conv", 15, 5, 1, 0), ("pool", 2), ("conv", 40, 5, 1, 0), ("pool", 2), ("flatten",), ("dense", 300),
        ("dense", 10)]
    assert parse_architecture("12C5p1-P2-64C5s2-D0.2", (2, 34, 34), 10) == [
        ("conv", 12, 5, 1, 1), ("pool", 2), ("conv", 64, 5, 2, 0), ("dropout", 0.2), ("flatten",), ("dense", 10)]
    for bad, match in [("15X5", "cannot read '15X5'"), ("300-15C5", "after a dense layer"), ("0C5", "positive"),
                       ("", "string like")]:
        with pytest.raises(SnnrefError, match=match):
            parse_architecture(bad, (1, 28, 28), 10)


def test_presets_describe_the_official_networks():
    cnn = load_preset("tsslbp-mnist-cnn")
    assert (cnn.architecture, cnn.T, cnn.batch_size, cnn.lr, cnn.loss, cnn.tau_m, cnn.tau_s, cnn.weight_clamp,
            cnn.grad_clip_norm, cnn.optimizer) == ("15C5-P2-40C5-P2-300", 5, 50, 5e-4, "psp_kernel", 5.0, 3.0, 4.0,
                                                   1.0, "adamw")
    net = build_network(cnn)
    assert net.sizes == (784, 15 * 24 * 24, 40 * 8 * 8, 300, 10)
    assert [type(lay) for lay in net.layers] == [Conv2d, SumPool2d, Conv2d, SumPool2d, Flatten, Dense, Dense]
    assert net.layers[1].weight == 1.1 and net.layers[5].in_shape == (640,)
    # conv init: PyTorch default uniform(+-1/sqrt(fan_in)); dense: Kaiming normal std sqrt(2/fan_in)
    assert np.abs(net.weights[0]).max() <= 1 / 5 and np.abs(net.weights[1]).max() <= 1 / np.sqrt(15 * 25)
    assert abs(net.weights[2].std() - np.sqrt(2 / 640)) < 0.1 * np.sqrt(2 / 640)
    nm = load_preset("tsslbp-nmnist-cnn")
    assert (nm.architecture, nm.T, nm.tau_m, nm.tau_s, nm.loss, nm.desired_count, nm.undesired_count) == (
        "12C5p1-P2-64C5-P2", 30, 8.0, 4.0, "psp_count", 15, 3)
    assert build_network(nm).sizes == (2312, 12 * 32 * 32, 64 * 12 * 12, 10)       # flattened 2304 -> 10


@pytest.mark.parametrize("changes, match", [
    (dict(hidden=[10]), "not both"),
    (dict(architecture="4C5-Q2"), "cannot read"),
    (dict(architecture=5), "must be a string"),
    (dict(neuron="antlr", rule="antlr", loss="latency", encoding="latency", init="torch_linear",
          weight_clamp=None, grad_clip_norm=None), "tsslbp' only"),
])
def test_config_errors(changes, match):
    d = dict(TINY_CNN)
    d.update(changes)
    with pytest.raises(ConfigError, match=match):
        TrainConfig.from_dict(d)


def test_tiny_cnn_run_and_resume(tmp_path):
    cfg = TrainConfig.from_dict(TINY_CNN)
    m = train(cfg, str(tmp_path / "a"))
    assert [e["epoch"] for e in m["epochs"]] == [1, 2]
    assert m["epochs"][-1]["spikes_per_sample"] > 0
    # resume: one epoch, then the second, equals the uninterrupted run
    train(TrainConfig.from_dict(dict(TINY_CNN, epochs=1)), str(tmp_path / "b"))
    m2 = train(cfg, str(tmp_path / "b"), resume=True)
    assert m2["epochs"][-1]["test_loss"] == m["epochs"][-1]["test_loss"]
    # the saved last checkpoint evaluates to the last epoch's test metrics
    ev = evaluate_run(str(tmp_path / "a"), checkpoint="last")
    assert ev["loss"] == pytest.approx(m["epochs"][-1]["test_loss"], rel=1e-12)


def test_tiny_cnn_learns(tmp_path):
    """A few epochs on 256 images lower the training loss (the gradients point downhill)."""
    cfg = TrainConfig.from_dict(dict(TINY_CNN, train_limit=256, test_limit=16, epochs=4, lr=5e-3, dtype="float32"))
    m = train(cfg, str(tmp_path / "r"))
    losses = [e["train_loss"] for e in m["epochs"]]
    assert losses[-1] < losses[0]


def test_nmnist_cnn_preset_on_files_in_the_real_format(tmp_path):
    """The N-MNIST CNN preset runs end to end on event files written in the original binary format."""
    rng = np.random.default_rng(0)
    spec = {}
    for split, n in (("Train", 4), ("Test", 2)):
        files = []
        for i in range(n):
            rows = sorted(((int(x), int(y), int(p), int(ts)) for x, y, p, ts in zip(
                rng.integers(0, 34, 300), rng.integers(0, 34, 300), rng.integers(0, 2, 300),
                rng.integers(1, 90_000, 300))), key=lambda r: r[3])
            files.append((i % 10, f"{i:05d}.bin", rows))
        spec[split] = files
    _make_tree(tmp_path / "nmnist", spec)
    out = tmp_path / "run"
    env = dict(os.environ)
    # data_dir is a config field: pass it through a config file (the CLI has no flag for it)
    cfg = dict(load_preset("tsslbp-nmnist-cnn").to_dict(), data_dir=str(tmp_path / "nmnist"), epochs=1, train_limit=4,
               test_limit=2, batch_size=2, test_batch_size=2)
    cfg_file = tmp_path / "nm.json"
    cfg_file.write_text(json.dumps(cfg))
    proc = subprocess.run([sys.executable, "-m", "snnref", "train", "--config", str(cfg_file), "--out", str(out),
                           "--quiet"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_samples"] == 4 and metrics["test_samples"] == 2
    assert len(metrics["epochs"]) == 1
