"""The two experiments of the ANTLR paper that motivate the combined rule (``snnref experiment ...``).

================================== ==============================================================
:mod:`snnref.experiments.landscape`   section 3.4 / spec 7.1: the true loss along lines and a 2-D
                                      slice of weight space around a trained point, next to the
                                      first-order prediction of each rule's gradient
:mod:`snnref.experiments.spike_train` section 4.1 / spec 7.2: random spike-train matching with
                                      every ANTLR-family rule, over seeds
================================== ==============================================================

Both use the Table A1 settings through the preset ``spike-train-matching`` (spec 7.1, 7.2; the
paper's network sizes and task statistics are unknown, A22, so the preset's are snnref choices),
write PNG figures plus CSV and JSON into an output directory (atomically), and have a ``fast``
mode (tiny sizes, for CI) and a ``seeds`` argument.
"""
import csv
import io
import os

from ..training.checkpoint import atomic_write_json, atomic_write_text
from ..errors import SnnrefError

__all__ = ["write_csv", "write_json", "prepare_out_dir", "check_seeds", "task_setup"]


def prepare_out_dir(out_dir):
    """Create ``out_dir`` (and parents); raise SnnrefError if it is a file."""
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SnnrefError(f"--out {out_dir!r} exists and is not a directory; choose another output directory.")
    os.makedirs(out_dir, exist_ok=True)
    return out_dir


def write_csv(path, header, rows):
    """Write a CSV file atomically (header row, then ``rows``; floats with repr precision)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([repr(v) if isinstance(v, float) else v for v in row])
    atomic_write_text(path, buf.getvalue())
    return path


def write_json(path, obj):
    atomic_write_json(path, obj)
    return path


def check_seeds(seeds):
    """``seeds`` as a tuple of non-negative ints: an int n means seeds 0..n-1."""
    if isinstance(seeds, bool):
        raise SnnrefError(f"seeds must be a positive int or a list of ints; got {seeds!r}.")
    if isinstance(seeds, int):
        if seeds < 1:
            raise SnnrefError(f"--seeds must be >= 1 (the number of seeds); got {seeds}.")
        return tuple(range(seeds))
    try:
        out = tuple(int(s) for s in seeds)
    except (TypeError, ValueError):
        raise SnnrefError(f"seeds must be a positive int or a list of ints; got {seeds!r}.") from None
    if not out or any(s < 0 for s in out):
        raise SnnrefError(f"seeds must be a non-empty list of non-negative ints; got {seeds!r}.")
    return out


def task_setup(cfg):
    """The trainer's pieces for a spike-train-task config: (net, optimizer, x (T, B, N_0), target raster).

    Task from ``load_data`` (rng [seed, 2]), network from ``build_network`` (rng [seed, 1]), the
    config's optimiser: exactly what ``snnref train`` would start from.
    """
    import numpy as np

    from ..optim import make_optimizer
    from ..training import build_network, load_data, parameters as _parameters, targets_of as _targets

    train_set, _, _ = load_data(cfg)
    net = build_network(cfg)
    opt = make_optimizer(cfg.optimizer, _parameters(net, cfg), cfg.lr, weight_decay=cfg.weight_decay,
                         momentum=cfg.momentum, betas=tuple(cfg.betas), eps=cfg.eps)
    x = np.ascontiguousarray(np.asarray(train_set.inputs).transpose(1, 0, 2), dtype=net.dtype)
    return net, opt, x, _targets(cfg, train_set.targets, net.dtype)
