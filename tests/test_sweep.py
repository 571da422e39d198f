"""``snnref sweep``: grid planning, the command line, and real runs on a 2-process Dask LocalCluster.

The cluster tests train tiny TSSL-BP networks (784-16-10 or 784-48-10, 100-400 MNIST images) so the
file stays well within a minute on 2 idle cores; waits are event-driven with generous timeouts.
"""
import csv
import io
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from snnref import cli, sweep
from snnref.config import resolve_config
from snnref.errors import SnnrefError
from snnref.train import TIME_KEYS, train

TINY = dict(train_limit=100, test_limit=100, epochs=1, hidden=[16])


def _base(**changes):
    return resolve_config(preset="tsslbp-mnist-mlp", overrides=dict(TINY, **changes))


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")               # the 'test' extra installs it
    c = sweep.open_client(workers=2, threads=1)
    c.wait_for_workers(2, timeout=120)
    yield c
    sweep.close_client(c)


def _run(out, base, axes, seeds, client, **kw):
    trials = sweep.plan_sweep(base, axes, seeds)
    sweep.save_sweep(str(out), base, axes, seeds, trials)
    stream = io.StringIO()
    res = sweep.run_sweep(str(out), trials, client, live=False, stream=stream, **kw)
    return trials, res, stream.getvalue()


def _metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.json")) as f:
        return json.load(f)


def _strip_times(metrics):
    """metrics.json without wall-clock entries (the only thing that differs between equal runs)."""
    def clean(entry):
        return {k: v for k, v in entry.items() if k not in TIME_KEYS}
    out = dict(metrics, epochs=[clean(e) for e in metrics["epochs"]])
    out["summary"] = dict(metrics["summary"], best=clean(metrics["summary"]["best"]))
    return out


def _assert_same_run(a, b):
    from snnref.checkpoint import load_checkpoint

    assert _strip_times(_metrics(a)) == _strip_times(_metrics(b))
    for name in ("last.h5", "best.h5"):
        ca, cb = load_checkpoint(os.path.join(a, name)), load_checkpoint(os.path.join(b, name))
        assert ca["epoch"] == cb["epoch"]
        for wa, wb in zip(list(ca["weights"]) + list(ca["biases"]), list(cb["weights"]) + list(cb["biases"])):
            np.testing.assert_array_equal(np.asarray(wa), np.asarray(wb))


# ------------------------------------------------------------------------------------ parsing
def test_parse_seeds():
    assert sweep.parse_seeds("0-3") == [0, 1, 2, 3]
    assert sweep.parse_seeds("5, 0-1,9") == [5, 0, 1, 9]
    for bad in ("", "a", "3-1", "1,1", "-2", "1-2-3", "0-1,1"):
        with pytest.raises(SnnrefError, match="--seeds"):
            sweep.parse_seeds(bad)


def test_parse_axis():
    assert sweep.parse_axis("lr=1e-3,5e-4") == ("lr", [1e-3, 5e-4])
    assert sweep.parse_axis("hidden=[400,400],[800]") == ("hidden", [[400, 400], [800]])
    assert sweep.parse_axis("rule=antlr,timing") == ("rule", ["antlr", "timing"])
    assert sweep.parse_axis('data_dir=null,"/a,b"') == ("data_dir", [None, "/a,b"])
    for bad, what in (("lr", "key=value"), ("lr=", "key=value"), ("nope=1,2", "unknown config key"),
                      ("seed=1,2", "--seeds"), ("hidden=[1,2", "unbalanced"), ("lr=1,,2", "empty value")):
        with pytest.raises(SnnrefError, match=what):
            sweep.parse_axis(bad)


