"""PSP kernel eps, its slope eps_star, beta_auto normalisation and surrogates (spec 1.1, 1.3-1.5, 4.3;
properties P-K1 and P-K2 of spec 10.1)."""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from oracles import forward as naive
from strategies import alphas, antlr_models, positive
from tolerances import (CHAIN, FD_ATOL, FD_RTOL, FEW_OPS, LINEAR_MAP, NEAR_EQUAL_QUOTIENT, ORACLE, ORACLE_DEEP,
                        QUOTED_5_DIGITS, ULPS, ZERO_ABS)
from snnref import Network, NeuronModel, forward
from snnref.model import SPECIAL_CASES
from snnref.neuron import eps, eps_star, eps_star_minus1, sigma, tssl_warmup_surrogate, unscaled_kernel_max

RTOL = ORACLE
open_alphas = st.floats(0.01, 0.99)


# ------------------------------------------------------------------------------ P-K1
@given(antlr_models(reset_current=True), st.integers(1, 60))
def test_eps_equals_definition_and_recurrence(model, n):
    """eps (spec 1.2 Eq. 5): literal double sum; eps[0] = beta_I beta_V; recurrence of spec 1.3."""
    e = eps(model, n)
    assert e.shape == (n,) and e.dtype == np.float64
    ref = np.array([naive.eps_by_definition(model, tau) for tau in range(n)])
    np.testing.assert_allclose(e, ref, rtol=RTOL, atol=RTOL * max(1.0, np.abs(ref).max()))
    bb = model.beta_I * model.beta_V
    assert e[0] == pytest.approx(bb, rel=ULPS)
    for tau in range(1, n):
        assert e[tau] == pytest.approx(model.alpha_V * e[tau - 1] + bb * model.alpha_I ** tau, rel=RTOL, abs=RTOL)


@given(alphas(), alphas(), positive(), positive(), st.integers(1, 60))
def test_eps_closed_forms(alpha_I, alpha_V, beta_I, beta_V, n):
    """Spec 1.3: (aV^(tau+1) - aI^(tau+1)) / (aV - aI); (tau+1) a^tau when equal; aV^tau when aI = 0."""
    m = NeuronModel(alpha_I=alpha_I, alpha_V=alpha_V, beta_I=beta_I, beta_V=beta_V)
    e = eps(m, n) / (beta_I * beta_V)
    tau = np.arange(n)
    if alpha_I == 0.0:
        np.testing.assert_allclose(e, alpha_V ** tau, rtol=RTOL, atol=ZERO_ABS)
    if alpha_I == alpha_V:
        np.testing.assert_allclose(e, (tau + 1) * alpha_V ** tau, rtol=RTOL, atol=ZERO_ABS)
    else:
        assume(abs(alpha_V - alpha_I) > 1e-3)  # the difference quotient loses ~1/|aV - aI| of precision
        closed = (alpha_V ** (tau + 1) - alpha_I ** (tau + 1)) / (alpha_V - alpha_I)
        np.testing.assert_allclose(e, closed, rtol=LINEAR_MAP, atol=ORACLE)


def test_eps_closed_form_hand_values():
    """Hand-computed: alpha_I = 0.5, alpha_V = 0.25, betas 1: eps = 1, 0.75, 0.4375, 0.234375."""
    m = NeuronModel(alpha_I=0.5, alpha_V=0.25)
    np.testing.assert_array_equal(eps(m, 4), [1.0, 0.75, 0.4375, 0.234375])


@given(antlr_models(reset_current=True), st.integers(1, 40))
def test_eps_star_definition(model, n):
    """eps_star[k] = (eps[k+1] - eps[k-1]) / 2 with eps[-1] = 0 and the UNTRUNCATED eps[n] (spec 1.4)."""
    es = eps_star(model, n)
    assert es.shape == (n,)
    full = [naive.eps_by_definition(model, tau) for tau in range(-1, n + 1)]  # full[k + 1] = eps[k]
    ref = np.array([(full[k + 2] - full[k]) / 2.0 for k in range(n)])
    np.testing.assert_allclose(es, ref, rtol=ORACLE_DEEP, atol=ORACLE * max(1.0, max(abs(v) for v in full)))
    # the last entry uses eps[n], the kernel value (not 0)
    assert es[-1] == pytest.approx((naive.eps_by_definition(model, n) - naive.eps_by_definition(model, n - 2)) / 2,
                                   rel=ORACLE_DEEP, abs=ORACLE)
    assert eps_star_minus1(model) == pytest.approx(model.beta_I * model.beta_V / 2.0, rel=ULPS)


