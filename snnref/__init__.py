"""snnref: a Numba CPU reference implementation of the ANTLR and TSSL-BP learning rules for SNNs.

Public API::

    model = snnref.NeuronModel.antlr(alpha_I=0.99, alpha_V=0.99, T=300)    # or NeuronModel.tsslbp(...)
    net   = snnref.Network(weights=[W1, W2], biases=[b1, b2], model=model)
    trace = snnref.forward(net, x)                       # x: (T, B, N_0), time-major
    loss  = snnref.losses.latency(trace, labels, beta_softmax=1.0, lambda_nospike=0.1)
    grads = snnref.backward(net, trace, rule="antlr", dL_dS=loss.dL_dS, dL_dt=loss.dL_dt)

Convolutional networks: ``snnref.Network(layers=[snnref.layers.Conv2d(w), snnref.layers.SumPool2d(2),
snnref.layers.Flatten(), snnref.layers.Dense(w2)], model=model, input_shape=(C, H, W))``, x of shape
(T, B, C, H, W) (see :mod:`snnref.layers`).

The mathematics is specified in ALGORITHMS.md (cited as "spec" in the docstrings).
"""
import os as _os

# OpenBLAS's worker threads spin for about 2**28 cycles after each matrix product before they sleep;
# on a few cores they take the CPU from numba's threads in the kernels that follow (measured on 2
# cores: the TSSL-BP MLP step 10.9 -> 8.5 ms). Read when OpenBLAS loads, i.e. only if numpy is
# imported after snnref (always so for the command line); an explicit setting is kept. See
# snnref.threads.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from . import layers, losses, neuron  # noqa: E402
from .backward import Gradients, backward
from .forward import LayerTrace, Trace, forward
from .model import Network, NeuronModel

__version__ = "0.1.0"

# The trainer lives in snnref.training; its former module paths are the same module objects, so
# ``import snnref.config``, ``from snnref.train import train`` and monkeypatching keep working.
import sys as _sys  # noqa: E402

from . import training  # noqa: E402

for _old, _new in (("train", training), ("config", training.config), ("checkpoint", training.checkpoint),
                   ("optim", training.optim)):
    _sys.modules[f"{__name__}.{_old}"] = _new
    globals()[_old] = _new
del _old, _new

__all__ = ["NeuronModel", "Network", "forward", "backward", "Trace", "LayerTrace", "Gradients", "layers",
           "losses", "neuron", "__version__"]
