"""The data of a run: train / validation / test splits (spec 6.1, 7.2) and their network input (spec 6).

Data sets are read from ``cfg.data_dir`` (``--data-dir``), else ``$SNNREF_DATA_DIR``, else the MNIST
copy shipped inside the package (:func:`snnref.data.default_data_dir`). Any problem with the files
or the limits is a :class:`DataError` whose message says what to do.
"""
import numpy as np

from ..errors import SnnrefError

__all__ = ["DataError", "Split", "load_data", "load_test", "encode", "input_shape", "targets_of", "n_inputs", "n_outputs"]


class DataError(SnnrefError):
    """A data set cannot be loaded as configured (missing or damaged files, limits beyond the data)."""


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

    def first(self, n, option, hint=""):
        """The first ``n`` samples (all if None); DataError naming ``option`` if there are fewer."""
        if n is None:
            return self
        if n > len(self):
            raise DataError(f"{option} is {n} but the {self.name} split has only {len(self)} samples{hint}; "
                            f"use --{option.replace('_', '-')} <= {len(self)} (or leave it unset for all).")
        return self if n == len(self) else self.take(np.arange(n))


def n_inputs(cfg):
    return {"spike_train_task": cfg.task_n_inputs, "nmnist": 2312}.get(cfg.dataset, 784)


def n_outputs(cfg):
    return cfg.task_n_outputs if cfg.dataset == "spike_train_task" else 10


def _read(cfg, fn, *args, **kwargs):
    """Call a loader of snnref.data; its file problems become DataError (same message, plus where
    the data directory came from when the config names one)."""
    try:
        return fn(*args, **kwargs)
    except (OSError, ValueError, EOFError) as exc:
        where = ""
        if cfg.data_dir is not None:
            where = (f" (data_dir is {cfg.data_dir!r}, from --data-dir or the run's config.json; pass --data-dir DIR "
                     "to read another directory)")
        raise DataError(f"{exc}{where}") from exc


def _spike_train_task(cfg):
    from ..data import tasks

    n = cfg.train_limit or 1
    hidden = cfg.hidden[0] if cfg.hidden else cfg.task_n_outputs
    task = tasks.spike_train_task(
        n_inputs=cfg.task_n_inputs, n_hidden=hidden, n_outputs=cfg.task_n_outputs, T=cfg.T,
        input_rate=cfg.task_input_rate, n_target_spikes=cfg.task_n_target_spikes, batch=n,
        rng=np.random.default_rng([cfg.seed, 2]))
    x = np.ascontiguousarray(np.asarray(task.x).transpose(1, 0, 2))            # (N, T, n_in)
    target = np.ascontiguousarray(np.asarray(task.target).transpose(1, 0, 2))  # (N, T, n_out)
    return Split(x, target, "train"), None, Split(x, target, "test")


def _image_split(cfg, split):
    from .. import data

    if cfg.dataset == "nmnist":
        if cfg.data_dir is None:
            raise DataError("dataset 'nmnist' needs data_dir (the N-MNIST root directory, --data-dir DIR); "
                            "it is not shipped with snnref.")
        limit = cfg.test_limit if split == "test" else None
        arrays = _read(cfg, data.load_nmnist, cfg.data_dir, split, binning=cfg.nmnist_binning, T=cfg.T, limit=limit)
    else:
        loader = data.load_mnist if cfg.dataset == "mnist" else data.load_fashion_mnist
        arrays = _read(cfg, loader, split, data_dir=cfg.data_dir)
    return Split(*arrays, split)


def load_test(cfg):
    """The test split of ``cfg`` (test_limit applied) without loading the training data."""
    if cfg.dataset == "spike_train_task":
        return _spike_train_task(cfg)[2]
    return _image_split(cfg, "test").first(cfg.test_limit, "test_limit")


