"""The conformance suite: the NumPy adapter conforms; every mutant is caught, shrunk, saved, and the
saved minimal case reproduces the divergence through `snnref verify`."""
import os

import numpy as np
import pytest

import mutants
from snnref import cli
from snnref.verify import read_case, verify
from snnref.verify.conformance import load_adapter, run_conformance


def test_numpy_adapter_conforms():
    res = run_conformance("snnref.verify.numpy_adapter:factory", max_examples=40, seed=1)
    assert res.ok, res.error
    assert res.examples >= 40


def test_cli_conformance(capsys, tmp_path):
    assert cli.main(["conformance", "--adapter", "snnref.verify.numpy_adapter:factory", "--examples", "10",
                     "--out", str(tmp_path)]) == 0
    assert "conforms: " in capsys.readouterr().out
    assert cli.main(["conformance", "--adapter", "no.such.module:factory"]) == 2
    assert "cannot import adapter module" in capsys.readouterr().err
    assert cli.main(["conformance", "--adapter", "mutants:OneStepLate", "--examples", "50",
                     "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "DOES NOT CONFORM" in out and "reproduce: snnref verify" in out


def _first_forward(ref, predicate):
    """First (t, layer) in forward order where predicate(layer) (a (T, B, N) mask) holds."""
    best = None
    for l in range(ref.n_layers):
        ts = np.flatnonzero(predicate(l).any(axis=(1, 2)))
        if ts.size and (best is None or (ts[0], l) < best):
            best = (int(ts[0]), l)
    return best


def _reset_hits(ref):
    def pred(l):
        S, I = ref.arrays[f"forward/{l}/S"], ref.arrays[f"forward/{l}/I"]
        hit = np.zeros(S.shape, dtype=bool)
        hit[1:] = (S[:-1] == 1) & (I[:-1] != 0)
        return hit
    return pred


@pytest.mark.parametrize("name, rules, quantity", [
    ("NoCurrentReset", None, "I"),
    ("OneStepLate", None, "I"),
    ("TransposedSquare", None, "I"),
    ("Float32Inside", None, "I"),
    ("SurrogateAtZero", ["act_srm"], "dV"),
    ("DetachedReset", ["act_rnn"], None),
    ("EpsStarSignFlip", ["timing"], "Tprop"),
])
def test_mutants_are_caught(name, rules, quantity, tmp_path):
    adapter = getattr(mutants, name)()
    res = run_conformance(adapter, max_examples=200, seed=0, rules=rules, out_dir=str(tmp_path))
    assert not res.ok
    ref_path, cand_path = res.files
    rep = verify(ref_path, cand_path)       # the saved minimal case reproduces the report
    fd = rep.first_divergence
    assert fd == res.report.first_divergence
    ref = read_case(ref_path)
    if quantity is not None:
        assert fd["quantity"] == quantity
    if name == "NoCurrentReset":
        assert (fd["t"], fd["layer"]) == _first_forward(ref, _reset_hits(ref))
    elif name in ("OneStepLate", "Float32Inside"):
        t0 = int(np.flatnonzero(ref.x.any(axis=(1, 2)))[0])
        assert (fd["t"], fd["layer"]) == (t0, 0)
    elif name == "TransposedSquare":
        l = fd["layer"]
        assert ref.weights[l].shape[0] == ref.weights[l].shape[1]
    elif name == "SurrogateAtZero":
        assert fd["layer"] == ref.n_layers - 1 and fd["t"] == ref.T - 1   # random dL_dS: non-zero at T-1
    elif name == "DetachedReset":
        # the reset-path terms are zero at T-1 (no t+1): the divergence is earlier, in act_rnn
        assert fd["rule"] == "act_rnn" and (fd["t"] is None or fd["t"] < ref.T - 1)
    elif name == "EpsStarSignFlip":
        assert fd["layer"] < ref.n_layers - 1
        assert fd["candidate"] == pytest.approx(-fd["reference"], rel=1e-6)
    # minimal: Hypothesis shrinks to a small network
    assert max(ref.sizes) <= 2 and ref.T <= 6


def test_load_adapter_errors():
    from snnref.errors import SnnrefError

    with pytest.raises(SnnrefError, match="package.module:factory"):
        load_adapter("nocolon")
    with pytest.raises(SnnrefError, match="no callable"):
        load_adapter("snnref.verify.numpy_adapter:nothing")


def test_crashing_adapter_is_a_failure_not_a_crash(tmp_path):
    class Crash(mutants.NumpyAdapter):
        def backward(self, problem, rule):
            raise RuntimeError("CUDA out of memory")

    res = run_conformance(Crash(), max_examples=5, out_dir=str(tmp_path))
    assert not res.ok and "RuntimeError: CUDA out of memory" in res.error
    assert len(res.files) == 1 and read_case(res.files[0]).sizes == (1, 1)   # shrunk and saved