def test_plan_validates_every_point_and_names_trials():
    base = _base()
    trials = sweep.plan_sweep(base, [("lr", [1e-3, 5e-4]), ("hidden", [[16], [8, 8]])], [3, 4])
    assert len(trials) == 8
    assert len({t.dirname for t in trials}) == 8
    assert trials[0].dirname == "lr-0.001__hidden-16__seed-3"
    assert trials[3].dirname == "lr-0.001__hidden-8-8__seed-4"
    assert [t.cfg.seed for t in trials[:2]] == [3, 4] and trials[3].cfg.hidden == [8, 8]
    assert trials[0].cfg.replace(seed=base.seed, lr=base.lr).to_dict() == base.to_dict()
    with pytest.raises(SnnrefError, match=r"grid point lr=-1 seed 0: .*lr must be"):
        sweep.plan_sweep(base, [("lr", [1e-3, -1])], [0])
    with pytest.raises(SnnrefError, match="twice"):
        sweep.plan_sweep(base, [("lr", [1, 1.0])], [0])
    with pytest.raises(SnnrefError, match="grid point rule=\"antlr\" seed 0: .*neuron"):
        sweep.plan_sweep(base, [("rule", ["tsslbp", "antlr"])], [0])
    # axes valid only together (an ANTLR rule needs the ANTLR neuron and loss)
    both = sweep.plan_sweep(base, [("rule", ["antlr"]), ("neuron", ["antlr"]), ("loss", ["latency"]),
                                   ("encoding", ["latency"])], [0])
    assert both[0].cfg.selection == "first"
    # a changed loss re-derives the read-out used for model selection, as `snnref train` does
    q = resolve_config(preset="quickstart")
    (t,) = sweep.plan_sweep(q, [("loss", ["count"])], [0])
    assert t.cfg.selection == "count"


# ----------------------------------------------------------------- trial state, without Dask
def test_trial_resumes_and_damaged_metrics_recover(tmp_path):
    out = tmp_path / "sw"
    base = _base(epochs=2)
    t0, t1 = trials = sweep.plan_sweep(base, [], [0, 1])
    sweep.save_sweep(str(out), base, [], [0, 1], trials)
    d0, d1 = str(out / t0.dirname), str(out / t1.dirname)
    assert sweep.trial_state(d0, t0.cfg) == ("new", 0)
    assert sweep.run_trial(t0.cfg.to_dict(), d0)["resumed_from"] == 0
    assert sweep.trial_state(d0, t0.cfg) == ("done", 2)
    assert sweep.run_trial(t0.cfg.to_dict(), d0)["status"] == "done"
    train(t1.cfg.replace(epochs=1), d1)                            # as if stopped after epoch 1
    assert sweep.trial_state(d1, t1.cfg) == ("resume", 1)
    summary = sweep.summarize(str(out))
    (row,) = summary["settings"]
    assert row["complete"] == 1 and row["incomplete"][0]["reason"].startswith("interrupted after 1 of 2 epochs")
    assert row["test_accuracy"]["std"] is None and "n/a" not in sweep.format_markdown(summary).split("\n")[4]
    assert sweep.run_trial(t1.cfg.to_dict(), d1)["resumed_from"] == 1
    alone = str(tmp_path / "alone")
    train(t1.cfg, alone)
    assert _strip_times(_metrics(d1)) == _strip_times(_metrics(alone))
    # a damaged metrics.json: left out of the summary, rebuilt from last.h5 by the next run
    good = _strip_times(_metrics(d0))
    with open(os.path.join(d0, "metrics.json"), "w") as f:
        f.write('{"epochs": [')
    reasons = [i["reason"] for i in sweep.summarize(str(out))["settings"][0]["incomplete"]]
    assert len(reasons) == 1 and "unreadable" in reasons[0]
    assert sweep.trial_state(d0, t0.cfg) == ("resume", 0)
    sweep.run_trial(t0.cfg.to_dict(), d0)
    assert _strip_times(_metrics(d0)) == good
    assert sweep.summarize(str(out))["settings"][0]["complete"] == 2


