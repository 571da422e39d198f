"""Checkpoints and atomic files (snnref/training/checkpoint.py): round trips, atomicity, damaged files."""
import json
import os
import stat

import h5py
import numpy as np
import pytest

import snnref
from snnref import checkpoint as ck
from snnref.checkpoint import (CheckpointError, atomic_write_json, atomic_write_text, generator_from_state,
                               load_checkpoint, save_checkpoint)
from snnref.optim import Adam, StepLR, make_optimizer


def _sample(rng, epoch=3):
    W = [rng.standard_normal((4, 3)), rng.standard_normal((3, 2)).astype(np.float32)]
    b = [rng.standard_normal(3), np.zeros(2, dtype=np.float32)]
    opt = Adam([w.copy() for w in W], lr=1e-3)
    opt.step([np.ones((4, 3)), None])
    sched = StepLR(opt, step_size=10)
    gen = np.random.default_rng(123)
    gen.standard_normal(5)
    return dict(
        weights=W, biases=b,
        optimizer_state={"optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
        rng_state=gen.bit_generator.state,
        config={"rule": "antlr", "lr": 0.1, "sizes": [4, 3, 2], "nested": {"big": 2 ** 100, "flag": True,
                                                                          "none": None}},
        metrics=[{"epoch": 1, "loss": 1 / 3, "acc": 0.5}, {"epoch": 2, "loss": float("nan")}],
        epoch=epoch,
        extra={"best": {"weights": [W[0] * 2]}, "np_scalar": np.float32(1.25), "np_int": np.int64(-7),
               "tup": (1, "a", None), "s": "text", "empty": {}, "empty_list": []},
    ), gen


def test_round_trip_every_field(tmp_path, rng):
    d, gen = _sample(rng)
    path = tmp_path / "ckpt.h5"
    save_checkpoint(path, **d)
    out = load_checkpoint(path)
    assert set(out) == {"weights", "biases", "optimizer_state", "rng_state", "config", "metrics", "epoch", "extra",
                        "format_version", "versions"}
    for name in ("weights", "biases"):
        assert len(out[name]) == len(d[name])
        for a, b in zip(out[name], d[name]):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    o, s = out["optimizer_state"]["optimizer"], d["optimizer_state"]["optimizer"]
    assert set(o) == set(s)
    assert o["type"] == "Adam" and o["lr"] == 1e-3 and o["betas"] == (0.9, 0.999) and o["eps"] == 1e-8
    np.testing.assert_array_equal(o["step"], [1, 0])
    assert o["step"].dtype == np.int64
    np.testing.assert_array_equal(o["exp_avg"][0], s["exp_avg"][0])
    assert o["exp_avg"][1] is None and o["exp_avg_sq"][1] is None
    assert out["optimizer_state"]["scheduler"] == d["optimizer_state"]["scheduler"]
    assert out["rng_state"] == d["rng_state"]
    assert out["config"] == d["config"] and out["config"]["nested"]["big"] == 2 ** 100
    assert out["metrics"][0] == d["metrics"][0] and np.isnan(out["metrics"][1]["loss"])
    assert out["epoch"] == 3 and isinstance(out["epoch"], int)
    e = out["extra"]
    np.testing.assert_array_equal(e["best"]["weights"][0], d["extra"]["best"]["weights"][0])
    assert e["np_scalar"] == np.float32(1.25) and e["np_scalar"].dtype == np.float32
    assert e["np_int"] == -7 and e["np_int"].dtype == np.int64
    assert e["tup"] == (1, "a", None) and e["s"] == "text" and e["empty"] == {} and e["empty_list"] == []
    assert list(e) == list(d["extra"])                       # dict order kept
    assert out["format_version"] == ck.FORMAT_VERSION
    assert out["versions"]["snnref"] == snnref.__version__
    assert out["versions"]["numpy"] == np.__version__ and "numba" in out["versions"]


def test_restored_rng_draws_the_same_numbers(tmp_path, rng):
    d, gen = _sample(rng)
    save_checkpoint(tmp_path / "c.h5", **d)
    restored = generator_from_state(load_checkpoint(tmp_path / "c.h5")["rng_state"])
    np.testing.assert_array_equal(restored.standard_normal(10), gen.standard_normal(10))
    np.testing.assert_array_equal(restored.integers(0, 2 ** 62, 5), gen.integers(0, 2 ** 62, 5))


def test_rng_state_of_mt19937_and_generator_object(tmp_path, rng):
    d, _ = _sample(rng)
    mt = np.random.Generator(np.random.MT19937(7))
    mt.random(3)
    d["rng_state"] = mt                                     # a Generator is accepted
    save_checkpoint(tmp_path / "c.h5", **d)
    state = load_checkpoint(tmp_path / "c.h5")["rng_state"]
    assert state["state"]["key"].dtype == np.uint32         # the numpy array in the state is restored
    np.testing.assert_array_equal(generator_from_state(state).random(4), mt.random(4))
    d["rng_state"] = None
    save_checkpoint(tmp_path / "c.h5", **d)
    assert load_checkpoint(tmp_path / "c.h5")["rng_state"] is None


def test_biases_none_extra_none_and_large_metrics(tmp_path, rng):
    d, _ = _sample(rng)
    d.update(biases=None, extra=None, metrics={"history": [{"epoch": i, "loss": 1.0 / (i + 1)} for i in range(3000)]})
    save_checkpoint(tmp_path / "c.h5", **d)                # metrics JSON > 64 kB (HDF5 attribute limit)
    out = load_checkpoint(tmp_path / "c.h5")
    assert out["biases"] is None and out["extra"] is None
    assert out["metrics"] == d["metrics"]


def test_resume_from_file_is_bit_identical(tmp_path, rng):
    init = [rng.standard_normal((5, 4)), rng.standard_normal(4)]
    gs = [[rng.standard_normal((5, 4)), rng.standard_normal(4)] for _ in range(6)]

    def make(params):
        opt = make_optimizer("adamw", params, lr=1e-2, weight_decay=0.01)
        return opt, StepLR(opt, step_size=2, gamma=0.5)

    ref = [a.copy() for a in init]
    o, s = make(ref)
    for g in gs:
        o.step(g)
        s.step()

    run = [a.copy() for a in init]
    o1, s1 = make(run)
    for g in gs[:3]:
        o1.step(g)
        s1.step()
    save_checkpoint(tmp_path / "c.h5", weights=run[:1], biases=run[1:],
                    optimizer_state={"optimizer": o1.state_dict(), "scheduler": s1.state_dict()},
                    rng_state=None, config={}, metrics=[], epoch=3)
    loaded = load_checkpoint(tmp_path / "c.h5")
    params = loaded["weights"] + loaded["biases"]
    o2, s2 = make(params)
    o2.load_state_dict(loaded["optimizer_state"]["optimizer"])
    s2.load_state_dict(loaded["optimizer_state"]["scheduler"])
    for g in gs[3:]:
        o2.step(g)
        s2.step()
    for a, b in zip(params, ref):
        np.testing.assert_array_equal(a, b)
    assert o2.lr == o.lr


# ------------------------------------------------------------------------------------------------
# atomicity
# ------------------------------------------------------------------------------------------------
def _no_temp_left(directory):
    return [n for n in os.listdir(directory) if n.endswith(".tmp")] == []


def test_failure_in_os_replace_keeps_old_checkpoint(tmp_path, rng, monkeypatch):
    d, _ = _sample(rng, epoch=1)
    path = tmp_path / "c.h5"
    save_checkpoint(path, **d)
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(ck.os, "replace", boom)
    d2, _ = _sample(rng, epoch=2)
    with pytest.raises(OSError, match="simulated crash during rename"):
        save_checkpoint(path, **d2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert _no_temp_left(tmp_path)


def test_failure_in_the_middle_of_the_hdf5_write_keeps_old_checkpoint(tmp_path, rng, monkeypatch):
    d, _ = _sample(rng, epoch=1)
    path = tmp_path / "c.h5"
    save_checkpoint(path, **d)
    calls = {"n": 0}
    real = ck._write_node

    def failing(parent, key, value, where):
        calls["n"] += 1
        if key == "optimizer_state":            # weights and biases are already in the temp file
            raise OSError("simulated disk full")
        return real(parent, key, value, where)

    monkeypatch.setattr(ck, "_write_node", failing)
    d2, _ = _sample(rng, epoch=2)
    with pytest.raises(OSError, match="simulated disk full"):
        save_checkpoint(path, **d2)
    monkeypatch.undo()
    assert calls["n"] >= 3
    assert load_checkpoint(path)["epoch"] == 1
    assert _no_temp_left(tmp_path)


def test_unstorable_object_fails_before_replacing(tmp_path, rng):
    d, _ = _sample(rng, epoch=1)
    path = tmp_path / "c.h5"
    save_checkpoint(path, **d)
    d2, _ = _sample(rng, epoch=2)
    d2["extra"] = {"fine": np.ones(3), "bad": object()}
    with pytest.raises(TypeError, match=r"extra\['bad'\] is of type object; a checkpoint stores dicts"):
        save_checkpoint(path, **d2)
    assert load_checkpoint(path)["epoch"] == 1
    assert _no_temp_left(tmp_path)


def test_failure_in_fsync_keeps_old_text_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"epoch": 1})

    def boom(fd):
        raise OSError("simulated I/O error")

    monkeypatch.setattr(ck.os, "fsync", boom)
    with pytest.raises(OSError, match="simulated I/O error"):
        atomic_write_json(path, {"epoch": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert _no_temp_left(tmp_path)


def test_atomic_write_json_and_text(tmp_path):
    path = tmp_path / "m.json"
    obj = {"loss": np.float64(0.25), "n": np.int64(3), "curve": np.array([1.0, 2.0]), "ok": np.bool_(True)}
    atomic_write_json(path, obj)
    assert json.loads(path.read_text()) == {"loss": 0.25, "n": 3, "curve": [1.0, 2.0], "ok": True}
    atomic_write_json(path, [1, 2])                       # replaces the existing file
    assert json.loads(path.read_text()) == [1, 2]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask     # not mkstemp's 0600
    atomic_write_text(tmp_path / "c.txt", "héllo\n")
    assert (tmp_path / "c.txt").read_text(encoding="utf-8") == "héllo\n"
    assert _no_temp_left(tmp_path)
    with pytest.raises(TypeError, match="text must be a str; got bytes"):
        atomic_write_text(tmp_path / "c.txt", b"x")
    with pytest.raises(TypeError, match="object of type object is not JSON serialisable"):
        atomic_write_json(tmp_path / "x.json", {"a": object()})
    assert not (tmp_path / "x.json").exists() and _no_temp_left(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist; create it"):
        atomic_write_text(tmp_path / "nodir" / "a.txt", "x")


# ------------------------------------------------------------------------------------------------
# damaged and foreign files
# ------------------------------------------------------------------------------------------------
def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist. Check the path"):
        load_checkpoint(tmp_path / "nope.h5")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(tmp_path)


def test_not_hdf5(tmp_path):
    p = tmp_path / "junk.h5"
    p.write_bytes(b"this is not hdf5" * 100)
    with pytest.raises(CheckpointError, match="damaged or not an snnref checkpoint .*Use the other checkpoint"):
        load_checkpoint(p)
    p.write_bytes(b"")
    with pytest.raises(CheckpointError, match="damaged or not an snnref checkpoint"):
        load_checkpoint(p)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_checkpoint(tmp_path, rng, fraction):
    d, _ = _sample(rng)
    p = tmp_path / "c.h5"
    save_checkpoint(p, **d)
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError, match="damaged or not an snnref checkpoint .*truncated or extended"):
        load_checkpoint(p)


def test_hdf5_but_not_a_checkpoint_or_wrong_version(tmp_path, rng):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.ones(3)
    with pytest.raises(CheckpointError, match="has no integrity header: it was written by an older snnref"):
        load_checkpoint(p)
    with h5py.File(p, "w", userblock_size=512) as f:           # sealed, but not a checkpoint
        f["x"] = np.ones(3)
    ck._write_integrity_header(p)
    with pytest.raises(CheckpointError, match="not an snnref checkpoint"):
        load_checkpoint(p)
    # checks after the integrity check: files edited and re-sealed (as a buggy writer could)
    d, _ = _sample(rng)
    save_checkpoint(p, **d)
    with h5py.File(p, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):       # edited without re-sealing
        load_checkpoint(p)
    ck._write_integrity_header(p)
    with pytest.raises(CheckpointError, match="has format version 99; this snnref reads version 2"):
        load_checkpoint(p)
    save_checkpoint(p, **d)
    with h5py.File(p, "a") as f:
        del f["optimizer_state"]
        del f.attrs["rng_state"]
    ck._write_integrity_header(p)
    msg = r"lacks \['optimizer_state', 'rng_state'\], required by format version 2"
    with pytest.raises(CheckpointError, match=msg):
        load_checkpoint(p)
    save_checkpoint(p, **d)
    data = bytearray(p.read_bytes())
    data[len("snnref-checkpoint ")] = ord("3")                       # a newer format's header
    p.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="has format version 3; this snnref reads version 2"):
        load_checkpoint(p)


def test_save_argument_errors(tmp_path, rng):
    d, _ = _sample(rng)
    p = tmp_path / "c.h5"
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        save_checkpoint(p, **dict(d, epoch=-1))
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        save_checkpoint(p, **dict(d, epoch=1.5))
    with pytest.raises(TypeError, match="weights must be a list of numpy arrays"):
        save_checkpoint(p, **dict(d, weights=np.ones((2, 2))))
    with pytest.raises(TypeError, match=r"biases\[0\] must be a floating array"):
        save_checkpoint(p, **dict(d, biases=[np.ones(2, dtype=int)]))
    with pytest.raises(TypeError, match="rng_state must be the dict rng.bit_generator.state"):
        save_checkpoint(p, **dict(d, rng_state=5))
    with pytest.raises(TypeError, match="config must be a dict"):
        save_checkpoint(p, **dict(d, config=[1]))
    with pytest.raises(TypeError, match="config cannot be stored as JSON"):
        save_checkpoint(p, **dict(d, config={"f": lambda x: x}))
    with pytest.raises(TypeError, match=r"optimizer_state has key 3; dict keys must be non-empty strings"):
        save_checkpoint(p, **dict(d, optimizer_state={3: 1}))
    with pytest.raises(TypeError, match=r"only numeric and boolean arrays"):
        save_checkpoint(p, **dict(d, extra=np.array(["a"])))
    assert not p.exists() and _no_temp_left(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist; create it"):
        save_checkpoint(tmp_path / "missing" / "c.h5", **d)


def test_generator_from_state_errors():
    with pytest.raises(ValueError, match="must be a numpy bit_generator.state dict"):
        generator_from_state({"state": 1})
    with pytest.raises(ValueError, match="unknown bit generator 'Nope'"):
        generator_from_state({"bit_generator": "Nope"})
