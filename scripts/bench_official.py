#!/usr/bin/env python
"""Side-by-side timing of snnref and the official ANTLR / TSSL-BP codes; not part of the test suite.

The official codes are not shipped with snnref: clone them yourself and pass their paths::

    git clone https://github.com/KyungsuKim42/ANTLR        /somewhere/ANTLR
    git clone https://github.com/stonezwr/TSSL-BP          /somewhere/TSSL-BP     (optional)
    pip install torch          # CPU build is enough; they were written for PyTorch 1.4 (ANTLR, CUDA 10.1)
    python scripts/bench_official.py --antlr-repo /somewhere/ANTLR [--tsslbp-repo /somewhere/TSSL-BP]

Nothing of the official code is copied or edited: its model classes are imported from the given
checkout and driven through their public constructors, on the CPU, in float32, in THIS process, and
timed in interleaved rounds together with snnref (one call of each per round, median over rounds, after
a warm-up round), so that load from other processes hits both sides alike. The official side is timed
once per torch thread count of ``--torch-threads`` (default: 1 and torch's default), in the same
rounds; the ratio divides the faster official figure by snnref's.

OpenMP wait policy: torch's and numba's OpenMP runtimes (two different libgomp copies) read
``OMP_WAIT_POLICY`` when they load. snnref sets it to PASSIVE unless it is set (snnref/_jit.py); this
script imports snnref before torch so that both runtimes get the same policy. The policy changes the
official figures a lot on a shared machine (busy-waiting threads collapse when another process takes
a core; sleeping threads cost a wake-up per operation): run it also with ``OMP_WAIT_POLICY=ACTIVE``
and quote each run's own ratios.

Workloads (those of ``scripts/bench.py``, built by its ``_antlr_workload`` / ``_antlr_step``):

- "bench": 784-800-10, T 300, B 16, the first 16 latency-coded MNIST training images (spec 6.1),
  the ``antlr-mnist-latency`` preset with init_bias 1.0 (the network is active at init);
- "official init": the same with biases 0, the official initialisation (spec A10): the output fires
  late or never, so the backward runs over all T steps.

Timed per workload: (a) the forward pass alone; (b) forward + latency loss + backward for the rules
act_srm (official lrule "Activation"), timing ("Timing") and antlr ("ANTLR"). The official step is
what its training loop runs before the optimiser: ``model(input)``, gradients reset,
``model.backward_custom(target)`` (which computes the loss itself); the snnref step is
``bench._antlr_step`` (forward, ``losses.latency``, ``backward``). Neither side runs an optimiser.

The official model (``ListSNNMulti`` of its antlr.py) gets a configuration equivalent to its MNIST
script defaults (network 784-fc800-fc10, T 300, alpha_i = alpha_v = 0.99, beta_auto, surrogate (1, 3),
latency target, lambda_nospike 0.1, one model) with three values set to those of the snnref workload:

- ``softmax_beta = 1.0`` (its command-line default is 0.166667; the workload and Table A2 use 1);
- ``grad_clip = 1e6`` (default 1.0): the value clip is still applied but does not change the result,
  as snnref's workload does not clip (the preset clips at 1e6);
- ``timing_penalty = 0`` (default 100, used by "Timing" only): snnref's ``timing`` default is 0.

snnref's weights and biases are copied into the official parameters (``Linear.weight`` is the transpose
of snnref's W^l, the bias is the ``state_v_bs`` parameter) and snnref's latency input is given in the
official layout (batch, time, neuron). Before timing, the two are checked against each other: the
hidden and output spike rasters must be identical (the official forward stops early once every output
neuron of the batch has fired; the rasters are compared over its simulated steps), the losses and the
weight and bias gradients of every rule are compared. "max rel diff" of a gradient is
max |g_official - g_snnref| / max |g_snnref| over the layer's array (float32 on both sides; the official
beta_v = 1 / max eps is computed in float32 and differs from snnref's float64 value in the last digits).

TSSL-BP (``--tsslbp-repo``): the 784-400-400-10 MLP, T 5, B 100, static MNIST input (``bench.py``'s
``tsslbp-mnist-mlp`` workload), PSP kernel loss with the final target pattern; the official network
(``cnns.Network`` with the FashionMNIST_400_400 settings) gets snnref's Kaiming weights and input.
Timed: forward + loss + backward (``loss.backward()`` through its autograd Function; the switch of
``.cuda`` to the identity, a few microseconds, is inside the timed call).

Runtime adaptations (monkeypatches made inside this process only; the checkout is not modified):

- ANTLR: none are needed with PyTorch 2.x. ``MPLBACKEND=Agg`` is set because antlr.py imports
  matplotlib.pyplot; its module is loaded from the file under the name ``official_antlr``.
- TSSL-BP hard-codes CUDA: ``torch.Tensor.cuda`` and ``torch.nn.Module.cuda`` are replaced by the
  identity while its modules are imported and run (this process uses no GPU), and the repository is
  put first on ``sys.path`` (its packages are called ``layers``, ``functions``, ``global_v``). To
  read its spike rasters for the agreement check, its autograd Function's ``apply`` is wrapped once,
  during the check only, to keep the spikes it saves for its backward.

Printed: one table (ms/sample of the official code per torch thread count, snnref, ratio), the
agreement figures, the thread counts (torch intra-op threads, numba threads and layer, OpenBLAS
threads), the OpenMP wait policy, the 1-minute load average at the start and the end, the torch
version and the git commits of the checkouts. ``--json`` prints one JSON line instead. Exit status 1
if the spike rasters of the two sides differ (the timings would then compare different computations).
"""
import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
import bench  # noqa: E402  (sets OPENBLAS_THREAD_TIMEOUT like bench.py before numpy is imported)

