#!/usr/bin/env python
"""Speed and memory benchmark of snnref's kernels (issue "Performance"); not part of the test suite.

Workloads (as the official-code measurements it is compared with):
- ANTLR family: 784-800-10, T = 300, B = 16, latency-coded MNIST batch (spec 6.1), the network of the
  ``antlr-mnist-latency`` preset (active at init), ANTLR latency loss (spec 5.3). Timed: forward alone,
  and forward + loss + backward for act_srm, timing and antlr.
- TSSL-BP: 784-400-400-10, T = 5, B = 100, static MNIST input, ``tsslbp-mnist-mlp`` preset, PSP kernel
  loss; forward + loss + backward, split into forward (BLAS input product, sparse projection, rest),
  loss, backward (recursion kernels, BLAS products dW / E, the rest: Python, allocations, thread
  wake-ups); also with the reference backward kernel (``impl="reference"``) and in the other dtype.
- TSSL-BP CNN (``--cnn``): 15C5-P2-40C5-P2-300-10, T = 5, B = 50, the ``tsslbp-mnist-cnn`` preset,
  static MNIST input, PSP kernel loss; forward + loss + backward in float32 and float64, the
  convolution kernels separately, and the 60000-sample training-epoch estimate.
- Training: a real loop (``snnref.train.train_step``: encoding, forward, loss, backward, clipping,
  optimiser step) over ``--train-batches`` batches of the ``antlr-mnist-latency`` (and
  ``tsslbp-mnist-mlp``) preset, extrapolated to one 60000-sample epoch (evaluation not included).
Also: scaling of ANTLR forward+backward (time and peak memory) with T and with B, cold numba compile
time of everything (a subprocess with an empty NUMBA_CACHE_DIR), peak RSS, and the peak memory
allocated by numpy during one step of every workload (tracemalloc; numba-internal scratch arrays
are not included).

Usage::

    python scripts/bench.py                   # human-readable table (~2-3 min)
    python scripts/bench.py --json            # one JSON line
    python scripts/bench.py --dtype float64
    python scripts/bench.py --quick           # < 1 min: fewer repeats, no compile / scaling runs

Timings are noisy on a shared machine: compare ratios within one run (median of ``--repeats``);
``load_avg`` records the 1-minute load average before and after the run.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

#: Official implementations on the reference 2-core machine (float32, torch 2.13 CPU, 2 threads), ms/sample.
OFFICIAL_MS_PER_SAMPLE = {
    "forward_ms_per_sample": 12.4,
    "act_srm_fwd_bwd_ms_per_sample": 20.6,
    "timing_fwd_bwd_ms_per_sample": 23.1,
    "antlr_fwd_bwd_ms_per_sample": 30.7,
    "tsslbp_fwd_bwd_ms_per_sample": 0.40,
}

_COMPILE_SCRIPT = r"""
import time, numpy as np
t0 = time.perf_counter()
import snnref
from snnref import losses
rng = np.random.default_rng(0)
for dtype in ("float64", "float32"):
    m = snnref.NeuronModel.antlr(0.95, 0.95, T=20)
    net = snnref.Network([rng.normal(0, 1, (6, 5)), rng.normal(0, 1, (5, 3))], model=m, dtype=dtype)
    x = (rng.random((20, 2, 6)) < 0.3).astype(dtype)
    tr = snnref.forward(net, x)
    snnref.forward(net, x, form="srm")
    res = losses.latency(tr, np.array([0, 1]))
    for rule in ("act_rnn", "act_srm", "act_slayer", "timing", "antlr"):
        snnref.backward(net, tr, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt)
    mt = snnref.NeuronModel.tsslbp(5, 3)
    nt = snnref.Network([rng.normal(0, 1, (6, 5)), rng.normal(0, 1, (5, 3))], model=mt, dtype=dtype)
    tt = snnref.forward(nt, rng.random((5, 2, 6)).astype(dtype))
    rt = losses.psp_kernel(tt, np.array([0, 1]))
    snnref.backward(nt, tt, "tsslbp", dL_da=rt.dL_da)
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
def _antlr_workload(dtype, T=300, B=16):
    from snnref import encoders
    from snnref.config import load_preset
    from snnref.data import load_mnist
    from snnref.train import build_network

    net = build_network(load_preset("antlr-mnist-latency").replace(T=T, dtype=dtype))
    images, labels = load_mnist("train", limit=B)
    x = encoders.latency(images, T=T, dtype=np.dtype(dtype).type)
    return net, x, labels


