"""TSSL-BP backward: the fast kernel (impl="fast", default) against the reference kernel (impl="reference").

The fast kernel performs the same per-element floating-point operations in the same order as the
reference kernel (only the loop nesting, which adjoints are stored, and the evaluation of the
warm-up factor at the two clamped exponents c = +-8 differ), and both paths use the same BLAS
calls for dW and E. The results must therefore be BIT-IDENTICAL, in float64 and in float32; no
tolerance is needed. The reference kernel itself is checked against the literal official loop in
tests/test_rule_tsslbp.py (P-S1).
"""
import numba
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import all_threads
from snnref import Network, backward, forward
from snnref.rules.tsslbp import _tsslbp_final_fast_kernel, _tsslbp_final_kernel
from strategies import make_tsslbp_case as make_case
from strategies import tsslbp_cases as cases

_ADJ = ("E", "A", "rho", "G_tssl", "G")


def _run(case, impl, adjoints=True, **opts):
    return backward(case.net, case.trace, "tsslbp", dL_da=case.dL_da, return_adjoints=adjoints, impl=impl, **opts)


def _assert_same(g_fast, g_ref, adjoints=True):
    for l, (a, b) in enumerate(zip(g_fast.dW, g_ref.dW)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b, err_msg=f"dW layer {l}")
    if adjoints:
        for l, (fa, ra) in enumerate(zip(g_fast.adjoints, g_ref.adjoints)):
            for name in _ADJ:
                np.testing.assert_array_equal(fa[name], ra[name], err_msg=f"{name} layer {l}")


def _float32_case(case):
    net32 = Network(case.net.weights, model=case.net.model, dtype=np.float32)
    tr32 = forward(net32, case.x)
    return type(case)(net32, case.x, tr32, case.dL_da.astype(np.float32), case.seed)


# ------------------------------------------------------------------------ fast == reference, bit for bit
@given(cases(), st.sampled_from([0.5, 8.0, 100.0]), st.booleans())
@example(make_case(3, 20, 3, [4, 6, 5, 3], 5.0, 2.0, 1.0), 8.0, True)   # tau_s = 2: warm-up ties (spec 4.3)
def test_fast_equals_reference_float64(case, inv_du_max, warmup):
    """Every adjoint and dW are bit-identical (same operations in the same order)."""
    opts = dict(tssl_inv_du_max=inv_du_max, tssl_warmup=warmup)
    _assert_same(_run(case, "fast", **opts), _run(case, "reference", **opts))


@given(cases(max_layers=2))
@settings(max_examples=15)
def test_fast_equals_reference_float32(case):
    """float32: the same float64 arithmetic inside the kernels and the same sgemm calls -> identical bits."""
    c32 = _float32_case(case)
    g_fast, g_ref = _run(c32, "fast"), _run(c32, "reference")
    assert all(w.dtype == np.float32 for w in g_fast.dW)
    _assert_same(g_fast, g_ref)


@given(cases(max_layers=3))
@settings(max_examples=15)
def test_fast_without_adjoints_equals_reference(case):
    """The fast path without return_adjoints (A, rho, G_tssl not stored) gives the same dW."""
    g_fast = _run(case, "fast", adjoints=False)
    assert g_fast.adjoints is None
    _assert_same(g_fast, _run(case, "reference", adjoints=False), adjoints=False)


def test_warmup_clamp_branches_bit_identical():
    """f(u) at and around the clamp edges c = (theta - u)/0.2 = +-8, and at u = +-inf, NaN, is
    computed exactly as the reference kernel does (direct kernel call, float64 and float32)."""
    theta = 1.0
    edges = [theta - 1.6, theta + 1.6]
    u_vals = [0.3, theta, -50.0, 50.0, np.inf, -np.inf, np.nan]
    for e in edges:
        u_vals += [e, np.nextafter(e, -np.inf), np.nextafter(e, np.inf), e - 1e-9, e + 1e-9]
    N = len(u_vals)
    for dt in (np.float64, np.float32):
        u = np.array(u_vals, dtype=dt).reshape(1, 1, N).repeat(3, axis=0).copy()
        # c takes both clamped values and unclamped ones
        c = (theta - u.astype(np.float64)) / 0.2
        assert (c >= 8).any() and (c <= -8).any() and (np.abs(c) < 8).any()
        E = np.linspace(-1.0, 1.0, 3 * N).reshape(3, 1, N).astype(dt)
        du = np.full_like(u, 0.5)
        s = np.zeros_like(u)
        a = np.zeros_like(u)                         # every step warm-up (a < 1/(4 tau_s))
        s[1, 0, :2] = 1.0
        a[1:, 0, :2] = 0.5                           # spike at t = 1 for two neurons: G_tssl kept there
        args = (E, u, du, s, a, 0.2, 2.0 / 3.0, 1.0 / 3.0, theta, 8.0, float(dt(1.0 / 12.0)), True)
        outs_ref = [np.empty_like(u) for _ in range(4)]
        outs_fast = [np.empty_like(u) for _ in range(4)]
        _tsslbp_final_kernel(*args, *outs_ref)
        _tsslbp_final_fast_kernel(*args, True, *outs_fast)
        for name, r, f in zip(("A", "rho", "G_tssl", "G"), outs_ref, outs_fast):
            np.testing.assert_array_equal(f, r, err_msg=f"{name} {np.dtype(dt)}")
        assert np.isnan(outs_fast[3][:, 0, u_vals.index(np.nan)]).all()


# ------------------------------------------------------------------------ determinism, threads
def test_serial_equals_parallel():
    """prange over samples: one thread and all threads give bit-identical results (B = 9)."""
    case = make_case(11, 12, 9, [7, 8, 6, 4], 5.0, 3.0, 1.0)
    c32 = _float32_case(case)
    results = {}
    n0 = numba.get_num_threads()
    try:
        for n in (1, all_threads()):
            numba.set_num_threads(n)
            results[n] = [_run(c, "fast") for c in (case, c32)]
    finally:
        numba.set_num_threads(n0)
    for g1, gn in zip(results[1], results[all_threads()]):
        _assert_same(g1, gn)


def test_fast_kernel_signatures_and_dtypes():
    """float32 in -> float32 out, no conversion copies of E; few compiled signatures."""
    case = make_case(5, 10, 2, [5, 6, 3], 5.0, 3.0, 1.0)
    for c in (case, _float32_case(case)):
        g = _run(c, "fast")
        dt = c.net.dtype
        assert all(w.dtype == dt for w in g.dW)
        for adj in g.adjoints:
            assert all(adj[k].dtype == dt and adj[k].flags.c_contiguous for k in _ADJ)
    # float64/float32, each with stored or skipped adjoints share one signature per dtype
    _run(case, "fast", adjoints=False)
    # (the tssl_intra=False ablation passes the trailing use_intra explicitly: its own signatures)
    official = [sig for sig in _tsslbp_final_fast_kernel.signatures if str(sig[-1]).startswith("omitted")]
    assert len(official) <= 2


def test_bad_impl_rejected():
    case = make_case(5, 5, 1, [3, 2], 5.0, 3.0, 1.0)
    with pytest.raises(ValueError, match=r"impl must be one of \['fast', 'reference'\]; got 'slow'"):
        _run(case, "slow")