import numpy as np  # noqa: E402

# snnref before torch: its OMP_WAIT_POLICY default (PASSIVE, unless set) must be in the environment
# when torch's own OpenMP runtime loads, so that both runtimes of this process (torch's and numba's)
# run with the same wait policy
import snnref  # noqa: E402,F401

RULES = {"act_srm": "Activation", "timing": "Timing", "antlr": "ANTLR"}
WORKLOADS = {"bench": 1.0, "official_init": 0.0}     # name -> init_bias


# ------------------------------------------------------------------------------------------- ANTLR
def load_official_antlr(repo):
    """Import antlr.py of an official ANTLR checkout (as module ``official_antlr``)."""
    path = Path(repo) / "antlr.py"
    spec = importlib.util.spec_from_file_location("official_antlr", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def official_antlr_config(T, hidden):
    """The fields ``ListSNNMulti`` and its forward / loss / backward read, at the official MNIST
    defaults except softmax_beta, grad_clip and timing_penalty (see the module docstring)."""
    return {
        "network_size": ["784", f"fc{hidden}", "fc10"], "time_length": T,
        "multi_model": False, "num_models": 1, "target_type": "latency",
        "alpha_i": 0.99, "alpha_v": 0.99, "beta_i": 1.0, "beta_v": 1.0, "beta_bias": 1.0, "beta_auto": 1,
        "surr_alpha": 1.0, "surr_beta": 3.0, "lrule": "ANTLR", "lambda_nospike": 0.1,
        "softmax_beta": 1.0, "grad_clip": 1e6, "timing_penalty": 0.0,
    }


def build_official_antlr(mod, net, T):
    """An official ListSNNMulti with snnref's weights and biases (official layout)."""
    import contextlib
    import io

    import torch

    hidden = net.sizes[1]
    with contextlib.redirect_stdout(io.StringIO()):           # its constructor prints its beta values
        model = mod.ListSNNMulti(official_antlr_config(T, hidden))
    with torch.no_grad():
        for l, layer in enumerate(model.layers):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(net.weights[l].T, dtype=np.float32)))
            model.state_v_bs[l].copy_(torch.from_numpy(np.asarray(net.biases[l], dtype=np.float32)))
    return model


def _compare_rasters(out, official, mine):
    """Per layer, compare (T, B, N) spike rasters; record in ``out`` whether all are identical and, per
    differing layer, the first difference (t, b, n) and the number of differing entries."""
    same = True
    for l, (a, b) in enumerate(zip(official, mine)):
        diff = np.argwhere(a != b)
        if diff.size:
            same = False
            t, bb, n = diff[0]
            out[f"first_raster_difference_layer{l + 1}"] = {"t": int(t), "b": int(bb), "n": int(n),
                                                            "count": int(len(diff))}
    out["rasters_identical"] = same


