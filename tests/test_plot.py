"""snnref.plot and `snnref plot RUN_DIR`: the drawn data equals the trace / adjoints / metrics it shows."""
import json
import sys

import numpy as np
import pytest

import snnref
from snnref import cli, losses, plot
from snnref.errors import SnnrefError

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(3)
    T = 40
    model = snnref.NeuronModel.antlr(0.95, 0.95, T=T)
    net = snnref.Network([rng.uniform(-0.2, 1.0, (12, 7)), rng.uniform(-0.2, 1.0, (7, 2))],
                         [np.zeros(7), np.zeros(2)], model)
    x = (rng.random((T, 2, 12)) < 0.1).astype(float)
    trace = snnref.forward(net, x)
    target = np.zeros((T, 2, 2))
    target[[5, 20, 33], :, 0] = 1
    target[[12], :, 1] = 1
    res = losses.spike_train(trace, target)
    assert trace.output.S.sum() > 0 and trace.layers[0].S.sum() > 0    # the case has spikes to draw
    return net, x, trace, res


def _pairs(S):
    return sorted(map(tuple, np.argwhere(np.asarray(S) != 0).tolist()))


def test_raster_draws_exactly_the_spikes(case):
    net, x, trace, _ = case
    fig = plot.raster(trace, sample=1)
    panels = [x[:, 1, :]] + [lt.S[:, 1, :] for lt in trace.layers]
    assert len(fig.axes) == len(panels)
    for ax, S in zip(fig.axes, panels):
        drawn = sorted(map(tuple, np.asarray(ax.collections[0].get_offsets(), dtype=int).tolist()))
        assert drawn == _pairs(S)
    top = plot.raster(trace, sample=0, include_input=False, max_neurons=1)
    assert len(top.axes) == 2
    drawn = sorted(map(tuple, np.asarray(top.axes[1].collections[0].get_offsets(), dtype=int).tolist()))
    assert drawn == _pairs(trace.output.S[:, 0, :1])


def test_membrane_draws_V_I_threshold_and_spikes(case):
    _, _, trace, _ = case
    j = int(np.argmax(trace.output.S[:, 0, :].sum(axis=0)))
    fig = plot.membrane(trace, neuron=j, layer=-1, sample=0)
    ax_v, ax_i = fig.axes
    np.testing.assert_array_equal(ax_v.lines[0].get_ydata(), trace.output.V[:, 0, j])
    assert set(ax_v.lines[1].get_ydata()) == {trace.model.theta}
    np.testing.assert_array_equal(ax_i.lines[0].get_ydata(), trace.output.I[:, 0, j])
    spikes = np.asarray(ax_v.collections[0].get_offsets())[:, 0]
    np.testing.assert_array_equal(spikes, np.flatnonzero(trace.output.S[:, 0, j]))


def test_rule_gradients_draw_each_rules_adjoints(case):
    net, _, trace, res = case
    opts = dict(ste_alpha=0.3, ste_beta=1.0)
    fig = plot.rule_gradients(net, trace, neuron=0, layer=0, sample=1, dL_dS=res.dL_dS, dL_dt=res.dL_dt, **opts)
    assert len(fig.axes) == 1 + len(plot.DEFAULT_RULES)
    spikes = np.flatnonzero(trace.layers[0].S[:, 1, 0])
    for ax, rule in zip(fig.axes[1:], plot.DEFAULT_RULES):
        g = snnref.backward(net, trace, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt, return_adjoints=True, **opts)
        dV, dV_dep = g.adjoints[0]["dV"][:, 1, 0], g.adjoints[0]["dV_dep"][:, 1, 0]
        np.testing.assert_array_equal(ax.lines[0].get_ydata(), dV_dep)
        np.testing.assert_array_equal(fig.snnref_curves[rule]["dV"], dV)
        nz = np.flatnonzero(dV)
        if len(nz):
            marker = ax.containers[0].markerline
            np.testing.assert_array_equal(marker.get_xdata(), nz)
            np.testing.assert_array_equal(marker.get_ydata(), dV[nz])
        if rule == "timing":                         # P-T7: the timing rule injects only at spikes
            assert set(nz) <= set(spikes)


def test_training_curves_from_metrics(tmp_path):
    epochs = [{"epoch": e, "train_loss": 2.0 / e, "test_loss": 1.5 / e, "test_accuracy_first": 0.5 + 0.1 * e,
               "spikes_per_sample": 100.0 + e, "necessary_spikes_per_sample": 10.0} for e in (1, 2, 3)]
    (tmp_path / "metrics.json").write_text(json.dumps({"epochs": epochs, "summary": {"best_epoch": 3}}))
    fig = plot.training_curves(str(tmp_path))
    ax_a, ax_l, ax_s = fig.axes
    np.testing.assert_allclose(ax_a.lines[0].get_ydata(), [60.0, 70.0, 80.0])
    assert ax_a.lines[0].get_label() == "test_accuracy_first"
    np.testing.assert_allclose(ax_l.lines[0].get_ydata(), [2.0, 1.0, 2.0 / 3])
    np.testing.assert_allclose(ax_s.lines[0].get_ydata(), [101.0, 102.0, 103.0])


