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
import json
import os
import time

import numpy as np

from . import checkpoint as ckpt
from . import readout
from .backward import backward
from .config import TrainConfig
from .forward import forward
from .model import Network, NeuronModel

__all__ = ["train", "evaluate_run", "build_network", "load_data", "RunError", "TIME_KEYS"]

#: metric keys that hold wall-clock measurements (differ between otherwise identical runs)
TIME_KEYS = ("train_time_s", "eval_time_s", "wall_time_s", "samples_per_s", "elapsed_s")

_RESUMABLE_CHANGES = ("epochs", "data_dir")


class RunError(RuntimeError):
    """A run directory cannot be used (missing files, config mismatch on resume)."""


# ------------------------------------------------------------------------------------------ data
class Split:
    """One data split: ``inputs`` indexed by sample on axis 0, ``targets`` (labels or target rasters)."""

    def __init__(self, inputs, targets, name):
        self.inputs = inputs
        self.targets = targets
        self.name = name

    def __len__(self):
        return len(self.inputs)

    def take(self, idx):
        return Split(self.inputs[idx], self.targets[idx], self.name)


def _limit(split, n):
    return split if n is None or n >= len(split) else split.take(np.arange(n))


def load_data(cfg):
    """Load the train / validation / test splits of ``cfg`` (validation None when validation_size = 0).

    MNIST-like data: the 60000 training images are split at random (``default_rng([seed, 2])``)
    into validation_size validation and the rest training samples (spec 6.1); train_limit,
    validation_limit and test_limit then keep the first samples of each split. The spike-train task
    (spec 7.2) uses one fixed set of max(train_limit, 1) samples for both training and test.
    """
    from . import data

    if cfg.dataset == "spike_train_task":
        from .data import tasks

        n = cfg.train_limit or 1
        hidden = cfg.hidden[0] if cfg.hidden else cfg.task_n_outputs
        task = tasks.spike_train_task(
            n_inputs=cfg.task_n_inputs, n_hidden=hidden, n_outputs=cfg.task_n_outputs, T=cfg.T,
            input_rate=cfg.task_input_rate, n_target_spikes=cfg.task_n_target_spikes, batch=n,
            rng=np.random.default_rng([cfg.seed, 2]))
        x = np.ascontiguousarray(np.asarray(task.x).transpose(1, 0, 2))            # (N, T, n_in)
        target = np.ascontiguousarray(np.asarray(task.target).transpose(1, 0, 2))  # (N, T, n_out)
        s = Split(x, target, "train")
        return s, None, Split(x, target, "test")

    if cfg.dataset == "nmnist":
        root = cfg.data_dir
        if root is None:
            raise RunError("dataset 'nmnist' needs data_dir (the N-MNIST root directory); "
                           "it is not shipped with snnref.")
        T = cfg.T
        tr_x, tr_y = data.load_nmnist(root, "train", binning=cfg.nmnist_binning, T=T)
        te_x, te_y = data.load_nmnist(root, "test", binning=cfg.nmnist_binning, T=T, limit=cfg.test_limit)
    else:
        loader = data.load_mnist if cfg.dataset == "mnist" else data.load_fashion_mnist
        limit = None if cfg.validation_size else cfg.train_limit
        tr_x, tr_y = loader("train", data_dir=cfg.data_dir, limit=limit)
        te_x, te_y = loader("test", data_dir=cfg.data_dir, limit=cfg.test_limit)
    train = Split(tr_x, tr_y, "train")
    val = None
    if cfg.validation_size:
        if cfg.validation_size >= len(train):
            raise RunError(f"validation_size ({cfg.validation_size}) must be smaller than the training set "
                           f"({len(train)}).")
        perm = np.random.default_rng([cfg.seed, 2]).permutation(len(train))
        val = _limit(train.take(np.sort(perm[:cfg.validation_size])), cfg.validation_limit)
        val.name = "validation"
        train = train.take(np.sort(perm[cfg.validation_size:]))
        train.name = "train"
    train = _limit(train, cfg.train_limit)
    test = _limit(Split(te_x, te_y, "test"), cfg.test_limit)
    return train, val, test


