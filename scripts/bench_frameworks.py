#!/usr/bin/env python
"""The TSSL-BP-size MLP in two PyTorch SNN frameworks, for a side-by-side comparison with
``scripts/bench.py`` (its ``tsslbp_fwd_bwd_ms_per_sample``); not part of the test suite, and neither
framework is a dependency of snnref.

Workload: 784-400-400-10, T = 5, B = 100, the first 100 MNIST training images as static (normalised)
input, current-based LIF neurons (snnTorch ``Synaptic``, SpikingJelly ``CUBALIFNode``; decays
1 - 1/tau_s, 1 - 1/tau_m with tau_s 3, tau_m 5), output spike counts against a one-hot target (MSE),
forward + loss + backward (autograd, surrogate gradients). Not the TSSL-BP algorithm: a same-size
workload of the frameworks users would otherwise pick. Prints the median ms/sample over the repeats.

Usage (with torch and snntorch or spikingjelly installed)::

    python scripts/bench_frameworks.py snntorch 30
    python scripts/bench_frameworks.py spikingjelly 30
    python scripts/bench_frameworks.py snntorch 30 1      # one torch thread

On a loaded machine PyTorch's (like OpenBLAS's) threads wait actively: compare at one thread there
(snnref: NUMBA_NUM_THREADS=1 and ``snnref.threads.set_blas_threads(1)``).
"""
import os
import sys
import time

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # as snnref sets it when imported before numpy

import numpy as np  # noqa: E402
import torch  # noqa: E402

from snnref.data import load_mnist  # noqa: E402  (only the data)

which = sys.argv[1]
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 30
if which not in ("snntorch", "spikingjelly"):
    raise SystemExit("usage: bench_frameworks.py snntorch|spikingjelly [repeats [threads]]")
if len(sys.argv) > 3:
    torch.set_num_threads(int(sys.argv[3]))
T, B = 5, 100
images, labels = load_mnist("train", limit=B)
x = torch.tensor(((images.reshape(B, -1) / 255.0 - 0.1307) / 0.3081).astype(np.float32))
y = torch.tensor(labels.astype(np.int64))
torch.manual_seed(0)
lin = [torch.nn.Linear(a, b, bias=False) for a, b in ((784, 400), (400, 400), (400, 10))]
if which == "snntorch":
    import snntorch as snn
    neurons = [snn.Synaptic(alpha=1 - 1 / 3, beta=1 - 1 / 5) for _ in lin]

    def run():
        states = [n.init_synaptic() for n in neurons]
        out = 0
        for t in range(T):
            h = x
            for k, (l, n) in enumerate(zip(lin, neurons)):
                syn, mem = states[k]
                h, syn, mem = n(l(h), syn, mem)
                states[k] = (syn, mem)
            out = out + h
        return out
else:
    from spikingjelly.activation_based import neuron, functional
    neurons = [neuron.CUBALIFNode(c_decay=1 - 1 / 3, v_decay=1 - 1 / 5) for _ in lin]

    def run():
        for n in neurons:
            functional.reset_net(n)
        out = 0
        for t in range(T):
            h = x
            for l, n in zip(lin, neurons):
                h = n(l(h))
            out = out + h
        return out
params = [p for l in lin for p in l.parameters()]


def step():
    for p in params:
        p.grad = None
    out = run()
    loss = torch.nn.functional.mse_loss(out, torch.nn.functional.one_hot(y, 10).float() * T)
    loss.backward()


step()
ts = []
for _ in range(reps):
    t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
print(f"{which} torch {torch.__version__} threads {torch.get_num_threads()}: {1e3 * np.median(ts) / B:.4f} ms/sample")
