#!/usr/bin/env python
"""Speed and memory benchmark of snnref's kernels; not part of the test suite.

Workloads:
- ANTLR family, "bench" workload: 784-800-10, T = 300, B = 16, latency-coded MNIST batch (spec 6.1), the
  network of the ``antlr-mnist-latency`` preset (init_bias 1.0: active at init), ANTLR latency loss
  (spec 5.3). Timed: forward alone (default call, and with a reused workspace on a validated input, as a
  training loop would call it; and ``impl="reference"``), and forward + loss + backward for act_srm,
  timing and antlr.
- ANTLR family, "official-init" workload: the same with the official codes' initialisation (biases 0,
  spec A10): the output fires late or never, so every sample's backward runs all T steps.
- wide layer (784-3200-10) and long window (T = 1000): ANTLR forward + loss + backward.
- TSSL-BP: 784-400-400-10, T = 5, B = 100, static MNIST input, ``tsslbp-mnist-mlp`` preset, PSP kernel
  loss; forward + loss + backward, split into forward (BLAS input product, sparse projection, rest),
  loss, backward (recursion kernels, BLAS products dW / E, the rest); also with the reference backward
  kernel (``impl="reference"``), in the other dtype, and with one BLAS thread.
- TSSL-BP CNN (``--cnn``): 15C5-P2-40C5-P2-300-10, T = 5, B = 50, the ``tsslbp-mnist-cnn`` preset,
  static MNIST input, PSP kernel loss; forward + loss + backward in float32 and float64, the
  convolution kernels separately, and a measured training run with its linear epoch extrapolation.
- Training: the trainer's own epoch loop (``snnref.training.loop.train_epoch``: encoding, forward, loss,
  backward, post-processing, optimiser step, weight clamp) over the first ``--train-samples`` samples of
  the ``antlr-mnist-latency`` and ``tsslbp-mnist-mlp`` presets, then the evaluation of 2000 test
  samples: the measured seconds, and their linear extrapolation to one 60000-sample epoch and to a
  10000-sample evaluation.
- Scaling table (``--scaling``, default on): ns per T x B x N (N = hidden neurons) of ANTLR forward +
  loss + backward on the bench workload, varying one of T (100..1000), N (100..3200), B (1..256); B = 1
  runs the 16 samples of the B = 16 row one at a time.
Also: cold numba compile time of everything (a subprocess with an empty NUMBA_CACHE_DIR), peak RSS,
the peak memory allocated by numpy during one step (tracemalloc), the 1-minute load average at the
start and end, numba's thread count and threading layer, and OpenBLAS's thread count.

Usage::

    python scripts/bench.py                   # human-readable table
    python scripts/bench.py --json            # one JSON line
    python scripts/bench.py --dtype float64
    python scripts/bench.py --quick           # fewer repeats, no compile / scaling runs, 640 training samples

Timings are noisy on a shared machine: compare ratios within one run (median of ``--repeats``). No
figure of another implementation is stored here: a comparison with the official codes must run them
on the same machine in the same session (see the README).
"""
import argparse
import json
import os

# the OpenBLAS setting snnref makes when it is imported before numpy (snnref/__init__.py), so that the
# figures are those of `snnref train`; an explicit value is kept (and reported)
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

_COMPILE_SCRIPT = r"""
import time, numpy as np
t0 = time.perf_counter()
import snnref
from snnref import losses
from snnref.optim import make_optimizer
from snnref.postprocess import clip_by_norm
from snnref.readout import spike_statistics
rng = np.random.default_rng(0)
for dtype in ("float64", "float32"):
    m = snnref.NeuronModel.antlr(0.95, 0.95, T=20)
    net = snnref.Network([rng.normal(0, 1, (6, 5)), rng.normal(0, 1, (5, 3))], model=m, dtype=dtype)
    x = (rng.random((20, 2, 6)) < 0.3).astype(dtype)
    tr = snnref.forward(net, x)
    snnref.forward(net, x, form="srm")
    try:
        snnref.forward(net, x, impl="reference")
    except TypeError:  # a version without the fused forward
        pass
    res = losses.latency(tr, np.array([0, 1]))
    for rule in ("act_rnn", "act_srm", "act_slayer", "timing", "antlr"):
        snnref.backward(net, tr, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt)
    mt = snnref.NeuronModel.tsslbp(5, 3)
    nt = snnref.Network([rng.normal(0, 1, (6, 5)), rng.normal(0, 1, (5, 3))], model=mt, dtype=dtype)
    tt = snnref.forward(nt, rng.random((5, 2, 6)).astype(dtype))
    rt = losses.psp_kernel(tt, np.array([0, 1]))
    g = snnref.backward(nt, tt, "tsslbp", dL_da=rt.dL_da)
    # the training loop's own kernels: the optimiser update, the gradient norm, the spike statistics
    make_optimizer("adamw", nt.weights, lr=1e-3).step(clip_by_norm(g.dW, 1.0))
    spike_statistics(tr)
print(time.perf_counter() - t0)
"""


