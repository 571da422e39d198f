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
"""
import functools

import numba

kernel = functools.partial(numba.njit, cache=True, fastmath=False, error_model="numpy", nogil=True)
parallel_kernel = functools.partial(
    numba.njit, cache=True, fastmath=False, error_model="numpy", nogil=True, parallel=True
)
prange = numba.prange
