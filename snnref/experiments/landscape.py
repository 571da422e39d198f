r"""Loss landscape around a trained point vs each rule's gradient (ANTLR section 3.4; spec 7.1, Table A1).

In discrete time the loss of a spiking network is a step function of the weights: it changes only
when a spike *moves* to another step or a spike *appears / disappears*. A gradient estimate can
only predict the trend of this staircase. Activation-based rules (spec 3.1-3.2) see the spike
count through the surrogate sigma(V); the timing rule (spec 3.4) sees only the time of existing
spikes; ANTLR (spec 3.5) adds both. This experiment measures which part of the true landscape each
rule predicts.

Protocol (spec 7.1 **[choice]**; what the paper plots exactly is not verified):

1. Trained point w: the preset ``spike-train-matching`` (Table A1 settings, spike-train loss of
   spec 5.2, task and initialisation of seed s), trained with ``antlr`` for ``train_iters`` SGD
   steps. At w: the loss L0 and the gradient g_m of each rule m in {act_srm, act_rnn, timing, antlr}
   (the same trace and loss gradients).
2. Lines along each rule's descent direction u_m = -g_m / ||g_m|| (weights and biases together):
   the true loss L(w + eta u_m), eta in [-r, r], r = ``radius`` x ||w||, next to the first-order
   prediction L0 - eta ||g_m||. Between consecutive points the change of the output raster is
   classified: a spike appeared / disappeared (some output neuron's spike count changed) or spikes
   only moved (same counts, different steps).
3. Events along random lines: lines through w along random directions u (Gaussian, unit norm; by
   default in the output layer's weights and bias, ``subspace="output"``), with the true loss AND
   every rule's gradient at each of ``points`` points. Every interval where the output raster
   changes is an event (move or appear / disappear). The rule's predicted change for an event is
   its slope <g_m(eta), u> integrated (trapezoid) over the stretch of the line closest to that
   event (from the midpoint to the previous event to the midpoint to the next one); the true change
   is the loss jump at the event. Over all events of one type, cos(predicted, true) and the ratio
   sum(predicted) / sum(true) say how well the rule predicts that kind of change.
4. A 2-D slice: the plane spanned by the act_srm and timing descent directions (orthonormalised),
   true loss on a grid, with each rule's descent direction projected into the plane.

Outputs (``out_dir``): ``landscape_lines.png``, ``landscape_events.png``, ``landscape_tangents.png``,
``landscape_2d.png``, ``landscape_lines.csv`` (rule, eta, loss, prediction, output spikes, event),
``landscape_events.csv`` (seed, direction, event index, type, true change, each rule's predicted
change), ``landscape_2d.csv``, ``landscape.json`` (settings; per seed and rule ||g||; per rule and
event type: cosine and ratio over all events).
"""
import os
import time

import numpy as np

from ..errors import SnnrefError
from . import check_seeds, prepare_out_dir, task_setup, write_csv, write_json

__all__ = ["RULES", "run", "DEFAULTS", "FAST", "classify_events", "attribute_events"]

#: rules compared (spec 7.1)
RULES = ("act_srm", "act_rnn", "timing", "antlr")
DEFAULTS = dict(seeds=5, train_iters=300, directions=8, points=201, radius=0.03, grid=41)
FAST = dict(seeds=1, train_iters=5, directions=2, points=21, radius=0.03, grid=5,
            config=dict(T=30, task_n_inputs=20, hidden=[12], task_n_target_spikes=3))

MOVE, COUNT, NONE = "move", "appear/disappear", "none"


# ------------------------------------------------------------------------------------- helpers
def classify_events(rasters):
    """Event between consecutive rasters (output layer, (T, B, N) each) along a line.

    Returns a list of len(rasters) - 1 labels: ``"appear/disappear"`` if the spike count of some
    (sample, neuron) changed, ``"move"`` if the counts are equal but the rasters differ, ``"none"``.
    """
    out = []
    for a, b in zip(rasters[:-1], rasters[1:]):
        if np.any(a.sum(axis=0) != b.sum(axis=0)):
            out.append(COUNT)
        elif np.any(a != b):
            out.append(MOVE)
        else:
            out.append(NONE)
    return out


