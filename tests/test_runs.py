"""Reliability of runs: checkpoint checks, run directories, resume semantics, config bounds, API checks.

Each test names the problem it pins (as a new user met it): damaged or foreign checkpoints, a
config.json that disagrees with the checkpoint, concurrent starts, failed starts, killed saves,
resuming with fewer epochs, names that leave runs/, absurd sizes, inconsistent API checks.
"""
import json
import os
from pathlib import Path
import subprocess
import sys

import h5py
import numpy as np
import pytest

from snnref import Network, NeuronModel, backward, forward, losses
from snnref import checkpoint as ckpt
from snnref.config import ConfigError, TrainConfig
from snnref.errors import SnnrefError
from snnref.train import RunError, evaluate_run, train
from snnref.training import network, rundir
from snnref.training.checkpoint import CheckpointError

TINY = dict(name="tiny-runs", T=30, hidden=[8], train_limit=32, test_limit=16, batch_size=16, test_batch_size=16,
            epochs=1, rule="antlr", ste_alpha=1.0, ste_beta=3.0, loss="latency", init_scale=5.0, init_bias=1.0,
            grad_clip_value=1e6)


def _cfg(**changes):
    return TrainConfig.from_dict(dict(TINY, **changes))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-epoch run (read-only for the tests: they copy it when they change it)."""
    run = str(tmp_path_factory.mktemp("runs") / "done")
    train(_cfg(epochs=2), run)
    return run


def _copy_run(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return str(dst)


def _rewrite(path, edit):
    """Edit an HDF5 checkpoint with h5py and re-seal its integrity line (a consistent but wrong file)."""
    with h5py.File(path, "a") as f:
        edit(f)
    ckpt._write_integrity_header(path)


# ------------------------------------------------------------------ damaged / foreign checkpoints
def test_flipped_weight_byte_is_refused_by_eval_and_resume(finished, tmp_path):
    """A flipped byte in a weight once loaded as 2.19e+306 without complaint."""
    run = _copy_run(finished, tmp_path / "r")
    for name in ("best.h5", "last.h5"):
        path = os.path.join(run, name)
        with h5py.File(path, "r") as f:
            offset = f["weights/0"].id.get_offset()
        data = bytearray(Path(path).read_bytes())
        data[offset + 7] ^= 0x40                                 # exponent byte of the first weight
        Path(path).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        evaluate_run(run)
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        train(_cfg(epochs=3), run, resume=True)


def test_metrics_edited_inside_a_checkpoint_are_refused(finished, tmp_path):
    """Metrics edited inside last.h5 were carried into metrics.json on resume."""
    run = _copy_run(finished, tmp_path / "r")
    path = os.path.join(run, "last.h5")
    with h5py.File(path, "a") as f:
        m = json.loads(f["metrics"][()])
        m["epochs"][0]["test_accuracy"] = 0.99
        del f["metrics"]
        f.create_dataset("metrics", data=json.dumps(m), dtype=h5py.string_dtype())
    before = Path(run, "metrics.json").read_text()
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        train(_cfg(epochs=3), run, resume=True)
    assert Path(run, "metrics.json").read_text() == before


def test_wrong_shape_array_is_not_broadcast(finished, tmp_path):
    """A (1, 400)-like array in place of weights/0 of best.h5 was broadcast over the layer."""
    run = _copy_run(finished, tmp_path / "r")
    path = os.path.join(run, "best.h5")

    def edit(f):
        del f["weights/0"]
        f["weights"].create_dataset("0", data=np.ones((1, 8)))
        f["weights/0"].attrs["__kind__"] = "ndarray"

    _rewrite(path, edit)
    assert ckpt.load_checkpoint(path)["weights"][0].shape == (1, 8)      # the file itself is consistent
    with pytest.raises(CheckpointError, match=r"weights/0 is float64 \(1, 8\); the run's config needs float64 "
                                              r"\(784, 8\)"):
        evaluate_run(run)


def test_wrong_dtype_and_non_finite_arrays_are_refused(finished, tmp_path):
    run = _copy_run(finished, tmp_path / "r")
    path = os.path.join(run, "best.h5")
    w = ckpt.load_checkpoint(path)["weights"][1]

    def to_float32(f):
        del f["weights/1"]
        f["weights"].create_dataset("1", data=w.astype(np.float32))
        f["weights/1"].attrs["__kind__"] = "ndarray"

    _rewrite(path, to_float32)
    with pytest.raises(CheckpointError, match=r"weights/1 is float32 \(8, 10\); the run's config needs float64"):
        evaluate_run(run)
    path2 = os.path.join(run, "last.h5")
    _rewrite(path2, lambda f: f["biases/0"].__setitem__(Ellipsis, np.full(8, np.nan)))
    with pytest.raises(CheckpointError, match=r"biases/0 holds NaN or infinite values"):
        evaluate_run(run, checkpoint="last")


def test_wrong_optimiser_state_is_refused_on_resume(finished, tmp_path):
    run = _copy_run(finished, tmp_path / "r")

    def edit(f):
        del f["optimizer_state/exp_avg/0"]
        f["optimizer_state/exp_avg"].create_dataset("0", data=np.zeros((1, 8)))
        f["optimizer_state/exp_avg/0"].attrs["__kind__"] = "ndarray"

    _rewrite(os.path.join(run, "last.h5"), edit)
    with pytest.raises(CheckpointError, match=r"unusable training state .*exp_avg'\]\[0\] has shape \(1, 8\)"):
        train(_cfg(epochs=3), run, resume=True)
    run = _copy_run(finished, tmp_path / "r2")
    _rewrite(os.path.join(run, "last.h5"), lambda f: f["optimizer_state/exp_avg_sq/1"].__setitem__(
        (0, 0), np.nan))
    with pytest.raises(CheckpointError, match=r"unusable training state .*exp_avg_sq'\]\[1\].*(NaN|finite)"):
        train(_cfg(epochs=3), run, resume=True)


def test_inconsistent_epoch_and_history_is_refused(finished, tmp_path):
    run = _copy_run(finished, tmp_path / "r")
    _rewrite(os.path.join(run, "last.h5"), lambda f: f.attrs.__setitem__("epoch", 5))
    with pytest.raises(CheckpointError, match="inconsistent: epoch 5"):
        evaluate_run(run, checkpoint="last")


def test_eval_refuses_an_edited_config_json(finished, tmp_path):
    """T edited from 30 to 50 in config.json: eval printed a test loss of 2383 and exit 0."""
    run = _copy_run(finished, tmp_path / "r")
    path = os.path.join(run, "config.json")
    cfg = json.loads(Path(path).read_text())
    cfg["T"] = 50
    Path(path).write_text(json.dumps(cfg))
    with pytest.raises(RunError, match=r"written with another configuration .*T: saved 30 vs 50"):
        evaluate_run(run)
    cfg["T"], cfg["epochs"] = 30, 7                # epochs (and data_dir) may differ: a resumed run's config
    Path(path).write_text(json.dumps(cfg))
    assert evaluate_run(run)["epoch"] in (1, 2)


# ---------------------------------------------------------------------------- run directories
def test_concurrent_starts_get_distinct_directories(tmp_path):
    """Three `snnref train` started in the same second printed the same run directory."""
    code = ("import sys; from snnref.training.rundir import RunDir; "
            "r = RunDir.create(None, 'same', root=sys.argv[1]); print(r.path); r.release()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "runs")], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    paths = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(paths)) == 4 and all(os.path.isdir(p) for p in paths)
    assert all(os.path.basename(p).startswith("same-") for p in paths)


def test_default_run_directories_are_unique_within_a_second(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    events = []
    cb = (lambda ev, info: events.append(info["run_dir"]) if ev == "start" else None)
    train(_cfg(train_limit=16), None, callback=cb)
    train(_cfg(train_limit=16), None, callback=cb)
    assert len(set(events)) == 2
    assert sorted(os.listdir("runs")) == sorted(os.path.basename(p) for p in events)


def test_explicit_directory_in_use_is_refused(tmp_path):
    path = str(tmp_path / "r")
    holder = rundir.RunDir.create(path, "x")
    try:
        with pytest.raises(RunError, match="is in use by another snnref process"):
            train(_cfg(), path)
    finally:
        holder.release()
    train(_cfg(), path)                                   # free again: an empty directory is accepted


def test_failed_start_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SnnrefError, match="train_limit is 70000 but the train split has only 60000 samples"):
        train(_cfg(train_limit=70000), None)
    assert not os.path.exists("runs") or os.listdir("runs") == []

    def stop(event, info):
        if event == "batch":
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):                 # interrupted before the first epoch was saved
        train(_cfg(), None, callback=stop)
    assert os.listdir("runs") == []
    empty = tmp_path / "given"
    empty.mkdir()
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(), str(empty), callback=stop)
    assert os.listdir(empty) == []                         # the given directory stays, emptied of our files


def test_stale_temporary_files_of_a_killed_save_are_removed(finished, tmp_path):
    """A kill during a save left an 11 MB .last.h5.*.tmp that was never cleaned up."""
    run = _copy_run(finished, tmp_path / "r")
    for name in (".last.h5.k1ll3d.tmp", ".metrics.json.abc.tmp"):
        Path(run, name).write_bytes(b"partial")
    Path(run, "notes.tmp").write_text("mine")          # not ours: kept
    train(_cfg(epochs=3), run, resume=True)
    assert sorted(os.listdir(run)) == [".snnref.lock", "best.h5", "config.json", "last.h5", "metrics.json",
                                       "notes.tmp"]


def test_run_names_cannot_leave_the_runs_folder():
    for name in ("../../../elsewhere/x", "/tmp/abs", "a/b", ".hidden", "", "x" * 101, "a\\b"):
        with pytest.raises(ConfigError, match="name must be 1-100 letters"):
            _cfg(name=name)
    assert _cfg(name="antlr-mnist_latency.v2+seed=3").name == "antlr-mnist_latency.v2+seed=3"


@pytest.mark.parametrize("changes, pattern", [
    ({"epochs": 1e30}, r"epochs must be <= 100000"),
    ({"T": 10 ** 7}, r"T must be <= 1000000"),
    ({"hidden": [10 ** 7]}, r"hidden must be a list of integers in \[1, 1000000\]"),
    ({"batch_size": 10 ** 7}, r"batch_size must be <= 1000000"),
    ({"train_limit": 10 ** 9}, r"train_limit must be <= 100000000"),
])
def test_upper_bounds(changes, pattern):
    with pytest.raises(ConfigError, match=pattern):
        _cfg(**changes)


def test_memory_estimate_is_checked_before_allocating(tmp_path):
    cfg = _cfg(hidden=[400000, 400000])
    assert network.memory_estimate(cfg) > 8 * 400000 ** 2                 # at least the weights
    with pytest.raises(RunError, match=r"needs about .* GiB of memory .* reduce hidden, T or batch_size"):
        train(cfg, str(tmp_path / "big"))
    assert not (tmp_path / "big").exists()
    with pytest.raises(RunError, match="only 0.0 GiB are available"):
        network.check_memory(_cfg(), available=1000)
    assert network.check_memory(_cfg(), available=2 ** 40) == network.memory_estimate(_cfg())


# ------------------------------------------------------------------------------ resume semantics
def test_resume_with_fewer_epochs_is_an_error_and_changes_nothing(finished, tmp_path):
    """`--resume --epochs 2` on a finished 3-epoch run printed `epochs 4..2` and rewrote config.json."""
    run = _copy_run(finished, tmp_path / "r")
    before = {f: Path(run, f).read_bytes() for f in rundir.RUN_FILES}
    with pytest.raises(RunError, match=r"already completed 2 epochs\. Pass --epochs N with N > 2"):
        train(_cfg(epochs=1), run, resume=True)
    events = []
    metrics = train(_cfg(epochs=2), run, resume=True, callback=lambda ev, info: events.append((ev, info)))
    assert [e for e, _ in events] == ["start", "end"]                         # nothing to do
    assert events[0][1]["start_epoch"] == 2 and events[0][1]["epochs"] == 2
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert {f: Path(run, f).read_bytes() for f in rundir.RUN_FILES} == before


# ------------------------------------------------------------------------------- data limits
def test_limits_beyond_the_data_are_errors():
    from snnref.training import DataError, load_data

    with pytest.raises(DataError, match="test_limit is 20000 but the test split has only 10000 samples; "
                                        "use --test-limit <= 10000"):
        load_data(_cfg(test_limit=20000))
    with pytest.raises(DataError, match="train_limit is 55000 .* 50000 samples after holding out validation_size"):
        load_data(_cfg(train_limit=55000, validation_size=10000))
    with pytest.raises(ConfigError, match=r"validation_limit \(5\) needs a validation split"):
        _cfg(validation_limit=5)


# ---------------------------------------------------------------------- consistent API checks
def test_count_loss_rejects_min_above_max():
    net = Network([np.full((2, 3), 2.0)], None, NeuronModel(alpha_I=0.5, alpha_V=0.5))
    trace = forward(net, np.ones((4, 1, 2)))
    with pytest.raises(ValueError, match=r"min_target_spikes \(3\) must be <= max_target_spikes \(1\)"):
        losses.count(trace, np.array([0]), min_target_spikes=3, max_target_spikes=1)
    losses.count(trace, np.array([0]), min_target_spikes=1, max_target_spikes=1)


def test_backward_nan_to_zero_must_be_bool():
    net = Network([np.full((2, 3), 2.0)], None, NeuronModel(alpha_I=0.5, alpha_V=0.5))
    trace = forward(net, np.ones((4, 1, 2)))
    res = losses.count(trace, np.array([0]))
    for bad in ("yes", 1, None):
        with pytest.raises(TypeError, match="nan_to_zero must be True or False"):
            backward(net, trace, "act_srm", dL_dS=res.dL_dS, nan_to_zero=bad)
    backward(net, trace, "act_srm", dL_dS=res.dL_dS, nan_to_zero=np.bool_(True))


def test_network_copies_the_callers_arrays():
    W, b = np.ones((2, 3)), np.zeros(3)
    net = Network([W], [b], NeuronModel(alpha_I=0.5, alpha_V=0.5))
    assert not np.shares_memory(net.weights[0], W) and not np.shares_memory(net.biases[0], b)
    net.weights[0][0, 0] = 5.0
    assert W[0, 0] == 1.0


# ------------------------------------------------------------------------- package structure
def test_old_module_paths_are_the_training_modules():
    import snnref
    import snnref.checkpoint
    import snnref.config
    import snnref.optim
    import snnref.train
    import snnref.training as t
    from snnref.config import RULES, list_presets, load_preset, resolve_config  # noqa: F401
    from snnref.train import build_network, evaluate, read_metrics, train_step  # noqa: F401

    assert snnref.train is t and snnref.config is t.config
    assert snnref.checkpoint is t.checkpoint and snnref.optim is t.optim
    assert issubclass(RunError, SnnrefError) and issubclass(ConfigError, SnnrefError)
    assert issubclass(CheckpointError, SnnrefError) and issubclass(t.DataError, SnnrefError)
    assert issubclass(RunError, RuntimeError)                    # as before the split


def test_the_family_decides_trained_parameters_biases_and_readouts():
    from snnref.config import load_preset

    tssl = load_preset("tsslbp-mnist-mlp").replace(init_bias=0.5, hidden=[4])
    antlr = _cfg(init_bias=0.5)
    assert network.family_of(tssl).name == "tsslbp" and network.family_of(antlr).name == "antlr"
    net_t, net_a = network.build_network(tssl), network.build_network(antlr)
    assert all(np.all(b == 0) for b in net_t.biases)                  # init_bias applies to trained biases only
    assert all(np.all(b == 0.5) for b in net_a.biases)
    assert len(network.parameters(net_t, tssl)) == 2 and len(network.parameters(net_a, antlr)) == 4
    assert network.readouts(tssl) == ("psp", "count") and network.readouts(antlr) == ("first", "count")
    assert network.readouts(_cfg(loss="count", selection=None)) == ("count", "first")


_KILL_DURING_SAVE = r"""
import os, signal, sys
from snnref.config import TrainConfig
from snnref.training import checkpoint, train
calls = []
seal = checkpoint._write_integrity_header

