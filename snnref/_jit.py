"""The one place where numba options are set.

Every compiled kernel in snnref is decorated with :data:`kernel` (serial) or
:data:`parallel_kernel` (``prange`` over the batch only). Options:

- ``cache=True``: compile once per machine, reuse from ``__pycache__``.
- ``fastmath=False``: IEEE semantics; reassociation could flip spikes that sit at theta.
- ``error_model="numpy"``: x/0 gives inf/nan instead of raising inside a kernel. Divisions
  that can hit zero are guarded explicitly where they occur.
- ``nogil=True``: kernels release the GIL.

Kernels receive C-contiguous arrays and plain scalars only; they never validate, print,
raise or touch global state (validation lives in :mod:`snnref._validate`).

Threads: numba's "omp" threading layer (GNU OpenMP) lets its workers busy-wait after each
parallel region by default. With few cores they then take the CPU from OpenBLAS's threads
in the matrix products that follow (measured on 2 cores: TSSL-BP 784-400-400-10 step
0.24-0.6 ms/sample instead of 0.08-0.11). snnref therefore sets ``OMP_WAIT_POLICY=PASSIVE``
unless the variable is already set; it takes effect only if no OpenMP runtime was loaded
into the process before snnref's first parallel kernel runs.
"""
import functools
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402  (after the environment default above)

kernel = functools.partial(numba.njit, cache=True, fastmath=False, error_model="numpy", nogil=True)
parallel_kernel = functools.partial(
    numba.njit, cache=True, fastmath=False, error_model="numpy", nogil=True, parallel=True
)
prange = numba.prange
