"""`snnref experiment landscape|spike-train` in fast mode, and their metric helpers against hand values."""
import csv
import json
import math

import numpy as np
import pytest

from snnref import cli, losses
from snnref.errors import SnnrefError

pytest.importorskip("matplotlib")

from snnref.experiments import landscape, spike_train  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _check_pngs(files):
    for p in files:
        if p.endswith(".png"):
            with open(p, "rb") as f:
                data = f.read()
            assert data[:8] == PNG and len(data) > 5000, p


# ------------------------------------------------------------------------------------ helpers
def test_timing_error_and_van_rossum_by_hand():
    T = 20
    S = np.zeros((T, 1, 2))
    tgt = np.zeros((T, 1, 2))
    tgt[[2, 10], 0, 0] = 1
    S[3, 0, 0] = 1                                  # nearest output spike: 1 and 7 steps away
    tgt[5, 0, 1] = 1                                # neuron 1 silent: counts T
    np.testing.assert_allclose(spike_train.timing_error(S, tgt)[0], [4.0, 20.0])
    one = np.zeros((200, 1, 1))
    one[0, 0, 0] = 1                                # an isolated extra spike
    tau = 5.0
    n = 200 + 50                                    # window + 10 tau tail: sum_{k<n} exp(-2k/tau)
    expected = math.sqrt((1 - math.exp(-2 * n / tau)) / (tau * (1 - math.exp(-2 / tau))))
    assert spike_train.van_rossum(one, np.zeros_like(one), tau)[0, 0] == pytest.approx(expected, rel=1e-12)
    m = spike_train.spike_metrics(S, tgt)
    assert m["count_error"] == pytest.approx((1 + 1) / 2) and m["matched"] == 0.0


def test_classify_and_attribute_events():
    a = np.zeros((6, 1, 1))
    a[2] = 1
    moved = np.zeros_like(a)
    moved[3] = 1
    more = moved.copy()
    more[5] = 1
    ev = landscape.classify_events([a, a, moved, more])
    assert ev == ["none", "move", "appear/disappear"]
    etas = np.array([0.0, 1.0, 2.0, 3.0])
    losses_ = np.array([1.0, 1.0, 0.7, 0.9])
    out = landscape.attribute_events(etas, losses_, np.full(4, 0.5), ev)
    # pieces cut at the midpoint between the events (index 2): [0, 2] and [2, 3]
    assert [(k, t) for k, t, *_ in out] == [(1, "move"), (2, "appear/disappear")]
    np.testing.assert_allclose([o[2] for o in out], [-0.3, 0.2])
    np.testing.assert_allclose([o[3] for o in out], [1.0, 0.5])
    assert sum(o[3] for o in out) == pytest.approx(0.5 * 3)        # the pieces tile the line


# ------------------------------------------------------------------------------------ spike-train
@pytest.fixture(scope="module")
def st(tmp_path_factory):
    out = tmp_path_factory.mktemp("st")
    return out, spike_train.run(str(out), fast=True)


def test_spike_train_fast_outputs(st):
    out, res = st
    _check_pngs(res["files"])
    s = res["settings"]
    final = _rows(out / "spike_train_final.csv")
    assert len(final) == len(spike_train.RULES) * len(s["seeds"])
    summary = json.loads((out / "spike_train.json").read_text())["summary"]
    for rule in spike_train.RULES:
        vals = [float(r["timing_error"]) for r in final if r["rule"] == rule]
        assert summary[rule]["timing_error"]["mean"] == pytest.approx(np.mean(vals))
    # the loss curve drawn is the mean over seeds of the CSV curves
    curves = _rows(out / "spike_train_curves.csv")
    ax = res["figures"]["spike_train_loss"].axes[0]
    for line, rule in zip(ax.lines, spike_train.RULES):
        its = sorted({int(r["iteration"]) for r in curves if r["rule"] == rule})
        mean = [np.mean([float(r["loss"]) for r in curves if r["rule"] == rule and int(r["iteration"]) == i])
                for i in its]
        np.testing.assert_allclose(line.get_ydata(), mean)
        assert line.get_label() == rule


def test_spike_train_initial_loss_is_the_untrained_networks(st):
    """Independent check of iteration 0: forward + spike-train loss of the preset's initial network."""
    from snnref import forward
    from snnref.experiments import task_setup

    out, res = st
    cfg = spike_train._base_config(True, None).replace(seed=res["settings"]["seeds"][0])
    net, _, x, target = task_setup(cfg)
    expected = losses.spike_train(forward(net, x), target, kappa_exp=0.95).value
    rows = [r for r in _rows(out / "spike_train_curves.csv") if r["iteration"] == "0" and r["seed"] == str(cfg.seed)]
    assert {float(r["loss"]) for r in rows} == {expected}


def test_spike_train_rejects_bad_arguments(tmp_path):
    with pytest.raises(SnnrefError, match="rules"):
        spike_train.run(str(tmp_path), fast=True, rules=("tsslbp",))
    with pytest.raises(SnnrefError, match="seeds"):
        spike_train.run(str(tmp_path), fast=True, seeds=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SnnrefError, match="not a directory"):
        spike_train.run(str(tmp_path / "file"), fast=True)


# ------------------------------------------------------------------------------------ landscape
def test_landscape_fast_outputs(tmp_path):
    res = landscape.run(str(tmp_path), fast=True)
    _check_pngs(res["files"])
    lines = _rows(tmp_path / "landscape_lines.csv")
    L0 = res["per_seed"][0]["loss_at_w"]
    for rule in landscape.RULES:
        rows = [r for r in lines if r["rule"] == rule]
        if not rows:
            continue
        mid = rows[len(rows) // 2]
        assert float(mid["eta"]) == 0.0                    # every line passes through w ...
        assert float(mid["loss"]) == L0 == float(mid["first_order_prediction"])  # ... with the loss at w
        drawn = res["figures"]["landscape_lines"].axes[landscape.RULES.index(rule)].lines[0].get_ydata()
        np.testing.assert_array_equal(drawn, [float(r["loss"]) for r in rows])
    events = _rows(tmp_path / "landscape_events.csv")
    for rule in landscape.RULES:
        for typ, key in (("move", "move"), ("appear/disappear", "appear_disappear")):
            n = sum(1 for r in events if r["event"] == typ)
            assert res["summary"][rule][key]["events"] == n
    Z = res["figures"]["landscape_2d"].axes[0].images[0].get_array()
    assert np.asarray(Z).shape == (landscape.FAST["grid"],) * 2
    assert np.asarray(Z)[landscape.FAST["grid"] // 2, landscape.FAST["grid"] // 2] == pytest.approx(L0)


def test_experiment_command(tmp_path, capsys):
    assert cli.main(["experiment", "spike-train", "--fast", "--rules", "antlr", "--seeds", "1",
                     "--out", str(tmp_path)]) == 0
    assert "antlr" in capsys.readouterr().out
    assert cli.main(["experiment", "landscape", "--fast", "--points", "4", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnref: error:") and "odd" in err[0]
