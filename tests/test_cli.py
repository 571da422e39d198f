"""The command-line interface, called through ``main([...])``."""
import io
import json
import os
import subprocess
import sys

import pytest

from snnref import cli
from snnref.config import list_presets

TINY = dict(name="tiny-cli", T=30, hidden=[6], train_limit=32, test_limit=16, batch_size=16, test_batch_size=16,
            epochs=1, rule="antlr", ste_alpha=1.0, ste_beta=3.0, loss="latency", init_scale=5.0, init_bias=1.0,
            grad_clip_value=1e6)


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return str(path)


def test_presets_lists_all(capsys):
    assert cli.main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in list_presets():
        assert name in out
    assert "in-15C5-P2-40C5-P2-300-out" in out          # convolutional presets show their architecture


def test_train_eval_resume(tiny_config, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert cli.main(["train", "--config", tiny_config, "--out", run, "--quiet", "--seed", "1"]) == 0
    cap = capsys.readouterr()
    assert "final test accuracy (epoch 1, 16 test samples): first" in cap.out
    assert "spikes/sample:" in cap.out
    assert "epoch 1  train loss" in cap.err and "\r" not in cap.err          # quiet: one line per epoch
    with open(os.path.join(run, "config.json")) as f:
        saved = json.load(f)
    assert saved["seed"] == 1 and saved["name"] == "tiny-cli"                 # CLI overrides the file
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    acc = metrics["epochs"][-1]["test_accuracy_first"]

    assert cli.main(["eval", "--run", run, "--checkpoint", "last", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"first {100 * acc:.2f}%" in out and "(epoch 1), 16 test samples" in out

    assert cli.main(["train", "--resume", "--out", run, "--epochs", "2", "--quiet"]) == 0
    with open(os.path.join(run, "metrics.json")) as f:
        assert [e["epoch"] for e in json.load(f)["epochs"]] == [1, 2]
    capsys.readouterr()


def test_default_train_runs_quickstart(monkeypatch, capsys):
    """`snnref train` without arguments resolves the quickstart preset into runs/quickstart-<timestamp>."""
    seen = {}

    def fake_train(cfg, run_dir, resume=False, callback=None):
        seen.update(cfg=cfg, run_dir=run_dir, resume=resume)
        return {"epochs": [], "summary": {}}

    import snnref.train
    monkeypatch.setattr(snnref.train, "train", fake_train)
    assert cli.main(["train"]) == 0
    assert seen["cfg"].name == "quickstart" and seen["cfg"].rule == "antlr" and not seen["resume"]
    assert seen["run_dir"].startswith(os.path.join("runs", "quickstart-"))
    capsys.readouterr()


@pytest.mark.parametrize("argv, pattern", [
    (["train", "--preset", "nope"], r"unknown preset 'nope'\. Available presets: .*quickstart"),
    (["train", "--config", "/nonexistent/c.json"], r"config file '/nonexistent/c.json' does not exist"),
    (["train", "--resume"], r"--resume needs --out DIR"),
    (["train", "--epochs", "0", "--out", "x"], r"epochs must be >= 1; got 0"),
])
def test_error_messages(argv, pattern, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnref: error: ")
    import re
    assert re.search(pattern, err), err


def test_bad_config_files(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"T": 30,}')
    assert cli.main(["train", "--config", str(bad)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"epoch": 3}')
    assert cli.main(["train", "--config", str(unknown)]) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) ['epoch']" in err and "Valid keys:" in err and "epochs" in err


def test_eval_errors(tmp_path, capsys):
    assert cli.main(["eval", "--run", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["eval", "--run", str(tmp_path), "--checkpoint", "first"])     # argparse choices
    capsys.readouterr()


def test_resume_of_missing_run(tmp_path, capsys):
    assert cli.main(["train", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "cannot resume" in capsys.readouterr().err


def test_progress_line_on_terminal():
    buf = io.StringIO()
    p = cli.Progress(stream=buf, live=True, min_interval=0.0)
    p("start", {"config": {"name": "x", "rule": "antlr", "loss": "latency", "selection": "first"}, "run_dir": "r",
                "sizes": [784, 8, 10], "train_samples": 32, "validation_samples": 0, "test_samples": 16,
                "start_epoch": 0, "epochs": 1})
    p("batch", {"epoch": 1, "epochs": 1, "done": 16, "total": 32, "loss": 1.5, "accuracy": 0.25, "elapsed_s": 2.0})
    text = buf.getvalue()
    assert "\r" in text and "8.0 samples/s" in text and "ETA 00:02" in text and "loss 1.5000" in text
    assert "acc(first)  25.0%" in text


def test_python_m_snnref():
    res = subprocess.run([sys.executable, "-m", "snnref", "presets"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "quickstart" in res.stdout
