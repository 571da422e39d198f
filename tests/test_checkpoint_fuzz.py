"""Damaged checkpoints: every damaged byte gives CheckpointError, never a crash, never other numbers.

The loads run in a separate worker process (so a crash of libhdf5 is a test failure, not a dead
test run). The worker reads file paths on stdin and answers one JSON line each: the class of the
exception raised, or a digest of everything loaded. A damaged file must always answer
``CheckpointError``; the intact file must answer the digest of the saved content.

Cost: one worker start (~1 s) and a few milliseconds per load: a deterministic sweep that flips a
bit in every 5th byte of the file, plus Hypothesis-chosen multi-byte flips, truncations and
extensions (well under a minute on 2 cores).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnref.checkpoint import USERBLOCK_SIZE, load_checkpoint, save_checkpoint
from snnref.optim import Adam, StepLR

_WORKER = r"""
import hashlib, json, sys
import numpy as np
from snnref.checkpoint import load_checkpoint

def feed(h, obj):
    if isinstance(obj, np.ndarray):
        h.update(repr((obj.dtype.str, obj.shape)).encode()); h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        for k in obj:
            h.update(repr(k).encode()); feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(b"[%d" % len(obj))
        for v in obj:
            feed(h, v)
    else:
        h.update(repr((type(obj).__name__, obj)).encode())

for line in sys.stdin:
    path = line.rstrip("\n")
    try:
        out = load_checkpoint(path)
        out.pop("versions")
        h = hashlib.sha256(); feed(h, out)
        answer = {"ok": h.hexdigest()}
    except Exception as exc:
        answer = {"error": type(exc).__name__, "message": str(exc)[:300]}
    sys.stdout.write(json.dumps(answer) + "\n"); sys.stdout.flush()
"""


class Worker:
    """A process that loads checkpoints; ``load`` fails the test if the process dies."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-u", "-c", _WORKER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())

    def load(self, path, what):
        self.proc.stdin.write(os.fspath(path) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=30)
            err = self.proc.stderr.read()[-2000:]
            self.proc.stdout.close()
            self.proc.stderr.close()
            pytest.fail(f"the loading process died (exit status {code}) on {what}:\n{err}")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A checkpoint shaped like a trainer's (two layers, Adam state, scheduler, RNG, config, metrics)."""
    rng = np.random.default_rng(5)
    W = [rng.standard_normal((12, 6)), rng.standard_normal((6, 3))]
    b = [rng.standard_normal(6), rng.standard_normal(3)]
    opt = Adam([w.copy() for w in W] + [x.copy() for x in b], lr=1e-3)
    opt.step([np.ones_like(w) for w in W] + [np.ones_like(x) for x in b])
    sched = StepLR(opt, step_size=2)
    path = tmp_path_factory.mktemp("fuzz") / "last.h5"
    save_checkpoint(path, weights=W, biases=b, optimizer_state=opt.state_dict(),
                    rng_state=np.random.default_rng(1).bit_generator.state,
                    config={"name": "fuzz", "T": 5, "hidden": [6], "lr": 1e-3},
                    metrics={"epochs": [{"epoch": 1, "test_accuracy": 0.5, "test_loss": 1.25}], "summary": {}},
                    epoch=1, extra={"scheduler": sched.state_dict()})
    return path, path.read_bytes()


@pytest.fixture(scope="module")
def intact_digest(worker, original):
    path, _ = original
    answer = worker.load(path, "the intact file")
    assert "ok" in answer, answer
    return answer["ok"]


def _expect_rejected(worker, path, data, what, intact_digest):
    path.write_bytes(data)
    answer = worker.load(path, what)
    assert "ok" not in answer or answer["ok"] == intact_digest, f"{what}: loaded different numbers silently"
    assert answer.get("error") == "CheckpointError", f"{what}: {answer}"


def test_intact_file_loads_with_its_content(worker, original, intact_digest):
    path, data = original
    out = load_checkpoint(path)
    assert out["epoch"] == 1 and out["config"]["name"] == "fuzz"
    assert worker.load(path, "the intact file again") == {"ok": intact_digest}


def test_bit_flip_sweep_over_the_whole_file(worker, original, intact_digest, tmp_path):
    """A single flipped bit at every 5th byte (user block, superblock, metadata, data, JSON)."""
    _, data = original
    path = tmp_path / "flip.h5"
    assert len(data) > USERBLOCK_SIZE
    for i, offset in enumerate(range(0, len(data), 5)):
        damaged = bytearray(data)
        damaged[offset] ^= 1 << (i % 8)
        _expect_rejected(worker, path, bytes(damaged), f"bit {i % 8} of byte {offset} flipped", intact_digest)


@settings(max_examples=150)
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.floats(0, 1, exclude_max=True)), tail=st.binary(max_size=16))
def test_random_damage(worker, original, intact_digest, tmp_path_factory, flips, cut, tail):
    """Hypothesis: flipped bytes, optionally truncated at a random point or extended by junk."""
    _, data = original
    damaged = bytearray(data)
    for pos, mask in flips:
        damaged[int(pos * len(data))] ^= mask
    if cut is not None:
        damaged = damaged[:int(cut * len(damaged))]
    damaged += tail
    if bytes(damaged) == data:
        return
    path = tmp_path_factory.mktemp("h") / "c.h5"
    _expect_rejected(worker, path, bytes(damaged), f"flips {flips}, cut {cut}, tail {tail!r}", intact_digest)
