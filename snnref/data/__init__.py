"""Data sets and synthetic tasks (spec 6 and 7.2). Nothing is ever downloaded.

- MNIST (shipped inside the package, ``snnref/data/mnist/``, SHA-256 checked) and Fashion-MNIST (copy it to
  ``<data_dir>/fashion-mnist/``): :func:`load_mnist`, :func:`load_fashion_mnist`, :func:`read_idx`.
  The data directory is ``$SNNREF_DATA_DIR`` or this package's folder (:func:`default_data_dir`).
- N-MNIST, original binary event files: :func:`read_nmnist_events`, the ANTLR binning
  :func:`nmnist_frames_antlr` (spec 6.2), the TSSL-BP binning :func:`nmnist_frames_tssl` (spec 6.4),
  :func:`load_nmnist`, :func:`nmnist_files`.
- Random spike-train matching (spec 7.2): :func:`spike_train_task`.

Encoders that turn images into network input live in :mod:`snnref.encoders`.
"""
from .idx import MNIST_SHA256, default_data_dir, load_fashion_mnist, load_mnist, read_idx
from .nmnist import (EVENT_DTYPE, load_nmnist, nmnist_files, nmnist_frames_antlr, nmnist_frames_tssl,
                     read_nmnist_events)
from .tasks import SpikeTrainTask, spike_train_task

__all__ = ["default_data_dir", "load_mnist", "load_fashion_mnist", "read_idx", "MNIST_SHA256",
           "read_nmnist_events", "nmnist_frames_antlr", "nmnist_frames_tssl", "load_nmnist", "nmnist_files",
           "EVENT_DTYPE", "spike_train_task", "SpikeTrainTask"]
