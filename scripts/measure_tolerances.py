"""Measure the verification tolerances of snnref.verify.TOLERANCES (docs/VERIFYING.md).

For every case, snnref is compared with the independent NumPy implementation
(snnref.verify.numpy_adapter) run on the same network with its neurons in a random order
(the same function, summed in another order: the rounding differences a correct port produces).
The max-norm relative error (max |c - r| / max |r|) is recorded per dtype and kind of quantity
(forward I/V, adjoints, gradients dW/db) over the rules act_rnn, act_srm, timing and antlr.
Cases whose rasters differ (a near-threshold flip) are counted and excluded. Also reported, for
information: float32 snnref vs float64 snnref on the cases whose rasters agree.

    python scripts/measure_tolerances.py [--random N] [--json]

Cases: the ANTLR-family standard golden cases (snnref golden list) and N random networks
(widths 20-120, T 30-100, B 4, random weights and input densities), seeds 0..N-1.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from snnref import Network, NeuronModel  # noqa: E402
from snnref.verify import TOLERANCES, make_case, standard_case  # noqa: E402
from snnref.verify.conformance import _candidate, problem_arrays  # noqa: E402
from snnref.verify.numpy_adapter import NumpyAdapter  # noqa: E402

RULES = ("act_rnn", "act_srm", "timing", "antlr")
KINDS = ("forward", "adjoints", "gradients")


def _permuted_candidate(ref, seed):
    """NumPy adapter on the network with hidden/output neurons permuted; results mapped back."""
    rng = np.random.default_rng(seed)
    L = ref.n_layers
    perms = [np.arange(ref.sizes[0])] + [rng.permutation(n) for n in ref.sizes[1:]]
    problem = problem_arrays(ref, NumpyAdapter(), {})
    problem["x"] = problem["x"][:, :, perms[0]]
    problem["weights"] = [np.ascontiguousarray(W[np.ix_(perms[l], perms[l + 1])]) for l, W in enumerate(problem["weights"])]
    problem["biases"] = [np.ascontiguousarray(b[perms[l + 1]]) for l, b in enumerate(problem["biases"])]
    for k in ("dL_dS", "dL_dt"):
        problem[k] = np.ascontiguousarray(problem[k][:, :, perms[L]])
    inv = [np.argsort(p) for p in perms]
    cand = {}
    for rule in RULES:
        for a, v in _candidate(NumpyAdapter(), problem, rule, L).items():
            parts = a.split("/")
            if parts[0] == "forward":
                v = v[:, :, inv[int(parts[1]) + 1]]
            elif parts[0] == "adjoints":
                v = v[:, :, inv[int(parts[2]) + 1]]
            elif parts[2] == "dW":
                l = int(parts[3])
                v = v[np.ix_(inv[l], inv[l + 1])]
            else:
                v = v[inv[int(parts[3]) + 1]]
            cand[a] = v
    return cand


def _errors(ref, cand):
    """kind -> max relative error; None if the rasters differ."""
    out = {k: 0.0 for k in KINDS}
    for a, c in cand.items():
        if a not in ref.arrays:
            continue
        r = np.asarray(ref.arrays[a], dtype=np.float64)
        c = np.asarray(c, dtype=np.float64)
        if a.endswith("/S"):
            if np.any(r != c):
                return None
            continue
        kind = a.split("/")[0]
        scale = float(np.max(np.abs(r))) or 1.0
        out[kind] = max(out[kind], float(np.max(np.abs(c - r))) / scale)
    return out


def _random_case(seed, dtype):
    rng = np.random.default_rng(1000 + seed)
    L = int(rng.integers(1, 4))
    sizes = [int(rng.integers(20, 121)) for _ in range(L + 1)]
    T = int(rng.integers(30, 101))
    Ws = [rng.normal(0, 3.0 / np.sqrt(a), (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(0.2, 0.2, b) for b in sizes[1:]]
    x = (rng.random((T, 4, sizes[0])) < rng.uniform(0.05, 0.3)).astype(float)
    net = Network(Ws, bs, NeuronModel.antlr(0.95, 0.95, T=T), dtype=dtype)
    return make_case(net, x, rules=RULES, name=f"random-{seed}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--random", type=int, default=20, help="number of random networks (default 20)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    worst = {dt: {k: 0.0 for k in KINDS} for dt in ("float64", "float32")}
    flips = {"float64": 0, "float32": 0}
    n_cases = {"float64": 0, "float32": 0}
    cross = {k: 0.0 for k in KINDS}
    cross_n = 0
    names = ["deep", "bursty", "edges", "near_threshold", "silent_layer", "latency_stop"]
    builders = [(lambda dt, n=n: standard_case(n, dt)) for n in names] + \
               [(lambda dt, s=s: _random_case(s, dt)) for s in range(args.random)]
    for i, build in enumerate(builders):
        refs = {}
        for dt in ("float64", "float32"):
            ref = build(dt)
            refs[dt] = ref
            e = _errors(ref, _permuted_candidate(ref, seed=i))
            n_cases[dt] += 1
            if e is None:
                flips[dt] += 1
                continue
            for k in KINDS:
                worst[dt][k] = max(worst[dt][k], e[k])
        e = _errors(refs["float64"], {a: v for a, v in refs["float32"].arrays.items()
                                      if a.split("/")[0] in ("forward", "adjoints", "gradients")})
        if e is not None:
            cross_n += 1
            for k in KINDS:
                cross[k] = max(cross[k], e[k])
        sys.stderr.write(f"[{i + 1}/{len(builders)}] {time.time() - t0:.0f} s\n")
    result = {"measured": worst, "tolerances": TOLERANCES, "raster_flips_excluded": flips, "cases": n_cases,
              "float32_vs_float64": cross, "float32_vs_float64_cases": cross_n, "random": args.random}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print("| dtype | quantity | max rel. error measured (another summation order) | tolerance | margin |")
    print("|---|---|---|---|---|")
    for dt in ("float64", "float32"):
        for k in KINDS:
            m, tol = worst[dt][k], TOLERANCES[dt][k]
            print(f"| {dt} | {k} | {m:.1e} | {tol:.0e} | {tol / m if m else float('inf'):.0f}x |")
    print(f"\ncases per dtype: {n_cases['float64']}; excluded as raster flips: float64 {flips['float64']}, "
          f"float32 {flips['float32']}")
    print(f"float32 snnref vs float64 snnref ({cross_n} cases with equal rasters): "
          + ", ".join(f"{k} {cross[k]:.1e}" for k in KINDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
