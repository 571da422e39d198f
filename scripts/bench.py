#!/usr/bin/env python
"""Speed benchmark of snnref's kernels (issue "Performance"); not part of the test suite.

Workloads (as the official-code measurements it is compared with):
- ANTLR family: 784-800-10, T = 300, B = 16, latency-coded MNIST batch (spec 6.1), the network of the
  ``antlr-mnist-latency`` preset (active at init), ANTLR latency loss (spec 5.3). Timed: forward alone,
  and forward + loss + backward for act_srm, timing and antlr.
- TSSL-BP: 784-400-400-10, T = 5, B = 100, static MNIST input, ``tsslbp-mnist-mlp`` preset, PSP kernel loss.
Also: scaling of ANTLR forward+backward with T and with B, cold numba compile time of everything (a
subprocess with an empty NUMBA_CACHE_DIR), peak RSS.

Usage::

    python scripts/bench.py            # human-readable table
    python scripts/bench.py --json     # one JSON line
    python scripts/bench.py --dtype float32

Timings are noisy on a shared machine: compare ratios within one run (median of ``--repeats``).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

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
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def _antlr_workload(dtype, T=300, B=16):
    from snnref import encoders
    from snnref.config import load_preset
    from snnref.data import load_mnist
    from snnref.train import build_network

    net = build_network(load_preset("antlr-mnist-latency").replace(T=T, dtype=dtype))
    images, labels = load_mnist("train", limit=B)
    x = encoders.latency(images, T=T, dtype=np.dtype(dtype).type)
    return net, x, labels


def bench_antlr(dtype, repeats, T=300, B=16):
    import snnref
    from snnref import losses

    net, x, labels = _antlr_workload(dtype, T, B)
    out = {}

    def fwd():
        return snnref.forward(net, x)

    fwd()
    out["forward"] = _median_ms(fwd, repeats) / B
    for rule in ("act_srm", "timing", "antlr"):
        def step(rule=rule):
            tr = snnref.forward(net, x)
            res = losses.latency(tr, labels, beta_softmax=1.0, lambda_nospike=0.1)
            snnref.backward(net, tr, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt)

        step()
        out[rule] = _median_ms(step, repeats) / B
    tr = snnref.forward(net, x)
    out["spikes_per_sample"] = float(sum(lt.S.sum() for lt in tr.layers) / B)
    return out


def bench_tsslbp(dtype, repeats, B=100):
    import snnref
    from snnref import encoders, losses
    from snnref.config import load_preset
    from snnref.data import load_mnist
    from snnref.train import build_network

    net = build_network(load_preset("tsslbp-mnist-mlp").replace(dtype=dtype))
    images, labels = load_mnist("train", limit=B)
    x = encoders.static(images, T=5, dtype=np.dtype(dtype).type)

    def step():
        tr = snnref.forward(net, x)
        res = losses.psp_kernel(tr, labels)
        snnref.backward(net, tr, "tsslbp", dL_da=res.dL_da)

    step()
    return _median_ms(step, repeats) / B


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true", help="skip the cold-compile measurement")
    ap.add_argument("--no-scaling", action="store_true", help="skip the T and B scaling runs")
    args = ap.parse_args(argv)

    res = {"dtype": args.dtype}
    res["cold_compile_s"] = None if args.no_compile else round(cold_compile_seconds(), 2)
    a = bench_antlr(args.dtype, args.repeats)
    res["forward_ms_per_sample"] = a["forward"]
    res["act_srm_fwd_bwd_ms_per_sample"] = a["act_srm"]
    res["timing_fwd_bwd_ms_per_sample"] = a["timing"]
    res["antlr_fwd_bwd_ms_per_sample"] = a["antlr"]
    res["antlr_spikes_per_sample"] = a["spikes_per_sample"]
    res["tsslbp_fwd_bwd_ms_per_sample"] = bench_tsslbp(args.dtype, args.repeats)
    res["mnist_epoch_s_estimate_antlr"] = a["antlr"] * 60000 / 1e3
    if not args.no_scaling:
        res["antlr_scaling_T"] = {str(T): bench_antlr(args.dtype, 3, T=T)["antlr"] for T in (100, 300, 600)}
        res["antlr_scaling_B"] = {str(B): bench_antlr(args.dtype, 3, B=B)["antlr"] for B in (1, 16, 64)}
    res["speedup_vs_official"] = {k: OFFICIAL_MS_PER_SAMPLE[k] / res[k] for k in OFFICIAL_MS_PER_SAMPLE}
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    res["threads"] = int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1))
    for k, v in list(res.items()):
        if isinstance(v, float):
            res[k] = round(v, 4)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:40s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
