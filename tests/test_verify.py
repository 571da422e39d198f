"""snnref.verify.verify and `snnref verify`: agreement, layouts, exit codes, and the mutation matrix.

Every mutant is the independent NumPy adapter with one deliberate bug (tests/mutants.py). The
expected layer / t / quantity of the first divergence is derived here from the reference numbers
and the nature of the bug, not from the verifier's output.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mutants
from snnref import Network, NeuronModel
from snnref.errors import SnnrefError
from snnref.verify import make_case, standard_case, verify, write_case
from snnref.verify.numpy_adapter import NumpyAdapter


@pytest.fixture(scope="module")
def deep():
    return standard_case("deep", "float64")


@pytest.fixture(scope="module")
def square():
    """A case with a square hidden weight (4 x 4), so a transposed W keeps its shape."""
    rng = np.random.default_rng(7)
    sizes = (3, 4, 4, 2)
    Ws = [np.abs(rng.normal(0, 2.0, (a, b))) for a, b in zip(sizes[:-1], sizes[1:])]
    x = (rng.random((10, 1, 3)) < 0.4).astype(float)
    net = Network(Ws, None, NeuronModel.antlr(0.9, 0.9, T=10))
    return make_case(net, x, rules=("act_rnn",), name="square")


def _run(adapter, ref, rules=None, **kw):
    return verify(ref, mutants.candidate(adapter, ref, rules), **kw)


def test_numpy_adapter_agrees_with_snnref(deep):
    rep = _run(NumpyAdapter(), deep)
    assert rep.ok, rep.summary()
    assert rep.first_divergence is None
    # a third of the quantities are adjoints, all compared
    assert sum(q["kind"] == "adjoints" for q in rep.quantities) >= 4 * 4 * 4


# ------------------------------------------------------------------------------- mutation matrix
def test_dropped_current_reset(deep):
    rep = _run(mutants.NoCurrentReset(), deep, rules=["act_rnn"])
    fd = rep.first_divergence
    # expected: the first (t, layer) at which a neuron spiked at t-1 with a non-zero current
    best = None
    for l in range(deep.n_layers):
        S, I = deep.arrays[f"forward/{l}/S"], deep.arrays[f"forward/{l}/I"]
        hit = (S[:-1] == 1) & (I[:-1] != 0)
        ts = np.flatnonzero(hit.any(axis=(1, 2)))
        if ts.size and (best is None or (ts[0] + 1, l) < best[:2]):
            b, n = np.argwhere(hit[ts[0]])[0]
            best = (ts[0] + 1, l, b, n)
    assert (fd["quantity"], fd["t"], fd["layer"], fd["b"], fd["neuron"]) == ("I",) + tuple(int(v) for v in best)
    assert fd["order"] == "forward"
    assert any("current reset is missing" in h for h in rep.fingerprint["hints"])


def test_off_by_one_in_time(deep):
    rep = _run(mutants.OneStepLate(), deep, rules=["act_srm"])
    fd = rep.first_divergence
    x = deep.x
    t0 = int(np.flatnonzero(x.any(axis=(1, 2)))[0])
    assert (fd["quantity"], fd["layer"], fd["t"]) == ("I", 0, t0)
    assert any("delayed by one step" in h for h in rep.fingerprint["hints"])
    assert "delay" in rep.fingerprint["forward"]


def test_transposed_square_weight(square):
    rep = _run(mutants.TransposedSquare(), square, rules=["act_rnn"])
    fd = rep.first_divergence
    S0 = square.arrays["forward/0/S"]
    W1 = square.weights[1]
    differs = np.abs(np.einsum("tbi,ij->tbj", S0, W1) - np.einsum("tbi,ij->tbj", S0, W1.T)) > 0
    t_exp = int(np.flatnonzero(differs.any(axis=(1, 2)))[0])
    assert (fd["quantity"], fd["layer"], fd["t"]) == ("I", 1, t_exp)
    assert any("weights[1] is used transposed" in h for h in rep.fingerprint["hints"])


def test_float32_where_float64_claimed(deep):
    rep = _run(mutants.Float32Inside(), deep, rules=["act_srm"])
    fd = rep.first_divergence
    t0 = int(np.flatnonzero(deep.x.any(axis=(1, 2)))[0])
    assert (fd["quantity"], fd["layer"], fd["t"]) == ("I", 0, t0)
    assert 1e-10 < fd["rel_error"] < 1e-5            # rounding-level, not a logic error
    assert rep.fingerprint["precision"] == "float32"
    assert any("float32" in h for h in rep.fingerprint["hints"])


def test_surrogate_centred_at_zero(deep):
    rep = _run(mutants.SurrogateAtZero(), deep, rules=["act_srm"])
    fd = rep.backward_divergence["act_srm"]
    assert rep.forward_divergence is None
    L = deep.n_layers
    dS = deep.arrays["loss/dL_dS"]
    t_exp = int(np.flatnonzero((dS != 0).any(axis=(1, 2)))[-1])    # the last step with an output signal
    assert (fd["quantity"], fd["layer"], fd["t"]) == ("dV", L - 1, t_exp)
    assert rep.first_divergence == fd


def test_detached_reset_path(deep):
    rep = _run(mutants.DetachedReset(), deep, rules=["act_rnn"])
    fd = rep.first_divergence
    m = deep.model
    best = None  # backward order: largest t, then highest layer, where the reset-path term is non-zero
    for l in range(deep.n_layers):
        I, V = deep.arrays[f"forward/{l}/I"], deep.arrays[f"forward/{l}/V"]
        dI, dV = deep.arrays[f"adjoints/act_rnn/{l}/dI"], deep.arrays[f"adjoints/act_rnn/{l}/dV"]
        term = m["alpha_I"] * I[:-1] * dI[1:] + m["alpha_V"] * V[:-1] * dV[1:]
        ts = np.flatnonzero((np.abs(term) > 1e-12).any(axis=(1, 2)))
        if ts.size and (best is None or (ts[-1], l) > best):
            best = (int(ts[-1]), l)
    assert (fd["quantity"], fd["t"], fd["layer"], fd["rule"]) == ("dV", best[0], best[1], "act_rnn")
    assert any("equal snnref's act_srm" in h and "reset paths" in h for h in rep.fingerprint["hints"])


def test_eps_star_sign_flip(deep):
    rep = _run(mutants.EpsStarSignFlip(), deep, rules=["timing"])
    fd = rep.first_divergence
    L = deep.n_layers
    Tp = deep.arrays[f"adjoints/timing/{L - 2}/Tprop"]
    t_exp = int(np.flatnonzero((Tp != 0).any(axis=(1, 2)))[-1])
    assert (fd["quantity"], fd["layer"], fd["t"], fd["rule"]) == ("Tprop", L - 2, t_exp, "timing")
    assert fd["candidate"] == pytest.approx(-fd["reference"])


# ------------------------------------------------------------------------------------ layouts
def test_layout_hints_and_shape_errors(deep):
    cand = {f"forward/{l}/V": deep.arrays[f"forward/{l}/V"].transpose(1, 0, 2).copy() for l in range(4)}
    cand["gradients/act_rnn/dW"] = [w.T.copy() for w in (deep.arrays[f"gradients/act_rnn/dW/{l}"] for l in range(4))]
    assert verify(deep, cand, layout="BTN", weight_layout="out_in").ok
    with pytest.raises(SnnrefError, match="layout='BTN'"):
        verify(deep, cand, weight_layout="out_in")
    with pytest.raises(SnnrefError, match="weight_layout='out_in'"):
        verify(deep, cand, layout="BTN")
    with pytest.raises(SnnrefError, match="not an address"):
        verify(deep, {"forward/7/V": np.zeros(3)})
    with pytest.raises(SnnrefError, match="nothing to compare"):
        verify(deep, {"gradients/tsslbp/dW/0": deep.arrays["gradients/act_rnn/dW/0"]})


def test_nan_and_partial_candidate(deep):
    dW = deep.arrays["gradients/antlr/dW/1"].copy()
    dW[2, 3] = np.nan
    rep = verify(deep, {"gradients/antlr/dW/1": dW})
    assert not rep.ok
    fd = rep.first_divergence
    assert (fd["quantity"], fd["layer"], fd["input"], fd["neuron"]) == ("dW", 1, 2, 3)


def test_rtol_override(deep):
    V = deep.arrays["forward/0/V"] * (1 + 1e-7)
    assert not verify(deep, {"forward/0/V": V}).ok
    assert verify(deep, {"forward/0/V": V}, rtol=1e-6).ok


# ------------------------------------------------------------------------------ command line
def _cli(*args):
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "snnref", *args], capture_output=True, text=True, env=env)


def test_cli_exit_codes_and_json(deep, tmp_path):
    ref = tmp_path / "ref.h5"
    write_case(deep, ref)
    good = tmp_path / "good.h5"
    write_case(deep, good)
    bad_case = standard_case("deep", "float64")
    bad_case.arrays["forward/2/V"] = bad_case.arrays["forward/2/V"].copy()
    bad_case.arrays["forward/2/V"][5, 0, 1] += 0.25
    bad = tmp_path / "bad.h5"
    write_case(bad_case, bad)
    r = _cli("verify", str(ref), str(good))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("OK")
    r = _cli("verify", str(ref), str(bad), "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["ok"] is False
    fd = out["first_divergence"]
    assert (fd["quantity"], fd["layer"], fd["t"], fd["b"], fd["neuron"]) == ("V", 2, 5, 0, 1)
    assert {"quantity", "max_rel_error", "rtol", "ok"} <= set(out["quantities"][0])
    r = _cli("verify", str(ref), str(tmp_path / "missing.h5"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("snnref: error:")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5" * 10)
    r = _cli("verify", str(ref), str(junk))
    assert r.returncode == 2 and "not a readable HDF5 file" in r.stderr


def test_readme_verifier_example(monkeypatch):
    """The README's verifier section runs as printed (with the NumPy adapter as 'my port')."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Verifying another implementation", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    assert len([ln for ln in code.splitlines() if ln.strip()]) <= 15

    def my_port(model, x, weights, biases, dL_dS):
        ad = NumpyAdapter()
        problem = dict(model=model, weights=[w.T for w in weights], biases=biases, x=x.transpose(1, 0, 2),
                       dL_dS=dL_dS.transpose(1, 0, 2), dL_dt=np.zeros_like(dL_dS.transpose(1, 0, 2)),
                       dtype="float64", options={})
        g = ad.backward(problem, "act_rnn")
        V = [v.transpose(1, 0, 2) for v in ad.forward(problem)["V"]]
        return V, [d.T for d in g["dW"]]

    monkeypatch.chdir(root)
    ns = {"my_port": my_port}
    exec(compile(code, "README.md", "exec"), ns)
    assert ns["report"].ok and len(ns["report"].quantities) == 8