def cold_compile_seconds():
    """Seconds for a fresh process with an empty numba cache to import snnref and run every kernel once
    (float64 and float32)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, capture_output=True, text=True,
                             check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _median_ms(fn, repeats):
    """Median wall time of ``fn()`` in ms over ``repeats`` calls (call it once before, to warm up)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def _peak_mb(fn):
    """Peak memory (MiB) allocated through Python/numpy during one call of ``fn`` (tracemalloc)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / 2**20


# ------------------------------------------------------------------------------------------- ANTLR
def _antlr_workload(dtype, T=300, B=16, hidden=800, init_bias=1.0):
    from snnref import encoders
    from snnref.config import load_preset
    from snnref.data import load_mnist
    from snnref.train import build_network

    net = build_network(load_preset("antlr-mnist-latency").replace(T=T, dtype=dtype, hidden=[hidden],
                                                                    init_bias=init_bias))
    images, labels = load_mnist("train", limit=B)
    x = encoders.latency(images, T=T, dtype=np.dtype(dtype).type)
    return net, x, labels


def _antlr_step(net, x, labels, rule, workspace=None):
    """forward, latency loss, backward; with a workspace (reused by forward and backward, validated input)
    as a training loop can call them, else with the defaults."""
    import snnref
    from snnref import losses

    fwd = {} if workspace is None else {"workspace": workspace, "validated": True}
    tr = snnref.forward(net, x, **fwd)
    res = losses.latency(tr, labels, beta_softmax=1.0, lambda_nospike=0.1)
    return snnref.backward(net, tr, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt, workspace=workspace)


def _interleaved_ms(fns, repeats):
    """Median ms per call of each function, timed in interleaved rounds (one call of each per round) so
    that a burst of load from other processes hits all of them; one warm-up call each first."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * float(np.median(v)) for k, v in times.items()}


def bench_antlr(dtype, repeats, T=300, B=16, hidden=800, init_bias=1.0, rules=("act_srm", "timing", "antlr"),
                forward_variants=True, memory=True, workspace=False):
    """ms/sample of forward and of forward + loss + backward per rule; peak MiB per step. ``workspace``:
    the rule steps call the forward with a reused workspace on the validated input (as a training loop
    can); otherwise with the defaults."""
    import snnref
    from snnref import losses
    from snnref.fast_forward import Workspace
    from snnref.rules.fast_antlr import active_rows

    if B == 1:  # one-sample batches of the samples of the B = 16 rows, in turn (the same work per sample)
        net, x16, labels16 = _antlr_workload(dtype, T, 16, hidden, init_bias)
        batches = [(np.ascontiguousarray(x16[:, b:b + 1]), labels16[b:b + 1]) for b in range(16)]
    else:
        net, x, labels = _antlr_workload(dtype, T, B, hidden, init_bias)
        batches = [(x, labels)]
    n = len(batches) * B
    ws = Workspace()

    def each(fn):
        return lambda: [fn(x, labels) for x, labels in batches]

    fns = {"forward": each(lambda x, labels: snnref.forward(net, x))}
    if forward_variants:
        fns["forward_workspace_validated"] = each(lambda x, labels: snnref.forward(net, x, workspace=ws,
                                                                                   validated=True))
        fns["forward_reference_impl"] = each(lambda x, labels: snnref.forward(net, x, impl="reference"))
    for rule in rules:
        fns[rule] = each(lambda x, labels, rule=rule: _antlr_step(net, x, labels, rule))
        if workspace:
            fns[f"{rule}_workspace"] = each(lambda x, labels, rule=rule, ws=Workspace():
                                            _antlr_step(net, x, labels, rule, ws))
    out = {k: v / n for k, v in _interleaved_ms(fns, repeats).items()}
    if memory:
        out["memory_mb"] = {k: _peak_mb(fn) for k, fn in fns.items() if k in ("forward",) + tuple(rules)}
    spikes = np.zeros(net.n_layers)
    active = 0
    for x, labels in batches:
        tr = snnref.forward(net, x)
        spikes += [float(lt.S.sum()) for lt in tr.layers]
        res = losses.latency(tr, labels, beta_softmax=1.0, lambda_nospike=0.1)
        active += int(np.sum(active_rows(res.dL_dS, res.dL_dt, tr.T, tr.B)[0] + 1))
    out["spikes_per_sample"] = list(spikes / n)
    # the backward works on the steps up to each sample's last output first spike (latency loss): the
    # fraction of the T B steps it visits, which differs between networks
    out["backward_active_fraction"] = active / (n * T)
    return out


