"""Training: configuration, data, network building, the loop, run directories, checkpoints, optimisers.

Modules, one responsibility each::

    config      TrainConfig, presets, resolution of preset < file < overrides
    data        the data splits of a run and their encoding into network input (spec 6)
    network     the rule family of a run (answered once) and the network it trains (spec A10, A35)
    loop        one optimisation step, one epoch, evaluation, best-model selection, train()
    rundir      run directories: unique creation, locking, clean-up, resume checks, metrics.json
    checkpoint  HDF5 checkpoints with an integrity header, atomic JSON / text files
    optim       SGD, Adam, AdamW, StepLR (PyTorch semantics)

The old module paths ``snnref.train`` (= this package), ``snnref.config``, ``snnref.checkpoint``
and ``snnref.optim`` are the same module objects (see :mod:`snnref`).
"""
from . import checkpoint, config, optim
from .config import ConfigError, TrainConfig, list_presets, load_preset, resolve_config
from .data import DataError, Split, encode, load_data, n_inputs, n_outputs, targets_of
from .loop import TIME_KEYS, evaluate, evaluate_run, train, train_step
from .network import FAMILIES, Family, build_model, build_network, family_of, layer_sizes, parameters
from .rundir import RunError, read_metrics

# names used by scripts written against the single-module trainer
_encode = encode
_targets = targets_of
_parameters = parameters

__all__ = ["train", "evaluate_run", "train_step", "evaluate", "build_network", "build_model", "layer_sizes",
           "load_data", "read_metrics", "RunError", "DataError", "ConfigError", "TrainConfig", "resolve_config",
           "load_preset", "list_presets", "Split", "encode", "targets_of", "n_inputs", "n_outputs", "parameters",
           "Family", "FAMILIES", "family_of", "TIME_KEYS", "checkpoint", "config", "optim"]