def test_partial_candidate_file_written_with_plain_h5py(deep, tmp_path):
    import h5py

    ref = tmp_path / "ref.h5"
    write_case(deep, ref)
    cand = tmp_path / "cand.h5"
    with h5py.File(cand, "w") as f:                        # what a port writes: two attributes + arrays
        f.attrs["schema"] = "snnref-golden"
        f.attrs["schema_version"] = 1
        for l in range(4):
            f[f"gradients/act_rnn/dW/{l}"] = deep.arrays[f"gradients/act_srm/dW/{l}"]
    rep = verify(str(ref), str(cand))
    assert not rep.ok and len(rep.quantities) == 4
    assert rep.fingerprint["gradients"]["act_rnn"][0] == "act_srm"


def test_tsslbp_fingerprint():
    from snnref import backward, forward

    ref = standard_case("tsslbp_warmup", "float64")
    net = ref.network()
    g = backward(net, forward(net, ref.x), "tsslbp", dL_da=ref.arrays["loss/dL_da"], tssl_warmup=False)
    rep = verify(ref, {f"gradients/tsslbp/dW/{l}": g.dW[l] for l in range(ref.n_layers)})
    assert not rep.ok
    assert any("warm-up surrogate" in h for h in rep.fingerprint["hints"])
    assert rep.first_divergence["rule"] == "tsslbp" and rep.first_divergence["quantity"] == "dW"