def _encode(cfg, inputs, rng, dtype):
    """Network input (T, B, N_0) for a batch of samples (spec 6); (T, B, C, H, W) for convolutional networks."""
    x = _encode_flat(cfg, inputs, rng, dtype)
    if cfg.architecture is not None:
        x = x.reshape(x.shape[:2] + _input_shape(cfg))
    return x


def _encode_flat(cfg, inputs, rng, dtype):
    from . import encoders

    if cfg.dataset == "spike_train_task" or cfg.dataset == "nmnist":
        return np.ascontiguousarray(np.asarray(inputs).transpose(1, 0, 2), dtype=dtype)
    if cfg.encoding == "latency":
        return encoders.latency(inputs, T=cfg.T, max_input_timing=cfg.max_input_timing,
                                min_input_timing=cfg.min_input_timing, dtype=dtype)
    if cfg.encoding == "static":
        return encoders.static(inputs, T=cfg.T, mean=cfg.input_mean, std=cfg.input_std, dtype=dtype)
    return encoders.rate(inputs, T=cfg.T, max_rate=cfg.max_rate, rng=rng, dtype=dtype)


def _input_shape(cfg):
    """Per-frame input shape of convolutional networks: (1, 28, 28) images, (2, 34, 34) N-MNIST (polarity, x, y)."""
    return (2, 34, 34) if cfg.dataset == "nmnist" else (1, 28, 28)


def _n_inputs(cfg):
    return {"spike_train_task": cfg.task_n_inputs, "nmnist": 2312}.get(cfg.dataset, 784)


def _n_outputs(cfg):
    return cfg.task_n_outputs if cfg.dataset == "spike_train_task" else 10


# --------------------------------------------------------------------------------------- network
def build_model(cfg):
    """The NeuronModel of ``cfg`` (spec 1.1 ANTLR with beta_auto, or spec 2.3 TSSL-BP)."""
    if cfg.neuron == "tsslbp":
        return NeuronModel.tsslbp(tau_m=cfg.tau_m, tau_s=cfg.tau_s, theta=cfg.theta)
    return NeuronModel.antlr(cfg.alpha_I, cfg.alpha_V, T=cfg.T, beta_auto=cfg.beta_auto, beta_I=cfg.beta_I,
                             beta_V=cfg.beta_V, beta_bias=cfg.beta_bias, theta=cfg.theta)


def layer_sizes(cfg):
    return [_n_inputs(cfg)] + list(cfg.hidden) + [_n_outputs(cfg)]


def build_network(cfg, rng=None):
    """A freshly initialised network (init scheme of ``cfg``, spec A35 / A10), seeded by ``default_rng([seed, 1])``."""
    from .init import init_biases, init_weights

    rng = np.random.default_rng([cfg.seed, 1]) if rng is None else rng
    dtype = np.dtype(cfg.dtype).type
    if cfg.architecture is not None:
        return _build_layered(cfg, rng, dtype)
    sizes = layer_sizes(cfg)
    weights = init_weights(sizes, scheme=cfg.init, rng=rng, std=cfg.init_std, scale=cfg.init_scale, dtype=dtype)
    biases = init_biases(sizes, value=cfg.init_bias if cfg.family == "antlr" else 0.0, dtype=dtype)
    return Network(weights, biases, build_model(cfg), dtype=dtype)


