"""Synthetic tasks: random spike-train matching (ANTLR Section 4.1; protocol of spec 7.2, A22)."""
from dataclasses import dataclass

import numpy as np

from .._validate import check_scalar
from .idx import _check_int


@dataclass(frozen=True)
class SpikeTrainTask:
    """One random spike-train matching problem (see :func:`spike_train_task`).

    Attributes
    ----------
    x : ndarray of float64, shape (T, B, n_inputs)
        Input spike rasters (0/1).
    target : ndarray of float64, shape (T, B, n_outputs)
        Target spike trains (0/1); each (sample, output neuron) has exactly ``n_target_spikes`` spikes.
    sizes : tuple of int
        Layer sizes of the suggested network: (n_inputs, n_hidden, n_outputs), or (n_inputs, n_outputs)
        when n_hidden = 0.
    input_rate : float
        Per-step spike probability of each input.
    n_target_spikes : int
        Spikes per target train.
    """

    x: np.ndarray
    target: np.ndarray
    sizes: tuple
    input_rate: float
    n_target_spikes: int

    def __getitem__(self, key):
        """Dict-style access, ``task["x"]`` == ``task.x`` (for code written against a dict)."""
        if key not in self.__dataclass_fields__:
            raise KeyError(f"SpikeTrainTask has no field {key!r}; fields: {list(self.__dataclass_fields__)}.")
        return getattr(self, key)

    @property
    def T(self):
        return self.x.shape[0]

    @property
    def B(self):
        return self.x.shape[1]


def spike_train_task(n_inputs=100, n_hidden=100, n_outputs=1, T=100, input_rate=0.05, n_target_spikes=5,
                     batch=1, rng=None):
    """Random spike-train matching task (spec 7.2 protocol **[choice]**; the paper's set-up is unknown, A22).

    Inputs: independent Bernoulli rasters, ``x[t, b, i] = 1`` with probability ``input_rate`` at every step.
    Targets: for each sample b and output neuron k, ``n_target_spikes`` distinct spike times drawn uniformly
    without replacement from {0, ..., T-1}. Random numbers are drawn in this order from
    ``np.random.default_rng(rng)``: first ``rng.random((T, batch, n_inputs))`` for the inputs, then one
    ``rng.choice(T, n_target_spikes, replace=False)`` per (b, k) in C order.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        Layer sizes (suggested default 100-100-1; ``n_hidden = 0`` means no hidden layer). ``n_hidden`` only
        fills :attr:`SpikeTrainTask.sizes`.
    T : int
        Number of time steps, >= 1.
    input_rate : float
        Spike probability per step, in [0, 1].
    n_target_spikes : int
        Spikes per target train, in [0, T].
    batch : int
        Number of independent samples B >= 1.
    rng : int, numpy.random.Generator or None
        Seed or generator (``np.random.default_rng(rng)``).

    Returns
    -------
    SpikeTrainTask
        ``x`` (T, B, n_inputs) and ``target`` (T, B, n_outputs), float64 in {0, 1}.
    """
    n_inputs = _check_int(n_inputs, "n_inputs", lo=1)
    n_hidden = _check_int(n_hidden, "n_hidden", lo=0)
    n_outputs = _check_int(n_outputs, "n_outputs", lo=1)
    T = _check_int(T, "T", lo=1)
    batch = _check_int(batch, "batch", lo=1)
    n_target_spikes = _check_int(n_target_spikes, "n_target_spikes", lo=0)
    if n_target_spikes > T:
        raise ValueError(
            f"n_target_spikes ({n_target_spikes}) must be <= T ({T}): target spike times are distinct steps."
        )
    input_rate = check_scalar(input_rate, "input_rate", lo=0.0, hi=1.0)
    gen = np.random.default_rng(rng)
    x = (gen.random((T, batch, n_inputs)) < input_rate).astype(np.float64)
    target = np.zeros((T, batch, n_outputs), dtype=np.float64)
    for b in range(batch):
        for k in range(n_outputs):
            target[gen.choice(T, size=n_target_spikes, replace=False), b, k] = 1.0
    sizes = (n_inputs, n_hidden, n_outputs) if n_hidden else (n_inputs, n_outputs)
    return SpikeTrainTask(x=x, target=target, sizes=sizes, input_rate=input_rate, n_target_spikes=n_target_spikes)