def test_progress_line_counts():
    stream = io.StringIO()
    bar = sweep.SweepProgress(total=4, skipped=1, epochs_todo=6, stream=stream, live=False)
    bar.render(force=True)
    bar.event({"event": "start", "dir": "a"})
    bar.event({"event": "start", "dir": "b"})
    bar.event({"event": "epoch", "dir": "a"})
    bar.event({"event": "end", "dir": "a"})              # the result is not back yet: still not waiting
    bar.event({"event": "start", "dir": "c"})
    bar.finished("a", ok=True)
    bar.finished("b", ok=False)
    lines = [ln.split("  elapsed")[0] for ln in stream.getvalue().splitlines()]
    assert lines == ["sweep: 1/4 done, 0 running, 0 failed, 3 waiting",
                     "sweep: 1/4 done, 1 running, 0 failed, 2 waiting",
                     "sweep: 1/4 done, 2 running, 0 failed, 1 waiting",
                     "sweep: 1/4 done, 1 running, 0 failed, 1 waiting",
                     "sweep: 1/4 done, 2 running, 0 failed, 0 waiting",
                     "sweep: 2/4 done, 2 running, 0 failed, 0 waiting",
                     "sweep: 2/4 done, 1 running, 1 failed, 0 waiting"]
    assert "ETA --:--" in stream.getvalue().splitlines()[0] and "ETA --:--" not in stream.getvalue().splitlines()[3]
    live = io.StringIO()
    bar = sweep.SweepProgress(total=1, skipped=0, epochs_todo=1, stream=live, live=True)
    bar.event({"event": "start", "dir": "a"})
    bar.finished("a", ok=True)
    bar.close()
    assert live.getvalue().startswith("\rsweep: 0/1 done, 1 running") and live.getvalue().endswith("\n")
    assert live.getvalue().count("\n") == 1


# ------------------------------------------------------------------------------- command line
def _cli(argv, capsys):
    rc = cli.main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("extra, message", [
    (["--seeds", "0-x"], "--seeds"),
    (["--set", "lr:1"], "key=value"),
    (["--set", "learning_rate=1,2"], "unknown config key 'learning_rate'"),
    (["--set", "lr=1e-3,-1"], "grid point lr=-1 seed 3: config overrides: lr must be"),
    (["--set", "epochs=0"], "epochs must be"),
    (["--workers", "0"], "--workers"),
])
def test_cli_errors_before_anything_runs(extra, message, tmp_path, capsys):
    out = tmp_path / "sw"
    rc, _, err = _cli(["sweep", "--preset", "tsslbp-mnist-mlp", "--out", str(out)] + extra, capsys)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("snnref: error: ") and message in err
    assert not out.exists()