def test_eps_star_last_entry_untruncated():
    """Non-leaky linear kernel eps[tau] = tau + 1: eps_star[n] = 1 for n >= 1, eps_star[0] = eps[1]/2 = 1."""
    m = NeuronModel(alpha_I=1.0, alpha_V=1.0)
    np.testing.assert_array_equal(eps_star(m, 5), [1.0, 1.0, 1.0, 1.0, 1.0])
    assert eps_star_minus1(m) == 0.5


@given(alphas(), alphas(), st.integers(1, 200))
def test_beta_auto_peak_is_one(alpha_I, alpha_V, T):
    """beta_auto (spec 1.1): beta_I = 1, beta_V = beta_bias = 1 / max_{tau<T} e[tau]; max eps = 1 on tau < T."""
    m = NeuronModel.antlr(alpha_I, alpha_V, T=T)
    assert m.beta_I == 1.0 and m.beta_V == m.beta_bias
    e = eps(m, T)
    assert e.max() == pytest.approx(1.0, rel=FEW_OPS)
    unscaled = [naive.eps_by_definition(NeuronModel(alpha_I=alpha_I, alpha_V=alpha_V), tau) for tau in range(T)]
    assert m.beta_V == pytest.approx(1.0 / max(unscaled), rel=ORACLE)
    assert unscaled_kernel_max(alpha_I, alpha_V, T) == pytest.approx(max(unscaled), rel=ORACLE)


@pytest.mark.parametrize(
    "alpha, T, e_max, e_tol, argmax, beta, b_tol",
    [(0.95, 300, 7.5471, 5e-5, 19, 0.132502, 5e-7),
     (0.99, 300, 36.973, 5e-4, 98, 0.0270468, 5e-8),
     (0.99, 30, 22.41516, 5e-6, 29, 0.0446127, 5e-8)],
)
def test_beta_auto_numeric_values_of_spec(alpha, T, e_max, e_tol, argmax, beta, b_tol):
    """The numbers printed in spec 1.1, to the digits given there (tolerance = half a unit of the last digit)."""
    m = NeuronModel.antlr(alpha, alpha, T=T)
    assert abs(unscaled_kernel_max(alpha, alpha, T) - e_max) <= e_tol
    # the peak is attained at the spec's tau (for alpha_I = alpha_V = a, e[tau] = (tau+1) a^tau has a
    # mathematical tie e[18] = e[19] for a = 0.95 and e[98] = e[99] for a = 0.99: both are maxima)
    assert eps(m, T)[argmax] == pytest.approx(1.0, rel=CHAIN)
    assert abs(m.beta_V - beta) <= b_tol
    assert abs(m.beta_bias - beta) <= b_tol


@given(antlr_models(reset_current=True), st.integers(1, 40))
def test_single_spike_response_is_eps(model, T):
    """Forward of one input spike at t = 0 through weight 1 (theta above the kernel): V[t] = eps[t],
    I[t] = beta_I alpha_I^t (spec 1.2 with an empty reset history)."""
    e = eps(model, T)
    m = model.replace(theta=float(e.max()) * 2 + 1.0)
    x = np.zeros((T, 1, 1))
    x[0] = 1.0
    tr = forward(Network([[[1.0]]], None, m), x)
    assert not tr.output.S.any()
    np.testing.assert_allclose(tr.output.V[:, 0, 0], e, rtol=RTOL, atol=RTOL * max(1.0, e.max()))
    np.testing.assert_allclose(tr.output.I[:, 0, 0], m.beta_I * m.alpha_I ** np.arange(T), rtol=RTOL, atol=ZERO_ABS)