def _build_layered(cfg, rng, dtype):
    """Convolutional network of ``cfg.architecture`` (spec 7.6, A35): conv weights PyTorch's default
    uniform(+-1/sqrt(C_in k k)), dense weights by ``cfg.init``, all times ``init_scale``; no biases.
    Weights are drawn layer by layer from ``rng`` in the order of the architecture string."""
    from . import layers as LY
    from .init import init_weights

    shape = _input_shape(cfg)
    built = []
    for item in LY.parse_architecture(cfg.architecture, shape, _n_outputs(cfg)):
        kind = item[0]
        if kind == "conv":
            _, C, k, stride, pad = item
            fan_in = shape[0] * k * k
            w = init_weights([fan_in, C], scheme="torch_linear", rng=rng, scale=cfg.init_scale, dtype=np.float64)[0]
            layer = LY.Conv2d(np.ascontiguousarray(w.T.reshape(C, shape[0], k, k)), stride=stride, padding=pad)
        elif kind == "dense":
            w = init_weights([shape[0], item[1]], scheme=cfg.init, rng=rng, std=cfg.init_std, scale=cfg.init_scale,
                             dtype=np.float64)[0]
            layer = LY.Dense(w)
        elif kind == "pool":
            layer = LY.SumPool2d(item[1])
        elif kind == "dropout":
            layer = LY.Dropout(item[1])
        else:
            layer = LY.Flatten()
        shape = layer._bind(shape, np.float64, f"architecture layer {len(built)} ({kind})").out_shape
        built.append(layer)
    return Network(layers=built, model=build_model(cfg), input_shape=_input_shape(cfg), dtype=dtype)


def _parameters(net, cfg):
    """Trainable parameters: weights and biases (ANTLR: nn.Linear with bias); weights only for TSSL-BP."""
    return list(net.weights) + (list(net.biases) if cfg.family == "antlr" else [])


# ------------------------------------------------------------------------------------------ step
def _loss(cfg, trace, targets):
    from . import losses

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


def _targets(cfg, split_targets, dtype):
    """Labels (int64) or, for the spike-train task, the target raster (T, B, n_out)."""
    if cfg.dataset == "spike_train_task":
        return np.ascontiguousarray(np.asarray(split_targets).transpose(1, 0, 2), dtype=dtype)
    return np.asarray(split_targets, dtype=np.int64)


def _readouts(cfg):
    """Accuracy read-outs reported for this run (spec 5.7): the selection metric first."""
    if cfg.dataset == "spike_train_task":
        return ()
    others = ("count",) if cfg.family == "tsslbp" else ("first", "count")
    return (cfg.selection,) + tuple(r for r in others if r != cfg.selection)


_PREDICT = {"first": readout.predict_first, "count": readout.predict_count, "psp": readout.predict_psp}


def train_step(net, cfg, optimizer, x, targets, dropout_rng=None):
    """One forward -> loss -> backward -> post-processing -> optimiser step -> weight clamp.

    ``dropout_rng``: draws the dropout masks of layered networks (training only). Returns ``(loss_result, trace)``.
    """
    if net.layers is not None:
        trace = forward(net, x, dropout_rng=dropout_rng)
    else:
        early = bool(cfg.latency_early_stop and cfg.loss == "latency")
        trace = forward(net, x, latency_early_stop=early)
    res = _loss(cfg, trace, targets)
    grads = backward(net, trace, cfg.rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt, dL_da=res.dL_da,
                     nan_to_zero=cfg.nan_to_zero, grad_clip_value=cfg.grad_clip_value,
                     grad_clip_norm=cfg.grad_clip_norm, **cfg.rule_options())
    optimizer.step(list(grads.dW) + (list(grads.db) if cfg.family == "antlr" else []))
    if cfg.weight_clamp is not None:
        from .postprocess import clamp_weights

        clamp_weights(net.weights, cfg.weight_clamp)
    return res, trace


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
    reads = _readouts(cfg)
    rng = np.random.default_rng([cfg.seed, 3])          # rate coding at evaluation: fixed noise
    n = len(split)
    loss_sum = 0.0
    correct = {r: 0 for r in reads}
    tot = nec = 0.0
    L = len(net.weights)
    fire = np.zeros(L)
    silent = np.zeros(L)
    multi = np.zeros(L)
    for start in range(0, n, cfg.test_batch_size):
        part = split.take(np.arange(start, min(n, start + cfg.test_batch_size)))
        x = _encode(cfg, part.inputs, rng, dtype)
        targets = _targets(cfg, part.targets, dtype)
        trace = forward(net, x)
        res = _loss(cfg, trace, targets)
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


