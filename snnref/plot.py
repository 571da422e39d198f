r"""Figures of spiking networks and of their learning rules (optional extra ``plot``: matplotlib).

Install with ``pip install -e ".[plot]"``. Every function returns a :class:`matplotlib.figure.Figure`
drawn on a headless Agg canvas (no display, no global pyplot state); :func:`save` writes it
atomically as PNG. Importing this module does not import matplotlib; the first drawing call does,
and raises :class:`snnref.errors.SnnrefError` naming the extra when matplotlib is missing.

=============================== ===================================================================
:func:`raster`                  spike raster of the input and of every spiking layer (one sample)
:func:`membrane`                membrane potential V with the threshold theta and the current I of
                                one neuron (spec 1.1 Eqs. 1-3; pre-reset values)
:func:`rule_gradients`          the voltage gradient each rule injects into one neuron over time,
                                rules side by side on the same forward trace (spec 3.1-3.5, 4)
:func:`training_curves`         accuracy, loss and spikes/sample per epoch of a run directory
:func:`plot_run`                all of the above for a run directory (``snnref plot RUN_DIR``)
=============================== ===================================================================

Data shown by each figure is readable back from its artists (tests use this): the raster's
``PathCollection`` offsets are the (t, neuron) pairs of the spikes; the trace and gradient lines
carry their arrays as ``Line2D`` data.
"""
import json
import math
import os

import numpy as np

from .errors import SnnrefError

__all__ = ["require_matplotlib", "new_figure", "save", "raster", "membrane", "rule_gradients",
           "training_curves", "plot_run", "DEFAULT_RULES", "DPI"]

#: rules compared by :func:`rule_gradients` by default (ANTLR family, spec 3.1-3.5)
DEFAULT_RULES = ("act_srm", "act_rnn", "timing", "antlr")
#: resolution of saved PNGs (small files: the rendered tutorials are committed)
DPI = 80

_INSTALL = 'pip install -e ".[plot]"'
_COLORS = {"act_srm": "tab:blue", "act_rnn": "tab:cyan", "act_slayer": "tab:purple", "timing": "tab:red",
           "antlr": "tab:green", "tsslbp": "tab:orange"}
_DESCRIPTION = {
    "act_srm": "act_srm (Alg. 1, spec 3.2): sigma(V) dS",
    "act_rnn": "act_rnn (BPTT with reset paths, spec 3.1): total dV",
    "act_slayer": "act_slayer (spec 3.3): sigma(V) dS, ungated",
    "timing": "timing (Alg. 2, spec 3.4): -dT / Vstar at spikes",
    "antlr": "antlr (Alg. 3, spec 3.5): both",
    "tsslbp": "tsslbp (spec 4): G = dL/dx",
}


# ------------------------------------------------------------------------------------ matplotlib
def require_matplotlib():
    """Import matplotlib or raise :class:`SnnrefError` saying how to install the ``plot`` extra."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        raise SnnrefError(
            f"snnref.plot needs matplotlib, which is not installed ({exc}). Install the optional extra "
            f"'plot': {_INSTALL} (or: pip install matplotlib)."
        ) from None
    import matplotlib

    return matplotlib


def new_figure(width=6.4, height=4.0):
    """An empty Figure on a headless Agg canvas (independent of pyplot and of the global backend)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig, path, dpi=DPI):
    """Write ``fig`` as PNG to ``path`` atomically (temp file + rename; the directory must exist).

    Returns ``path``.
    """
    from .training.checkpoint import _atomic_write

    if not hasattr(fig, "savefig"):
        raise TypeError(f"fig must be a matplotlib Figure (as returned by snnref.plot); got {type(fig).__name__}.")
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise SnnrefError(f"snnref.plot.save writes PNG files; give a path ending in .png (got {path!r}).")
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    return path


# ------------------------------------------------------------------------------------ arguments
def _check_trace(trace, where):
    from .forward import Trace

    if not isinstance(trace, Trace):
        raise TypeError(f"{where}: trace must be the result of snnref.forward(net, x); got {type(trace).__name__}.")


