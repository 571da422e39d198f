#!/usr/bin/env python
"""Ablations that answer the reviewers' questions (README "Answering the reviewers' questions"); not a test.

Part A - ANTLR family on latency-coded MNIST (spec 6.1, 7.3): ``act_srm`` with the count loss
(spec 3.2, 5.1), ``timing`` and ``antlr`` with the latency loss (spec 3.4, 3.5, 5.3), all from
the ``antlr-mnist-latency`` preset (784-800-10, T 300, Adam lr 1e-3) with the SAME initialisation
(torch-linear weights, init_bias 1, A10) and the same training / test subsets and order; only the
rule, the loss (and, for ``timing``, the official timing_penalty 100, A11) differ. Reported: test
accuracy by first spike and by spike count, total and "necessary" spikes per sample (spec 7.5).

Part B - TSSL-BP variants on the static-MNIST MLP (``tsslbp-mnist-mlp`` preset, 784-400-400-10,
T = 5, spec 7.6): the official final rule, ``tssl_intra=False`` (no intra-neuron term, reviewer 4),
``tssl_warmup=False`` (no warm-up surrogate) and ``tssl_variant="global_rate_switch"`` (Sep 2020
code, spec 4.5). Reported: test accuracy (PSP sum, spike count) and, on the test subset with the
final weights, the firing statistics asked for by reviewer 3 ("do the network dynamics play a
role in 5 steps?"): per layer the fraction of neurons that fire, the fraction that fire more than
once, the spikes per firing neuron and the distribution of the first-spike step
(:func:`snnref.readout.spike_statistics`).

All runs use the real trainer (:func:`snnref.train.train` with
``snnref.config.load_preset(...).replace(...)``), one run directory per run under ``--work``.

Usage::

    python scripts/ablation.py --quick     # < 1 min: 1 epoch, 2000 / 1000 (A) and 5000 / 2000 (B) images
    python scripts/ablation.py             # default (~5 min): 1 epoch of 10000 / 2000 (A), 3 epochs of 20000 / 10000 (B)

Writes ``results/ablation.json`` and ``results/ablation.md``.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from snnref import checkpoint as ckpt  # noqa: E402
from snnref import forward, readout  # noqa: E402
from snnref.config import load_preset  # noqa: E402
from snnref.train import _encode, build_network, load_data, train  # noqa: E402

ANTLR_RUNS = {
    "act_srm (count loss)": dict(rule="act_srm", loss="count", selection="count"),
    "timing (latency loss)": dict(rule="timing", loss="latency", selection="first", timing_penalty=100.0),
    "antlr (latency loss)": dict(rule="antlr", loss="latency", selection="first"),
}
TSSL_RUNS = {
    "final (official)": dict(),
    "tssl_intra=False": dict(tssl_intra=False),
    "tssl_warmup=False": dict(tssl_warmup=False),
    "global_rate_switch": dict(tssl_variant="global_rate_switch"),
}


def firing_statistics(cfg, run_dir, test_limit):
    """spike_statistics of the final network on the first ``test_limit`` test samples, pooled over samples."""
    saved = ckpt.load_checkpoint(os.path.join(run_dir, "last.h5"))
    net = build_network(cfg)
    for w, v in zip(net.weights, saved["weights"]):
        w[...] = v
    _, _, test = load_data(cfg.replace(test_limit=test_limit))
    rng = np.random.default_rng([cfg.seed, 3])
    x = _encode(cfg, test.take(np.arange(len(test))).inputs, rng, net.dtype)
    st = readout.spike_statistics(forward(net, x))
    sizes = np.array(net.sizes[1:], dtype=float)
    n_fired = ((1.0 - st["silent_fraction"]) * sizes[:, None]).sum(axis=1)
    hist = st["first_spike_hist"].sum(axis=1)                          # (L, T)
    return {
        "fraction_firing": (1.0 - st["silent_fraction"]).mean(axis=1).tolist(),
        "multi_spike_fraction": st["multi_spike_fraction"].mean(axis=1).tolist(),
        "spikes_per_firing_neuron": (st["layer_spikes"].sum(axis=1) / np.maximum(n_fired, 1)).tolist(),
        "firing_rate": st["firing_fraction"].mean(axis=1).tolist(),
        "first_spike_step_distribution": (hist / np.maximum(hist.sum(axis=1, keepdims=True), 1)).tolist(),
        "output_silent_samples": float(np.mean(st["first_output_step"] == cfg.T)),
        "samples": len(test),
    }


def run(cfg, work, name):
    run_dir = os.path.join(work, name.replace(" ", "_").replace("(", "").replace(")", "").replace("=", "-"))
    t0 = time.perf_counter()
    metrics = train(cfg, run_dir)
    last = metrics["epochs"][-1]
    return run_dir, last, time.perf_counter() - t0


def part_a(args, work):
    base = load_preset("antlr-mnist-latency").replace(
        validation_size=0, train_limit=args.a_train, test_limit=args.a_test, epochs=args.a_epochs, seed=args.seed,
        test_batch_size=100)
    out = {}
    for name, ch in ANTLR_RUNS.items():
        cfg = base.replace(name=name.split()[0], **ch)
        _, last, secs = run(cfg, work, "A_" + name)
        out[name] = {k: last[k] for k in ("test_accuracy_first", "test_accuracy_count", "spikes_per_sample",
                                          "necessary_spikes_per_sample", "firing_fraction", "silent_fraction",
                                          "multi_spike_fraction", "test_loss", "train_loss")}
        out[name]["time_s"] = secs
        print(f"A {name:24s} first {last['test_accuracy_first']:.3f} count {last['test_accuracy_count']:.3f} "
              f"spikes {last['spikes_per_sample']:.0f} necessary {last['necessary_spikes_per_sample']:.0f} "
              f"({secs:.0f} s)", flush=True)
    return out


def part_b(args, work):
    base = load_preset("tsslbp-mnist-mlp").replace(
        train_limit=args.b_train, test_limit=args.b_test, epochs=args.b_epochs, seed=args.seed)
    out = {}
    for name, ch in TSSL_RUNS.items():
        cfg = base.replace(name="tssl", **ch)
        run_dir, last, secs = run(cfg, work, "B_" + name)
        out[name] = {k: last[k] for k in ("test_accuracy_psp", "test_accuracy_count", "spikes_per_sample",
                                          "test_loss", "train_loss")}
        out[name]["stats"] = firing_statistics(cfg, run_dir, args.b_test)
        out[name]["time_s"] = secs
        s = out[name]["stats"]
        print(f"B {name:20s} psp {last['test_accuracy_psp']:.3f} count {last['test_accuracy_count']:.3f} "
              f"firing {np.round(s['fraction_firing'], 3).tolist()} multi {np.round(s['multi_spike_fraction'], 3).tolist()} "
              f"({secs:.0f} s)", flush=True)
    return out


def _pct(v):
    return f"{100 * v:.1f}"


def write_markdown(path, res):
    a = res["args"]
    lines = ["# Ablations (scripts/ablation.py)", "",
             f"Seed {a['seed']}; wall time {res['wall_time_s']:.0f} s. All runs: snnref.train with "
             "load_preset(...).replace(...); accuracies on the test subset after the last epoch.", ""]
    if "A" in res:
        lines += [f"## A. ANTLR family, latency-coded MNIST (784-800-10, T 300; {a['a_train']} training / "
                  f"{a['a_test']} test images, {a['a_epochs']} epoch(s); same init: torch-linear, init_bias 1)", "",
                  "| rule (loss) | acc. first (%) | acc. count (%) | spikes/sample (total) | spikes/sample "
                  "(necessary) | firing rate hidden / output | silent fraction hidden / output |",
                  "|---|---|---|---|---|---|---|"]
        for name, r in res["A"].items():
            lines.append(f"| {name} | {_pct(r['test_accuracy_first'])} | {_pct(r['test_accuracy_count'])} | "
                         f"{r['spikes_per_sample']:.0f} | {r['necessary_spikes_per_sample']:.0f} | "
                         + " / ".join(f"{v:.4f}" for v in r["firing_fraction"]) + " | "
                         + " / ".join(f"{v:.2f}" for v in r["silent_fraction"]) + " |")
        lines.append("")
    if "B" in res:
        lines += [f"## B. TSSL-BP variants, static MNIST MLP (784-400-400-10, T 5; {a['b_train']} training / "
                  f"{a['b_test']} test images, {a['b_epochs']} epoch(s))", "",
                  "Firing statistics on the test subset with the final weights, per spiking layer "
                  "(hidden 1 / hidden 2 / output), per sample then averaged: fraction of neurons that fire in "
                  "the 5 steps, fraction that fire MORE THAN ONCE, spikes per firing neuron.", "",
                  "| variant | acc. PSP (%) | acc. count (%) | spikes/sample | fraction firing | multi-spike "
                  "fraction | spikes per firing neuron |", "|---|---|---|---|---|---|---|"]
        for name, r in res["B"].items():
            s = r["stats"]
            lines.append(f"| {name} | {_pct(r['test_accuracy_psp'])} | {_pct(r['test_accuracy_count'])} | "
                         f"{r['spikes_per_sample']:.0f} | "
                         + " / ".join(f"{v:.3f}" for v in s["fraction_firing"]) + " | "
                         + " / ".join(f"{v:.3f}" for v in s["multi_spike_fraction"]) + " | "
                         + " / ".join(f"{v:.2f}" for v in s["spikes_per_firing_neuron"]) + " |")
        lines += ["", "First-spike step distribution (fraction of the first spikes of firing neurons at step t = 0..4):",
                  "", "| variant | layer | " + " | ".join(f"t={t}" for t in range(5)) + " |",
                  "|---|---|" + "---|" * 5]
        for name, r in res["B"].items():
            for l, row in enumerate(r["stats"]["first_spike_step_distribution"]):
                lname = ("hidden 1", "hidden 2", "output")[l] if l < 3 else str(l)
                lines.append(f"| {name} | {lname} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
        lines.append("")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small subsets (< 1 min)")
    p.add_argument("--parts", default="A,B", help="A (ANTLR family), B (TSSL-BP) or A,B")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--a-train", type=int, default=10000)
    p.add_argument("--a-test", type=int, default=2000)
    p.add_argument("--a-epochs", type=int, default=1)
    p.add_argument("--b-train", type=int, default=20000)
    p.add_argument("--b-test", type=int, default=10000)
    p.add_argument("--b-epochs", type=int, default=3)
    p.add_argument("--work", default=None, help="directory for the run directories (default: a temporary one)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "results"))
    args = p.parse_args(argv)
    if args.quick:
        args.a_train, args.a_test, args.a_epochs = 2000, 1000, 1
        args.b_train, args.b_test, args.b_epochs = 5000, 2000, 1
    parts = [x.strip().upper() for x in args.parts.split(",") if x.strip()]
    if not parts or any(x not in ("A", "B") for x in parts):
        p.error(f"--parts must name A and/or B; got {args.parts!r}")
    work = args.work or tempfile.mkdtemp(prefix="snnref-ablation-")
    t0 = time.perf_counter()
    res = {"args": vars(args)}
    try:
        if "A" in parts:
            res["A"] = part_a(args, work)
        if "B" in parts:
            res["B"] = part_b(args, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    res["wall_time_s"] = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "ablation.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1)
    write_markdown(os.path.join(args.out, "ablation.md"), res)
    print(f"wrote {os.path.join(args.out, 'ablation.md')} ({res['wall_time_s']:.0f} s)")


if __name__ == "__main__":
    main()