def load_data(cfg):
    """Load the train / validation / test splits of ``cfg`` (validation None when validation_size = 0).

    MNIST-like data: the training images are split at random (``default_rng([seed, 2])``) into
    validation_size validation and the rest training samples (spec 6.1); train_limit,
    validation_limit and test_limit then keep the first samples of each split (a limit beyond the
    split is a DataError). The spike-train task (spec 7.2) uses one fixed set of max(train_limit, 1)
    samples for both training and test.
    """
    if cfg.dataset == "spike_train_task":
        return _spike_train_task(cfg)
    train = _image_split(cfg, "train")
    val = None
    if cfg.validation_size:
        if cfg.validation_size >= len(train):
            raise DataError(f"validation_size ({cfg.validation_size}) must be smaller than the training set "
                            f"({len(train)}).")
        perm = np.random.default_rng([cfg.seed, 2]).permutation(len(train))
        val = train.take(np.sort(perm[:cfg.validation_size]))
        val.name = "validation"
        val = val.first(cfg.validation_limit, "validation_limit")
        train = train.take(np.sort(perm[cfg.validation_size:]))
        train.name = "train"
    held_out = f" after holding out validation_size {cfg.validation_size}" if cfg.validation_size else ""
    return train.first(cfg.train_limit, "train_limit", held_out), val, load_test(cfg)


def input_shape(cfg):
    """Per-frame input shape of convolutional networks: (1, 28, 28) images, (2, 34, 34) N-MNIST (polarity, x, y)."""
    return (2, 34, 34) if cfg.dataset == "nmnist" else (1, 28, 28)


class InputBuffer:
    """One input array reused by the batches of a loop, for the latency code: each batch sets its
    spikes and the next one first resets those entries (O(spikes) per batch instead of allocating and
    zeroing a (T, B, 784) array, whose fresh pages dominate the encoding time). The array returned for
    a batch is valid until the next batch; it equals ``encoders.latency`` of the batch exactly."""

    def __init__(self):
        self._x = None
        self._spikes = None
        self.events = None  #: the event lists of the last array (snnref.fast_forward.events_from_spikes)

    def latency(self, cfg, images, dtype):
        from .. import encoders
        from ..fast_forward import events_from_spikes

        B = len(images)
        shape = (cfg.T, B, int(np.prod(np.shape(images)[1:])))
        if self._x is None or self._x.shape != shape or self._x.dtype != np.dtype(dtype):
            self._x = np.zeros(shape, dtype=dtype)
        elif self._spikes is not None:
            self._x[self._spikes] = 0
        self._spikes = encoders.latency_events(images, T=cfg.T, max_input_timing=cfg.max_input_timing,
                                               min_input_timing=cfg.min_input_timing)
        self._x[self._spikes] = 1
        self.events = events_from_spikes(*self._spikes, cfg.T, B)
        return self._x


def encode(cfg, inputs, rng, dtype, buffer=None):
    """Network input (T, B, N_0) for a batch of samples (spec 6); (T, B, C, H, W) for convolutional networks.
    ``buffer``: an :class:`InputBuffer` reused from batch to batch (dense latency-coded inputs; its
    ``events`` are then those of the returned array, else None)."""
    if buffer is not None:
        buffer.events = None
        if cfg.encoding == "latency" and encoder_output_is_valid(cfg) and cfg.architecture is None:
            return buffer.latency(cfg, inputs, dtype)
    x = _encode_flat(cfg, inputs, rng, dtype)
    if cfg.architecture is not None:
        x = x.reshape(x.shape[:2] + input_shape(cfg))
    return x


def encoder_output_is_valid(cfg):
    """True when :func:`encode` makes the network input with one of snnref's encoders (latency, rate:
    binary spikes; static: finite values, from images checked when they were loaded), so that it need
    not be scanned again; False for inputs taken from spike files (N-MNIST, the spike-train task)."""
    return cfg.dataset not in ("spike_train_task", "nmnist")


def _encode_flat(cfg, inputs, rng, dtype):
    from .. import encoders

    if cfg.dataset == "spike_train_task" or cfg.dataset == "nmnist":
        return np.ascontiguousarray(np.asarray(inputs).transpose(1, 0, 2), dtype=dtype)
    if cfg.encoding == "latency":
        return encoders.latency(inputs, T=cfg.T, max_input_timing=cfg.max_input_timing,
                                min_input_timing=cfg.min_input_timing, dtype=dtype)
    if cfg.encoding == "static":
        return encoders.static(inputs, T=cfg.T, mean=cfg.input_mean, std=cfg.input_std, dtype=dtype)
    return encoders.rate(inputs, T=cfg.T, max_rate=cfg.max_rate, rng=rng, dtype=dtype)


def targets_of(cfg, split_targets, dtype):
    """Labels (int64) or, for the spike-train task, the target raster (T, B, n_out)."""
    if cfg.dataset == "spike_train_task":
        return np.ascontiguousarray(np.asarray(split_targets).transpose(1, 0, 2), dtype=dtype)
    return np.asarray(split_targets, dtype=np.int64)