def _index(value, n, name, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {value!r}.")
    v = int(value)
    if not -n <= v < n:
        raise SnnrefError(f"{name} = {v} is out of range: the {what} has {n} entries (valid: 0..{n - 1}, or negative).")
    return v % n


# ------------------------------------------------------------------------------------ raster
def raster(trace, sample=0, *, include_input=True, max_neurons=None, title=None):
    """Spike raster of one sample: the input (layer 0) and every spiking layer, one panel each.

    Parameters
    ----------
    trace : Trace
        ``snnref.forward(net, x)``.
    sample : int
        Batch index b.
    include_input : bool
        Also draw the input x: a raster if it is 0/1, else (real-valued TSSL-BP input) its values.
    max_neurons : int or None
        Draw only the first ``max_neurons`` neurons of each layer (None = all).
    title : str or None

    Returns
    -------
    Figure
        ``fig.axes[k].collections[0].get_offsets()`` are the (t, neuron) pairs drawn in panel k
        (a real-valued input, as in TSSL-BP networks, is drawn as an image, ``fig.axes[0].images[0]``);
        ``fig.axes`` lists the panels from the input up (k = 0 the input when ``include_input``, the
        last one the output layer, drawn at the top).
    """
    _check_trace(trace, "raster")
    b = _index(sample, trace.B, "sample", "batch")
    if max_neurons is not None and (isinstance(max_neurons, bool) or not isinstance(max_neurons, (int, np.integer))
                                    or max_neurons < 1):
        raise SnnrefError(f"max_neurons must be None or an int >= 1; got {max_neurons!r}.")
    panels = ([("input (layer 0)", np.asarray(trace.x)[:, b, :])] if include_input else [])
    L = len(trace.layers)
    for l, lt in enumerate(trace.layers):
        name = f"layer {l + 1}" + (" (output)" if l == L - 1 else " (hidden)")
        panels.append((name, np.asarray(lt.S)[:, b, :]))
    sizes = [p[1].shape[1] if max_neurons is None else min(max_neurons, p[1].shape[1]) for p in panels]
    heights = [max(1.0, math.log2(n + 1)) for n in sizes]
    fig = new_figure(6.4, min(1.3 + 0.55 * sum(heights), 7.5))
    from matplotlib.ticker import MaxNLocator

    n_p = len(panels)
    grid = fig.add_gridspec(n_p, 1, height_ratios=heights[::-1])
    T = trace.T
    axes = []
    for k, ((name, S), n) in enumerate(zip(panels, sizes)):   # input first, drawn at the bottom
        ax = fig.add_subplot(grid[n_p - 1 - k], sharex=axes[0] if axes else None)
        axes.append(ax)
        vals = S[:, :n]
        if np.all((vals == 0) | (vals == 1)):
            t, j = np.nonzero(vals)
            ax.scatter(t, j, s=6 if n > 40 else 18, marker="|", color="black", linewidths=1.0)
            note = f"{len(t)} spikes"
        else:                                        # real-valued input (TSSL-BP static images): the values
            ax.imshow(vals.T, aspect="auto", origin="lower", cmap="gray_r", interpolation="nearest",
                      extent=(-0.5, T - 0.5, -0.5, n - 0.5))
            note = f"real-valued input, range [{vals.min():.3g}, {vals.max():.3g}]"
        ax.set_xlim(-0.5, T - 0.5)
        ax.set_ylim(-0.5, n - 0.5)
        ax.set_ylabel(f"{name}\nneuron", fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        ax.tick_params(labelsize=7, labelbottom=(k == 0))
        ax.text(0.995, 0.96, note, transform=ax.transAxes, ha="right", va="top", fontsize=7,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    axes[0].set_xlabel("time step t")
    fig.suptitle(title or f"spike raster, sample {b}", fontsize=9)
    return fig


# ------------------------------------------------------------------------------------ traces
def _layer(trace, layer):
    L = len(trace.layers)
    l = _index(layer, L, "layer", "network (spiking layers)")
    return l, trace.layers[l]


def _spike_steps(S):
    return np.flatnonzero(np.asarray(S) != 0)


def membrane(trace, neuron=0, layer=-1, sample=0, *, title=None):
    """Membrane potential V (with the threshold theta and the spikes) and current I of one neuron.

    The values are the pre-reset states of spec 1.1 (ANTLR: both I and V restart after a spike) or
    2.1 (TSSL-BP: u and the input current x = I). ``layer`` counts spiking layers (0 = first hidden
    layer, -1 = output).

    Returns
    -------
    Figure
        ``fig.axes[0]``: V (line 0), theta (line 1); spike markers as the only collection.
        ``fig.axes[1]``: I (line 0).
    """
    _check_trace(trace, "membrane")
    l, lt = _layer(trace, layer)
    b = _index(sample, trace.B, "sample", "batch")
    j = _index(neuron, lt.S.shape[2], "neuron", f"layer {l + 1}")
    theta = float(trace.model.theta)
    V = np.asarray(lt.V, dtype=np.float64)[:, b, j]
    I = np.asarray(lt.I, dtype=np.float64)[:, b, j]
    spikes = _spike_steps(lt.S[:, b, j])
    t = np.arange(trace.T)
    fig = new_figure(6.4, 3.6)
    ax_v, ax_i = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ax_v.plot(t, V, color="tab:blue", lw=1.2, label="V[t] (pre-reset)")
    ax_v.axhline(theta, color="tab:red", ls="--", lw=1.0, label=f"theta = {theta:g}")
    ax_v.scatter(spikes, V[spikes], color="tab:red", s=18, zorder=3, label="spike S[t] = 1")
    ax_v.set_ylabel("V")
    ax_v.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    ax_i.plot(t, I, color="tab:gray", lw=1.2, label="I[t]")
    for s in spikes:
        ax_i.axvline(s, color="tab:red", lw=0.5, alpha=0.4)
    ax_i.set_ylabel("I")
    ax_i.set_xlabel("time step t")
    for ax in (ax_v, ax_i):
        ax.tick_params(labelsize=7)
    fig.suptitle(title or f"layer {l + 1}, neuron {j}, sample {b}: {len(spikes)} spikes", fontsize=9)
    return fig


# ------------------------------------------------------------------------------------ gradients
def _rule_curves(net, trace, rule, l, b, j, dL_dS, dL_dt, dL_da, options):
    from .backward import backward

    if rule == "tsslbp":
        g = backward(net, trace, rule, dL_da=dL_da, return_adjoints=True, **options)
        adj = g.adjoints[l]
        return np.asarray(adj["G"], float)[:, b, j], np.asarray(adj["G_tssl"], float)[:, b, j], g
    g = backward(net, trace, rule, dL_dS=dL_dS, dL_dt=dL_dt, return_adjoints=True, **options)
    adj = g.adjoints[l]
    return np.asarray(adj["dV"], float)[:, b, j], np.asarray(adj["dV_dep"], float)[:, b, j], g


def rule_gradients(net, trace, neuron=0, layer=-1, sample=0, *, dL_dS=None, dL_dt=None, dL_da=None,
                   rules=DEFAULT_RULES, title=None, **options):
    r"""The voltage gradient each rule injects into one neuron, over time, side by side on one trace.

    Top panel: V[t] of the neuron with the threshold and its spikes. Then one panel per rule with

    - stems: the injected gradient dV[t] of the rule (``adjoints[l]["dV"]`` of
      ``snnref.backward(..., return_adjoints=True)``): act_srm / act_slayer sigma(V) dS (spec 3.2),
      timing -dT / Vstar at spikes only (T2), antlr the sum (spec 3.5), act_rnn the total
      derivative of (R2) (it already contains the propagation through the reset paths);
    - line: dV_dep[t], the accumulated gradient w.r.t. V[t] after the linear core (C1).
    - For ``rule="tsslbp"``: stems G = dL/dx, line G_tssl (spec 4.2-4.3).

    Parameters
    ----------
    net : Network
    trace : Trace
        ``snnref.forward(net, x)``.
    neuron, layer, sample : int
        Which neuron (``layer`` counts spiking layers: 0 = first, -1 = output) and batch sample.
    dL_dS, dL_dt : arrays (T, B, N_out) or None
        Output gradients of an ANTLR-family loss (e.g. ``snnref.losses.spike_train(trace, target)``).
    dL_da : array or None
        Output gradient of a TSSL-BP loss (only for ``"tsslbp"`` in ``rules``).
    rules : sequence of rule names
        Default :data:`DEFAULT_RULES` = act_srm, act_rnn, timing, antlr.
    **options
        Rule options passed to every rule (e.g. ``ste_alpha=0.3, ste_beta=1.0``).

    Returns
    -------
    Figure
        ``fig.axes[0]`` the membrane panel; ``fig.axes[1 + k]`` rule ``rules[k]``: its line 0 is
        dV_dep (G_tssl), its stem container (``ax.containers[0]``, absent when dV is all zero) has
        the non-zero dV (G). ``fig.snnref_curves`` maps each
        rule to ``{"dV": ..., "dV_dep": ...}`` (the arrays drawn).
    """
    _check_trace(trace, "rule_gradients")
    if isinstance(rules, str):
        rules = (rules,)
    rules = tuple(rules)
    if not rules:
        raise SnnrefError("rules is empty; name at least one rule (e.g. rules=('act_srm', 'timing')).")
    l, lt = _layer(trace, layer)
    b = _index(sample, trace.B, "sample", "batch")
    j = _index(neuron, lt.S.shape[2], "neuron", f"layer {l + 1}")
    curves = {r: _rule_curves(net, trace, r, l, b, j, dL_dS, dL_dt, dL_da, options)[:2] for r in rules}
    t = np.arange(trace.T)
    V = np.asarray(lt.V, float)[:, b, j]
    spikes = _spike_steps(lt.S[:, b, j])
    fig = new_figure(6.4, 1.9 + 1.25 * len(rules))
    axes = fig.subplots(1 + len(rules), 1, sharex=True, squeeze=False)[:, 0]
    ax = axes[0]
    ax.plot(t, V, color="tab:blue", lw=1.1)
    ax.axhline(float(trace.model.theta), color="tab:red", ls="--", lw=0.9)
    ax.scatter(spikes, V[spikes], color="tab:red", s=14, zorder=3)
    ax.set_ylabel("V", fontsize=8)
    ax.set_title(f"layer {l + 1}, neuron {j}, sample {b}: V[t], theta, spikes", fontsize=8)
    for ax, r in zip(axes[1:], rules):
        inj, acc = curves[r]
        color = _COLORS.get(r, "black")
        ax.plot(t, acc, color=color, lw=1.0, alpha=0.6, label="dV_dep" if r != "tsslbp" else "G_tssl")
        nz = np.flatnonzero(inj)
        if len(nz):
            stem = ax.stem(t[nz], inj[nz], linefmt="-", markerfmt="o", basefmt=" ")
            stem.markerline.set_color(color)
            stem.markerline.set_markersize(3)
            stem.stemlines.set_color(color)
            stem.stemlines.set_linewidth(0.8)
        else:
            why = " (the neuron does not spike: no timing gradient, P-T8)" if r == "timing" and not len(spikes) else ""
            ax.text(0.5, 0.5, "no gradient injected" + why, transform=ax.transAxes, ha="center", va="center",
                    fontsize=8, color=color)
        ax.axhline(0.0, color="black", lw=0.5)
        for s in spikes:
            ax.axvline(s, color="tab:red", lw=0.5, alpha=0.3)
        ax.set_title(_DESCRIPTION.get(r, r), fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
        ax.set_ylabel("dV" if r != "tsslbp" else "G", fontsize=8)
    axes[-1].set_xlabel("time step t")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.snnref_curves = {r: {"dV": curves[r][0], "dV_dep": curves[r][1]} for r in rules}
    return fig


# ------------------------------------------------------------------------------------ runs
def _read_metrics(run_dir_or_metrics):
    if isinstance(run_dir_or_metrics, dict):
        return run_dir_or_metrics, "metrics"
    run_dir = os.fspath(run_dir_or_metrics)
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        raise SnnrefError(f"{path!r} does not exist: {run_dir!r} is not a run directory written by "
                          "`snnref train` (or the run has not completed an epoch yet).")
    try:
        with open(path, encoding="utf-8") as f:
            metrics = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnnrefError(f"{path!r} is damaged (not valid JSON: {exc}); re-run the training or restore the file.") from None
    return metrics, path


def _series(epochs, key, where):
    vals = []
    for e in epochs:
        v = e.get(key)
        if v is None:
            vals.append(np.nan)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SnnrefError(f"{where}: epoch entry {e.get('epoch')!r} has a non-numeric {key!r} ({v!r}); "
                              "the file is damaged.")
        vals.append(float(v))
    return np.array(vals)


def _legend(ax):
    if ax.lines:
        ax.legend(fontsize=6)


def training_curves(run_dir_or_metrics, *, title=None):
    """Accuracy, loss and spikes/sample per epoch of a run (``metrics.json`` of ``snnref train``).

    Reads ``epochs`` (a list of dicts with ``epoch``, ``test_accuracy_<readout>``,
    ``validation_accuracy_<readout>``, ``train_loss``, ``test_loss``, ``validation_loss``,
    ``spikes_per_sample``, ``necessary_spikes_per_sample``) and marks ``summary["best_epoch"]``.

    Parameters
    ----------
    run_dir_or_metrics : str or dict
        A run directory, or the parsed metrics dict.

    Returns
    -------
    Figure
        Three panels: accuracy (%), loss, spikes/sample; each curve is a Line2D labelled by its key.
        Runs without accuracies (spike-train task) leave the accuracy panel with a note.
    """
    metrics, where = _read_metrics(run_dir_or_metrics)
    epochs = metrics.get("epochs") if isinstance(metrics, dict) else None
    if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
        raise SnnrefError(f"{where}: 'epochs' must be a list of per-epoch dicts; the file is damaged or not "
                          "a metrics.json of `snnref train`.")
    if not epochs:
        raise SnnrefError(f"{where}: the run has no completed epoch yet; nothing to plot.")
    x = _series(epochs, "epoch", where)
    if np.isnan(x).any():
        x = np.arange(1, len(epochs) + 1, dtype=float)
    keys = sorted({k for e in epochs for k in e})
    fig = new_figure(6.4, 5.2)
    ax_a, ax_l, ax_s = fig.subplots(3, 1, sharex=True)
    acc_keys = [k for k in keys if k.startswith(("test_accuracy_", "validation_accuracy_", "train_accuracy_"))]
    for k in acc_keys:
        ax_a.plot(x, 100 * _series(epochs, k, where), marker="o", ms=3, lw=1.2,
                  ls="-" if k.startswith("test") else ("--" if k.startswith("validation") else ":"), label=k)
    if acc_keys:
        ax_a.set_ylabel("accuracy (%)", fontsize=8)
        ax_a.legend(fontsize=6, ncol=2)
    else:
        ax_a.text(0.5, 0.5, "no accuracy read-out in this run (spike-train task)", ha="center", va="center",
                  transform=ax_a.transAxes, fontsize=8)
        ax_a.set_yticks([])
    for k in ("train_loss", "validation_loss", "test_loss"):
        if k in keys:
            ax_l.plot(x, _series(epochs, k, where), marker="o", ms=3, lw=1.2, label=k)
    ax_l.set_ylabel("loss", fontsize=8)
    _legend(ax_l)
    for k in ("spikes_per_sample", "necessary_spikes_per_sample"):
        if k in keys:
            ax_s.plot(x, _series(epochs, k, where), marker="o", ms=3, lw=1.2, label=k)
    ax_s.set_ylabel("spikes / sample", fontsize=8)
    ax_s.set_xlabel("epoch")
    from matplotlib.ticker import MaxNLocator

    ax_s.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ax_s)
    best = (metrics.get("summary") or {}).get("best_epoch") if isinstance(metrics.get("summary"), dict) else None
    for ax in (ax_a, ax_l, ax_s):
        ax.tick_params(labelsize=7)
        if isinstance(best, (int, float)) and not isinstance(best, bool):
            ax.axvline(best, color="gray", lw=0.8, ls=":")
    name = metrics.get("config_name", "")
    fig.suptitle(title or f"training curves {name}".strip() + (f" (best epoch {best})" if best is not None else ""),
                 fontsize=9)
    return fig


def _run_example(run_dir, checkpoint, sample):
    """(net, cfg, trace, loss result, label) of one test sample of a saved run."""
    from .forward import forward
    from .training import build_network, encode, load_data, targets_of
    from .training.config import ConfigError, TrainConfig
    from .training.loop import load_run_checkpoint, loss_of
    from .training.network import restore_parameters

    cfg_path = os.path.join(run_dir, "config.json")
    path = os.path.join(run_dir, f"{checkpoint}.h5")
    try:
        cfg = TrainConfig.from_json(cfg_path)
    except (ConfigError, OSError, ValueError) as exc:
        raise SnnrefError(f"cannot read {cfg_path!r}: {exc}") from None
    net = build_network(cfg)
    restore_parameters(net, load_run_checkpoint(path, cfg), path)   # integrity, config and shapes checked
    if cfg.dataset == "spike_train_task":
        *_, test = load_data(cfg)
    elif cfg.test_limit is not None and sample >= cfg.test_limit:
        raise SnnrefError(f"sample {sample} does not exist: the run's test set has {cfg.test_limit} samples.")
    else:
        *_, test = load_data(cfg.replace(validation_size=0, train_limit=1, test_limit=sample + 1))
    if sample >= len(test):
        raise SnnrefError(f"sample {sample} does not exist: the run's test set has {len(test)} samples.")
    part = test.take(np.array([sample]))
    x = encode(cfg, part.inputs, np.random.default_rng([cfg.seed, 3]), net.dtype)
    targets = targets_of(cfg, part.targets, net.dtype)
    trace = forward(net, x)
    return net, cfg, trace, loss_of(cfg, trace, targets), targets


def plot_run(run_dir, out_dir=None, *, sample=0, checkpoint="best", progress=None):
    """Write the figures of a run directory as PNG; returns the list of written paths.

    Files (in ``out_dir``, default ``RUN_DIR/plots``): ``training_curves.png`` (from metrics.json),
    and, when the checkpoint exists, for test sample ``sample`` of the trained network:
    ``raster.png``, ``membrane.png`` (the output neuron of the label, or neuron 0) and
    ``rule_gradients.png`` (ANTLR-family runs: act_srm, act_rnn, timing, antlr on the run's loss
    and surrogate; TSSL-BP runs: tsslbp).
    """
    require_matplotlib()
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise SnnrefError(f"{run_dir!r} is not a directory; pass the --out directory of `snnref train`.")
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 0:
        raise SnnrefError(f"sample must be a non-negative int; got {sample!r}.")
    if checkpoint not in ("best", "last"):
        raise SnnrefError(f"checkpoint must be 'best' or 'last'; got {checkpoint!r}.")
    out_dir = os.path.join(run_dir, "plots") if out_dir is None else os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    say = progress or (lambda msg: None)
    written = [save(training_curves(run_dir), os.path.join(out_dir, "training_curves.png"))]
    say(f"wrote {written[-1]}")
    ck = os.path.join(run_dir, f"{checkpoint}.h5")
    if not os.path.exists(ck):
        say(f"no {checkpoint}.h5 in {run_dir}: only the training curves were drawn")
        return written
    net, cfg, trace, res, targets = _run_example(run_dir, checkpoint, int(sample))
    written.append(save(raster(trace, 0, max_neurons=200, title=f"{cfg.name}: test sample {sample}"),
                        os.path.join(out_dir, "raster.png")))
    say(f"wrote {written[-1]}")
    neuron = int(targets[0]) if cfg.dataset != "spike_train_task" else 0
    written.append(save(membrane(trace, neuron, -1, 0, title=f"{cfg.name}: output neuron {neuron}, test sample "
                                 f"{sample}"), os.path.join(out_dir, "membrane.png")))
    say(f"wrote {written[-1]}")
    if cfg.family == "tsslbp":
        fig = rule_gradients(net, trace, neuron, -1, 0, dL_da=res.dL_da, rules=("tsslbp",))
    else:
        opts = {"ste_alpha": cfg.ste_alpha, "ste_beta": cfg.ste_beta}
        fig = rule_gradients(net, trace, neuron, -1, 0, dL_dS=res.dL_dS, dL_dt=res.dL_dt, **opts,
                             title=f"{cfg.name} ({cfg.loss} loss): gradient injected by each rule")
    written.append(save(fig, os.path.join(out_dir, "rule_gradients.png")))
    say(f"wrote {written[-1]}")
    return written
