"""The training loop of snnref (spec 7.5 for the ANTLR family, spec 7.6 for TSSL-BP).

One optimisation step, for a minibatch of B samples (spec 3.6, 3.7, 7.5, 7.6)::

    x      = encode(images)                           (T, B, N_0), spec 6
    trace  = forward(net, x)                          spec 1.1 / 2.1
    loss   = loss_fn(trace, labels)  -> dL_dS, dL_dt  (ANTLR family, spec 5.1-5.3)
                                     -> dL_da         (TSSL-BP, spec 5.4-5.6)
    grads  = backward(net, trace, rule, ...)          spec 3 / 4, then NaN -> 0, value clip (ANTLR)
                                                      or global norm clip (TSSL-BP), spec 3.6 / A14
    optimiser.step(grads); clamp weights (TSSL-BP, spec 7.6)

Per epoch: shuffle the training set with ``np.random.default_rng(seed)`` (its state is saved, so
a resumed run is bit-identical to an uninterrupted one), train, evaluate the validation split (if
any) and the test set, record accuracies (first-spike and spike-count for the ANTLR family; PSP
sum and spike count for TSSL-BP; spec 5.7), spike statistics (total and "necessary" spikes per
sample, per-layer firing / silent / multi-spike fractions; spec 7.5), wall time and throughput; write
``metrics.json`` and ``last.h5``; keep ``best.h5`` selected by the accuracy that matches the loss
on the validation split, or on the test set when there is none (TSSL-BP code, A33); step the
learning-rate schedule.

The library never prints: progress is reported through ``callback(event, info)`` with events
"start", "batch", "evaluate", "epoch" and "end" (see :func:`train`); :mod:`snnref.cli` renders them.
"""
import time
from dataclasses import dataclass

import numpy as np

from .. import readout
from ..backward import backward
from ..forward import forward
from ..workspace import Workspace
from . import checkpoint as ckpt
from .config import TrainConfig
from .data import InputBuffer, encode, encoder_output_is_valid, load_data, load_test, targets_of
from .network import build_network, check_memory, gradients, parameters, readouts, restore_parameters
from .rundir import RunDir, RunError, config_differences, describe_differences, read_metrics

__all__ = ["train", "train_step", "train_epoch", "evaluate", "evaluate_run", "summary", "best_entry", "TIME_KEYS"]

#: metric keys that hold wall-clock measurements (differ between otherwise identical runs)
TIME_KEYS = ("train_time_s", "eval_time_s", "wall_time_s", "samples_per_s", "elapsed_s")

_PREDICT = {"first": readout.predict_first, "count": readout.predict_count, "psp": readout.predict_psp}


def _no_callback(event, info):
    return None


# ------------------------------------------------------------------------------------------ step
def loss_of(cfg, trace, targets):
    """The loss of ``cfg`` on ``trace`` (spec 5.1-5.6): a result with value and dL_dS / dL_dt / dL_da."""
    from .. import losses

    if cfg.loss == "count":
        return losses.count(trace, targets, max_target_spikes=cfg.max_target_spikes,
                            min_target_spikes=cfg.min_target_spikes)
    if cfg.loss == "latency":
        return losses.latency(trace, targets, beta_softmax=cfg.beta_softmax, lambda_nospike=cfg.lambda_nospike)
    if cfg.loss == "spike_train":
        return losses.spike_train(trace, targets, kappa_exp=cfg.kappa_exp, train_tail=cfg.train_tail)
    if cfg.loss == "psp_kernel":
        return losses.psp_kernel(trace, targets, tssl_target_pattern=cfg.tssl_target_pattern)
    if cfg.loss == "psp_count":
        return losses.psp_count(trace, targets, desired_count=cfg.desired_count, undesired_count=cfg.undesired_count)
    return losses.psp_softmax(trace, targets)


def _trusted(x, net, encoded):
    """``validated=`` for forward: an encoder's output already in the form forward checks in O(1)."""
    return bool(encoded) and isinstance(x, np.ndarray) and x.dtype == np.dtype(net.dtype) and x.flags.c_contiguous


