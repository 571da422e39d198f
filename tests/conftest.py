import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, max_examples=40, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", derandomize=True, database=None, deadline=None, max_examples=10, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough", deadline=None, max_examples=1000, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("SNNREF_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _one_numba_thread():
    """Run the batch-parallel kernels on one thread by default.

    On a loaded machine every parallel launch of a tiny problem can wait for a time slice (~30 ms),
    which would dominate the suite. Results do not depend on the thread count; the tests that prove
    it (parallel == serial) switch to all threads with :func:`all_threads`.
    """
    import numba

    n = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(n)


def all_threads():
    """The number of threads numba was started with (use with ``numba.set_num_threads``)."""
    import numba

    return numba.config.NUMBA_NUM_THREADS
