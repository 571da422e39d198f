"""The tolerance table of the test suite: every comparison that is not bit for bit uses one of these
names. Each entry says how much rounding is expected and why. Bit-identity checks use
``np.testing.assert_array_equal`` (which treats -0.0 == 0.0) and need no tolerance.

float64 (eps = 2.2e-16), relative unless marked ``_ABS``:
"""
import numpy as np

#: the same formula with one or two operations in another order (a few ulps)
ULPS = 1e-15
#: absolute floor next to ULPS for values that can be exactly zero
ULPS_ABS = 1e-16
#: short sums or products in another order; closed forms of a few steps of a recurrence
FEW_OPS = 1e-14
#: recurrences over up to ~50 steps vs their closed form or a convolution
CHAIN = 1e-13
#: compiled kernel vs the plain oracle: sums over t, b and up to 3 layers in another order;
#: float64 BLAS back-projection vs the exact-order kernel
ORACLE = 1e-12
#: TSSL-BP kernel vs the literal official loops through up to 3 layers (each layer multiplies the
#: error by 1/du <= tssl_inv_du_max)
ORACLE_DEEP = 1e-11
#: ANTLR-family rules vs the naive transcription (relative to the array's scale): the timing path
#: divides by Vstar >= vstar_floor = 0.01 in every layer, the explicit (T3) sums over O(T) terms
ORACLE_TIMING = 1e-10
#: a difference quotient (a^n - b^n)/(a - b) with |a - b| down to 1e-3 (loses ~1/|a - b| of precision)
NEAR_EQUAL_QUOTIENT = 1e-5
#: a literal quoted with 5 significant digits
QUOTED_5_DIGITS = 1e-4
#: a companion (tangent) model evaluated at its expansion point vs the trace it linearises
TANGENT = 1e-10
#: difference quotients and transpose-Jacobian checks built from many columns of a linear map
LINEAR_MAP = 1e-9
#: an absolute floor that only excuses exact zeros (denormal range) in relative comparisons
ZERO_ABS = 1e-300

# float32 (eps = 6e-8)
#: float32 BLAS back-projection (sums accumulated in float32) vs the exact float64-accumulated kernel
BLAS32 = 2e-5
#: TSSL-BP float32 run vs float64 run (relative, absolute relative to the gradient's scale)
F32_TSSL, F32_TSSL_ABS = 1e-4, 1e-5
#: ANTLR-family float32 run vs float64 run over 300-step sums (relative, absolute relative to scale)
F32_ANTLR, F32_ANTLR_ABS = 1e-3, 1e-4

# finite differences (central, h = 1e-6) of smooth companion models
#: relative / absolute tolerance of a directional or element-wise finite-difference check
FD_RTOL, FD_ATOL = 1e-6, 1e-9
#: the same for the polynomial TSSL-BP surrogate models (smaller values)
FD_TSSL_ATOL = 1e-8
#: a finite difference of a closed-form scalar function (no model): relative / absolute
FD_SCALAR, FD_SCALAR_ABS = 1e-7, 1e-10


def assert_close(a, b, what, rtol):
    """|a - b| <= rtol * max(1, max|b|) element-wise: tolerance relative to the array's scale."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale, err_msg=what)