def train_step(net, cfg, optimizer, x, targets, dropout_rng=None, workspace=None, validated=False,
               input_events=None):
    """One forward -> loss -> backward -> post-processing -> optimiser step -> weight clamp.

    ``dropout_rng``: draws the dropout masks of layered networks (training only). ``workspace``
    (dense networks): a :class:`snnref.workspace.Workspace` whose buffers forward and backward reuse
    from step to step (same results; the returned trace is valid until the next step with it).
    ``validated``: ``x`` was made by one of snnref's encoders (``forward(..., validated=True)``: its
    values are not scanned again), ``input_events`` its event lists (see :func:`snnref.forward`).
    Returns ``(loss_result, trace)``.
    """
    if net.layers is not None:
        trace = forward(net, x, dropout_rng=dropout_rng)
        workspace = None
    else:
        early = bool(cfg.latency_early_stop and cfg.loss == "latency")
        trusted = _trusted(x, net, validated)
        trace = forward(net, x, latency_early_stop=early, workspace=workspace, validated=trusted,
                        input_events=input_events if trusted and not net.model.psp_output else None)
    res = loss_of(cfg, trace, targets)
    grads = backward(net, trace, cfg.rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt, dL_da=res.dL_da,
                     nan_to_zero=cfg.nan_to_zero, grad_clip_value=cfg.grad_clip_value,
                     grad_clip_norm=cfg.grad_clip_norm, workspace=workspace, **cfg.rule_options())
    optimizer.step(gradients(grads, cfg))
    if cfg.weight_clamp is not None:
        from ..postprocess import clamp_weights

        clamp_weights(net.weights, cfg.weight_clamp)
    return res, trace


# ------------------------------------------------------------------------------------ evaluation
def evaluate(net, cfg, split, callback=None, phase="test"):
    """Loss, accuracies and spike statistics of ``net`` on ``split`` (no updates, no early stop).

    Returns a dict: ``loss``, ``accuracy_<readout>`` for each read-out of the run,
    ``spikes_per_sample`` (total, all layers incl. output, full T), ``necessary_spikes_per_sample``
    (spec 7.5), ``firing_fraction``, ``silent_fraction`` and ``multi_spike_fraction`` (fraction of
    the neurons that spike more than once in the window; one value per spiking layer, averaged
    over samples), ``samples``, ``eval_time_s``.
    """
    t0 = time.perf_counter()
    dtype = net.dtype
    reads = readouts(cfg)
    rng = np.random.default_rng([cfg.seed, 3])          # rate coding at evaluation: fixed noise
    n = len(split)
    loss_sum = 0.0
    correct = {r: 0 for r in reads}
    tot = nec = 0.0
    L = len(net.weights)
    fire = np.zeros(L)
    silent = np.zeros(L)
    multi = np.zeros(L)
    dense = net.layers is None
    workspace = Workspace() if dense else None   # buffers reused by every batch (a trace lives one batch)
    buffer = InputBuffer()
    encoded = encoder_output_is_valid(cfg)
    for start in range(0, n, cfg.test_batch_size):
        part = split.take(np.arange(start, min(n, start + cfg.test_batch_size)))
        x = encode(cfg, part.inputs, rng, dtype, buffer)
        targets = targets_of(cfg, part.targets, dtype)
        if dense:
            trusted = _trusted(x, net, encoded)
            trace = forward(net, x, workspace=workspace, validated=trusted,
                            input_events=buffer.events if trusted and not net.model.psp_output else None)
        else:
            trace = forward(net, x)
        res = loss_of(cfg, trace, targets)
        b = len(part)
        loss_sum += float(res.value) * b
        for r in reads:
            correct[r] += int(np.sum(_PREDICT[r](trace) == targets))
        st = readout.spike_statistics(trace)
        tot += float(np.sum(st["total_spikes"]))
        nec += float(np.sum(st["necessary_spikes"]))
        fire += np.sum(st["firing_fraction"], axis=1)
        silent += np.sum(st["silent_fraction"], axis=1)
        multi += np.sum(st["multi_spike_fraction"], axis=1)
        if callback is not None:
            callback("evaluate", {"phase": phase, "done": min(n, start + b), "total": n,
                                  "elapsed_s": time.perf_counter() - t0})
    out = {"samples": n, "loss": loss_sum / n}
    for r in reads:
        out[f"accuracy_{r}"] = correct[r] / n
    out.update(spikes_per_sample=tot / n, necessary_spikes_per_sample=nec / n,
               firing_fraction=[float(v) for v in fire / n], silent_fraction=[float(v) for v in silent / n],
               multi_spike_fraction=[float(v) for v in multi / n],
               eval_time_s=time.perf_counter() - t0)
    return out