def bench_scaling(dtype, repeats):
    """ns per T x B x N (N = hidden neurons) of ANTLR forward + loss + backward on the bench workload,
    one of T, N, B varied at a time around (300, 800, 16) (B = 1: the 16 samples of the B = 16 row as
    16 one-sample batches, so that B = 1 and B = 16 do the same work per sample), with the
    defaults and with a workspace reused by forward and backward ("_workspace"; without it, arrays
    larger than the C library's reuse threshold are faulted in afresh on every call); "relative" is
    the ratio to (300, 800, 16)."""
    rows = [(T, 16, 800) for T in (100, 300, 1000)] + [(300, 16, N) for N in (100, 400, 800, 1600, 3200)] + \
        [(300, B, 800) for B in (1, 16, 64, 256)]
    table = {}
    for T, B, N in dict.fromkeys(rows):
        r = bench_antlr(dtype, max(1, repeats if T * B * N <= 300 * 64 * 800 else repeats // 2 + 1), T=T, B=B,
                        hidden=N, rules=("antlr",), forward_variants=False, memory=False, workspace=True)
        table[f"T{T}_B{B}_N{N}"] = {"ns_per_TBN": 1e6 * r["antlr"] / (T * N),
                                    "ns_per_TBN_workspace": 1e6 * r["antlr_workspace"] / (T * N),
                                    "forward_ns_per_TBN": 1e6 * r["forward"] / (T * N),
                                    "backward_active_fraction": r["backward_active_fraction"]}
    base = table["T300_B16_N800"]
    for v in table.values():
        v["relative"] = v["ns_per_TBN"] / base["ns_per_TBN"]
        v["relative_workspace"] = v["ns_per_TBN_workspace"] / base["ns_per_TBN_workspace"]
    return table


# ------------------------------------------------------------------------------------------- TSSL-BP
def bench_tsslbp(dtype, repeats, B=100, T=5):
    """ms/sample of the TSSL-BP step and its parts (see the module docstring); peak MiB per step."""
    import snnref
    from snnref import encoders, losses
    from snnref.config import load_preset
    from snnref.data import load_mnist
    from snnref.forward import project
    from snnref.rules.tsslbp import _tsslbp_final_fast_kernel
    from snnref.train import build_network

    net = build_network(load_preset("tsslbp-mnist-mlp").replace(dtype=dtype))
    images, labels = load_mnist("train", limit=B)
    x = encoders.static(images, T=T, dtype=np.dtype(dtype).type)
    reps = max(10 * repeats, 30)         # one round is ~35 ms: many repetitions are cheap

    def step(impl="fast"):
        tr = snnref.forward(net, x)
        res = losses.psp_kernel(tr, labels)
        snnref.backward(net, tr, "tsslbp", dL_da=res.dL_da, impl=impl)

    tr = snnref.forward(net, x)
    res = losses.psp_kernel(tr, labels)
    g = snnref.backward(net, tr, "tsslbp", dL_da=res.dL_da, return_adjoints=True)
    a0 = tr.a0.reshape(T * B, -1)
    W = net.weights
    m = net.model
    dt = net.dtype
    empty = np.empty((0, 0, 0), dtype=dt)
    Gs = [np.empty_like(lt.S) for lt in tr.layers]
    kargs = (1.0 / m.tau_m, 1.0 - 1.0 / m.tau_s, 1.0 / m.tau_s, float(m.theta), 8.0,
             float(dt(1.0 / (4.0 * m.tau_s))), True, False, empty, empty, empty)

    def kernels():
        for l, lt in enumerate(tr.layers):
            _tsslbp_final_fast_kernel(g.adjoints[l]["E"], lt.u, lt.du, lt.S, lt.a, *kargs, Gs[l])

    def blas():
        for l in range(len(W) - 1, -1, -1):
            a_prev = tr.layer_input(l)
            G = g.adjoints[l]["G"]
            a_prev.reshape(T * B, -1).T @ G.reshape(T * B, -1)
            if l > 0:
                G.reshape(T * B, -1) @ W[l].T

    def sparse_projections():
        for l in range(1, len(W)):
            project(tr.layers[l - 1].S, W[l])

    # ms per step of B samples; the pieces are timed in interleaved rounds (one call of each per
    # round, median over rounds), so that a burst of load from other processes hits all of them
    fns = {
        "fwd_bwd": step,
        "fwd_bwd_reference_impl": lambda: step("reference"),
        "forward": lambda: snnref.forward(net, x),
        "loss": lambda: losses.psp_kernel(tr, labels),
        "backward": lambda: snnref.backward(net, tr, "tsslbp", dL_da=res.dL_da),
        "backward_reference_impl": lambda: snnref.backward(net, tr, "tsslbp", dL_da=res.dL_da, impl="reference"),
        "forward_blas_input_product": lambda: a0 @ W[0],
        "forward_sparse_projection": sparse_projections,
        "backward_kernels": kernels,
        "backward_blas": blas,
    }
    for fn in fns.values():
        fn()                                                   # warm-up (compilation)
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    parts = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    out = {"fwd_bwd": parts.pop("fwd_bwd") / B, "fwd_bwd_reference_impl": parts.pop("fwd_bwd_reference_impl") / B}
    out["memory_mb"] = _peak_mb(step)
    parts["forward_rest"] = parts["forward"] - parts["forward_blas_input_product"] - parts["forward_sparse_projection"]
    parts["backward_other"] = parts["backward"] - parts["backward_kernels"] - parts["backward_blas"]
    # dW for every layer, E for every layer but the first: 2 T B N_in N_out flops each
    flops = sum(2 * T * B * w.size * (2 if l > 0 else 1) for l, w in enumerate(W))
    parts["backward_blas_gflops"] = flops / (1e6 * parts["backward_blas"])
    out["parts_ms_per_step"] = parts
    out["spike_rate_per_layer"] = [float(lt.S.mean()) for lt in tr.layers]
    return out


# ------------------------------------------------------------------------------------------- TSSL-BP CNN
def bench_cnn(dtype, repeats, B=50, T=5):
    """ms/sample of the TSSL-BP MNIST CNN (``tsslbp-mnist-cnn``: 15C5-P2-40C5-P2-300-10, T 5, B 50) and its
    parts, timed in interleaved rounds: forward, loss, backward, and inside them the convolution
    kernels (conv 1 forward by im2col + BLAS on the analog input, conv 2 forward event-driven on the
    pooled spikes, weight gradients and back-projections)."""
    import snnref
    from snnref import conv, encoders, losses
    from snnref.config import load_preset
    from snnref.data import load_mnist
    from snnref.train import build_network

    net = build_network(load_preset("tsslbp-mnist-cnn").replace(dtype=dtype))
    images, labels = load_mnist("train", limit=B)
    x = encoders.static(images, T=T, dtype=np.dtype(dtype).type).reshape((T, B) + net.input_shape)
    tr = snnref.forward(net, x)
    res = losses.psp_kernel(tr, labels)
    g = snnref.backward(net, tr, "tsslbp", dL_da=res.dL_da, return_adjoints=True)
    c1, c2 = net.layers[0], net.layers[2]
    G1, G2 = g.adjoints[0]["G"], g.adjoints[1]["G"]
    raw2 = np.ascontiguousarray(conv.sum_pool(tr.layers[0].S, 2, 1.1))

    def step():
        t = snnref.forward(net, x)
        r = losses.psp_kernel(t, labels)
        snnref.backward(net, t, "tsslbp", dL_da=r.dL_da)

    fns = {
        "fwd_bwd": step,
        "forward": lambda: snnref.forward(net, x),
        "loss": lambda: losses.psp_kernel(tr, labels),
        "backward": lambda: snnref.backward(net, tr, "tsslbp", dL_da=res.dL_da),
        "conv1_forward_im2col_blas": lambda: c1.project(x, spikes=False),
        "conv2_forward_events": lambda: c2.project(raw2, spikes=True),
        "conv1_weight_grad": lambda: c1.weight_grad(tr.inputs[0], G1),
        "conv2_weight_grad": lambda: c2.weight_grad(tr.inputs[1], G2),
        "conv2_back_projection": lambda: c2.back_project(G2),
    }
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(max(2 * repeats, 5)):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    parts = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    out = {"fwd_bwd": parts.pop("fwd_bwd") / B, "parts_ms_per_step": parts, "memory_mb": _peak_mb(step),
           "spikes_per_sample": float(sum(lt.S.sum() for lt in tr.layers)) / B,
           "spike_rate_per_layer": [float(lt.S.mean()) for lt in tr.layers]}
    return out


# ------------------------------------------------------------------------------------------- training
def bench_train(preset, dtype, n_samples, n_test=2000):
    """A measured training run through the trainer's own epoch loop (``snnref.training.loop.train_epoch``:
    encoding, forward, loss, backward, post-processing, optimiser step, weight clamp, running accuracy;
    the preset's batch size, optimiser and options) over the first ``n_samples`` training samples, after
    a one-batch warm-up epoch (compilation), then the evaluation (``evaluate``) of ``n_test`` test
    samples. Returns the samples, the measured seconds and their linear extrapolation to one
    60000-sample epoch and to a 10000-sample evaluation."""
    from snnref.config import load_preset
    from snnref.training import loop
    from snnref.training.data import load_data

    cfg = load_preset(preset).replace(dtype=dtype, train_limit=n_samples, test_limit=n_test)
    train, _, test = load_data(cfg)
    rs = loop.RunState.fresh(cfg)
    loop.train_epoch(rs, cfg, train.take(np.arange(cfg.batch_size)), 0)          # warm-up
    loop.evaluate(rs.net, cfg, test.take(np.arange(min(len(test), cfg.test_batch_size))))
    entry = loop.train_epoch(rs, cfg, train, 1)
    seconds = entry["train_time_s"]
    ev = loop.evaluate(rs.net, cfg, test)
    n = len(train)
    return {"samples": n, "seconds": seconds, "epoch_60000_s_linear": seconds * 60000.0 / n,
            "train_accuracy": entry.get(f"train_accuracy_{loop.readouts(cfg)[0]}"),
            "eval_samples": ev["samples"], "eval_seconds": ev["eval_time_s"],
            "eval_10000_s_linear": ev["eval_time_s"] * 10000.0 / ev["samples"]}


def cnn_main(args, repeats, n_train):
    """``--cnn``: only the TSSL-BP MNIST CNN workload, in both dtypes, and its epoch estimate."""
    import numba

    t_start = time.perf_counter()
    res = {"workload": "tsslbp-mnist-cnn 15C5-P2-40C5-P2-300-10, T 5, batch 50", "load_avg_start": os.getloadavg()[0],
           "threads": numba.get_num_threads()}
    for dt in ("float32", "float64"):
        r = bench_cnn(dt, repeats)
        res[f"cnn_fwd_bwd_ms_per_sample_{dt}"] = r["fwd_bwd"]
        res[f"cnn_parts_ms_per_step_{dt}"] = r["parts_ms_per_step"]
        res[f"cnn_memory_peak_mb_per_step_{dt}"] = r["memory_mb"]
        res["cnn_spikes_per_sample_at_init"] = r["spikes_per_sample"]
        res["cnn_spike_rate_per_layer_at_init"] = r["spike_rate_per_layer"]
        res[f"cnn_train_{dt}"] = bench_train("tsslbp-mnist-cnn", dt, n_train)
    return _report(res, args, t_start)


# ------------------------------------------------------------------------------------------- main
def _report(res, args, t_start):
    """Close the result (load average at the end, wall time), print it (one JSON line with --json)."""
    res["load_avg_end"] = os.getloadavg()[0]
    res["bench_wall_s"] = time.perf_counter() - t_start
    res = _round(res)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:46s} {v}")
    return 0


