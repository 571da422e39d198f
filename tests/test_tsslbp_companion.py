"""TSSL-BP = exact gradient of the smooth surrogate models of snnref.companion.tsslbp (P-S3, P-S4)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from snnref import backward
from snnref.companion import tsslbp as vt
from strategies import make_tsslbp_case as make_case
from tolerances import FD_RTOL, FD_SCALAR_ABS, FD_TSSL_ATOL, LINEAR_MAP


def _directional_check(case, warmup, inv_du_max, n_dirs=2, h=1e-6):
    """<dW, v> == (Ltil(W + h v) - Ltil(W - h v)) / (2 h) for random directions v (autograd-style)."""
    g = backward(case.net, case.trace, "tsslbp", dL_da=case.dL_da, tssl_warmup=warmup, tssl_inv_du_max=inv_du_max)
    rng = np.random.default_rng(case.seed)
    W0 = [w.copy() for w in case.net.weights]
    base = vt.tssl_surrogate_loss(case.net, case.trace, case.dL_da, W0, warmup=warmup, tssl_inv_du_max=inv_du_max)
    assert abs(base) < LINEAR_MAP            # at W0 the tangent trace is the frozen trace
    for _ in range(n_dirs):
        v = [rng.standard_normal(w.shape) for w in W0]
        lp = vt.tssl_surrogate_loss(case.net, case.trace, case.dL_da, [w + h * d for w, d in zip(W0, v)],
                               warmup=warmup, tssl_inv_du_max=inv_du_max)
        lm = vt.tssl_surrogate_loss(case.net, case.trace, case.dL_da, [w - h * d for w, d in zip(W0, v)],
                               warmup=warmup, tssl_inv_du_max=inv_du_max)
        numeric = (lp - lm) / (2 * h)
        analytic = sum(float(np.vdot(gw, d)) for gw, d in zip(g.dW, v))
        scale = sum(float(np.abs(gw).sum() * np.abs(d).max()) for gw, d in zip(g.dW, v)) + 1.0
        assert abs(analytic - numeric) <= FD_RTOL * abs(numeric) + FD_TSSL_ATOL * scale, (analytic, numeric)


@given(st.integers(0, 10**6), st.sampled_from([5, 10, 20]), st.integers(1, 3),
       st.floats(1.0, 8.0), st.sampled_from([1.0, 2.0, 3.0, 4.5]), st.sampled_from([0.5, 8.0]))
@settings(max_examples=12)
def test_tangent_model_fd_without_warmup(seed, T, L, tau_m, tau_s, inv_du_max):
    """P-S3 (layer-wise): TSSL-BP without warm-up == FD gradient of the tangent model."""
    sizes = [3] + [4] * (L - 1) + [2]
    case = make_case(seed, T, 2, sizes, tau_m, tau_s, 1.0, w_mean=0.6)
    _directional_check(case, warmup=False, inv_du_max=inv_du_max)


@given(st.integers(0, 10**6), st.sampled_from([5, 10, 20]), st.integers(1, 3),
       st.floats(1.0, 8.0), st.sampled_from([2.0, 3.0, 4.0]))
@settings(max_examples=12)
def test_hybrid_model_fd_with_warmup(seed, T, L, tau_m, tau_s):
    """P-S4 generalised: TSSL-BP WITH warm-up == FD gradient of tangent model + one-step logistic
    relaxation at the warm-up steps (the override does not feed back)."""
    sizes = [3] + [4] * (L - 1) + [2]
    case = make_case(seed, T, 2, sizes, tau_m, tau_s, 1.0, w_mean=0.3)
    _directional_check(case, warmup=True, inv_du_max=8.0)


def test_silent_layer_is_one_step_logistic_relaxation():
    """P-S4: a layer that never fires gets exactly the gradient of the one-step logistic relaxation
    (full finite differences, every weight)."""
    case = make_case(5, 10, 2, [3, 2], 5.0, 3.0, 1.0, w_mean=-0.5, w_std=0.1)
    assert case.trace.output.S.sum() == 0
    g = backward(case.net, case.trace, "tsslbp", dL_da=case.dL_da)
    fd = vt.tssl_surrogate_gradient_fd(case.net, case.trace, case.dL_da, warmup=True)
    np.testing.assert_allclose(g.dW[0], fd[0], rtol=FD_RTOL, atol=FD_TSSL_ATOL)
    assert np.abs(g.dW[0]).max() > 1e-6         # non-trivial gradient


def test_full_fd_two_layers_with_spikes():
    """P-S3 with every weight perturbed separately (two layers, T = 10)."""
    case = make_case(11, 10, 2, [3, 4, 2], 4.0, 3.0, 1.0, w_mean=0.6)
    assert case.trace.layers[0].S.sum() > 3 and case.trace.output.S.sum() > 1
    g = backward(case.net, case.trace, "tsslbp", dL_da=case.dL_da, tssl_warmup=False)
    fd = vt.tssl_surrogate_gradient_fd(case.net, case.trace, case.dL_da, warmup=False)
    for l in range(2):
        np.testing.assert_allclose(g.dW[l], fd[l], rtol=FD_RTOL, atol=FD_TSSL_ATOL, err_msg=f"layer {l}")


def test_logistic_g_derivative_is_warmup_f():
    from snnref.neuron import tssl_warmup_surrogate
    h = 1e-6
    for u in (-3.0, -0.7, 0.4, 1.0, 1.3, 2.5, 4.0):
        num = (vt.tssl_logistic_g(u + h, 1.0) - vt.tssl_logistic_g(u - h, 1.0)) / (2 * h)
        assert np.isclose(num, tssl_warmup_surrogate(u, 1.0), rtol=FD_RTOL, atol=FD_SCALAR_ABS)