@pytest.fixture(scope="module")
def deep_module():
    return standard_case("deep", "float64")


def test_single_perturbation_is_located_exactly(deep_module):
    """Property: one element perturbed beyond the tolerance is the reported first divergence."""
    from hypothesis import given, strategies as st

    case = deep_module
    addresses = sorted(a for a in case.arrays if a.split("/")[0] in ("forward", "adjoints", "gradients")
                       and not a.endswith("/S") and np.abs(case.arrays[a]).max() > 0)

    @given(st.sampled_from(addresses), st.data())
    def check(address, data):
        arr = case.arrays[address].copy()
        idx = tuple(data.draw(st.integers(0, n - 1)) for n in arr.shape)
        arr[idx] += 1e-6 * np.abs(arr).max() + 1e-3
        rep = verify(case, {address: arr}, fingerprint=False)
        fd = rep.first_divergence
        assert not rep.ok and fd["address"] == address
        if arr.ndim == 3:
            assert (fd["t"], fd["b"], fd["neuron"]) == idx
        else:
            assert fd["neuron"] == idx[-1] and fd.get("input", idx[0]) == idx[0]

    check()


def test_latency_early_stop_length_is_named():
    ref = standard_case("latency_stop", "float64")
    V = np.zeros((int(ref.attrs["T_full"]), ref.B, ref.sizes[1]))
    with pytest.raises(SnnrefError, match="latency early stop"):
        verify(ref, {"forward/0/V": V})
    assert verify(ref, {"forward/0/V": ref.arrays["forward/0/V"]}).ok