def _max_rel(a, b):
    scale = float(np.abs(b).max())
    return float(np.abs(a - b).max()) / scale if scale > 0 else float(np.abs(a - b).max())


def check_antlr(model, net, x, labels, inp, target):
    """Run both sides once; return the agreement figures (see the module docstring)."""
    import torch

    import snnref
    from snnref import losses

    out = {}
    model(inp)
    tr = snnref.forward(net, x)
    Ts = int(model.term_length)
    out["T_sim_official"] = Ts
    rasters = [torch.stack(model.state_s[l]).numpy() for l in range(len(model.layers))]
    _compare_rasters(out, rasters, [lt.S[:Ts] for lt in tr.layers])
    out["spikes_per_sample"] = [float(r.sum()) / x.shape[1] for r in rasters]
    out["beta_v_official"] = float(model.beta_v)
    out["beta_v_snnref"] = float(net.model.beta_V)
    out["beta_v_rel_diff"] = abs(out["beta_v_official"] - out["beta_v_snnref"]) / out["beta_v_snnref"]
    grads = {}
    for rule, lrule in RULES.items():
        model.lrule = lrule
        model(inp)
        for p in model.parameters():
            p.grad = None
        model.backward_custom(target)
        tr = snnref.forward(net, x)
        res = losses.latency(tr, labels, beta_softmax=1.0, lambda_nospike=0.1)
        g = snnref.backward(net, tr, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt)
        r = {"loss_official": float(model.loss), "loss_snnref": float(res.value)}
        for l, layer in enumerate(model.layers):
            r[f"dW{l + 1}_max_rel_diff"] = _max_rel(layer.weight.grad.numpy().T, g.dW[l])
            r[f"db{l + 1}_max_rel_diff"] = _max_rel(model.state_v_bs[l].grad.numpy(), g.db[l])
            r[f"dW{l + 1}_max_abs"] = float(np.abs(g.dW[l]).max())
        grads[rule] = r
    out["gradients"] = grads
    return out


def antlr_functions(model, net, x, labels, inp, target, rules):
    """name -> (official callable, snnref callable), each doing one batch."""
    import snnref

    def off_forward():
        model(inp)

    def off_step(lrule):
        def step():
            model.lrule = lrule
            model(inp)
            for p in model.parameters():
                p.grad = None
            model.backward_custom(target)
        return step

    fns = {"forward": (off_forward, lambda: snnref.forward(net, x))}
    for rule in rules:
        fns[f"{rule} fwd+bwd"] = (off_step(RULES[rule]), lambda rule=rule: bench._antlr_step(net, x, labels, rule))
    return fns


def antlr_workload(mod, name, T=300, B=16):
    import torch

    net, x, labels = bench._antlr_workload("float32", T=T, B=B, init_bias=WORKLOADS[name])
    model = build_official_antlr(mod, net, T)
    inp = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 0, 2)))           # (B, T, 784)
    target = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return model, net, x, labels, inp, target


# ------------------------------------------------------------------------------------------- TSSL-BP
class _CudaIsIdentity:
    """Context: ``Tensor.cuda`` and ``Module.cuda`` return their object unchanged (CPU run of a
    CUDA-only code)."""

    def __enter__(self):
        import torch

        self._saved = (torch.Tensor.cuda, torch.nn.Module.cuda)
        torch.Tensor.cuda = lambda self, *a, **k: self
        torch.nn.Module.cuda = lambda self, *a, **k: self
        return self

    def __exit__(self, *exc):
        import torch

        torch.Tensor.cuda, torch.nn.Module.cuda = self._saved
        return False


def load_official_tsslbp(repo):
    repo = Path(repo)
    sys.path.insert(0, str(repo))
    with _CudaIsIdentity():
        import cnns
        import functions.loss_f as loss_f
        import functions.tsslbp as tsslbp
        import global_v
    return {"cnns": cnns, "loss_f": loss_f, "tsslbp": tsslbp, "glv": global_v}