def _round(obj):
    if isinstance(obj, float):
        return round(obj, 4)
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    return obj


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--repeats", type=int, default=None, help="timing repetitions (median); default 5, --quick 3")
    ap.add_argument("--train-samples", type=int, default=None, help="samples of each measured training run "
                    "(default 5000, --quick 640)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no compile / scaling runs")
    ap.add_argument("--no-compile", action="store_true", help="skip the cold-compile measurement")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling table")
    ap.add_argument("--cnn", action="store_true", help="only the TSSL-BP MNIST CNN workload (both dtypes)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    n_train = args.train_samples or (640 if args.quick else 5000)
    if args.cnn:
        return cnn_main(args, repeats, n_train)
    t_start = time.perf_counter()
    other = "float64" if args.dtype == "float32" else "float32"

    import numba

    from snnref.threads import blas_threads, set_blas_threads

    res = {"dtype": args.dtype, "load_avg_start": os.getloadavg()[0], "cores": os.cpu_count(),
           "numba_threads": numba.get_num_threads(), "blas_threads": blas_threads(),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
           "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT")}
    res["cold_compile_s"] = None if (args.no_compile or args.quick) else cold_compile_seconds()
    a = bench_antlr(args.dtype, repeats, workspace=True)
    res["bench_workload_ms_per_sample"] = {k: a[k] for k in ("forward", "forward_workspace_validated",
                                                              "forward_reference_impl", "act_srm", "timing", "antlr",
                                                              "act_srm_workspace", "timing_workspace",
                                                              "antlr_workspace")}
    res["bench_workload_spikes_per_sample"] = a["spikes_per_sample"]
    o = bench_antlr(args.dtype, repeats, init_bias=0.0, memory=False, workspace=True)
    res["official_init_ms_per_sample"] = {k: o[k] for k in ("forward", "forward_workspace_validated",
                                                             "forward_reference_impl", "act_srm", "timing", "antlr",
                                                             "act_srm_workspace", "timing_workspace",
                                                             "antlr_workspace")}
    res["official_init_spikes_per_sample"] = o["spikes_per_sample"]
    w = bench_antlr(args.dtype, repeats, hidden=3200, rules=("antlr",), forward_variants=False,
                    memory=False, workspace=True)
    res["wide_3200_ms_per_sample"] = {k: w[k] for k in ("forward", "antlr", "antlr_workspace")}
    t = bench_antlr(args.dtype, repeats, T=1000, rules=("antlr",), forward_variants=False, memory=False,
                    workspace=True)
    res["T1000_ms_per_sample"] = {k: t[k] for k in ("forward", "antlr", "antlr_workspace")}
    ts = bench_tsslbp(args.dtype, repeats)
    res["tsslbp_fwd_bwd_ms_per_sample"] = ts["fwd_bwd"]
    res["tsslbp_fwd_bwd_ms_per_sample_reference_impl"] = ts["fwd_bwd_reference_impl"]
    res[f"tsslbp_fwd_bwd_ms_per_sample_{other}"] = bench_tsslbp(other, repeats)["fwd_bwd"]
    n_blas = blas_threads()
    if n_blas is not None and n_blas > 1:
        set_blas_threads(1)
        res["tsslbp_fwd_bwd_ms_per_sample_1_blas_thread"] = bench_tsslbp(args.dtype, repeats)["fwd_bwd"]
        set_blas_threads(n_blas)
    res["tsslbp_parts_ms_per_step"] = ts["parts_ms_per_step"]
    res["tsslbp_spike_rate_per_layer"] = ts["spike_rate_per_layer"]
    res["train_antlr_mnist_latency"] = bench_train("antlr-mnist-latency", args.dtype, n_train)
    res["train_tsslbp_mnist_mlp"] = bench_train("tsslbp-mnist-mlp", args.dtype, n_train)
    res["memory_peak_mb_per_step"] = dict(a["memory_mb"], tsslbp=ts["memory_mb"])
    if not (args.no_scaling or args.quick):
        res["scaling_antlr"] = bench_scaling(args.dtype, repeats)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    try:
        res["threading_layer"] = numba.threading_layer()
    except ValueError:
        res["threading_layer"] = None
    return _report(res, args, t_start)


if __name__ == "__main__":
    raise SystemExit(main())