@pytest.mark.parametrize("content, match", [
    ("{not json", "damaged"),
    (json.dumps({"epochs": []}), "no completed epoch"),
    (json.dumps({"epochs": "x"}), "must be a list"),
    (json.dumps({"epochs": [{"epoch": 1, "train_loss": "high"}]}), "non-numeric"),
])
def test_training_curves_reject_damaged_metrics(tmp_path, content, match):
    (tmp_path / "metrics.json").write_text(content)
    with pytest.raises(SnnrefError, match=match):
        plot.training_curves(str(tmp_path))
    with pytest.raises(SnnrefError, match="not a run directory"):
        plot.training_curves(str(tmp_path / "missing"))


def test_save_writes_png_atomically(tmp_path, case):
    _, _, trace, _ = case
    path = plot.save(plot.raster(trace), tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG and path == str(tmp_path / "r.png")
    assert [p.name for p in tmp_path.iterdir()] == ["r.png"]          # no temp file left
    with pytest.raises(SnnrefError, match=".png"):
        plot.save(plot.raster(trace), tmp_path / "r.jpg")


def test_missing_matplotlib_names_the_extra(monkeypatch, case, tmp_path, capsys):
    _, _, trace, _ = case
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SnnrefError, match=r'pip install -e "\.\[plot\]"'):
        plot.raster(trace)
    assert cli.main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnref: error:") and ".[plot]" in err[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from snnref.config import load_preset
    from snnref.train import train

    out = tmp_path_factory.mktemp("run")
    cfg = load_preset("spike-train-matching").replace(T=25, task_n_inputs=10, hidden=[6], task_n_target_spikes=2,
                                                    task_steps_per_epoch=2, epochs=2)
    train(cfg, str(out))
    return out


def test_plot_command_writes_the_figures(run_dir, capsys):
    assert cli.main(["plot", str(run_dir), "--out", str(run_dir / "figs")]) == 0
    written = capsys.readouterr().out.split()
    names = sorted(p.rsplit("/", 1)[-1] for p in written)
    assert names == ["membrane.png", "raster.png", "rule_gradients.png", "training_curves.png"]
    for p in written:
        with open(p, "rb") as f:
            data = f.read()
        assert data[:8] == PNG and len(data) > 5000


def test_plot_command_errors(tmp_path, run_dir, capsys):
    assert cli.main(["plot", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith("snnref: error:")
    (tmp_path / "metrics.json").write_text(json.dumps({"epochs": [{"epoch": 1, "train_loss": 1.0}]}))
    (tmp_path / "best.h5").write_bytes(b"not hdf5")
    (tmp_path / "config.json").write_text((run_dir / "config.json").read_text())
    assert cli.main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()           # progress lines, then one error line
    assert [e for e in err if e.startswith("snnref: error:")] == err[-1:] and "checkpoint" in err[-1]


def test_raster_of_real_valued_input_shows_the_values():
    rng = np.random.default_rng(4)
    model = snnref.NeuronModel.tsslbp(tau_m=5.0, tau_s=3.0)
    net = snnref.Network([rng.normal(0.3, 0.3, (6, 4))], model=model)
    x = np.repeat(rng.random((1, 1, 6)), 5, axis=0)
    trace = snnref.forward(net, x)
    fig = plot.raster(trace)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), x[:, 0, :].T)
    drawn = sorted(map(tuple, np.asarray(fig.axes[1].collections[0].get_offsets(), dtype=int).tolist()))
    assert drawn == _pairs(trace.output.S[:, 0, :])


def test_plot_run_of_an_mnist_run(tmp_path):
    """A latency-MNIST run (the quickstart kind): the label's output neuron is drawn."""
    from snnref.config import load_preset
    from snnref.train import train

    cfg = load_preset("quickstart").replace(train_limit=8, test_limit=3, hidden=[16], T=40, epochs=1,
                                            validation_size=0)
    train(cfg, str(tmp_path))
    paths = plot.plot_run(str(tmp_path), sample=2, checkpoint="last")
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == ["membrane.png", "raster.png", "rule_gradients.png",
                                                            "training_curves.png"]
    with pytest.raises(SnnrefError, match="sample 3 does not exist"):
        plot.plot_run(str(tmp_path), sample=3)