def test_cli_missing_dask_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)          # import distributed -> ImportError
    out = tmp_path / "sw"
    rc, _, err = _cli(["sweep", "--preset", "tsslbp-mnist-mlp", "--seeds", "0-1", "--out", str(out)], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert 'pip install "snnref[sweep]"' in err
    assert not out.exists()


def test_cli_rejects_run_of_another_config_and_bad_summarize(tmp_path, capsys):
    out = tmp_path / "sw"
    base = _base()
    (t,) = sweep.plan_sweep(base, [], [0])
    train(base.replace(lr=1e-2), str(out / t.dirname))
    rc, _, err = _cli(["sweep", "--preset", "tsslbp-mnist-mlp", "--set", "train_limit=100", "--set", "test_limit=100",
                       "--set", "epochs=1", "--set", "hidden=[16]", "--seeds", "0", "--out", str(out)], capsys)
    assert rc == 2 and "another configuration" in err and "'lr'" in err
    assert not (out / sweep.SWEEP_FILE).exists()
    rc, _, err = _cli(["sweep", "--summarize", str(tmp_path)], capsys)
    assert rc == 2 and "not a sweep directory" in err
    (tmp_path / sweep.SWEEP_FILE).write_text("{broken")
    rc, _, err = _cli(["sweep", "--summarize", str(tmp_path)], capsys)
    assert rc == 2 and "damaged" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- cluster runs
def test_grid_summary_and_rerun_skips(client, tmp_path, capsys):
    out = tmp_path / "grid"
    base = _base()
    axes = [("lr", [1e-3, 5e-3])]
    trials, res, progress = _run(out, base, axes, [0, 1], client)
    assert res["failed"] == {} and res["skipped"] == [] and len(res["ran"]) == 4
    assert "sweep: 4/4 done, 0 running, 0 failed, 0 waiting" in progress

    summary = json.loads((out / "summary.json").read_text())
    rows = {r["label"]: r for r in summary["settings"]}
    assert list(rows) == ["lr=0.001", "lr=0.005"]
    with open(out / "summary.csv", newline="") as f:
        csv_rows = {row["lr"]: row for row in csv.DictReader(f)}
    md = (out / "summary.md").read_text()
    for lr in (1e-3, 5e-3):
        # independent recomputation from the run directories
        dirs = [out / f"lr-{lr}__seed-{s}" for s in (0, 1)]
        accs, spikes = [], []
        for d in dirs:
            cfg = json.loads((d / "config.json").read_text())
            assert cfg["lr"] == lr and cfg["seed"] == int(str(d)[-1]) and cfg["hidden"] == [16]
            m = _metrics(d)
            best = max(m["epochs"], key=lambda e: e["test_accuracy_psp"])      # selection: test PSP accuracy
            accs.append(best["test_accuracy_psp"])
            spikes.append(best["spikes_per_sample"])
        row = rows[f"lr={lr}"]
        assert row["complete"] == 2 and row["seeds"] == [0, 1]
        assert row["test_accuracy"]["mean"] == pytest.approx(statistics.mean(accs), abs=1e-12)
        assert row["test_accuracy"]["std"] == pytest.approx(statistics.stdev(accs), abs=1e-12)
        assert row["test_accuracy"]["best"] == max(accs)
        assert row["spikes_per_sample"]["mean"] == pytest.approx(statistics.mean(spikes), abs=1e-9)
        assert row["spikes_per_sample"]["std"] == pytest.approx(statistics.stdev(spikes), abs=1e-9)
        assert row["spikes_per_sample"]["best"] == min(spikes)
        c = csv_rows[str(lr)]
        assert float(c["test_accuracy_mean"]) == pytest.approx(statistics.mean(accs), abs=1e-12)
        assert float(c["spikes_per_sample_std"]) == pytest.approx(statistics.stdev(spikes), abs=1e-9)
        assert (f"| lr={lr} | 2/2 | {100 * statistics.mean(accs):.2f} ± {100 * statistics.stdev(accs):.2f} | "
                f"{100 * max(accs):.2f} | {statistics.mean(spikes):.1f} ± {statistics.stdev(spikes):.1f} |") in md
    assert len({_metrics(out / t.dirname)["epochs"][0]["test_loss"] for t in trials}) == 4     # 4 different runs

    # re-running skips every finished trial (nothing is submitted, files untouched)
    stamps = {t.dirname: os.stat(out / t.dirname / "metrics.json").st_mtime_ns for t in trials}
    _, res2, progress2 = _run(out, base, axes, [0, 1], client)
    assert sorted(res2["skipped"]) == sorted(stamps) and res2["ran"] == {} and res2["failed"] == {}
    assert "sweep: 4/4 done, 0 running" in progress2
    assert {t.dirname: os.stat(out / t.dirname / "metrics.json").st_mtime_ns for t in trials} == stamps

    # extending the seeds adds only the new trials; --summarize rewrites the same numbers
    _, res3, _ = _run(out, base, axes, [0, 1, 2], client)
    assert sorted(res3["ran"]) == ["lr-0.001__seed-2", "lr-0.005__seed-2"] and len(res3["skipped"]) == 4
    rc, stdout, _ = _cli(["sweep", "--summarize", str(out)], capsys)
    assert rc == 0 and "| lr=0.001 | 3/3 |" in stdout


def test_cli_on_a_scheduler(client, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["sweep", "--preset", "tsslbp-mnist-mlp", "--set", "train_limit=100", "--set", "test_limit=100",
            "--set", "epochs=1", "--set", "hidden=[16]", "--set", "batch_size=50,100", "--seeds", "4",
            "--scheduler", client.scheduler.address, "--out", str(out), "--quiet"]
    rc, stdout, err = _cli(argv, capsys)
    assert rc == 0, err
    assert "| batch_size=50 | 1/1 |" in stdout and "| batch_size=100 | 1/1 |" in stdout
    assert "sweep: 2/2 done, 0 running, 0 failed" in err and "\r" not in err
    assert sorted(os.listdir(out)) == ["batch_size-100__seed-4", "batch_size-50__seed-4", "failures.json",
                                       "summary.csv", "summary.json", "summary.md", "sweep.json"]
    assert json.loads((out / "batch_size-50__seed-4" / "config.json").read_text())["batch_size"] == 50
    # another sweep into the same directory is refused before anything runs
    rc, _, err = _cli(argv[:-5] + ["--set", "lr=1e-2,1e-3"] + argv[-5:], capsys)
    assert rc == 2 and "holds another sweep" in err


def test_failing_trial_is_reported_and_others_finish(client, tmp_path, capsys):
    out = tmp_path / "fail"
    missing = str(tmp_path / "no-data")
    trials, res, progress = _run(out, _base(), [("data_dir", [None, missing])], [0], client)
    ok, bad = (t.dirname for t in trials)
    assert list(res["ran"]) == [ok]
    assert list(res["failed"]) == [bad] and res["failed"][bad]["error"].startswith("DataError")
    assert "1 failed" in progress and "1/2 done" in progress
    assert _metrics(out / ok)["epochs"][0]["epoch"] == 1
    md = (out / "summary.md").read_text()
    assert f"`{bad}`): failed: DataError" in md
    rc, stdout, _ = _cli(["sweep", "--summarize", str(out)], capsys)      # the failure is remembered
    assert rc == 0 and "failed: DataError" in stdout


def test_killed_worker_resumes_and_matches_serial_runs(client, tmp_path):
    """SIGKILL the worker process of a trial right after its first checkpoint: the scheduler
    resubmits the trial, it resumes from last.h5, and both trials equal runs made alone."""
    out = tmp_path / "kill"
    base = _base(train_limit=400, epochs=4, hidden=[48])
    victim = "seed-0"
    pids, killed = {}, {}

    def on_event(ev):
        if ev.get("event") == "start":
            pids.setdefault(ev["dir"], ev["pid"])

    def killer():
        last = out / victim / "last.h5"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if victim in pids and last.exists():
                os.kill(pids[victim], signal.SIGKILL)
                killed["pid"] = pids[victim]
                return
            time.sleep(0.005)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    trials, res, _ = _run(out, base, [], [0, 1], client, on_event=on_event)
    thread.join(timeout=5)
    assert "pid" in killed, "the trial's worker was never killed"
    assert res["failed"] == {} and sorted(res["ran"]) == ["seed-0", "seed-1"]
    again = res["ran"][victim]
    assert again["resumed_from"] >= 1 and again["pid"] != killed["pid"]
    client.wait_for_workers(2, timeout=120)                           # the nanny restarted it

    # alone: each trial through `snnref train` (one BLAS thread as in the workers, numba's default
    # thread count: numba's results do not depend on it, OpenBLAS's do in the last bits)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
               **sweep.BLAS_ENV)
    env.pop("NUMBA_NUM_THREADS", None)
    for t in trials:
        alone = tmp_path / f"alone-{t.dirname}"
        subprocess.run([sys.executable, "-m", "snnref", "train", "--config", str(out / t.dirname / "config.json"),
                        "--out", str(alone), "--quiet"], check=True, env=env, capture_output=True, timeout=600)
        _assert_same_run(out / t.dirname, alone)
    losses = [_metrics(out / t.dirname)["epochs"][-1]["test_loss"] for t in trials]
    assert losses[0] != losses[1] and all(math.isfinite(v) for v in losses)