# ------------------------------------------------------------------------------ model selection
def selection_key(cfg, selected_on):
    """(metric key, +1 if higher is better / -1 if lower): the selection accuracy, or the test loss
    for the spike-train task (no accuracy)."""
    if readouts(cfg):
        return f"{selected_on}_accuracy_{cfg.selection}", 1.0
    return "test_loss", -1.0


def best_entry(history, cfg, selected_on):
    """The epoch entry of ``history`` selected as best (the earliest on ties); None for no history."""
    key, sign = selection_key(cfg, selected_on)
    best = None
    for e in history:
        if best is None or sign * e[key] > sign * best[key]:
            best = e
    return best


def summary(cfg, history, selected_on):
    """The ``summary`` of metrics.json: selection, best epoch and its metrics, final test accuracy."""
    out = {"selection": cfg.selection, "selected_on": selected_on}
    if not history:
        return out
    out["final_test_accuracy"] = history[-1].get("test_accuracy")
    best = best_entry(history, cfg, selected_on)
    out["best_epoch"] = best["epoch"]
    out["best"] = {k: v for k, v in best.items() if k not in TIME_KEYS}
    if readouts(cfg):
        out["best_test_accuracy_over_epochs"] = max(e["test_accuracy"] for e in history)   # A33
    return out


# ---------------------------------------------------------------------------------- run state
@dataclass
class RunState:
    """Everything a run carries from epoch to epoch (and saves in its checkpoints)."""

    net: object
    optimizer: object
    scheduler: object
    shuffle_rng: np.random.Generator
    history: list

    @classmethod
    def fresh(cls, cfg):
        from .optim import StepLR, make_optimizer

        net = build_network(cfg)
        optimizer = make_optimizer(cfg.optimizer, parameters(net, cfg), cfg.lr, weight_decay=cfg.weight_decay,
                                   momentum=cfg.momentum, betas=tuple(cfg.betas), eps=cfg.eps)
        scheduler = StepLR(optimizer, cfg.lr_step_size, cfg.lr_gamma) if cfg.lr_step_size else None
        return cls(net, optimizer, scheduler, np.random.default_rng(cfg.seed), [])

    @classmethod
    def from_checkpoint(cls, cfg, state, path):
        """The state saved in a checkpoint (already checked by :func:`load_run_checkpoint`)."""
        rs = cls.fresh(cfg)
        restore_parameters(rs.net, state, path)
        try:
            rs.optimizer.load_state_dict(state["optimizer_state"])
            sched_state = (state.get("extra") or {}).get("scheduler")
            if (rs.scheduler is None) != (sched_state is None):
                raise ValueError("learning-rate schedule present in only one of config and checkpoint")
            if rs.scheduler is not None:
                rs.scheduler.load_state_dict(sched_state)
            rs.shuffle_rng.bit_generator.state = state["rng_state"]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ckpt.CheckpointError(f"checkpoint {str(path)!r} has an unusable training state ({exc}); "
                                       "the file does not belong to this run or is damaged.") from exc
        rs.history = list(state["metrics"]["epochs"])
        return rs

    def checkpoint(self, cfg, metrics, epoch):
        """Keyword arguments of :func:`snnref.checkpoint.save_checkpoint` for this state."""
        return dict(weights=self.net.weights, biases=self.net.biases, optimizer_state=self.optimizer.state_dict(),
                    rng_state=self.shuffle_rng.bit_generator.state, config=cfg.to_dict(), metrics=metrics,
                    epoch=epoch,
                    extra={"scheduler": None if self.scheduler is None else self.scheduler.state_dict()})