# ------------------------------------------------------------------------------------ run files
def _write_metrics(run_dir, metrics):
    ckpt.atomic_write_json(os.path.join(run_dir, "metrics.json"), metrics)


def _save(run_dir, fname, net, cfg, optimizer, scheduler, shuffle_rng, metrics, epoch):
    ckpt.save_checkpoint(
        os.path.join(run_dir, fname), weights=net.weights, biases=net.biases,
        optimizer_state=optimizer.state_dict(), rng_state=shuffle_rng.bit_generator.state,
        config=cfg.to_dict(), metrics=metrics, epoch=epoch,
        extra={"scheduler": None if scheduler is None else scheduler.state_dict()})


def _check_resumable(saved, cfg):
    diffs = [k for k in saved if k not in _RESUMABLE_CHANGES and saved.get(k) != cfg.to_dict().get(k)]
    if diffs:
        detail = ", ".join(f"{k}: saved {saved.get(k)!r} vs now {getattr(cfg, k, None)!r}" for k in diffs[:6])
        raise RunError(
            f"cannot resume: the configuration differs from the saved run in {diffs} ({detail}). "
            "Only 'epochs' (and 'data_dir') may change on resume; start a new run (different --out) instead."
        )


def _summary(cfg, history, selected_on):
    sel = cfg.selection
    key = f"{selected_on}_accuracy_{sel}"
    if not history or history[0].get(key) is None:
        key = None
    out = {"selection": sel, "selected_on": selected_on}
    if not history:
        return out
    last = history[-1]
    out["final_test_accuracy"] = last.get("test_accuracy")
    if key is None:                                       # spike-train task: lowest test loss
        best = min(history, key=lambda e: e["test_loss"])
    else:
        best = history[0]
        for e in history[1:]:
            if e[key] > best[key]:
                best = e
    out["best_epoch"] = best["epoch"]
    out["best"] = {k: v for k, v in best.items() if k not in TIME_KEYS}
    if key is not None:
        out["best_test_accuracy_over_epochs"] = max(e["test_accuracy"] for e in history)   # A33
    return out