def test_near_threshold_raster_flip_is_flagged():
    """The near_threshold case (margin 1e-9) flips in float32 in the NumPy adapter: reported as a
    raster flip at a near-threshold potential, not as a logic error."""
    ref = standard_case("near_threshold", "float32")
    rep = _run(NumpyAdapter(), ref, rules=["act_srm"])
    fd = rep.first_divergence
    if fd is None:                      # the flip depends on float32 rounding of the platform's BLAS-free sums
        pytest.skip("no flip on this platform")
    assert fd["quantity"] == "S" and fd["raster_flip"] and fd["near_threshold"]
    assert abs(fd["margin"]) < 1e-6
    m = [d for d in rep.threshold_margins if d["layer"] == fd["layer"]][0]
    assert m["min_abs_margin"] <= abs(fd["margin"])


def test_fingerprint_post_reset_storage_and_batch_mean():
    ref = standard_case("bursty", "float64")
    V, S = ref.arrays["forward/0/V"], ref.arrays["forward/0/S"]
    rep = verify(ref, {"forward/0/V": V * (1 - S)})
    assert rep.first_divergence["quantity"] == "V" and rep.first_divergence["t"] == int(np.flatnonzero(S.any(axis=(1, 2)))[0])
    assert any("after the reset" in h for h in rep.fingerprint["hints"])
    rep = verify(ref, {f"gradients/antlr/dW/{l}": ref.arrays[f"gradients/antlr/dW/{l}"] / ref.B for l in range(2)})
    assert any("average over the batch" in h for h in rep.fingerprint["hints"])