def _antlr_step(net, x, labels, rule):
    import snnref
    from snnref import losses

    tr = snnref.forward(net, x)
    res = losses.latency(tr, labels, beta_softmax=1.0, lambda_nospike=0.1)
    return snnref.backward(net, tr, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt)


def bench_antlr(dtype, repeats, T=300, B=16, rules=("act_srm", "timing", "antlr"), memory=True):
    """ms/sample of forward and of forward + loss + backward per rule; peak MiB per step."""
    import snnref

    net, x, labels = _antlr_workload(dtype, T, B)
    out = {"memory_mb": {}}

    def fwd():
        return snnref.forward(net, x)

    fwd()
    out["forward"] = _median_ms(fwd, repeats) / B
    if memory:
        out["memory_mb"]["forward"] = _peak_mb(fwd)
    for rule in rules:
        def step(rule=rule):
            _antlr_step(net, x, labels, rule)

        step()
        out[rule] = _median_ms(step, repeats) / B
        if memory:
            out["memory_mb"][rule] = _peak_mb(step)
    tr = snnref.forward(net, x)
    out["spikes_per_sample"] = float(sum(lt.S.sum() for lt in tr.layers) / B)
    return out


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
        res[f"cnn_train_epoch_s_estimate_{dt}"] = bench_train("tsslbp-mnist-cnn", dt, n_train)
    res["load_avg_end"] = os.getloadavg()[0]
    res["bench_wall_s"] = time.perf_counter() - t_start
    res = _round(res)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:46s} {v}")
    return 0


# ------------------------------------------------------------------------------------------- training
def bench_train(preset, dtype, n_batches):
    """Seconds per 60000-sample epoch, extrapolated from ``n_batches`` real training steps (after one
    warm-up step): encoding + ``snnref.train.train_step`` (forward, loss, backward, post-processing,
    optimiser step, weight clamp), with the preset's batch size, optimiser and options."""
    from snnref.config import load_preset
    from snnref.data import load_mnist
    from snnref.optim import make_optimizer
    from snnref.train import _encode, _parameters, _targets, build_network, train_step

    cfg = load_preset(preset).replace(dtype=dtype)
    net = build_network(cfg)
    opt = make_optimizer(cfg.optimizer, _parameters(net, cfg), cfg.lr, weight_decay=cfg.weight_decay,
                         momentum=cfg.momentum, betas=tuple(cfg.betas), eps=cfg.eps)
    bs = cfg.batch_size
    images, labels = load_mnist("train", limit=(n_batches + 1) * bs)
    rng = np.random.default_rng(0)
    dtype_t = net.dtype

    def one(i):
        x = _encode(cfg, images[i * bs:(i + 1) * bs], rng, dtype_t)
        train_step(net, cfg, opt, x, _targets(cfg, labels[i * bs:(i + 1) * bs], dtype_t))

    one(0)
    t0 = time.perf_counter()
    for i in range(1, n_batches + 1):
        one(i)
    per_sample = (time.perf_counter() - t0) / (n_batches * bs)
    return per_sample * 60000.0