def train(cfg, run_dir, *, resume=False, callback=None):
    """Train ``cfg`` (a :class:`TrainConfig`) and write the run directory ``run_dir``.

    Files: ``config.json`` (resolved config), ``metrics.json`` (``{"epochs": [...], "summary": {...},
    ...}``), ``last.h5`` (after every epoch) and ``best.h5`` (best model so far), all written
    atomically (snnref.checkpoint).

    Parameters
    ----------
    cfg : TrainConfig
    run_dir : str
        Created if missing. With ``resume=False`` it must not contain a previous run.
    resume : bool
        Continue the run in ``run_dir`` from its last completed epoch (``last.h5``): weights,
        optimiser and scheduler state, the shuffling RNG state and the metrics history are restored,
        so the result equals an uninterrupted run. Only ``epochs`` may differ from the saved config.
    callback : callable(event, info) or None
        Progress reports: ("start", {...}), ("batch", {"epoch", "done", "total", "loss", "accuracy",
        "elapsed_s"}) after every minibatch, ("evaluate", {"phase", "done", "total", ...}),
        ("epoch", entry) after every epoch, ("end", metrics).

    Returns
    -------
    dict
        The metrics written to metrics.json.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a snnref.config.TrainConfig; got {type(cfg).__name__}.")
    cfg = cfg.validated()
    cb = callback if callback is not None else (lambda event, info: None)
    os.makedirs(run_dir, exist_ok=True)
    last_path = os.path.join(run_dir, "last.h5")
    if resume:
        if not os.path.exists(last_path):
            raise RunError(f"cannot resume: {last_path!r} does not exist (no completed epoch in {run_dir!r}). "
                           "Start the run without --resume.")
    elif os.path.exists(last_path) or os.path.exists(os.path.join(run_dir, "metrics.json")):
        raise RunError(f"run directory {run_dir!r} already holds a run; use --resume to continue it "
                       "or choose another --out.")

    train_set, val_set, test_set = load_data(cfg)
    net = build_network(cfg)
    dtype = net.dtype
    from .optim import StepLR, make_optimizer

    optimizer = make_optimizer(cfg.optimizer, _parameters(net, cfg), cfg.lr, weight_decay=cfg.weight_decay,
                               momentum=cfg.momentum, betas=tuple(cfg.betas), eps=cfg.eps)
    scheduler = StepLR(optimizer, cfg.lr_step_size, cfg.lr_gamma) if cfg.lr_step_size else None
    shuffle_rng = np.random.default_rng(cfg.seed)
    history = []
    start_epoch = 0
    if resume:
        state = ckpt.load_checkpoint(last_path)
        _check_resumable(state["config"], cfg)
        for dst, src in zip(net.weights + net.biases, list(state["weights"]) + list(state["biases"])):
            dst[...] = np.asarray(src, dtype=dtype)
        optimizer.load_state_dict(state["optimizer_state"])
        sched_state = (state.get("extra") or {}).get("scheduler")
        if scheduler is not None and sched_state is not None:
            scheduler.load_state_dict(sched_state)
        shuffle_rng.bit_generator.state = state["rng_state"]
        history = list(state["metrics"].get("epochs", []))
        start_epoch = int(state["epoch"])
    ckpt.atomic_write_json(os.path.join(run_dir, "config.json"), cfg.to_dict())

    selected_on = "validation" if val_set is not None else "test"
    reads = _readouts(cfg)
    head = {"config_name": cfg.name, "train_samples": len(train_set),
            "validation_samples": 0 if val_set is None else len(val_set), "test_samples": len(test_set)}
    metrics = dict(head, epochs=history, summary=_summary(cfg, history, selected_on))
    best_key = f"{selected_on}_accuracy_{cfg.selection}" if reads else "test_loss"
    best_val = None
    for e in history:
        v = e[best_key] if reads else -e[best_key]
        if best_val is None or v > best_val:
            best_val = v
    cb("start", {"config": cfg.to_dict(), "run_dir": run_dir, "start_epoch": start_epoch, "epochs": cfg.epochs,
                 "train_samples": len(train_set), "validation_samples": 0 if val_set is None else len(val_set),
                 "test_samples": len(test_set), "sizes": list(net.sizes)})

    n = len(train_set)
    steps = cfg.task_steps_per_epoch if cfg.dataset == "spike_train_task" else 1
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        loss_sum = 0.0
        seen = 0
        correct = {r: 0 for r in reads}
        total = n * steps
        # dropout masks of layered networks: their own stream per epoch (a resumed run draws the same)
        dropout_rng = np.random.default_rng([cfg.seed, 4, epoch])
        for _ in range(steps):
            order = shuffle_rng.permutation(n)
            for start in range(0, n, cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                part = train_set.take(idx)
                x = _encode(cfg, part.inputs, shuffle_rng, dtype)
                targets = _targets(cfg, part.targets, dtype)
                res, trace = train_step(net, cfg, optimizer, x, targets, dropout_rng)
                b = len(idx)
                loss_sum += float(res.value) * b
                seen += b
                for r in reads:
                    correct[r] += int(np.sum(_PREDICT[r](trace) == targets))
                cb("batch", {"epoch": epoch, "epochs": cfg.epochs, "done": seen, "total": total,
                             "loss": loss_sum / seen,
                             "accuracy": (correct[reads[0]] / seen) if reads else None,
                             "elapsed_s": time.perf_counter() - t0})
        train_time = time.perf_counter() - t0
        entry = {"epoch": epoch, "lr": float(optimizer.lr), "train_loss": loss_sum / seen}
        for r in reads:
            entry[f"train_accuracy_{r}"] = correct[r] / seen
        entry["train_time_s"] = train_time
        entry["samples_per_s"] = seen / train_time if train_time > 0 else None
        evals = {}
        if val_set is not None:
            evals["validation"] = evaluate(net, cfg, val_set, callback, "validation")
        evals["test"] = evaluate(net, cfg, test_set, callback, "test")
        for phase, ev in evals.items():
            entry[f"{phase}_loss"] = ev["loss"]
            for r in reads:
                entry[f"{phase}_accuracy_{r}"] = ev[f"accuracy_{r}"]
        te = evals["test"]
        entry["test_accuracy"] = te[f"accuracy_{cfg.selection}"] if reads else None
        entry["spikes_per_sample"] = te["spikes_per_sample"]
        entry["necessary_spikes_per_sample"] = te["necessary_spikes_per_sample"]
        entry["firing_fraction"] = te["firing_fraction"]
        entry["silent_fraction"] = te["silent_fraction"]
        entry["multi_spike_fraction"] = te["multi_spike_fraction"]
        entry["eval_time_s"] = sum(ev["eval_time_s"] for ev in evals.values())
        entry["wall_time_s"] = time.perf_counter() - t0
        history.append(entry)
        if scheduler is not None:
            scheduler.step()
        metrics = dict(head, epochs=history, summary=_summary(cfg, history, selected_on))
        v = entry[best_key] if reads else -entry[best_key]
        if best_val is None or v > best_val:
            best_val = v
            _save(run_dir, "best.h5", net, cfg, optimizer, scheduler, shuffle_rng, metrics, epoch)
        # last.h5 last: a run killed before this point resumes from the previous epoch
        _write_metrics(run_dir, metrics)
        _save(run_dir, "last.h5", net, cfg, optimizer, scheduler, shuffle_rng, metrics, epoch)
        cb("epoch", entry)
    _write_metrics(run_dir, metrics)
    cb("end", metrics)
    return metrics


def evaluate_run(run_dir, checkpoint="best", test_limit=None, callback=None):
    """Evaluate a saved run's checkpoint ("best" or "last") on its test set.

    Returns the dict of :func:`evaluate` plus ``epoch`` and ``checkpoint``.
    """
    if checkpoint not in ("best", "last"):
        raise RunError(f"checkpoint must be 'best' or 'last'; got {checkpoint!r}.")
    cfg_path = os.path.join(run_dir, "config.json")
    path = os.path.join(run_dir, f"{checkpoint}.h5")
    if not os.path.exists(cfg_path):
        raise RunError(f"{run_dir!r} is not a run directory: {cfg_path!r} is missing. "
                       "Pass the --out directory of `snnref train`.")
    if not os.path.exists(path):
        raise RunError(f"{path!r} does not exist; the run has no completed epoch yet.")
    cfg = TrainConfig.from_json(cfg_path)
    if test_limit is not None:
        cfg = cfg.replace(test_limit=test_limit)
    state = ckpt.load_checkpoint(path)
    net = build_network(cfg)
    for dst, src in zip(net.weights + net.biases, list(state["weights"]) + list(state["biases"])):
        dst[...] = np.asarray(src, dtype=net.dtype)
    *_, test = load_data(cfg.replace(validation_size=0, train_limit=1) if cfg.dataset != "spike_train_task" else cfg)
    out = evaluate(net, cfg, test, callback, "test")
    out["epoch"] = int(state["epoch"])
    out["checkpoint"] = checkpoint
    out["selection"] = cfg.selection
    if cfg.dataset != "spike_train_task":
        out["test_accuracy"] = out[f"accuracy_{cfg.selection}"]
    return out


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)
