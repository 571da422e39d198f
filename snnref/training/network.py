"""The rule family of a run, the network it trains, and restoring saved parameters into it.

"Which family is this run?" is answered once, by :func:`family_of`: the returned :class:`Family`
carries every consequence the trainer draws from it (trained parameters, initial biases, accuracy
read-outs). ``TrainConfig.family`` only names it.
"""
import os
from dataclasses import dataclass

import numpy as np

from ..model import Network, NeuronModel
from .checkpoint import CheckpointError

__all__ = ["Family", "FAMILIES", "family_of", "readouts", "build_model", "layer_sizes", "build_network",
           "parameters", "gradients", "restore_parameters", "memory_estimate", "check_memory"]


@dataclass(frozen=True)
class Family:
    """What the trainer does differently for a rule family.

    name : "antlr" (act_rnn, act_srm, act_slayer, timing, antlr) or "tsslbp".
    trains_biases : biases are trained and start at ``init_bias`` (ANTLR code: ``nn.Linear`` with
        bias, spec A10) or stay 0 and untrained (TSSL-BP code: weights only, spec 7.6).
    readouts : accuracy read-outs reported (spec 5.7); the run's ``selection`` is listed first.
    """

    name: str
    trains_biases: bool
    readouts: tuple


FAMILIES = {
    "antlr": Family("antlr", trains_biases=True, readouts=("first", "count")),
    "tsslbp": Family("tsslbp", trains_biases=False, readouts=("psp", "count")),
}


def family_of(cfg):
    """The :class:`Family` of ``cfg`` (from its rule)."""
    return FAMILIES[cfg.family]


def readouts(cfg):
    """Accuracy read-outs reported for ``cfg``: the selection read-out first; none for the spike-train task."""
    if cfg.dataset == "spike_train_task":
        return ()
    return (cfg.selection,) + tuple(r for r in family_of(cfg).readouts if r != cfg.selection)


def build_model(cfg):
    """The NeuronModel of ``cfg`` (spec 1.1 ANTLR with beta_auto, or spec 2.3 TSSL-BP)."""
    if cfg.neuron == "tsslbp":
        return NeuronModel.tsslbp(tau_m=cfg.tau_m, tau_s=cfg.tau_s, theta=cfg.theta)
    return NeuronModel.antlr(cfg.alpha_I, cfg.alpha_V, T=cfg.T, beta_auto=cfg.beta_auto, beta_I=cfg.beta_I,
                             beta_V=cfg.beta_V, beta_bias=cfg.beta_bias, theta=cfg.theta)


def layer_sizes(cfg):
    """[N_0, hidden..., N_out] of ``cfg``."""
    from .data import n_inputs, n_outputs

    return [n_inputs(cfg)] + list(cfg.hidden) + [n_outputs(cfg)]


def build_network(cfg, rng=None):
    """A freshly initialised network (init scheme of ``cfg``, spec A35 / A10), seeded by ``default_rng([seed, 1])``."""
    from ..init import init_biases, init_weights

    rng = np.random.default_rng([cfg.seed, 1]) if rng is None else rng
    dtype = np.dtype(cfg.dtype).type
    if cfg.architecture is not None:
        return _build_layered(cfg, rng, dtype)
    sizes = layer_sizes(cfg)
    weights = init_weights(sizes, scheme=cfg.init, rng=rng, std=cfg.init_std, scale=cfg.init_scale, dtype=dtype)
    bias = cfg.init_bias if family_of(cfg).trains_biases else 0.0
    biases = init_biases(sizes, value=bias, dtype=dtype)
    return Network(weights, biases, build_model(cfg), dtype=dtype)


def _build_layered(cfg, rng, dtype):
    """Convolutional network of ``cfg.architecture`` (spec 7.6, A35): conv weights PyTorch's default
    uniform(+-1/sqrt(C_in k k)), dense weights by ``cfg.init``, all times ``init_scale``; no biases.
    Weights are drawn layer by layer from ``rng`` in the order of the architecture string."""
    from .. import layers as LY
    from ..init import init_weights
    from .data import input_shape, n_outputs

    shape = input_shape(cfg)
    built = []
    for item in LY.parse_architecture(cfg.architecture, shape, n_outputs(cfg)):
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
    return Network(layers=built, model=build_model(cfg), input_shape=input_shape(cfg), dtype=dtype)