# ------------------------------------------------------------------------------------------- main
def _round(obj):
    if isinstance(obj, float):
        return round(obj, 4)
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    return obj


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--repeats", type=int, default=None, help="timing repetitions (median); default 5, --quick 3")
    ap.add_argument("--train-batches", type=int, default=None, help="batches of the training-loop estimate "
                    "(default 20, --quick 5)")
    ap.add_argument("--quick", action="store_true", help="< 1 min: fewer repeats, no compile / scaling runs")
    ap.add_argument("--no-compile", action="store_true", help="skip the cold-compile measurement")
    ap.add_argument("--no-scaling", action="store_true", help="skip the T and B scaling runs")
    ap.add_argument("--cnn", action="store_true", help="only the TSSL-BP MNIST CNN workload (both dtypes)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    n_train = args.train_batches or (5 if args.quick else 20)
    if args.cnn:
        return cnn_main(args, repeats, n_train)
    t_start = time.perf_counter()
    other = "float64" if args.dtype == "float32" else "float32"

    import numba

    res = {"dtype": args.dtype, "load_avg_start": os.getloadavg()[0]}
    res["cold_compile_s"] = None if (args.no_compile or args.quick) else round(cold_compile_seconds(), 2)
    a = bench_antlr(args.dtype, repeats)
    res["forward_ms_per_sample"] = a["forward"]
    res["act_srm_fwd_bwd_ms_per_sample"] = a["act_srm"]
    res["timing_fwd_bwd_ms_per_sample"] = a["timing"]
    res["antlr_fwd_bwd_ms_per_sample"] = a["antlr"]
    res["antlr_spikes_per_sample"] = a["spikes_per_sample"]
    ts = bench_tsslbp(args.dtype, repeats)
    res["tsslbp_fwd_bwd_ms_per_sample"] = ts["fwd_bwd"]
    res["tsslbp_fwd_bwd_ms_per_sample_reference_impl"] = ts["fwd_bwd_reference_impl"]
    res[f"tsslbp_fwd_bwd_ms_per_sample_{other}"] = bench_tsslbp(other, repeats)["fwd_bwd"]
    res["tsslbp_parts_ms_per_step"] = ts["parts_ms_per_step"]
    res["tsslbp_spike_rate_per_layer"] = ts["spike_rate_per_layer"]
    res["mnist_epoch_s_estimate_antlr"] = a["antlr"] * 60000 / 1e3
    res["antlr_train_epoch_s_estimate"] = bench_train("antlr-mnist-latency", args.dtype, n_train)
    res["tsslbp_train_epoch_s_estimate"] = bench_train("tsslbp-mnist-mlp", args.dtype, max(n_train, 10))
    res["memory_peak_mb_per_step"] = dict(a["memory_mb"], tsslbp=ts["memory_mb"])
    if not (args.no_scaling or args.quick):
        scal_T, scal_B, mem_T, mem_B = {}, {}, {}, {}
        for T in (100, 300, 600):
            r = bench_antlr(args.dtype, repeats, T=T, rules=("antlr",))
            scal_T[str(T)] = r["antlr"]
            mem_T[str(T)] = r["memory_mb"]["antlr"]
        for B in (1, 16, 64):
            r = bench_antlr(args.dtype, repeats, B=B, rules=("antlr",))
            scal_B[str(B)] = r["antlr"]
            mem_B[str(B)] = r["memory_mb"]["antlr"]
        res["antlr_scaling_T"] = scal_T            # ms/sample of forward+backward at B = 16
        res["antlr_scaling_B"] = scal_B            # ms/sample of forward+backward at T = 300
        res["antlr_memory_scaling_T_mb"] = mem_T   # peak MiB of one step at B = 16
        res["antlr_memory_scaling_B_mb"] = mem_B   # peak MiB of one step at T = 300
        # bytes per (T * B * spiking neurons): constant <=> memory grows as O(T B N)
        n_spk = 800 + 10
        res["antlr_memory_bytes_per_TBN"] = {
            **{f"T{T}": mem_T[str(T)] * 2**20 / (int(T) * 16 * n_spk) for T in mem_T},
            **{f"B{B}": mem_B[str(B)] * 2**20 / (300 * int(B) * n_spk) for B in mem_B}}
    res["speedup_vs_official"] = {k: OFFICIAL_MS_PER_SAMPLE[k] / res[k] for k in OFFICIAL_MS_PER_SAMPLE}
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    res["threads"] = numba.get_num_threads()
    try:
        res["threading_layer"] = numba.threading_layer()
    except ValueError:
        res["threading_layer"] = None
    res["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    res["load_avg_end"] = os.getloadavg()[0]
    res["bench_wall_s"] = time.perf_counter() - t_start
    res = _round(res)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:46s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