def attribute_events(etas, losses, slopes, events):
    """Per event along a line: (interval index k, type, true change, predicted change).

    ``slopes`` (P,) is a rule's directional derivative <g(eta), u> at the P points. The line is cut
    at the midpoints between consecutive events; the predicted change of an event is the trapezoid
    integral of ``slopes`` over its piece (so the pieces tile the whole line and the predictions add
    up to the rule's prediction of L(eta[-1]) - L(eta[0])). The true change is losses[k+1] - losses[k].
    """
    etas = np.asarray(etas, dtype=float)
    losses = np.asarray(losses, dtype=float)
    slopes = np.asarray(slopes, dtype=float)
    idx = [k for k, e in enumerate(events) if e != NONE]
    if not idx:
        return []
    cuts = [0] + [(idx[i] + idx[i + 1] + 1) // 2 for i in range(len(idx) - 1)] + [len(etas) - 1]
    piece = (slopes[:-1] + slopes[1:]) / 2 * np.diff(etas)
    return [(k, events[k], float(losses[k + 1] - losses[k]), float(piece[cuts[i]:cuts[i + 1]].sum()))
            for i, k in enumerate(idx)]


def _flat(arrays):
    return np.concatenate([np.ravel(a) for a in arrays])


class _Point:
    """The network at w as a flat parameter vector; evaluates the true loss anywhere on a line."""

    def __init__(self, net, cfg, x, target):
        self.net = net.copy()
        self.cfg = cfg
        self.x = x
        self.target = target
        self.shapes = [p.shape for p in self.params(self.net)]
        self.w0 = _flat(self.params(self.net))

    @staticmethod
    def params(net):
        return list(net.weights) + list(net.biases)

    def mask(self, subspace):
        """1 on the parameters of ``subspace`` ("output": W^L and b^L; "all"), 0 elsewhere."""
        parts = []
        L = len(self.net.weights)
        for k, shape in enumerate(self.shapes):
            on = subspace == "all" or k in (L - 1, 2 * L - 1)
            parts.append(np.full(int(np.prod(shape)), 1.0 if on else 0.0))
        return np.concatenate(parts)

    def set(self, w):
        k = 0
        for p in self.params(self.net):
            n = p.size
            p[...] = w[k:k + n].reshape(p.shape)
            k += n

    def loss(self, w):
        """(true loss, output raster) at parameters w (hard forward, spec 1.1; loss spec 5.2)."""
        from ..forward import forward
        from ..training.loop import loss_of as _loss

        self.set(w)
        trace = forward(self.net, self.x)
        return float(_loss(self.cfg, trace, self.target).value), np.asarray(trace.output.S).copy()

    def line(self, u, etas):
        vals, rasters = [], []
        for e in etas:
            v, S = self.loss(self.w0 + e * u)
            vals.append(v)
            rasters.append(S)
        self.set(self.w0)
        return np.array(vals), rasters


def _trained_point(cfg, train_iters):
    from ..training import train_step

    cfg = cfg.replace(rule="antlr")
    net, opt, x, target = task_setup(cfg)
    for _ in range(train_iters):
        train_step(net, cfg, opt, x, target)
    return net, x, target


def _gradients(net, cfg, x, target, rules, options=None):
    """(loss, {rule: flat gradient}, trace) at the network's current parameters (one forward, one loss)."""
    from ..backward import backward
    from ..forward import forward
    from ..training.loop import loss_of as _loss

    options = options or {r: cfg.replace(rule=r).rule_options() for r in rules}
    trace = forward(net, x)
    res = _loss(cfg, trace, target)
    grads = {}
    for r in rules:
        g = backward(net, trace, r, dL_dS=res.dL_dS, dL_dt=res.dL_dt, nan_to_zero=True, **options[r])
        grads[r] = _flat(list(g.dW) + list(g.db))
    return float(res.value), grads, trace


def _cos(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")


# ------------------------------------------------------------------------------------- run
def run(out_dir, *, fast=False, seeds=None, train_iters=None, directions=None, points=None, radius=None,
        grid=None, subspace="output", overrides=None, progress=None):
    """Run the landscape experiment and write its files into ``out_dir``.

    Returns a dict: ``settings``, ``summary`` (per rule and event type: events, cos, ratio, sums),
    ``per_seed``, ``table`` (the headline numbers), ``files`` (written paths), ``figures`` (name ->
    matplotlib Figure, the drawn data), ``wall_time_s``.

    Parameters (None = default of :data:`DEFAULTS`, or :data:`FAST` with ``fast``)
    ----------
    seeds : int or list of int
        Trained points (task + initialisation of each seed); figures show the first seed.
    train_iters : int
        SGD steps with ``antlr`` from the preset's initialisation to the trained point.
    directions : int
        Random directions for the slope statistics.
    points : int (odd)
        Points per line (eta grid), including both ends and eta = 0.
    radius : float
        Half-width r of the lines relative to the norm of the parameter vector at w.
    grid : int
        The 2-D slice has grid x grid points.
    subspace : "output" or "all"
        Parameters perturbed by the random lines (the output layer's weights and bias, or all).
    overrides : dict
        TrainConfig fields changed in the preset ``spike-train-matching``.
    """
    from ..training.config import ConfigError, load_preset

    base = dict(FAST if fast else DEFAULTS)
    seeds = check_seeds(base["seeds"] if seeds is None else seeds)
    train_iters = base["train_iters"] if train_iters is None else train_iters
    directions = base["directions"] if directions is None else directions
    points = base["points"] if points is None else points
    radius = base["radius"] if radius is None else radius
    grid = base["grid"] if grid is None else grid
    for name, v, lo in (("train_iters", train_iters, 0), ("directions", directions, 2), ("points", points, 3),
                        ("grid", grid, 3)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise SnnrefError(f"{name} must be an int >= {lo}; got {v!r}.")
    if points % 2 == 0 or grid % 2 == 0:
        raise SnnrefError(f"points and grid must be odd (so that the grid contains w itself); got {points}, {grid}.")
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not 0 < radius < 10:
        raise SnnrefError(f"radius must be a number in (0, 10) (relative to the weight norm); got {radius!r}.")
    if subspace not in ("output", "all"):
        raise SnnrefError(f"subspace must be 'output' (the output layer's weights and bias) or 'all'; got {subspace!r}.")
    out_dir = prepare_out_dir(out_dir)
    say = progress or (lambda msg: None)
    changes = dict(base.get("config", {}))
    changes.update(overrides or {})
    try:
        cfg0 = load_preset("spike-train-matching")
        cfg0 = cfg0.replace(**changes) if changes else cfg0
    except ConfigError as exc:
        raise SnnrefError(str(exc)) from None

    t0 = time.perf_counter()
    per_seed = []
    lines_rows, events_rows, slice_rows = [], [], []
    fig_data = None
    for si, seed in enumerate(seeds):
        cfg = cfg0.replace(seed=seed)
        net, x, target = _trained_point(cfg, train_iters)
        L0, grads, trace0 = _gradients(net, cfg, x, target, RULES)
        pt = _Point(net, cfg, x, target)
        half = radius * float(np.linalg.norm(pt.w0))
        etas = np.linspace(-half, half, points)
        say(f"seed {seed}: trained point after {train_iters} SGD steps (antlr): loss {L0:.4f}, "
            f"{int(trace0.output.S.sum())} output spikes; line half-width r = {half:.3g}")
        # 2. lines along each rule's descent direction
        lines = {}
        for rule in RULES:
            g = grads[rule]
            gn = float(np.linalg.norm(g))
            if gn == 0:
                say(f"  {rule}: zero gradient at w (no line)")
                continue
            u = -g / gn
            vals, rasters = pt.line(u, etas)
            ev = classify_events(rasters)
            counts = np.array([S.sum() for S in rasters])
            lines[rule] = dict(loss=vals, pred=L0 - etas * gn, events=ev, counts=counts, gnorm=gn)
            for k, e in enumerate(etas):
                lines_rows.append((seed, rule, float(e), float(vals[k]), float(L0 - e * gn), int(counts[k]),
                                   ev[k - 1] if k else ""))
        # 3. events along random lines, with every rule's gradient at every point
        rng = np.random.default_rng([seed, 11])
        mask = pt.mask(subspace)
        opts = {r: cfg.replace(rule=r).rule_options() for r in RULES}
        for k in range(directions):
            u = rng.standard_normal(pt.w0.size) * mask
            u /= np.linalg.norm(u)
            vals, rasters, slopes = [], [], {r: [] for r in RULES}
            for e in etas:
                pt.set(pt.w0 + e * u)
                v, g, tr = _gradients(pt.net, cfg, x, target, RULES, opts)
                vals.append(v)
                rasters.append(np.asarray(tr.output.S).copy())
                for r in RULES:
                    slopes[r].append(float(g[r] @ u))
            pt.set(pt.w0)
            ev = classify_events(rasters)
            per_rule = {r: attribute_events(etas, vals, slopes[r], ev) for r in RULES}
            for i, (kk, typ, true, _) in enumerate(per_rule[RULES[0]]):
                events_rows.append((seed, k, kk, typ, true, *[per_rule[r][i][3] for r in RULES]))
            if si == 0 and k == 0:
                tangent = dict(etas=etas, loss=np.array(vals), slopes={r: np.array(v) for r, v in slopes.items()},
                               events=ev)
        stats = {rule: {"grad_norm": float(np.linalg.norm(grads[rule])),
                        "cos_with_antlr_gradient": _cos(grads[rule], grads["antlr"])} for rule in RULES}
        # 4. 2-D slice (first seed only)
        if si == 0:
            a = -grads["act_srm"]
            b = -grads["timing"]
            e1 = a / np.linalg.norm(a) if np.linalg.norm(a) > 0 else rng.standard_normal(pt.w0.size)
            e1 /= np.linalg.norm(e1)
            b = b - (b @ e1) * e1 if np.linalg.norm(b) > 0 else rng.standard_normal(pt.w0.size)
            b = b - (b @ e1) * e1
            e2 = b / np.linalg.norm(b)
            ax_vals = np.linspace(-half, half, grid)
            Z = np.zeros((grid, grid))
            for i, c2 in enumerate(ax_vals):
                for j, c1 in enumerate(ax_vals):
                    Z[i, j] = pt.loss(pt.w0 + c1 * e1 + c2 * e2)[0]
                    slice_rows.append((seed, float(c1), float(c2), float(Z[i, j])))
            pt.set(pt.w0)
            arrows = {rule: (float(-grads[rule] @ e1), float(-grads[rule] @ e2)) for rule in RULES}
            fig_data = dict(seed=seed, etas=etas, lines=lines, L0=L0, stats=stats, ax_vals=ax_vals, Z=Z,
                            arrows=arrows, r=half, tangent=tangent)
        per_seed.append({"seed": seed, "loss_at_w": L0, "radius_abs": half, "rules": stats,
                         "events": {t: sum(1 for row in events_rows if row[0] == seed and row[3] == t)
                                    for t in (MOVE, COUNT)}})
    wall = time.perf_counter() - t0
    summary = {}
    for j, rule in enumerate(RULES):
        summary[rule] = {}
        for typ, name in ((MOVE, "move"), (COUNT, "appear_disappear")):
            rows = [row for row in events_rows if row[3] == typ]
            true = np.array([row[4] for row in rows])
            pred = np.array([row[5 + j] for row in rows])
            summary[rule][name] = {"events": len(rows), "cos": _cos(pred, true) if len(rows) else float("nan"),
                                   "ratio": float(pred.sum() / true.sum()) if len(rows) and true.sum() != 0
                                   else float("nan"),
                                   "sum_true": float(true.sum()), "sum_predicted": float(pred.sum())}
        gn = np.array([s["rules"][rule]["grad_norm"] for s in per_seed])
        summary[rule]["grad_norm"] = {"mean": float(gn.mean()), "std": float(gn.std())}
    settings = dict(preset="spike-train-matching", overrides=changes, seeds=list(seeds), train_iters=train_iters,
                    directions=directions, points=points, radius=radius, grid=grid, subspace=subspace,
                    rules=list(RULES), fast=bool(fast))
    files, figures = _write_files(out_dir, lines_rows, events_rows, slice_rows, fig_data, per_seed, summary, settings,
                                  wall)
    say(f"wrote {', '.join(files)} ({wall:.0f} s)")
    table = {rule: {"cos_move": s["move"]["cos"], "ratio_move": s["move"]["ratio"],
                    "cos_appear": s["appear_disappear"]["cos"], "ratio_appear": s["appear_disappear"]["ratio"]}
             for rule, s in summary.items()}
    return {"settings": settings, "summary": summary, "per_seed": per_seed, "table": table, "files": files,
            "figures": figures, "wall_time_s": wall}


# ------------------------------------------------------------------------------------- outputs
def _write_files(out_dir, lines_rows, events_rows, slice_rows, d, per_seed, summary, settings, wall):
    from .. import plot

    p = os.path.join
    files = [
        write_csv(p(out_dir, "landscape_lines.csv"),
                  ["seed", "rule", "eta", "loss", "first_order_prediction", "output_spikes", "event_from_previous"],
                  lines_rows),
        write_csv(p(out_dir, "landscape_events.csv"),
                  ["seed", "direction", "interval", "event", "true_change"] + [f"predicted_{r}" for r in RULES],
                  events_rows),
        write_csv(p(out_dir, "landscape_2d.csv"), ["seed", "c_act_srm", "c_timing_orth", "loss"], slice_rows),
        write_json(p(out_dir, "landscape.json"),
                   {"experiment": "loss landscape (ANTLR section 3.4, spec 7.1)", "settings": settings,
                    "summary": summary, "per_seed": per_seed, "wall_time_s": wall}),
    ]
    colors = plot._COLORS
    figures = {}
    etas = d["etas"]
    # lines
    fig = plot.new_figure(7.2, 5.4)
    axes = fig.subplots(2, 2, sharex=True).ravel()
    for ax, rule in zip(axes, RULES):
        ln = d["lines"].get(rule)
        ax.set_title(f"along -grad of {rule} (|g| = {d['stats'][rule]['grad_norm']:.3g})", fontsize=8)
        ax.tick_params(labelsize=7)
        if ln is None:
            ax.text(0.5, 0.5, "zero gradient", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.plot(etas, ln["loss"], color="black", lw=1.0, drawstyle="steps-mid", label="true loss")
        ax.plot(etas, ln["pred"], color=colors[rule], lw=1.4, ls="--", label="first-order prediction")
        lo, hi = np.min(ln["loss"]), np.max(ln["loss"])
        ax.set_ylim(lo - 0.15 * (hi - lo + 1e-12), hi + 0.1 * (hi - lo + 1e-12))
        mids = (etas[1:] + etas[:-1]) / 2
        ev = np.array(ln["events"])
        y = lo - 0.1 * (hi - lo + 1e-12)
        ax.scatter(mids[ev == MOVE], np.full((ev == MOVE).sum(), y), marker="|", color="tab:blue", s=30,
                   label="spike moved")
        ax.scatter(mids[ev == COUNT], np.full((ev == COUNT).sum(), y), marker="|", color="tab:red", s=30,
                   label="spike appeared / disappeared")
        ax.axvline(0, color="gray", lw=0.5)
    axes[0].legend(fontsize=6, loc="upper left")
    for ax in axes[2:]:
        ax.set_xlabel("eta (step along the descent direction)", fontsize=8)
    fig.suptitle(f"true loss vs first-order prediction L0 - eta |g|, seed {d['seed']} (spec 7.1)", fontsize=9)
    files.append(plot.save(fig, p(out_dir, "landscape_lines.png")))
    figures["landscape_lines"] = fig
    # events: predicted vs true change, per rule
    fig = plot.new_figure(7.2, 2.9)
    axes = fig.subplots(1, len(RULES), sharex=False, sharey=True)
    true = np.array([row[4] for row in events_rows])
    typ = np.array([row[3] for row in events_rows])
    for j, (ax, rule) in enumerate(zip(axes, RULES)):
        pred = np.array([row[5 + j] for row in events_rows])
        for t, c, lab in ((MOVE, "tab:blue", "spike moved"), (COUNT, "tab:red", "appeared / disappeared")):
            sel = typ == t
            ax.scatter(pred[sel], true[sel], s=9, color=c, alpha=0.7, label=lab)
        lim = float(np.max(np.abs(np.concatenate([true, pred, [1e-9]]))))
        ax.plot([-lim, lim], [-lim, lim], color="gray", lw=0.6, ls=":")
        ax.axhline(0, color="gray", lw=0.4)
        ax.axvline(0, color="gray", lw=0.4)
        sm = summary[rule]
        ax.set_title(f"{rule}\ncos move {sm['move']['cos']:+.2f}, app/dis {sm['appear_disappear']['cos']:+.2f}",
                     fontsize=7)
        ax.set_xlabel("predicted change", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel("true loss jump", fontsize=7)
    axes[0].legend(fontsize=6, loc="upper left")
    n_dir = settings["directions"]
    fig.suptitle(f"each event along {n_dir} random lines x {len(settings['seeds'])} seeds: true loss jump vs the "
                 f"rule's predicted change (diagonal = exact)", fontsize=8)
    files.append(plot.save(fig, p(out_dir, "landscape_events.png")))
    figures["landscape_events"] = fig
    # tangents: the first random line, the true loss and each rule's integrated prediction
    tg = d["tangent"]
    fig = plot.new_figure(7.2, 3.8)
    ax = fig.subplots()
    e = tg["etas"]
    i0 = len(e) // 2
    ax.plot(e, tg["loss"], color="black", lw=1.2, drawstyle="steps-mid", label="true loss")
    for rule in RULES:
        s_ = tg["slopes"][rule]
        cum = np.concatenate([[0.0], np.cumsum((s_[:-1] + s_[1:]) / 2 * np.diff(e))])
        ax.plot(e, tg["loss"][i0] + cum - cum[i0], color=colors[rule], lw=1.2, ls="--",
                label=f"{rule}: L(w) + integral of <g, u>")
    ev = np.array(tg["events"])
    mids = (e[1:] + e[:-1]) / 2
    lo = float(np.min(tg["loss"]))
    for t, c in ((MOVE, "tab:blue"), (COUNT, "tab:red")):
        ax.scatter(mids[ev == t], np.full((ev == t).sum(), lo), marker="|", color=c, s=40)
    ax.axvline(0, color="gray", lw=0.5)
    ax.set_xlabel("eta along a random direction u (blue ticks: spike moved, red: appeared / disappeared)", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    ax.tick_params(labelsize=7)
    ax.set_title(f"the true loss along one line vs each rule's gradient integrated along it, seed {d['seed']}",
                 fontsize=8)
    files.append(plot.save(fig, p(out_dir, "landscape_tangents.png")))
    figures["landscape_tangents"] = fig
    # 2-D slice
    fig = plot.new_figure(5.2, 4.4)
    ax = fig.subplots()
    av = d["ax_vals"]
    im = ax.imshow(d["Z"], origin="lower", extent=(av[0], av[-1], av[0], av[-1]), cmap="viridis", aspect="auto",
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, label="true loss")
    scale = 0.8 * d["r"] / max(np.hypot(*v) for v in d["arrows"].values())
    for rule, (a1, a2) in d["arrows"].items():
        ax.annotate("", xy=(a1 * scale, a2 * scale), xytext=(0, 0),
                    arrowprops=dict(arrowstyle="->", color=colors[rule], lw=1.6))
        ax.plot([], [], color=colors[rule], label=rule)
    ax.plot([0], [0], "w+", ms=8)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_xlabel("along -grad act_srm", fontsize=8)
    ax.set_ylabel("along -grad timing (orthogonalised)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title("2-D slice of the loss; arrows: each rule's descent direction", fontsize=8)
    files.append(plot.save(fig, p(out_dir, "landscape_2d.png")))
    figures["landscape_2d"] = fig
    return files, figures
