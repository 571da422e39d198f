r"""Random spike-train matching with every ANTLR-family rule (ANTLR section 4.1; spec 7.2, Table A1).

Protocol (spec 7.2 **[choice]**, the paper's sizes are unknown, A22): the preset
``spike-train-matching`` (Table A1: alpha_I = alpha_V = 0.95 with beta_auto, spike-train loss with
kappa_exp = 0.95 and the full tail (spec 5.2), SGD lr 1e-3, surrogate (ste_alpha, ste_beta) =
(0.3, 1), element-wise gradient clip 1e5, bias 0; task 100-100-1, T = 100, Bernoulli inputs of rate
0.05, 5 target spikes, one fixed sample; weights torch_linear x 2). For each seed s the trainer's
own pieces build the task (``load_data``, rng [s, 2]), the initial network (``build_network``, rng
[s, 1]) and the optimiser, so every rule starts from the same task and weights; each rule then takes
``iters`` full-batch SGD steps (:func:`snnref.training.train_step`).

Metrics of the output raster S against the target S_tgt, per output neuron (:func:`spike_metrics`):

- ``timing_error``: mean over target spikes of the distance (steps) to the nearest output spike of
  the same neuron; a neuron without output spikes counts T per target spike;
- ``count_error``: |number of output spikes - number of target spikes|;
- ``matched``: fraction of target spikes with an output spike at the same step;
- ``vr``: van Rossum distance sqrt(sum_t (f * (S - S_tgt))[t]^2 / tau_vr), f[k] = exp(-k / tau_vr),
  the filtered difference continued 10 tau_vr steps after the window;
- ``loss``: the spike-train loss (spec 5.2).

Outputs (``out_dir``): ``spike_train_loss.png`` (loss vs iteration, mean +/- std over seeds, per rule),
``spike_train_final.png`` (final timing error, van Rossum distance and count error per rule and seed),
``spike_train_rasters.png`` (first seed: target vs the output of every rule after training),
``spike_train_curves.csv`` (rule, seed, iteration, loss), ``spike_train_final.csv`` (per rule and
seed), ``spike_train.json`` (settings, per-rule mean / std, wall time).
"""
import os
import time

import numpy as np

from ..errors import SnnrefError
from . import check_seeds, prepare_out_dir, task_setup, write_csv, write_json

__all__ = ["RULES", "van_rossum", "timing_error", "spike_metrics", "run", "FAST", "DEFAULTS"]

#: every ANTLR-family rule (spec 3.1-3.5)
RULES = ("act_rnn", "act_srm", "act_slayer", "timing", "antlr")
#: default settings (preset spike-train-matching: 10 epochs x 100 steps = 1000 SGD steps)
DEFAULTS = dict(iters=1000, seeds=10, eval_every=10, tau_vr=5.0)
#: fast mode (CI): a tiny task and a few steps
FAST = dict(iters=12, seeds=2, eval_every=4, T=30, task_n_inputs=20, hidden=[12], task_n_target_spikes=3)


