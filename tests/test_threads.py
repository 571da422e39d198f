"""snnref.threads: the BLAS thread count can be read and set (numpy's bundled OpenBLAS), bad values raise."""
import numpy as np
import pytest

from snnref.threads import blas_threads, numba_threads, set_blas_threads


def test_set_and_restore_blas_threads():
    n = blas_threads()
    if n is None:
        pytest.skip("numpy does not bundle OpenBLAS here")
    old = set_blas_threads(1)
    try:
        assert old == n
        assert blas_threads() == 1
        a = np.arange(36.0).reshape(6, 6)
        np.testing.assert_array_equal(a @ np.eye(6), a)
    finally:
        set_blas_threads(n)
    assert blas_threads() == n


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts(bad):
    with pytest.raises(ValueError, match="positive integer"):
        set_blas_threads(bad)


def test_numba_threads():
    assert numba_threads() >= 1


@pytest.mark.parametrize("given, want", [(None, "4"), ("30", "30")])
def test_openblas_spin_default(given, want):
    """Importing snnref first sets OPENBLAS_THREAD_TIMEOUT=4 for the BLAS library numpy then loads; an
    explicit value is kept."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if given is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = given
    out = subprocess.run([sys.executable, "-c", "import snnref, os; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == want