def load_run_checkpoint(path, cfg, resume=False):
    """Load a run checkpoint (integrity verified) and check it belongs to ``cfg``.

    The saved config must equal ``cfg`` except for ``epochs`` and ``data_dir``; the saved epoch
    must match the saved metrics history. Raises :class:`CheckpointError` / :class:`RunError`.
    """
    state = ckpt.load_checkpoint(path)
    diffs = config_differences(state["config"], cfg)
    if diffs and resume:
        raise RunError(f"cannot resume: the configuration differs from the saved run in {diffs} "
                       f"({describe_differences(state['config'], cfg, diffs)}). Only 'epochs' (and 'data_dir') may "
                       "change on resume; start a new run (different --out) instead.")
    if diffs:
        raise RunError(f"{str(path)!r} was written with another configuration than {cfg.name!r} "
                       f"({describe_differences(state['config'], cfg, diffs)}). The config.json of the run "
                       "directory was edited or the checkpoint belongs to another run; restore the original "
                       "config.json (only 'epochs' and 'data_dir' may change).")
    epochs = state["metrics"].get("epochs") if isinstance(state["metrics"], dict) else None
    if (not isinstance(epochs, list) or state["epoch"] < 1 or len(epochs) != state["epoch"]
            or any(not isinstance(e, dict) or e.get("epoch") != i + 1 for i, e in enumerate(epochs))):
        raise ckpt.CheckpointError(f"checkpoint {str(path)!r} is inconsistent: epoch {state['epoch']} but a metrics "
                                   "history that does not list epochs 1..epoch. Use another checkpoint.")
    return state


