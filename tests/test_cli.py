"""The command-line interface, called through ``main([...])``."""
import io
import json
import os
import subprocess
import sys

import pytest

from snnref import cli
from snnref.config import list_presets
from snnref.checkpoint import CheckpointError

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
    # the read-outs and the model selection are explained (the count read-out of a latency run is near chance)
    assert "first = class of the earliest output spike (trained by the latency loss)" in cap.out
    assert "count = class with the most output spikes (not trained: the latency loss" in cap.out
    assert "best model (best.h5): epoch 1 of 1, the epoch with the highest test accuracy of the first" in cap.out
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

    import snnref.training
    monkeypatch.setattr(snnref.training, "train", fake_train)
    assert cli.main(["train"]) == 0
    assert seen["cfg"].name == "quickstart" and seen["cfg"].rule == "antlr" and not seen["resume"]
    assert seen["run_dir"] is None                  # train() creates a unique runs/quickstart-<timestamp>
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


# ------------------------------------------------------------------------------ user errors
def _one_error_line(capsys, pattern):
    import re

    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("snnref: error: "), err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = str(tmp_path_factory.mktemp("cli") / "run")
    path = tmp_path_factory.mktemp("cfg") / "tiny.json"
    path.write_text(json.dumps(dict(TINY, epochs=2)))
    assert cli.main(["train", "--config", str(path), "--out", run, "--quiet"]) == 0
    return run


def _copy(run, tmp_path):
    import shutil

    return shutil.copytree(run, tmp_path / "copy")