# ------------------------------------------------------------------------------ P-K2
@given(open_alphas, open_alphas, positive(), positive(), st.integers(1, 40))
def test_special_cases(aI, aV, beta_I, beta_V, n):
    """The five neuron types of appendix A (spec 1.3 table) reproduce their kernels."""
    tau = np.arange(n, dtype=np.float64)
    expected = {
        "simple_if": ({}, np.ones(n)),
        "lif_instant_current": ({"alpha_V": aV}, aV ** tau),
        "alpha_synapse": ({"alpha_I": aI, "alpha_V": aV},
                          (tau + 1) * aV ** tau if aI == aV else (aV ** (tau + 1) - aI ** (tau + 1)) / (aV - aI)),
        "nonleaky_exponential": ({"alpha_I": aI}, (1 - aI ** (tau + 1)) / (1 - aI)),
        "nonleaky_linear": ({}, tau + 1),
    }
    assert set(expected) == set(SPECIAL_CASES)
    for name, (kw, kern) in expected.items():
        m = NeuronModel.special_case(name, beta_I=beta_I, beta_V=beta_V, **kw)
        assert m.reset_current and not m.strict_threshold and not m.psp_output
        rtol = LINEAR_MAP if name != "alpha_synapse" or abs(aV - aI) > 1e-3 else NEAR_EQUAL_QUOTIENT
        np.testing.assert_allclose(eps(m, n), beta_I * beta_V * kern, rtol=rtol, atol=ORACLE, err_msg=name)


def test_special_case_fixed_alphas():
    assert (NeuronModel.special_case("simple_if").alpha_I, NeuronModel.special_case("simple_if").alpha_V) == (0.0, 1.0)
    m = NeuronModel.special_case("nonleaky_linear", alpha_I=1.0, alpha_V=1)  # restating the fixed values is allowed
    assert (m.alpha_I, m.alpha_V) == (1.0, 1.0)
    m = NeuronModel.special_case("lif_instant_current", alpha_V=0.3, beta_bias=0.5, theta=2.0)
    assert (m.alpha_I, m.alpha_V, m.beta_bias, m.theta) == (0.0, 0.3, 0.5, 2.0)


# ------------------------------------------------------------------------------ surrogates
@given(st.floats(-5, 5), positive(0.1, 3.0), positive(0.1, 3.0), positive(0.1, 5.0))
def test_sigma_formula(v, theta, a, b):
    """sigma(v) = ste_alpha exp(-ste_beta |v - theta|) (spec 1.5)."""
    assert float(sigma(v, theta, a, b)) == pytest.approx(a * math.exp(-b * abs(v - theta)), rel=FEW_OPS)
    assert float(sigma(theta, theta, a, b)) == a
    assert float(sigma(theta + 0.3, theta, a, b)) == pytest.approx(float(sigma(theta - 0.3, theta, a, b)), rel=FEW_OPS)


def test_sigma_defaults_and_arrays():
    v = np.array([[1.0, 1.5], [0.0, 2.0]])
    np.testing.assert_allclose(sigma(v), np.exp(-3.0 * np.abs(v - 1.0)), rtol=ULPS)
    assert sigma(v).shape == (2, 2)


def test_tssl_warmup_surrogate_values():
    """f(theta) = 1/(4 * 0.2) = 1.25; outside |u - theta| >= 1.6 the exponent is clamped at +-8:
    floor e^8 / ((1 + e^8)^2 0.2) ~ 1.6763e-3 (spec 4.3)."""
    assert float(tssl_warmup_surrogate(1.0, 1.0)) == 1.25
    assert float(tssl_warmup_surrogate(0.3, 0.3)) == 1.25
    floor = math.exp(8) / ((1 + math.exp(8)) ** 2 * 0.2)
    assert floor == pytest.approx(1.6763e-3, rel=QUOTED_5_DIGITS)
    for u in (2.6, 3.0, 100.0, -0.6, -50.0):
        assert float(tssl_warmup_surrogate(u, 1.0)) == pytest.approx(floor, rel=ORACLE)
    inside = tssl_warmup_surrogate(np.array([1.5, 0.5]), 1.0)
    assert np.all(inside > floor * 1.01)


@given(st.floats(-1.55, 1.55), positive(0.2, 2.0))
def test_tssl_warmup_surrogate_is_logistic_slope(d, theta):
    """Inside the unclamped region f(u) = d/du 1 / (1 + exp(-(u - theta) / 0.2)) (central difference)."""
    u = theta + d
    h = 1e-6
    logistic = lambda z: 1.0 / (1.0 + math.exp(-(z - theta) / 0.2))  # noqa: E731
    fd = (logistic(u + h) - logistic(u - h)) / (2 * h)
    assert float(tssl_warmup_surrogate(u, theta)) == pytest.approx(fd, rel=FD_RTOL, abs=FD_ATOL)
    mirrored = float(tssl_warmup_surrogate(theta - d, theta))
    assert float(tssl_warmup_surrogate(theta + d, theta)) == pytest.approx(mirrored, rel=ORACLE)