def tsslbp_workload(mods, T=5, B=100):
    """snnref's tsslbp-mnist-mlp workload and the official network with the same weights and input."""
    import contextlib
    import io

    import torch

    from snnref import encoders
    from snnref.config import load_preset
    from snnref.data import load_mnist
    from snnref.train import build_network

    net = build_network(load_preset("tsslbp-mnist-mlp").replace(dtype="float32"))
    images, labels = load_mnist("train", limit=B)
    x = encoders.static(images, T=T, dtype=np.float32)                                 # (T, B, 784)
    m = net.model
    network_config = {"n_steps": T, "tau_m": float(m.tau_m), "tau_s": float(m.tau_s), "model": "LIF",
                      "rule": "TSSLBP", "loss": "kernel", "n_class": 10, "batch_size": B}
    sizes = net.sizes
    names = [f"hidden_{i + 1}" for i in range(len(sizes) - 2)] + ["output"]
    layers_config = {name: {"type": "linear", "n_inputs": int(sizes[i]), "n_outputs": int(sizes[i + 1]),
                            "weight_scale": 1, "threshold": float(m.theta)} for i, name in enumerate(names)}
    with _CudaIsIdentity(), contextlib.redirect_stdout(io.StringIO()):
        mods["glv"].init(T, float(m.tau_s))
        off = mods["cnns"].Network(network_config, layers_config, [1, 28, 28, T])
    with torch.no_grad():
        for l, layer in enumerate(off.layers):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(net.weights[l].T, dtype=np.float32)))
    inp = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 2, 0))).reshape(B, sizes[0], 1, 1, T)
    # the official training loop's kernel-loss target: the label neuron gets the pattern, PSP-filtered
    # (once there, once more inside the loss)
    pattern = torch.tensor([0, 1, 1, 1, 1] if T < 10 else [0, 1] * 5, dtype=torch.float32).repeat(max(1, T // 5))[:T]
    with _CudaIsIdentity():
        desired = mods["loss_f"].psp(pattern.view(1, 1, 1, 1, T), network_config).view(1, 1, 1, T)
    targets = torch.zeros(B, 10, 1, 1, T)
    for b, y in enumerate(labels):
        targets[b, int(y)] = desired
    err = mods["loss_f"].SpikeLoss(network_config)
    return {"net": net, "x": x, "labels": labels, "off": off, "inp": inp, "targets": targets, "err": err,
            "network_config": network_config}


def _tsslbp_official_step(mods, w):
    def step():
        with _CudaIsIdentity():
            for p in w["off"].parameters():
                p.grad = None
            outputs = w["off"].forward(w["inp"], 0, True)
            loss = w["err"].spike_kernel(outputs, w["targets"], w["network_config"])
            loss.backward()
        return outputs, loss
    return step


def _tsslbp_snnref_step(w):
    import snnref
    from snnref import losses

    def step():
        tr = snnref.forward(w["net"], w["x"])
        res = losses.psp_kernel(tr, w["labels"])
        return tr, res, snnref.backward(w["net"], tr, "tsslbp", dL_da=res.dL_da)
    return step


def check_tsslbp(mods, w):
    fn = mods["tsslbp"].TSSLBP
    original = fn.apply
    saved = []

    def recording_apply(*args):
        y = original(*args)
        saved.append(y.grad_fn.saved_tensors[1].detach().clone())       # the spikes it keeps for backward
        return y

    fn.apply = recording_apply
    try:
        outputs, loss = _tsslbp_official_step(mods, w)()
    finally:
        fn.apply = original
    tr, res, g = _tsslbp_snnref_step(w)()
    out = {}
    # the official layout (batch, neuron, 1, 1, time) -> snnref's (time, batch, neuron)
    official = [saved[l].numpy().reshape(lt.S.shape[1], lt.S.shape[2], -1).transpose(2, 0, 1)
                for l, lt in enumerate(tr.layers)]
    _compare_rasters(out, official, [lt.S for lt in tr.layers])
    out["spikes_per_sample"] = [float(lt.S.sum()) / w["x"].shape[1] for lt in tr.layers]
    out["loss_official"] = float(loss.detach())
    out["loss_snnref"] = float(res.value)
    for l, layer in enumerate(w["off"].layers):
        out[f"dW{l + 1}_max_rel_diff"] = _max_rel(layer.weight.grad.numpy().T, g.dW[l])
        out[f"dW{l + 1}_max_abs"] = float(np.abs(g.dW[l]).max())
    return out


# ------------------------------------------------------------------------------------------- timing
def _rows(t, prefix, B, torch_threads):
    """(name, {official_<n>t: ms/sample}, snnref ms/sample) rows of an ``interleaved`` result."""
    rows = []
    for k in dict.fromkeys(k for k, _ in t):
        off = {f"official_{n}t": 1e3 * t[(k, f"official_{n}t")] / B for n in torch_threads}
        rows.append((f"{prefix}: {k}", off, 1e3 * t[(k, "snnref")] / B))
    return rows


def _sig(obj, digits=4):
    """Floats rounded to ``digits`` significant digits (relative differences are ~1e-6)."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: _sig(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_sig(v, digits) for v in obj]
    return obj


def interleaved(pairs, rounds, torch_threads):
    """pairs: name -> (official fn, snnref fn). The official fn runs once per torch thread count in
    ``torch_threads`` (set before its call, outside the timed region; restored afterwards). One warm-up
    call of each, then ``rounds`` rounds of one call of every (name, side); median seconds per call.
    Sides: "official_<n>t", "snnref"."""
    import torch

    default = torch.get_num_threads()
    fns = {}
    for k, (off, mine) in pairs.items():
        for n in torch_threads:
            fns[(k, f"official_{n}t")] = (n, off)
        fns[(k, "snnref")] = (default, mine)
    times = {k: [] for k in fns}
    try:
        for r in range(rounds + 1):
            for k, (n, f) in fns.items():
                torch.set_num_threads(n)
                t0 = time.perf_counter()
                f()
                dt = time.perf_counter() - t0
                if r:                                             # round 0 is the warm-up
                    times[k].append(dt)
    finally:
        torch.set_num_threads(default)
    return {k: float(np.median(v)) for k, v in times.items()}


def checkout_commit(repo):
    """The git commit of a checkout, or None (not a git work tree, or git missing)."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def thread_info():
    import numba
    import torch

    from snnref.threads import blas_threads

    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = None
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(), "numba_threads": numba.get_num_threads(),
            "numba_threading_layer": layer, "openblas_threads": blas_threads(), "cores": os.cpu_count()}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Time snnref and the official ANTLR (and TSSL-BP) code side by side "
                                 "in one process, on the workloads of scripts/bench.py.")
    ap.add_argument("--antlr-repo", required=True, help="root of a clone of github.com/KyungsuKim42/ANTLR")
    ap.add_argument("--tsslbp-repo", help="root of a clone of github.com/stonezwr/TSSL-BP (optional)")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds (median); default 7")
    ap.add_argument("--tsslbp-rounds", type=int, default=None, help="rounds for TSSL-BP (default 10 x --rounds: "
                    "one step takes tens of ms)")
    ap.add_argument("--workloads", default="bench,official_init", help="comma list of: bench, official_init")
    ap.add_argument("--rules", default="act_srm,timing,antlr", help="comma list of: act_srm, timing, antlr")
    ap.add_argument("--torch-threads", default=None, help="comma list of torch thread counts the official code is "
                    "timed with, each in the same rounds (default: 1 and torch's default, e.g. 1,2)")
    ap.add_argument("--check-only", action="store_true", help="agreement checks only, no timing")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args(argv)
    workloads = [w for w in args.workloads.split(",") if w]
    rules = [r for r in args.rules.split(",") if r]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    for r in rules:
        if r not in RULES:
            ap.error(f"unknown rule {r!r}; choose from {', '.join(RULES)}")
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    if not (Path(args.antlr_repo) / "antlr.py").is_file():
        ap.error(f"{args.antlr_repo}/antlr.py not found; pass the root of a clone of "
                 "https://github.com/KyungsuKim42/ANTLR as --antlr-repo")
    if args.tsslbp_repo and not all((Path(args.tsslbp_repo) / f).is_file() for f in ("cnns.py", "functions/tsslbp.py")):
        ap.error(f"{args.tsslbp_repo} is not a TSSL-BP checkout (cnns.py, functions/tsslbp.py missing); "
                 "pass the root of a clone of https://github.com/stonezwr/TSSL-BP as --tsslbp-repo")

    import torch

    try:
        torch_threads = sorted({int(n) for n in (args.torch_threads or f"1,{torch.get_num_threads()}").split(",") if n})
    except ValueError:
        ap.error(f"--torch-threads must be a comma list of positive integers; got {args.torch_threads!r}")
    if not torch_threads or min(torch_threads) < 1:
        ap.error(f"--torch-threads must be a comma list of positive integers; got {args.torch_threads!r}")
    torch.set_default_dtype(torch.float32)
    res = {"load_avg_start": os.getloadavg()[0], "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    mod = load_official_antlr(args.antlr_repo)
    res["antlr_commit"] = checkout_commit(args.antlr_repo)
    if args.tsslbp_repo:
        res["tsslbp_commit"] = checkout_commit(args.tsslbp_repo)
    rows = []
    agree = {}
    ok = True
    for wname in workloads:
        model, net, x, labels, inp, target = antlr_workload(mod, wname)
        chk = check_antlr(model, net, x, labels, inp, target)
        agree[wname] = chk
        ok &= chk["rasters_identical"]
        if args.check_only:
            continue
        B = x.shape[1]
        t = interleaved(antlr_functions(model, net, x, labels, inp, target, rules), args.rounds, torch_threads)
        rows += _rows(t, wname, B, torch_threads)
        del model
    if args.tsslbp_repo:
        mods = load_official_tsslbp(args.tsslbp_repo)
        w = tsslbp_workload(mods)
        chk = check_tsslbp(mods, w)
        agree["tsslbp_mlp"] = chk
        ok &= chk["rasters_identical"]
        if not args.check_only:
            B = w["x"].shape[1]
            t = interleaved({"fwd+bwd": (_tsslbp_official_step(mods, w), _tsslbp_snnref_step(w))},
                            args.tsslbp_rounds or 10 * args.rounds, torch_threads)
            rows += _rows(t, "tsslbp 784-400-400-10 T5 B100", B, torch_threads)
    res["agreement"] = agree
    res["ms_per_sample"] = {name: dict(off, snnref=mine, ratio=min(off.values()) / mine) for name, off, mine in rows}
    res["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    res["load_avg_end"] = os.getloadavg()[0]
    res.update(thread_info())                       # after the kernels ran: numba's layer is known then
    res["rounds"] = args.rounds
    if args.json:
        print(json.dumps(_sig(res)))
    else:
        print(f"# {res['date_utc']} UTC, torch {res['torch']}, threads: torch {res['torch_threads']} "
              f"(interop {res['torch_interop_threads']}), numba {res['numba_threads']} "
              f"({res['numba_threading_layer']}), OpenBLAS {res['openblas_threads']}, cores {res['cores']}; "
              f"OMP_WAIT_POLICY {res['omp_wait_policy']}; "
              f"load average {res['load_avg_start']:.2f} -> {res['load_avg_end']:.2f}; "
              f"median of {args.rounds} interleaved rounds, float32")
        print(f"# official ANTLR commit {res['antlr_commit']}" +
              (f", TSSL-BP commit {res['tsslbp_commit']}" if args.tsslbp_repo else ""))
        if rows:
            heads = [f"official {n}t" for n in torch_threads]
            print(f"| {'ms/sample':42s} | " + " | ".join(heads) + " | snnref | ratio |")
            print(f"|{'-' * 44}|" + "|".join("-" * (len(h) + 2) for h in heads) + "|--------|-------|")
            for name, off, mine in rows:
                cells = " | ".join(f"{off[f'official_{n}t']:{len(h)}.2f}" for n, h in zip(torch_threads, heads))
                print(f"| {name:42s} | {cells} | {mine:6.3f} | {min(off.values()) / mine:4.1f}x |")
            print("ratio = the faster official column / snnref; 'official nt' = torch.set_num_threads(n)")
        print("agreement:")
        for wname, chk in agree.items():
            flat = {k: v for k, v in chk.items() if k != "gradients"}
            print(f"  {wname}: {json.dumps(_sig(flat))}")
            for rule, g in chk.get("gradients", {}).items():
                print(f"    {rule}: {json.dumps(_sig(g))}")
    if not ok:
        print("bench_official: the spike rasters of the two implementations differ (see 'agreement'); "
              "the timings compare different computations.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
