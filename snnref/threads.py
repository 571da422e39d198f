"""Thread counts of the two thread pools snnref uses: numba's (the batch- and neuron-parallel kernels)
and the BLAS library's behind numpy's matrix products (TSSL-BP's dense products, wide back-projections).

On a machine with few cores the two pools compete: OpenBLAS's threads wait actively for work after each
product, taking the cores from numba's workers and from other processes. Measured on the project's
2-core machine under a load average of ~10 (scripts/bench.py, TSSL-BP 784-400-400-10, T 5, B 100,
float32): 3.2 ms/sample with 2 BLAS threads, 0.96 with 1. A training loop on a shared or small
machine may therefore call ``set_blas_threads(1)`` once before it starts.

After each product OpenBLAS's workers also keep spinning (about 2**28 cycles by default) before they
sleep, which slows the numba kernels that follow even on a quiet machine. Importing snnref before
numpy sets ``OPENBLAS_THREAD_TIMEOUT=4`` (spin 2**4 cycles) unless the variable is already set; measured
on 2 cores, quiet: TSSL-BP 784-400-400-10 step 10.9 -> 8.5 ms (B 100, float32, 2 threads of each pool).
A program that imports numpy first can set the variable in its environment.

Only numpy's own OpenBLAS (the library bundled with the numpy wheels) is found; with another BLAS
:func:`blas_threads` returns None and :func:`set_blas_threads` raises (use the library's environment
variable, e.g. ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``, before starting Python).
"""
import ctypes
import functools
import glob
import os

import numpy as np

__all__ = ["blas_threads", "set_blas_threads", "numba_threads"]


@functools.lru_cache(maxsize=1)
def _openblas():
    """(get, set) of numpy's bundled OpenBLAS through ctypes, or None."""
    libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libdir, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", "_64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    put.argtypes = [ctypes.c_int]
                    return get, put
    return None


def blas_threads():
    """The thread count of numpy's OpenBLAS, or None if numpy does not use a bundled OpenBLAS."""
    fns = _openblas()
    return None if fns is None else int(fns[0]())


def set_blas_threads(n):
    """Set the thread count of numpy's OpenBLAS (for the whole process); returns the previous count."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer (number of BLAS threads); got {n!r}.")
    fns = _openblas()
    if fns is None:
        raise RuntimeError("numpy's bundled OpenBLAS was not found; set the BLAS library's thread count with its "
                           "environment variable (e.g. OMP_NUM_THREADS) before starting Python.")
    old = int(fns[0]())
    fns[1](n)
    return old


def numba_threads():
    """numba's current thread count (change it with ``numba.set_num_threads``)."""
    import numba

    return numba.get_num_threads()