# ---------------------------------------------------------------------------------------- epoch
def train_epoch(rs, cfg, train_set, epoch, callback=_no_callback):
    """One epoch of optimisation steps over the shuffled training set; returns the train part of the entry."""
    t0 = time.perf_counter()
    reads = readouts(cfg)
    dtype = rs.net.dtype
    n = len(train_set)
    steps = cfg.task_steps_per_epoch if cfg.dataset == "spike_train_task" else 1
    loss_sum = 0.0
    seen = 0
    correct = {r: 0 for r in reads}
    total = n * steps
    # dropout masks of layered networks: their own stream per epoch (a resumed run draws the same)
    dropout_rng = np.random.default_rng([cfg.seed, 4, epoch])
    workspace = Workspace()          # buffers reused by every step of the epoch (dense networks)
    # inputs made by snnref's encoders from checked images are valid by construction (binary spikes or
    # finite values); inputs read from spike files are checked on every batch
    encoded = encoder_output_is_valid(cfg)
    buffer = InputBuffer()
    for _ in range(steps):
        order = rs.shuffle_rng.permutation(n)
        for start in range(0, n, cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            part = train_set.take(idx)
            x = encode(cfg, part.inputs, rs.shuffle_rng, dtype, buffer)
            targets = targets_of(cfg, part.targets, dtype)
            res, trace = train_step(rs.net, cfg, rs.optimizer, x, targets, dropout_rng, workspace, encoded,
                                    buffer.events)
            loss_sum += float(res.value) * len(idx)
            seen += len(idx)
            for r in reads:
                correct[r] += int(np.sum(_PREDICT[r](trace) == targets))
            callback("batch", {"epoch": epoch, "epochs": cfg.epochs, "done": seen, "total": total,
                               "loss": loss_sum / seen, "accuracy": (correct[reads[0]] / seen) if reads else None,
                               "elapsed_s": time.perf_counter() - t0})
    train_time = time.perf_counter() - t0
    entry = {"epoch": epoch, "lr": float(rs.optimizer.lr), "train_loss": loss_sum / seen}
    for r in reads:
        entry[f"train_accuracy_{r}"] = correct[r] / seen
    entry["train_time_s"] = train_time
    entry["samples_per_s"] = seen / train_time if train_time > 0 else None
    return entry


def evaluate_epoch(rs, cfg, val_set, test_set, entry, callback=None):
    """Add validation / test metrics to the epoch ``entry`` (test spike statistics, spec 7.5)."""
    reads = readouts(cfg)
    evals = {}
    if val_set is not None:
        evals["validation"] = evaluate(rs.net, cfg, val_set, callback, "validation")
    evals["test"] = evaluate(rs.net, cfg, test_set, callback, "test")
    for phase, ev in evals.items():
        entry[f"{phase}_loss"] = ev["loss"]
        for r in reads:
            entry[f"{phase}_accuracy_{r}"] = ev[f"accuracy_{r}"]
    te = evals["test"]
    entry["test_accuracy"] = te[f"accuracy_{cfg.selection}"] if reads else None
    for k in ("spikes_per_sample", "necessary_spikes_per_sample", "firing_fraction", "silent_fraction",
              "multi_spike_fraction"):
        entry[k] = te[k]
    entry["eval_time_s"] = sum(ev["eval_time_s"] for ev in evals.values())
    return entry


# ---------------------------------------------------------------------------------------- train
def _checked(cfg):
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a snnref.config.TrainConfig; got {type(cfg).__name__}.")
    return cfg.validated()


def train(cfg, run_dir=None, *, resume=False, callback=None):
    """Train ``cfg`` (a :class:`TrainConfig`) and write the run directory ``run_dir``.

    Files: ``config.json`` (resolved config), ``metrics.json`` (``{"epochs": [...], "summary": {...},
    ...}``), ``last.h5`` (after every epoch) and ``best.h5`` (best model so far), all written
    atomically; checkpoints carry an integrity header (:mod:`snnref.training.checkpoint`).

    Parameters
    ----------
    cfg : TrainConfig
    run_dir : str or None
        New run: created (``os.mkdir``) if missing, or an existing directory holding no run; None =
        a unique ``runs/<name>-<timestamp>[-k]`` in the current directory (reported in the
        "start" event). See :mod:`snnref.training.rundir` for locking and clean-up.
    resume : bool
        Continue the run in ``run_dir`` from its last completed epoch (``last.h5``): weights,
        optimiser and scheduler state, the shuffling RNG state and the metrics history are restored,
        so the result equals an uninterrupted run. Only ``epochs`` (and ``data_dir``) may differ from
        the saved config. Fewer epochs than completed: :class:`RunError`; as many: nothing is
        trained and the saved metrics are returned.
    callback : callable(event, info) or None
        Progress reports: ("start", {"config", "run_dir", "start_epoch", "epochs", ...}),
        ("batch", {"epoch", "done", "total", "loss", "accuracy", "elapsed_s"}) after every
        minibatch, ("evaluate", {"phase", "done", "total", ...}), ("epoch", entry) after every
        epoch, ("end", metrics).

    Returns
    -------
    dict
        The metrics written to metrics.json.
    """
    cfg = _checked(cfg)
    cb = callback if callback is not None else _no_callback
    check_memory(cfg)
    if resume:
        if run_dir is None:
            raise RunError("resume needs the run directory (--out DIR) of the run to continue.")
        with RunDir.open_existing(run_dir) as run:
            state = load_run_checkpoint(run.file("last.h5"), cfg, resume=True)
            done = state["epoch"]
            if cfg.epochs < done:
                raise RunError(f"cannot resume {run.path!r} with epochs {cfg.epochs}: it has already completed "
                               f"{done} epochs. Pass --epochs N with N > {done} to train further.")
            data = load_data(cfg)
            rs = RunState.from_checkpoint(cfg, state, run.file("last.h5"))
            _repair_metrics(run, state["metrics"])
            if cfg.epochs > done:
                run.write_json("config.json", cfg.to_dict())
            return _run_epochs(cfg, run, rs, data, done, cb)
    data = load_data(cfg)
    rs = RunState.fresh(cfg)
    with RunDir.create(run_dir, cfg.name) as run:
        run.write_json("config.json", cfg.to_dict())
        return _run_epochs(cfg, run, rs, data, 0, cb)


def _repair_metrics(run, saved):
    """Rewrite a missing or damaged metrics.json from the verified copy in last.h5."""
    try:
        current = read_metrics(run.path)
    except RunError:
        current = None
    if not isinstance(current, dict) or current.get("epochs") != saved.get("epochs"):
        run.write_json("metrics.json", saved)


def _run_epochs(cfg, run, rs, data, start_epoch, cb):
    train_set, val_set, test_set = data
    selected_on = "validation" if val_set is not None else "test"
    head = {"config_name": cfg.name, "train_samples": len(train_set),
            "validation_samples": 0 if val_set is None else len(val_set), "test_samples": len(test_set)}
    metrics = dict(head, epochs=rs.history, summary=summary(cfg, rs.history, selected_on))
    cb("start", {"config": cfg.to_dict(), "run_dir": run.path, "start_epoch": start_epoch, "epochs": cfg.epochs,
                 "train_samples": len(train_set), "validation_samples": head["validation_samples"],
                 "test_samples": len(test_set), "sizes": list(rs.net.sizes)})
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        entry = train_epoch(rs, cfg, train_set, epoch, cb)
        evaluate_epoch(rs, cfg, val_set, test_set, entry, cb)
        entry["wall_time_s"] = time.perf_counter() - t0
        rs.history.append(entry)
        if rs.scheduler is not None:
            rs.scheduler.step()
        metrics = dict(head, epochs=rs.history, summary=summary(cfg, rs.history, selected_on))
        if best_entry(rs.history, cfg, selected_on) is entry:
            run.save_checkpoint("best.h5", **rs.checkpoint(cfg, metrics, epoch))
        # last.h5 last: a run killed before this point resumes from the previous epoch
        run.write_json("metrics.json", metrics)
        run.save_checkpoint("last.h5", **rs.checkpoint(cfg, metrics, epoch))
        run.mark_saved()
        cb("epoch", entry)
    cb("end", metrics)
    return metrics


def evaluate_run(run_dir, checkpoint="best", test_limit=None, callback=None, data_dir=None):
    """Evaluate a saved run's checkpoint ("best" or "last") on its test set.

    The checkpoint's integrity is verified and its saved config must agree with the run's
    ``config.json`` (except ``epochs`` / ``data_dir``); ``test_limit`` and ``data_dir`` override
    the saved values. Returns the dict of :func:`evaluate` plus ``epoch``, ``checkpoint``,
    ``selection`` and ``test_accuracy``.
    """
    import os

    if checkpoint not in ("best", "last"):
        raise RunError(f"checkpoint must be 'best' or 'last'; got {checkpoint!r}.")
    cfg_path = os.path.join(run_dir, "config.json")
    path = os.path.join(run_dir, f"{checkpoint}.h5")
    if not os.path.isfile(cfg_path):
        raise RunError(f"{run_dir!r} is not a run directory: {cfg_path!r} is missing. "
                       "Pass the --out directory of `snnref train`.")
    if not os.path.exists(path):
        raise RunError(f"{path!r} does not exist; the run has no completed epoch yet.")
    cfg = TrainConfig.from_json(cfg_path)
    state = load_run_checkpoint(path, cfg)
    changes = {k: v for k, v in (("test_limit", test_limit), ("data_dir", data_dir)) if v is not None}
    if changes:
        cfg = cfg.replace(**changes)
    check_memory(cfg)
    net = build_network(cfg)
    restore_parameters(net, state, path)
    out = evaluate(net, cfg, load_test(cfg), callback, "test")
    out["epoch"] = int(state["epoch"])
    out["checkpoint"] = checkpoint
    out["selection"] = cfg.selection
    if readouts(cfg):
        out["test_accuracy"] = out[f"accuracy_{cfg.selection}"]
    return out
