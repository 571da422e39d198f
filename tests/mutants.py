"""Mutants of the NumPy conformance adapter: each has exactly one deliberate bug of a real port."""
import numpy as np

from snnref.verify.numpy_adapter import NumpyAdapter


class NoCurrentReset(NumpyAdapter):
    """A spike does not reset the synaptic current (reset_current ignored)."""

    def current_keep(self, S_prev):
        return 1.0


class SurrogateAtZero(NumpyAdapter):
    """sigma centred at V = 0 instead of V = theta."""

    def surrogate(self, V, theta, opts):
        return super().surrogate(V, 0.0, opts)


class DetachedReset(NumpyAdapter):
    """act_rnn with the reset path detached (no gradient through (1 - S[t-1]))."""

    def reset_path(self, m, I, V, dI_next, dV_next):
        return 0.0


class EpsStarSignFlip(NumpyAdapter):
    """Timing back-projection with +eps_star instead of -eps_star."""

    def kernel_slope(self, m, T):
        return -super().kernel_slope(m, T)


class OneStepLate(NumpyAdapter):
    """The layer sees its input one step late (an off-by-one in time)."""

    def layer_input(self, X, t):
        return X[t - 1] if t > 0 else np.zeros_like(X[0])


class TransposedSquare(NumpyAdapter):
    """Square weight matrices used as W^T (the (out, in) / (in, out) confusion)."""

    def project(self, x_t, W):
        return x_t @ (W.T if W.shape[0] == W.shape[1] else W)


class Float32Inside(NumpyAdapter):
    """Claims float64 but computes in float32."""

    work_dtype = "float32"
    dtypes = ("float64",)


def candidate(adapter, ref, rules=None, options=None):
    """Run ``adapter`` on the reference case: dict of arrays by golden address."""
    from snnref.verify.conformance import _candidate, problem_arrays

    problem = problem_arrays(ref, adapter, options or {})
    cand = {}
    for rule in rules or adapter.rules:
        cand.update(_candidate(adapter, problem, rule, ref.n_layers))
    return cand
