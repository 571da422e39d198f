#!/usr/bin/env python
"""Can the TSSL-BP model learn given spike SEQUENCES? (reviewers 2 and 4 of TSSL-BP); not part of the tests.

Reviewer 2: "it has never been demonstrated that spike sequences can actually be learned with this
model". Reviewer 4: "how does the method fare without the smoothed error" (the PSP-kernel loss),
and what does the intra-neuron term contribute. This script trains small networks to emit given
random target spike trains and reports how well the output spike times match.

Task (spec 7.2 protocol, an snnref choice): :func:`snnref.data.spike_train_task` - Bernoulli input
rasters (``--inputs`` neurons, rate ``--rate``), one hidden layer of ``--hidden`` neurons,
``--outputs`` output neurons, each with ``--spikes`` target spikes at distinct random steps in
[0, T-1]; one fixed sample (B = 1) per seed, a new task and a new initialisation per seed.

Methods (each trained with snnref.optim.Adam for ``--iters`` full-batch steps):

- TSSL-BP network (``NeuronModel.tsslbp(tau_m, tau_s, 1)``, spec 2), loss
  ``snnref.losses.psp_kernel(trace, target=...)`` (spec 5.4 with an explicit target raster):
  ``tsslbp`` (official final rule, target filtered twice as the official loss),
  ``tsslbp_no_intra`` (``tssl_intra=False``: ablation of the intra-neuron term),
  ``tsslbp_no_warmup`` (``tssl_warmup=False``: pure TSSL-BP estimate, no logistic surrogate for
  silent neurons), ``tsslbp_single_pass`` (target filtered once: the loss is zero exactly when the
  output fires the target spikes - the least smoothed error available for a PSP-trace loss);
- ANTLR network (``NeuronModel.antlr(0.95, 0.95, beta_auto)``, spec 1) with the ANTLR spike-train
  loss (spec 5.2, kappa_exp 0.95): ``act_srm``, ``timing``, ``antlr`` (spec 3.2, 3.4, 3.5).

Both networks get the same input raster and targets; each family has its own initialisation
(Kaiming-normal x ``--tssl-init-scale`` for TSSL-BP, PyTorch-linear x 2 for ANTLR, as the
``spike-train-matching`` preset) and its own loss, so compare the spike metrics, not the losses.

Metrics (on the output layer, after each evaluation point; a spike "matches" when it is at the
same step as a target spike):

- ``matched``: fraction of target spikes with an output spike at the same step;
- ``extra``: output spikes at non-target steps, ``missing``: target spikes without an output spike
  at that step (both per output neuron);
- ``vr``: van Rossum distance sqrt(sum_t (f*S - f*S_tgt)[t]^2 / tau_vr) with the causal
  exponential kernel f[k] = exp(-k / tau_vr) (``--tau-vr`` steps, default 5), per output neuron
  (an isolated missing or extra spike alone gives sqrt(1 / (tau (1 - e^{-2/tau}))), ~ 0.78 for tau = 5);
- ``loss``: the method's own training loss.

Usage::

    python scripts/spike_sequences.py --quick        # ~10 s: 3 seeds, 150 iterations
    python scripts/spike_sequences.py                # default: 5 seeds, 2000 iterations (~1 min)

Writes ``results/spike_sequences.json`` (all curves, per seed) and ``results/spike_sequences.md``.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import snnref  # noqa: E402
from snnref import backward, forward, losses  # noqa: E402
from snnref.data import spike_train_task  # noqa: E402
from snnref.experiments.spike_train import spike_metrics  # noqa: E402  (van Rossum etc.)
from snnref.init import init_weights  # noqa: E402
from snnref.optim import Adam  # noqa: E402
from snnref.postprocess import clip_by_norm  # noqa: E402

TSSL_METHODS = {
    "tsslbp": dict(rule_opts={}, single_pass=False),
    "tsslbp_no_intra": dict(rule_opts={"tssl_intra": False}, single_pass=False),
    "tsslbp_no_warmup": dict(rule_opts={"tssl_warmup": False}, single_pass=False),
    "tsslbp_single_pass": dict(rule_opts={}, single_pass=True),
}
ANTLR_METHODS = ("act_srm", "timing", "antlr")
ALL_METHODS = tuple(TSSL_METHODS) + ANTLR_METHODS


# ------------------------------------------------------------------------------------- training
def train_one(method, task, args, seed):
    """Train one method on one task; returns the list of evaluation points."""
    sizes = task.sizes
    rng = np.random.default_rng([seed, 7])
    tssl = method in TSSL_METHODS
    if tssl:
        model = snnref.NeuronModel.tsslbp(tau_m=args.tau_m, tau_s=args.tau_s, theta=1.0)
        W = init_weights(sizes, scheme="kaiming_normal", rng=rng, scale=args.tssl_init_scale)
        net = snnref.Network(W, model=model)
        lr = args.tssl_lr
    else:
        model = snnref.NeuronModel.antlr(0.95, 0.95, T=task.T, beta_auto=True)
        W = init_weights(sizes, scheme="torch_linear", rng=rng, scale=2.0)
        net = snnref.Network(W, model=model)
        lr = args.antlr_lr
    params = list(net.weights) + ([] if tssl else list(net.biases))
    opt = Adam(params, lr=lr)
    curve = []
    for it in range(args.iters + 1):
        tr = forward(net, task.x)
        if tssl:
            spec = TSSL_METHODS[method]
            res = losses.psp_kernel(tr, target=task.target, single_pass=spec["single_pass"])
            g = backward(net, tr, "tsslbp", dL_da=res.dL_da, **spec["rule_opts"])
            grads = list(g.dW)
            clip_by_norm(grads, 1.0)                     # official TSSL-BP post-processing (A14)
        else:
            res = losses.spike_train(tr, task.target, kappa_exp=0.95)
            g = backward(net, tr, method, dL_dS=res.dL_dS, dL_dt=res.dL_dt, nan_to_zero=True,
                         ste_alpha=0.3, ste_beta=1.0)
            grads = list(g.dW) + list(g.db)
        if it % args.eval_every == 0 or it == args.iters:
            m = spike_metrics(np.asarray(tr.output.S, float), task.target, args.tau_vr)
            m.update(iter=it, loss=float(res.value),
                     hidden_spikes=float(tr.layers[0].S.sum() / tr.layers[0].S.shape[2]))
            curve.append(m)
        if it < args.iters:
            opt.step(grads)
    return curve


def summarise(results, methods, key, point):
    """mean and std over seeds of ``key`` at evaluation point index ``point``."""
    vals = np.array([results[m][s][point][key] for m in methods for s in range(len(results[m]))]).reshape(
        len(methods), -1)
    return vals.mean(axis=1), vals.std(axis=1)


def write_markdown(path, out):
    a = out["args"]
    lines = [
        "# Spike-sequence learning (scripts/spike_sequences.py)",
        "",
        f"Task: {a['inputs']} Bernoulli inputs (rate {a['rate']}), {a['hidden']} hidden, {a['outputs']} outputs, "
        f"T = {a['T']}, {a['spikes']} target spikes per output neuron at random steps; one fixed sample per seed; "
        f"{a['seeds']} seeds; {a['iters']} Adam steps (TSSL-BP lr {a['tssl_lr']}, tau_m {a['tau_m']}, tau_s "
        f"{a['tau_s']}, grad-norm clip 1; ANTLR family lr {a['antlr_lr']}, spike-train loss kappa_exp 0.95). "
        f"Metrics on the output layer, mean +/- std over seeds: matched = fraction of target spikes reproduced at "
        f"exactly the same step; extra / missing spikes per output neuron; van Rossum distance (tau {a['tau_vr']} "
        f"steps) per output neuron. Wall time {out['wall_time_s']:.0f} s.",
        "",
    ]
    methods = list(out["results"])
    n_points = len(out["results"][methods[0]][0])
    iters = [p["iter"] for p in out["results"][methods[0]][0]]
    picks = sorted(set([0, n_points // 4, n_points // 2, n_points - 1]))
    for title, key, fmt in (("Matched target spikes (fraction)", "matched", "{:.2f} +/- {:.2f}"),
                            ("Van Rossum distance", "vr", "{:.2f} +/- {:.2f}"),
                            ("Extra spikes per output neuron", "extra", "{:.1f} +/- {:.1f}"),
                            ("Missing spikes per output neuron", "missing", "{:.1f} +/- {:.1f}"),
                            ("Training loss (own loss of each method)", "loss", "{:.3g} +/- {:.2g}")):
        lines += [f"## {title}", "", "| method | " + " | ".join(f"iter {iters[p]}" for p in picks) + " |",
                  "|---|" + "---|" * len(picks)]
        for m in methods:
            cells = []
            for p in picks:
                mean, std = summarise(out["results"], [m], key, p)
                cells.append(fmt.format(mean[0], std[0]))
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    best = {m: max(max(p["matched"] for p in run) for run in out["results"][m]) for m in methods}
    lines += ["Best matched fraction reached at any evaluation point (max over seeds): "
              + ", ".join(f"{m} {v:.2f}" for m, v in best.items()) + ".", ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="3 seeds, 150 iterations (~10 s)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--inputs", type=int, default=80)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--outputs", type=int, default=3)
    p.add_argument("--T", type=int, default=40)
    p.add_argument("--rate", type=float, default=0.1)
    p.add_argument("--spikes", type=int, default=4)
    p.add_argument("--tau-m", type=float, default=5.0)
    p.add_argument("--tau-s", type=float, default=3.0)
    p.add_argument("--tssl-lr", type=float, default=3e-3)
    p.add_argument("--tssl-init-scale", type=float, default=1.0)
    p.add_argument("--antlr-lr", type=float, default=1e-2)
    p.add_argument("--tau-vr", type=float, default=5.0)
    p.add_argument("--methods", default=",".join(ALL_METHODS))
    p.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "results"))
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.iters = 3, 150
    if args.eval_every is None:
        args.eval_every = max(1, args.iters // 10)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        p.error(f"unknown method(s) {unknown}; choose from {list(ALL_METHODS)}")
    t0 = time.perf_counter()
    results = {m: [] for m in methods}
    for seed in range(args.seeds):
        task = spike_train_task(n_inputs=args.inputs, n_hidden=args.hidden, n_outputs=args.outputs, T=args.T,
                                input_rate=args.rate, n_target_spikes=args.spikes, batch=1, rng=seed)
        for m in methods:
            results[m].append(train_one(m, task, args, seed))
            last = results[m][-1][-1]
            print(f"seed {seed} {m:20s} matched {last['matched']:.2f} extra {last['extra']:.1f} "
                  f"missing {last['missing']:.1f} vr {last['vr']:.2f} loss {last['loss']:.3g}", flush=True)
    out = {"args": vars(args), "wall_time_s": time.perf_counter() - t0, "results": results}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "spike_sequences.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    write_markdown(os.path.join(args.out, "spike_sequences.md"), out)
    print(f"wrote {os.path.join(args.out, 'spike_sequences.md')} ({out['wall_time_s']:.0f} s)")


if __name__ == "__main__":
    main()
