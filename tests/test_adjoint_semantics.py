"""The adjoint definitions documented in docs/VERIFYING.md, checked on the 'deep' golden case
(four spiking layers, every ANTLR-family rule) from the stored numbers."""
import numpy as np
import pytest

from snnref.verify import standard_case


@pytest.fixture(scope="module")
def case():
    return standard_case("deep", "float64")


def _sigma(V, theta=1.0):
    return np.exp(-3.0 * np.abs(V - theta))       # ste_alpha 1, ste_beta 3 (defaults)


def _next(a):
    return np.concatenate([a[1:], np.zeros_like(a[:1])])


def test_names_per_rule(case):
    base = {"dS", "dV", "dV_dep", "dI", "dT"}
    for rule in ("act_rnn", "act_srm", "act_slayer"):
        assert {k.split("/")[-1] for k in case.arrays if k.startswith(f"adjoints/{rule}/0/")} == base
    for rule in ("timing", "antlr"):
        assert {k.split("/")[-1] for k in case.arrays if k.startswith(f"adjoints/{rule}/0/")} == base | {"Tprop", "E1", "E2"}


def test_activation_adjoints(case):
    A, m, W, L = case.arrays, case.model, case.weights, case.n_layers
    for rule in ("act_rnn", "act_srm", "act_slayer", "antlr"):
        np.testing.assert_array_equal(A[f"adjoints/{rule}/{L - 1}/dS"], A["loss/dL_dS"])    # output: the loss
        for l in range(L - 1):                                                               # (C5) signal from above
            np.testing.assert_allclose(A[f"adjoints/{rule}/{l}/dS"],
                                       m["beta_I"] * A[f"adjoints/{rule}/{l + 1}/dI"] @ W[l + 1].T, rtol=1e-12, atol=1e-15)
    for l in range(L):
        S, V, I = (A[f"forward/{l}/{n}"] for n in "SVI")
        # act_srm: dV injected = sigma(V) dS, dV_dep by (C1), dI by (C2), dT zero
        dS, dV, dVd, dI = (A[f"adjoints/act_srm/{l}/{n}"] for n in ("dS", "dV", "dV_dep", "dI"))
        np.testing.assert_allclose(dV, _sigma(V) * dS, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dVd, dV + m["alpha_V"] * (1 - S) * _next(dVd), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dI, m["beta_V"] * dVd + m["alpha_I"] * (1 - S) * _next(dI), rtol=1e-12, atol=1e-15)
        assert not A[f"adjoints/act_srm/{l}/dT"].any()
        # act_rnn: dV is the total derivative (R2) = dV_dep; dT is returned but all zero
        dS, dV, dI = (A[f"adjoints/act_rnn/{l}/{n}"] for n in ("dS", "dV", "dI"))
        g = dS - m["alpha_I"] * I * _next(dI) - m["alpha_V"] * V * _next(dV)                 # (R1)
        np.testing.assert_allclose(dV, _sigma(V) * g + m["alpha_V"] * (1 - S) * _next(dV), rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(A[f"adjoints/act_rnn/{l}/dV_dep"], dV)
        assert not A[f"adjoints/act_rnn/{l}/dT"].any()


def test_timing_adjoints(case):
    A, m, W, L = case.arrays, case.model, case.weights, case.n_layers
    np.testing.assert_array_equal(A[f"adjoints/timing/{L - 1}/Tprop"], A["loss/dL_dt"])
    np.testing.assert_array_equal(A[f"adjoints/timing/{L - 1}/dT"], A["loss/dL_dt"] * A[f"forward/{L - 1}/S"])
    for l in range(L - 1):
        assert not A[f"adjoints/timing/{l}/dS"].any()                          # timing: no activation signal
        for rule in ("timing", "antlr"):
            S = A[f"forward/{l}/S"]
            np.testing.assert_allclose(A[f"adjoints/{rule}/{l}/Tprop"],           # (T3) via the E2 trace
                                       m["beta_I"] * A[f"adjoints/{rule}/{l + 1}/E2"] @ W[l + 1].T, rtol=1e-12, atol=1e-15)
            np.testing.assert_array_equal(A[f"adjoints/{rule}/{l}/dT"], S * A[f"adjoints/{rule}/{l}/Tprop"])   # (T1)