def parameters(net, cfg):
    """The trained arrays: weights, then biases if the family trains them."""
    return list(net.weights) + (list(net.biases) if family_of(cfg).trains_biases else [])


def gradients(grads, cfg):
    """The gradients matching :func:`parameters` from a :class:`snnref.Gradients`."""
    return list(grads.dW) + (list(grads.db) if family_of(cfg).trains_biases else [])


def restore_parameters(net, state, path):
    """Copy the saved weights and biases of ``state`` into ``net`` after checking them.

    Every saved array must have exactly the shape and dtype of the network built from the run's
    config and hold finite values; otherwise :class:`CheckpointError` (nothing is broadcast or cast).
    """
    where = os.fspath(path)
    for kind, dst_list in (("weights", net.weights), ("biases", net.biases)):
        src_list = state.get(kind)
        if not isinstance(src_list, list) or len(src_list) != len(dst_list):
            n = len(src_list) if isinstance(src_list, list) else type(src_list).__name__
            raise CheckpointError(f"checkpoint {where!r} holds {n} {kind} arrays; the run's config builds a network "
                                  f"with {len(dst_list)}. The file does not belong to this run.")
        for i, (dst, src) in enumerate(zip(dst_list, src_list)):
            if not isinstance(src, np.ndarray) or src.shape != dst.shape or src.dtype != dst.dtype:
                got = (f"{src.dtype} {src.shape}" if isinstance(src, np.ndarray) else type(src).__name__)
                raise CheckpointError(f"checkpoint {where!r}: {kind}/{i} is {got}; the run's config needs "
                                      f"{dst.dtype} {dst.shape}. The file does not belong to this run or is damaged.")
            if not np.all(np.isfinite(src)):
                raise CheckpointError(f"checkpoint {where!r}: {kind}/{i} holds NaN or infinite values (the run "
                                      "diverged or the file was altered); use another checkpoint.")
    for dst, src in zip(net.weights + net.biases, state["weights"] + state["biases"]):
        dst[...] = src


#: (T, B, N)-sized arrays per layer alive at the peak: training (forward trace + backward adjoints)
#: and evaluation (forward trace only); measured peak of the quickstart preset: 0.98 GB, estimate 1.3 GB
_TRAIN_STATES = 8
_EVAL_STATES = 4
#: parameter-sized arrays (weights, gradients, two optimiser moments, best-model copy, headroom)
_PARAM_ARRAYS = 6
#: interpreter, numpy, numba and h5py
_BASE_BYTES = 300 * 2 ** 20


def memory_estimate(cfg):
    """Rough peak memory in bytes of training ``cfg``.

    ``itemsize * (6 * parameters + T * sum(N_l) * max(8 * batch_size, 4 * test_batch_size))``
    plus the uint8 data set and ~300 MB for the interpreter and libraries. Used to refuse runs
    that cannot fit before anything large is allocated (measured for the quickstart preset:
    peak 0.98 GB, estimate 1.3 GB).
    """
    sizes = layer_sizes(cfg)
    item = np.dtype(cfg.dtype).itemsize
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    states = cfg.T * sum(sizes) * max(_TRAIN_STATES * cfg.batch_size, _EVAL_STATES * cfg.test_batch_size)
    data = 70000 * 784 if cfg.dataset in ("mnist", "fashion_mnist") else 0
    return item * (_PARAM_ARRAYS * n_params + states) + data + _BASE_BYTES


def _available_memory():
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(cfg, available=None):
    """Raise :class:`snnref.training.rundir.RunError` if :func:`memory_estimate` exceeds the available memory."""
    from .rundir import RunError

    need = memory_estimate(cfg)
    have = _available_memory() if available is None else available
    if have is not None and need > have:
        raise RunError(f"this run needs about {need / 2**30:.1f} GiB of memory (network {layer_sizes(cfg)}, T {cfg.T}, "
                       f"batch {max(cfg.batch_size, cfg.test_batch_size)}, {cfg.dtype}) but only "
                       f"{have / 2**30:.1f} GiB are available; reduce hidden, T or batch_size / test_batch_size.")
    return need
