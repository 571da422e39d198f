r"""Kernel functions of the neuron model: PSP kernel eps, its slope eps_star, surrogates.

All formulas are from ``ALGORITHMS.md`` (the spec) sections 1.3-1.5 and 4.3. These are plain
numpy functions (cheap, O(T)); compiled kernels receive the arrays they produce.

PSP kernel (spec 1.2, Eq. 5)::

    eps[tau] = beta_I * beta_V * sum_{k=0}^{tau} alpha_I^k * alpha_V^(tau-k),   tau >= 0
    eps[tau] = 0,                                                              tau < 0

computed by the recurrence eps[0] = beta_I beta_V, eps[tau] = alpha_V eps[tau-1] + beta_I beta_V alpha_I^tau
(spec 1.3; 0^0 = 1).

Approximate slope (spec 1.4, appendix E)::

    eps_star[n] = (eps[n+1] - eps[n-1]) / 2     (untruncated kernel: eps[T] is the kernel value)
"""
import numpy as np

__all__ = ["eps", "eps_star", "eps_star_minus1", "unscaled_kernel_max", "sigma", "tssl_warmup_surrogate"]


def _kernel_params(model_or_params):
    m = model_or_params
    return float(m.alpha_I), float(m.alpha_V), float(m.beta_I), float(m.beta_V)


def _eps_unscaled(n, alpha_I, alpha_V):
    """e[tau] = sum_{k<=tau} alpha_I^k alpha_V^(tau-k) for tau = 0..n-1 (recurrence of spec 1.3)."""
    out = np.empty(n, dtype=np.float64)
    acc = 0.0
    pw = 1.0  # alpha_I^tau, with 0^0 = 1
    for tau in range(n):
        acc = alpha_V * acc + pw
        out[tau] = acc
        pw *= alpha_I
    return out


def eps(model, n):
    """PSP kernel eps[tau] for tau = 0..n-1 (spec 1.2 Eq. 5), float64 array of length ``n``.

    ``model`` is any object with ``alpha_I, alpha_V, beta_I, beta_V`` (a :class:`snnref.NeuronModel`).
    """
    aI, aV, bI, bV = _kernel_params(model)
    return bI * bV * _eps_unscaled(int(n), aI, aV)


def eps_star(model, n):
    """Kernel slope eps_star[tau] = (eps[tau+1] - eps[tau-1]) / 2 for tau = 0..n-1 (spec 1.4).

    Uses the untruncated kernel (eps up to index n). eps_star[-1] = eps[0]/2 is
    :func:`eps_star_minus1`.
    """
    e = eps(model, int(n) + 1)
    prev = np.concatenate(([0.0], e[: int(n) - 1])) if n > 0 else np.zeros(0)
    return (e[1:] - prev) / 2.0


def eps_star_minus1(model):
    """eps_star[-1] = (eps[0] - eps[-2]) / 2 = eps[0] / 2 (spec 1.4)."""
    return float(eps(model, 1)[0]) / 2.0


def unscaled_kernel_max(alpha_I, alpha_V, T):
    """max_{0 <= tau < T} e[tau] of the un-scaled kernel: the ``beta_auto`` normaliser (spec 1.1)."""
    return float(_eps_unscaled(int(T), float(alpha_I), float(alpha_V)).max())


def sigma(v, theta=1.0, ste_alpha=1.0, ste_beta=3.0):
    """Surrogate derivative sigma(v) = ste_alpha * exp(-ste_beta * |v - theta|) (spec 1.5)."""
    v = np.asarray(v, dtype=np.float64)
    return ste_alpha * np.exp(-ste_beta * np.abs(v - theta))


def tssl_warmup_surrogate(u, theta=1.0):
    """TSSL-BP warm-up slope f(u) = e^c / ((1 + e^c)^2 * 0.2), c = clamp((theta - u)/0.2, -8, 8) (spec 4.3).

    The derivative of the logistic 1/(1 + exp(-(u - theta)/0.2)) with the exponent clamped; f(theta) = 1.25.
    """
    u = np.asarray(u, dtype=np.float64)
    c = np.clip((theta - u) / 0.2, -8.0, 8.0)
    ec = np.exp(c)
    return ec / ((1.0 + ec) ** 2 * 0.2)