def seal_then_die(path):
    seal(path)
    calls.append(path)
    if len(calls) == int(sys.argv[3]):           # the temporary file is complete, the rename not done
        os.kill(os.getpid(), signal.SIGKILL)

checkpoint._write_integrity_header = seal_then_die
train(TrainConfig.from_dict(__import__("json").loads(sys.argv[1])), sys.argv[2])
"""


def test_hard_kill_during_a_save_then_resume(finished, tmp_path):
    """SIGKILL after a checkpoint's temporary file is written: resume cleans up and equals an uninterrupted run."""
    run = str(tmp_path / "killed")
    cfg = dict(TINY, epochs=2)
    res = subprocess.run([sys.executable, "-c", _KILL_DURING_SAVE, json.dumps(cfg), run, "3"], capture_output=True,
                         text=True, timeout=300, env=os.environ.copy())
    assert res.returncode == -9, res.stderr                       # saves: best 1, last 1, then (best or last) 2
    assert [f for f in os.listdir(run) if f.endswith(".tmp")]            # the killed save's temporary file
    assert ckpt.load_checkpoint(os.path.join(run, "last.h5"))["epoch"] == 1
    metrics = train(_cfg(epochs=2), run, resume=True)
    assert not [f for f in os.listdir(run) if f.endswith(".tmp")]
    full = json.loads(Path(finished, "metrics.json").read_text())

    def strip(m):
        return [{k: v for k, v in e.items() if not k.endswith("_s")} for e in m["epochs"]]

    assert strip(metrics) == strip(full)
    a = ckpt.load_checkpoint(os.path.join(run, "last.h5"))
    b = ckpt.load_checkpoint(os.path.join(finished, "last.h5"))
    for x, y in zip(a["weights"] + a["biases"], b["weights"] + b["biases"]):
        np.testing.assert_array_equal(x, y)