# ------------------------------------------------------------------------------------- metrics
def van_rossum(S, target, tau):
    """Van Rossum distance per (sample, neuron): sqrt(sum_t (f * (S - target))[t]^2 / tau), f[k] = exp(-k/tau).

    ``S``, ``target``: (T, B, N). The filtered difference is continued 10 tau steps after the window.
    An isolated missing or extra spike alone gives about sqrt(1 / (tau (1 - exp(-2/tau)))).
    """
    diff = np.asarray(S, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    T = diff.shape[0]
    decay = np.exp(-1.0 / tau)
    y = np.zeros(diff.shape[1:])
    acc = np.zeros(diff.shape[1:])
    for t in range(T + int(10 * tau)):
        y = decay * y + (diff[t] if t < T else 0.0)
        acc += y * y
    return np.sqrt(acc / tau)


def timing_error(S, target):
    """Mean distance (steps) from each target spike to the nearest output spike of the same neuron.

    Per (sample, neuron) of (T, B, N) rasters; NaN where the target has no spike; a neuron with
    target spikes but no output spike gets T (the window length).
    """
    S = np.asarray(S) != 0
    target = np.asarray(target) != 0
    T, B, N = S.shape
    out = np.full((B, N), np.nan)
    for b in range(B):
        for j in range(N):
            tg = np.flatnonzero(target[:, b, j])
            if len(tg) == 0:
                continue
            os_ = np.flatnonzero(S[:, b, j])
            if len(os_) == 0:
                out[b, j] = float(T)
                continue
            out[b, j] = float(np.abs(tg[:, None] - os_[None, :]).min(axis=1).mean())
    return out


def spike_metrics(S, target, tau_vr=5.0):
    """Output-vs-target metrics (module docstring), averaged over samples and output neurons."""
    S = np.asarray(S, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    n_tgt = target.sum()
    n_neur = target.shape[1] * target.shape[2]
    te = timing_error(S, target)
    return {
        "timing_error": float(np.nanmean(te)) if np.isfinite(te).any() else float("nan"),
        "count_error": float(np.abs(S.sum(axis=0) - target.sum(axis=0)).mean()),
        "matched": float((S * target).sum() / n_tgt) if n_tgt else 1.0,
        "extra": float((S * (1 - target)).sum() / n_neur),
        "missing": float((target * (1 - S)).sum() / n_neur),
        "out_spikes": float(S.sum() / n_neur),
        "vr": float(van_rossum(S, target, tau_vr).mean()),
    }


# ------------------------------------------------------------------------------------- training
def _base_config(fast, overrides):
    from ..training.config import ConfigError, load_preset

    cfg = load_preset("spike-train-matching")
    changes = dict(FAST) if fast else {}
    for k in ("iters", "seeds", "eval_every"):
        changes.pop(k, None)
    changes.update(overrides or {})
    try:
        return cfg.replace(**changes) if changes else cfg
    except ConfigError as exc:
        raise SnnrefError(str(exc)) from None


def train_rule(cfg, rule, iters, eval_every, tau_vr):
    """Train one rule from the preset's task and initialisation for ``cfg.seed``; returns (curve, final, S)."""
    from ..forward import forward
    from ..training import train_step
    from ..training.loop import loss_of as _loss

    cfg = cfg.replace(rule=rule)
    net, opt, x, target = task_setup(cfg)
    curve = []
    for it in range(iters):
        res, trace = train_step(net, cfg, opt, x, target)
        if it % eval_every == 0:
            curve.append((it, float(res.value)))
    trace = forward(net, x)
    res = _loss(cfg, trace, target)
    curve.append((iters, float(res.value)))
    final = spike_metrics(trace.output.S, target, tau_vr)
    final["loss"] = float(res.value)
    return curve, final, np.asarray(trace.output.S), target


def run(out_dir, *, fast=False, seeds=None, iters=None, rules=RULES, eval_every=None, tau_vr=None,
        overrides=None, progress=None):
    """Run the experiment and write its files into ``out_dir``.

    Returns a dict: ``settings``, ``summary`` (per rule: mean / std / per-seed values of the final
    metrics; also in the JSON), ``files`` (written paths), ``figures`` (name -> matplotlib Figure),
    ``wall_time_s``.

    Parameters
    ----------
    out_dir : str
    fast : bool
        Tiny task and few steps (:data:`FAST`), for CI.
    seeds : int or list of int or None
        Number of seeds (0..n-1) or explicit seeds; default 10 (fast: 2).
    iters : int or None
        SGD steps per run; default 1000 (the preset's 10 x 100; fast: 12).
    rules : sequence of rule names
        Default all of :data:`RULES`.
    eval_every : int or None
        Record the loss every this many steps (default 10; fast 4).
    tau_vr : float or None
        Van Rossum time constant in steps (default 5).
    overrides : dict or None
        TrainConfig fields to change in the preset (e.g. ``{"T": 200, "lr": 1e-2}``).
    progress : callable(str) or None
    """
    base = FAST if fast else DEFAULTS
    seeds = check_seeds(base["seeds"] if seeds is None else seeds)
    iters = base["iters"] if iters is None else iters
    eval_every = base["eval_every"] if eval_every is None else eval_every
    tau_vr = DEFAULTS["tau_vr"] if tau_vr is None else float(tau_vr)
    for name, v in (("iters", iters), ("eval_every", eval_every)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SnnrefError(f"{name} must be a positive int; got {v!r}.")
    if not tau_vr > 0:
        raise SnnrefError(f"tau_vr must be > 0; got {tau_vr}.")
    rules = tuple(rules)
    bad = [r for r in rules if r not in RULES]
    if bad or not rules:
        raise SnnrefError(f"rules must be a non-empty subset of {list(RULES)}; got {list(rules)}.")
    out_dir = prepare_out_dir(out_dir)
    say = progress or (lambda msg: None)
    cfg0 = _base_config(fast, overrides)
    t0 = time.perf_counter()
    curves, finals, rasters = {}, {}, {}
    for seed in seeds:
        cfg = cfg0.replace(seed=seed)
        for rule in rules:
            curve, final, S, target = train_rule(cfg, rule, iters, eval_every, tau_vr)
            curves[(rule, seed)] = curve
            finals[(rule, seed)] = final
            if seed == seeds[0]:
                rasters[rule] = S
                rasters["target"] = target
            say(f"seed {seed} {rule:10s} loss {curve[0][1]:.4f} -> {final['loss']:.4f}  timing error "
                f"{final['timing_error']:.2f} steps  van Rossum {final['vr']:.3f}  count error "
                f"{final['count_error']:.2f}")
    wall = time.perf_counter() - t0
    keys = ("loss", "timing_error", "vr", "count_error", "matched", "out_spikes")
    summary = {}
    for rule in rules:
        summary[rule] = {}
        for k in keys:
            vals = np.array([finals[(rule, s)][k] for s in seeds], dtype=float)
            summary[rule][k] = {"mean": float(np.nanmean(vals)), "std": float(np.nanstd(vals)),
                                "per_seed": [float(v) for v in vals]}
        start = np.array([curves[(rule, s)][0][1] for s in seeds])
        summary[rule]["initial_loss"] = {"mean": float(start.mean()), "std": float(start.std())}
    settings = {k: v for k, v in cfg0.to_dict().items() if k in (
        "T", "task_n_inputs", "task_n_outputs", "task_input_rate", "task_n_target_spikes", "hidden", "alpha_I",
        "alpha_V", "beta_auto", "ste_alpha", "ste_beta", "kappa_exp", "train_tail", "optimizer", "lr",
        "grad_clip_value", "init", "init_scale", "init_bias", "nan_to_zero")}
    settings.update(iters=iters, eval_every=eval_every, tau_vr=tau_vr, seeds=list(seeds), rules=list(rules),
                    fast=bool(fast), preset="spike-train-matching")
    files, figures = _write_files(out_dir, rules, seeds, curves, finals, rasters, summary, settings, wall)
    say(f"wrote {', '.join(files)} ({wall:.0f} s)")
    return {"settings": settings, "summary": summary, "wall_time_s": wall, "files": files, "figures": figures}


# ------------------------------------------------------------------------------------- outputs
def _write_files(out_dir, rules, seeds, curves, finals, rasters, summary, settings, wall):
    from .. import plot

    files = []
    p = os.path.join
    files.append(write_csv(p(out_dir, "spike_train_curves.csv"), ["rule", "seed", "iteration", "loss"],
                           [(r, s, it, v) for r in rules for s in seeds for it, v in curves[(r, s)]]))
    keys = ("loss", "timing_error", "vr", "count_error", "matched", "extra", "missing", "out_spikes")
    files.append(write_csv(p(out_dir, "spike_train_final.csv"), ["rule", "seed", *keys],
                           [(r, s, *[finals[(r, s)][k] for k in keys]) for r in rules for s in seeds]))
    files.append(write_json(p(out_dir, "spike_train.json"),
                            {"experiment": "spike-train matching (ANTLR section 4.1, spec 7.2)", "settings": settings,
                             "summary": summary, "wall_time_s": wall}))
    colors = plot._COLORS
    figures = {}
    # loss curves
    fig = plot.new_figure(6.4, 3.6)
    ax = fig.subplots()
    for r in rules:
        its = np.array([it for it, _ in curves[(r, seeds[0])]])
        vals = np.array([[v for _, v in curves[(r, s)]] for s in seeds])
        m, sd = vals.mean(axis=0), vals.std(axis=0)
        ax.plot(its, m, color=colors.get(r), lw=1.4, label=r)
        ax.fill_between(its, np.maximum(m - sd, 0.0), m + sd, color=colors.get(r), alpha=0.12)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("SGD step")
    ax.set_ylabel("spike-train loss (spec 5.2)")
    ax.legend(fontsize=7)
    ax.set_title(f"spike-train matching: loss, mean +/- std over {len(seeds)} seeds", fontsize=9)
    ax.tick_params(labelsize=7)
    files.append(plot.save(fig, p(out_dir, "spike_train_loss.png")))
    figures["spike_train_loss"] = fig
    # final errors
    fig = plot.new_figure(6.4, 2.8)
    axes = fig.subplots(1, 3)
    for ax, (k, label) in zip(axes, (("timing_error", "timing error (steps)"), ("vr", "van Rossum distance"),
                                      ("count_error", "|#out - #target|"))):
        for i, r in enumerate(rules):
            vals = summary[r][k]["per_seed"]
            ax.scatter(np.full(len(vals), i) + np.linspace(-0.15, 0.15, len(vals)), vals, s=10,
                       color=colors.get(r), alpha=0.7)
            ax.errorbar(i, summary[r][k]["mean"], yerr=summary[r][k]["std"], fmt="_", color="black", ms=12,
                        capsize=3)
        ax.set_xticks(range(len(rules)))
        ax.set_xticklabels(rules, rotation=45, fontsize=7)
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"final errors after {settings['iters']} steps ({len(seeds)} seeds; bar = mean +/- std)", fontsize=9)
    files.append(plot.save(fig, p(out_dir, "spike_train_final.png")))
    figures["spike_train_final"] = fig
    # rasters of the first seed
    target = rasters["target"]
    n_out = target.shape[2]
    fig = plot.new_figure(6.4, 0.6 + 0.42 * (len(rules) + 1) * n_out)
    ax = fig.subplots()
    rows = [("target", target)] + [(r, rasters[r]) for r in rules]
    labels = []
    for k, (name, S) in enumerate(rows):
        for j in range(n_out):
            y = k * n_out + j
            t = np.flatnonzero(S[:, 0, j])
            ax.scatter(t, np.full(len(t), y), marker="|", s=120, color=colors.get(name, "black"))
            labels.append(name if n_out == 1 else f"{name} [{j}]")
    tt = np.flatnonzero(target[:, 0, :].any(axis=1))
    for t in tt:
        ax.axvline(t, color="gray", lw=0.5, alpha=0.5)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlim(-0.5, target.shape[0] - 0.5)
    ax.set_xlabel("time step t")
    ax.tick_params(labelsize=7)
    ax.set_title(f"output spikes after training, seed {seeds[0]} (gray lines: target spikes)", fontsize=9)
    files.append(plot.save(fig, p(out_dir, "spike_train_rasters.png")))
    figures["spike_train_rasters"] = fig
    return files, figures
