r"""Kernel functions of the neuron model: PSP kernel eps, its slope eps_star, surrogates.

All formulas are from ``ALGORITHMS.md`` (the spec) sections 1.3-1.5 and 4.3. The kernel functions
are plain numpy functions (cheap, O(T)); compiled kernels receive the arrays they produce. The
surrogate and the warm-up slope are the compiled per-step functions of :mod:`snnref.rules.steps`
applied element-wise (one definition of each formula).

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


def _map(kernel_name, x, *args):
    """Apply the compiled array form ``kernel_name`` of :mod:`snnref.rules.steps` to ``x`` (float64,
    any shape; a 0-d input gives a numpy scalar)."""
    from .rules import steps  # imported here: snnref.rules imports the model, which imports this module
    x = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(x).ravel()
    out = np.empty_like(flat)
    getattr(steps, kernel_name)(flat, *(float(a) for a in args), out)
    return out.reshape(x.shape)[()]


def sigma(v, theta=1.0, ste_alpha=1.0, ste_beta=3.0):
    """Surrogate derivative sigma(v) = ste_alpha * exp(-ste_beta * |v - theta|) (spec 1.5); the
    formula of every ANTLR-family kernel (:func:`snnref.rules.steps.surrogate`), element-wise."""
    return _map("surrogate_array", v, theta, ste_alpha, ste_beta)


def tssl_warmup_surrogate(u, theta=1.0):
    """TSSL-BP warm-up slope f(u) = e^c / ((1 + e^c)^2 * 0.2), c = clamp((theta - u)/0.2, -8, 8) (spec 4.3);
    the formula of the TSSL-BP kernels (:func:`snnref.rules.steps.warmup_slope`), element-wise.

    The derivative of the logistic 1/(1 + exp(-(u - theta)/0.2)) with the exponent clamped; f(theta) = 1.25.
    """
    return _map("warmup_slope_array", u, theta)