def test_damaged_checkpoint_is_one_error_line(finished_run, tmp_path, capsys):
    capsys.readouterr()
    run = _copy(finished_run, tmp_path)
    data = bytearray((run / "best.h5").read_bytes())
    data[len(data) // 2] ^= 0x10
    (run / "best.h5").write_bytes(bytes(data))
    assert cli.main(["eval", "--run", str(run)]) == 2
    _one_error_line(capsys, r"best.h5' is damaged .*SHA-256 mismatch.*Use the other checkpoint")
    assert cli.main(["eval", "--run", str(run), "--checkpoint", "last"]) == 0
    capsys.readouterr()
    with pytest.raises(CheckpointError):
        cli.main(["--debug", "eval", "--run", str(run)])             # --debug: the exception itself
    with pytest.raises(CheckpointError):
        cli.main(["eval", "--run", str(run), "--debug"])


def test_eval_refuses_edited_config_json(finished_run, tmp_path, capsys):
    capsys.readouterr()
    run = _copy(finished_run, tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    cfg["T"] = 50
    (run / "config.json").write_text(json.dumps(cfg))
    assert cli.main(["eval", "--run", str(run)]) == 2
    _one_error_line(capsys, r"another configuration .*T: saved 30 vs 50.*restore the original config.json")


def test_resume_semantics_on_the_command_line(finished_run, tmp_path, capsys):
    capsys.readouterr()
    run = _copy(finished_run, tmp_path)
    before = (run / "config.json").read_text()
    assert cli.main(["train", "--resume", "--out", str(run), "--epochs", "1", "--quiet"]) == 2
    _one_error_line(capsys, r"already completed 2 epochs")
    assert (run / "config.json").read_text() == before
    assert cli.main(["train", "--resume", "--out", str(run), "--epochs", "2", "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "nothing to do: the run in" in cap.err and "has completed its 2 epochs" in cap.err
    assert "epochs 3..2" not in cap.err and (run / "config.json").read_text() == before


@pytest.fixture
def bad_data_dir(tmp_path):
    """A data directory with the real MNIST files (links) except one replaceable labels file."""
    from snnref.data import default_data_dir

    src = default_data_dir() / "mnist"
    dst = tmp_path / "data" / "mnist"
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.name.endswith(".gz") and f.name != "t10k-labels-idx1-ubyte.gz":
            (dst / f.name).symlink_to(f)
    return dst, (src / "t10k-labels-idx1-ubyte.gz").read_bytes()


def test_bad_mnist_files_are_one_error_line(tiny_config, bad_data_dir, tmp_path, capsys):
    import gzip

    folder, good = bad_data_dir
    target = folder / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(good)
    crc = bytearray(good)
    crc[-8] ^= 0xFF                                                   # gzip CRC-32 trailer
    changed = bytearray(raw)
    changed[100] = (changed[100] + 1) % 10
    cases = [(bytes(crc), r"not a valid gzip file or is truncated .*Re-copy it"),
             (good[: len(good) // 2], r"not a valid gzip file or is truncated"),
             (gzip.compress(bytes(changed)), r"SHA-256 of the uncompressed data is .*Re-copy it")]
    for i, (content, pattern) in enumerate(cases):
        target.write_bytes(content)
        argv = ["train", "--config", tiny_config, "--data-dir", str(folder.parent), "--out", str(tmp_path / f"r{i}"),
                "--quiet"]
        assert cli.main(argv) == 2
        _one_error_line(capsys, pattern)
        assert not (tmp_path / f"r{i}").exists()                      # a failed start leaves nothing


def test_data_dir_option_and_environment(tiny_config, bad_data_dir, tmp_path, monkeypatch, capsys):
    folder, good = bad_data_dir
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(good)
    run = tmp_path / "r"
    assert cli.main(["train", "--config", tiny_config, "--data-dir", str(folder.parent), "--out", str(run),
                     "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["data_dir"] == str(folder.parent)
    capsys.readouterr()
    assert cli.main(["train", "--config", tiny_config, "--data-dir", str(tmp_path / "none"), "--quiet",
                     "--out", str(tmp_path / "r2")]) == 2
    _one_error_line(capsys, r"not found.*SNNREF_DATA_DIR")
    monkeypatch.setenv("SNNREF_DATA_DIR", str(tmp_path / "nowhere"))
    assert cli.main(["eval", "--run", str(run), "--data-dir", str(folder.parent)]) == 0     # option wins
    capsys.readouterr()
    cfg = json.loads((run / "config.json").read_text())
    cfg["data_dir"] = None
    (run / "config.json").write_text(json.dumps(cfg))
    assert cli.main(["eval", "--run", str(run)]) == 2
    _one_error_line(capsys, r"SNNREF_DATA_DIR points to .*nowhere.*not a directory")


@pytest.mark.parametrize("args, pattern", [
    (["--train-limit", "70000"], r"train_limit is 70000 but the train split has only 60000 samples; "
                                 r"use --train-limit <= 60000"),
    (["--test-limit", "20000"], r"test_limit is 20000 but the test split has only 10000 samples"),
    (["--validation-limit", "5"], r"validation_limit \(5\) needs a validation split"),
    (["--epochs", "1e30"], r"argument --epochs: invalid int value"),
])
def test_limit_errors(tiny_config, tmp_path, capsys, args, pattern):
    try:
        code = cli.main(["train", "--config", tiny_config, "--out", str(tmp_path / "r"), "--quiet"] + args)
    except SystemExit as exc:                        # argparse
        code = exc.code
    assert code == 2
    _one_error_line(capsys, pattern)
    assert not (tmp_path / "r").exists()


def test_config_file_errors(tmp_path, capsys):
    assert cli.main(["train", "--config", str(tmp_path)]) == 2
    _one_error_line(capsys, r"is a directory; pass a JSON file")
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"name": "caf\u00e9"}'.encode("latin-1"))
    assert cli.main(["train", "--config", str(latin)]) == 2
    _one_error_line(capsys, r"is not UTF-8 text .*save it as UTF-8")
    for name in ("../../../elsewhere/x", "/abs/x"):
        escape = tmp_path / "escape.json"
        escape.write_text(json.dumps(dict(TINY, name=name)))
        assert cli.main(["train", "--config", str(escape)]) == 2
        _one_error_line(capsys, r"name must be 1-100 letters")
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(dict(TINY, epochs=1e30)))
    assert cli.main(["train", "--config", str(huge)]) == 2
    _one_error_line(capsys, r"epochs must be <= 100000")


def test_output_path_errors(tiny_config, tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert cli.main(["train", "--config", tiny_config, "--out", str(a_file), "--quiet"]) == 2
    _one_error_line(capsys, r"exists and is not a directory")
    assert cli.main(["train", "--config", tiny_config, "--out", str(a_file / "run"), "--quiet"]) == 2
    _one_error_line(capsys, r"a part of its path is a file")

    def denied(path, *a, **k):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "mkdir", denied)          # a read-only parent (tests may run as root)
    assert cli.main(["train", "--config", tiny_config, "--out", str(tmp_path / "ro" / "run"), "--quiet"]) == 2
    _one_error_line(capsys, r"cannot create run directory .*Permission denied\. Choose a writable directory")


def test_memory_errors(tmp_path, capsys, monkeypatch):
    big = tmp_path / "big.json"
    big.write_text(json.dumps(dict(TINY, hidden=[300000, 300000], T=1000)))
    assert cli.main(["train", "--config", str(big), "--out", str(tmp_path / "r")]) == 2
    _one_error_line(capsys, r"needs about \d+\.\d GiB of memory .*reduce hidden, T or batch_size")
    assert not (tmp_path / "r").exists()

    def oom(*a, **k):
        raise MemoryError()

    import snnref.training
    monkeypatch.setattr(snnref.training, "train", oom)
    assert cli.main(["train", "--out", str(tmp_path / "r")]) == 2
    _one_error_line(capsys, r"out of memory\. Reduce hidden, T, batch_size")


def test_broken_pipe_is_one_error_line():
    """`snnref presets | head` printed a BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "snnref", "presets"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()                              # the reader is gone before snnref writes
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("snnref: error: the output pipe was closed"), err


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--bogus"])
    assert exc.value.code == 2
    _one_error_line(capsys, r"unrecognized arguments: --bogus \(see `snnref --help`\)")
