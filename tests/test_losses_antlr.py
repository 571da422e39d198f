"""ANTLR losses (spec 5.1-5.3): hand cases, naive transcriptions, exact identities P-L1..P-L3, errors."""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.interpolate import CubicHermiteSpline

import snnref
from snnref.losses import antlr as LA

RTOL = 1e-12          # closed form vs naive transcription (float64)
ATOL = 1e-12
FD_RTOL = 1e-6        # central differences, h = 1e-6
FD_ATOL = 1e-9
H = 1e-6


def raster(rng, T, B, N, p=0.3):
    return (rng.random((T, B, N)) < p).astype(np.float64)


def fd_dir(f, x, u, h=H):
    return (f(x + h * u) - f(x - h * u)) / (2 * h)


shapes = st.tuples(st.integers(1, 25), st.integers(1, 3), st.integers(1, 6))
seeds = st.integers(0, 2**32 - 1)


# ------------------------------------------------------------------------------------------ count
def test_count_hand_case():
    S = np.zeros((4, 1, 2))
    S[[0, 2], 0, 0] = 1                     # neuron 0: 2 spikes, neuron 1: none; label 1
    res = LA.count(S, [1])
    # L = ((2 - 0)^2 + (0 - 1)^2) / (T B) = 5 / 4
    assert res.value == pytest.approx(1.25, rel=1e-15)
    np.testing.assert_array_equal(res.dL_dS[:, 0, 0], np.full(4, 2 * 2 / 4))
    np.testing.assert_array_equal(res.dL_dS[:, 0, 1], np.full(4, 2 * (-1) / 4))
    np.testing.assert_array_equal(res.dL_dt, 0.0)
    np.testing.assert_array_equal(res.info["counts"], [[2, 0]])
    np.testing.assert_array_equal(res.info["target_counts"], [[0, 1]])


def test_count_targets_and_scale():
    S = np.ones((3, 2, 3))                  # every neuron 3 spikes
    res = LA.count(S, [0, 2], max_target_spikes=3, min_target_spikes=1, loss_scale=2.0)
    # per sample: label neuron exact (0), two others (3 - 1)^2 = 4 each -> 8; L = 2 * 16 / (3 * 2)
    assert res.value == pytest.approx(2.0 * 16 / 6, rel=1e-15)
    np.testing.assert_allclose(res.info["per_sample"], [2 * 8 / 6, 2 * 8 / 6], rtol=1e-15)
    assert res.dL_dS[0, 0, 0] == 0.0 and res.dL_dS[0, 0, 1] == pytest.approx(2.0 * 2 * 2 / 6)


@given(shapes, seeds)
def test_count_gradient_is_derivative_wrt_real_S(shape, seed):
    """P-L1: dL_dS = dL/dS for real-valued S, and constant in t."""
    rng = np.random.default_rng(seed)
    T, B, N = shape
    S = rng.random(shape) * 1.5
    labels = rng.integers(0, N, B)
    res = LA.count(S, labels, max_target_spikes=2, min_target_spikes=1)
    np.testing.assert_array_equal(res.dL_dS, np.broadcast_to(res.dL_dS[:1], res.dL_dS.shape))
    u = rng.standard_normal(shape)
    numeric = fd_dir(lambda s: LA.count(s, labels, 2, 1).value, S, u)
    np.testing.assert_allclose(np.vdot(res.dL_dS, u), numeric, rtol=FD_RTOL, atol=FD_ATOL)
    # naive value
    tgt = np.ones((B, N)); tgt[np.arange(B), labels] = 2
    assert res.value == pytest.approx(((S.sum(0) - tgt) ** 2).sum() / (T * B), rel=RTOL)


def test_count_zero_at_target_counts():
    S = np.zeros((5, 2, 3))
    S[1, 0, 2] = 1
    S[3, 1, 0] = 1
    res = LA.count(S, [2, 0])
    assert res.value == 0.0
    np.testing.assert_array_equal(res.dL_dS, 0.0)


# ------------------------------------------------------------------------------------------ train
def naive_spike_train(S, tgt, kappa_exp, E):
    """Plain loops over spec 5.2 (its own kernel and K computation)."""
    T, B, N = S.shape
    K = 0
    while K < min(T, 1000) and kappa_exp ** K > 1e-6:
        K += 1

    def kap(k):
        return kappa_exp ** k if 0 <= k < K else 0.0

    def kstar(m):
        return (kap(m + 1) - kap(m - 1)) / 2

    D = np.zeros((T + E, B, N))
    for n in range(T + E):
        for t in range(T):
            D[n] += kap(n - t) * (S[t] - tgt[t])

    def Dat(n):
        return D[n] if 0 <= n < T + E else 0.0

    L = (D ** 2).sum() / (T * B)
    dS = np.zeros((T, B, N))
    dT = np.zeros((T, B, N))
    for t in range(T):
        for k in range(K):
            dS[t] += 2 / (T * B) * kap(k) * Dat(t + k)
        for m in range(-1, K + 1):
            dT[t] += -2 / (T * B) * kstar(m) * Dat(t + m)
    return L, dS, S * dT, K


def matrix_spike_train(S, tgt, kappa, E):
    """The convolution formulation as Toeplitz matrices: D = M diff, dS = M^T D, dT = S * Mstar^T D."""
    T, B, N = S.shape
    K = len(kappa)
    def kap(k):
        return kappa[k] if 0 <= k < K else 0.0

    M = np.zeros((T + E, T))
    Mst = np.zeros((T + E, T))
    for n in range(T + E):
        for t in range(T):
            M[n, t] = kap(n - t)
            Mst[n, t] = (kap(n - t + 1) - kap(n - t - 1)) / 2
    diff = (S - tgt).reshape(T, -1)
    D = M @ diff
    # np.convolve along time for one column, as the code's convolution does
    for c in range(diff.shape[1]):
        conv = np.concatenate([np.convolve(diff[:, c], kappa), np.zeros(T + E)])[:T + E]
        np.testing.assert_allclose(conv, D[:, c], rtol=RTOL, atol=ATOL)
    c = 2 / (T * B)
    dS = (c * M.T @ D).reshape(S.shape)
    dT = (-c * S.reshape(T, -1) * (Mst.T @ D)).reshape(S.shape)
    return (D ** 2).sum() / (T * B), dS, dT


@given(shapes, seeds, st.sampled_from([0.0, 0.3, 0.9, 0.95]), st.sampled_from([None, 0, 3, "official"]))
@example((1, 1, 1), 0, 0.0, None)
def test_spike_train_matches_naive_and_matrix_forms(shape, seed, kappa_exp, tail):
    rng = np.random.default_rng(seed)
    S, tgt = raster(rng, *shape), raster(rng, *shape)
    res = LA.spike_train(S, tgt, kappa_exp=kappa_exp, train_tail=tail)
    K = res.info["K"]
    E = {None: K - 1, "official": min(K - 1, 200)}.get(tail, tail)
    assert res.info["tail"] == E
    L, dS, dT, K_naive = naive_spike_train(S, tgt, kappa_exp, E)
    assert K == K_naive
    assert res.value == pytest.approx(L, rel=RTOL, abs=ATOL)
    np.testing.assert_allclose(res.dL_dS, dS, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(res.dL_dt, dT, rtol=RTOL, atol=ATOL)
    Lm, dSm, dTm = matrix_spike_train(S, tgt, res.info["kappa"], E)
    assert res.value == pytest.approx(Lm, rel=RTOL, abs=ATOL)
    np.testing.assert_allclose(res.dL_dS, dSm, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(res.dL_dt, dTm, rtol=RTOL, atol=ATOL)
    assert np.all(res.dL_dt[S == 0] == 0)


@given(shapes, seeds, st.sampled_from([0.5, 0.9, 0.95]), st.sampled_from([None, 2]))
def test_spike_train_dS_is_derivative_wrt_real_S(shape, seed, kappa_exp, tail):
    """P-L2: dL_dS = finite differences w.r.t. real-valued S (full or explicitly truncated tail)."""
    rng = np.random.default_rng(seed)
    S = rng.random(shape)
    tgt = raster(rng, *shape)
    res = LA.spike_train(S, tgt, kappa_exp, train_tail=tail)
    u = rng.standard_normal(shape)
    numeric = fd_dir(lambda s: LA.spike_train(s, tgt, kappa_exp, train_tail=tail).value, S, u)
    np.testing.assert_allclose(np.vdot(res.dL_dS, u), numeric, rtol=FD_RTOL, atol=FD_ATOL)


@given(shapes, seeds, st.sampled_from([0.5, 0.9, 0.95]))
def test_spike_train_dT_is_shift_derivative(shape, seed, kappa_exp):
    """P-L2: dL_dt = dL/dd for moving one spike later by d, kappa interpolated with slopes kappa_star.

    The continuous kernel is the (C^1) cubic Hermite interpolant through (k, kappa[k]) with slope
    kappa_star[k] at every integer k (zero outside [-2, K+1], where values and slopes vanish).
    """
    rng = np.random.default_rng(seed)
    T, B, N = shape
    S, tgt = raster(rng, *shape, p=0.4), raster(rng, *shape)
    res = LA.spike_train(S, tgt, kappa_exp)
    kappa = res.info["kappa"]
    K, E = res.info["K"], res.info["tail"]
    grid = np.arange(-2, K + 2, dtype=np.float64)
    vals = np.concatenate(([0.0, 0.0], kappa, [0.0, 0.0]))
    slopes = np.concatenate(([0.0], LA.kappa_star(kappa), [0.0]))
    spline = CubicHermiteSpline(grid, vals, slopes)

    def kc(x):
        return np.where((x >= -2) & (x <= K + 1), spline(np.clip(x, -2, K + 1)), 0.0)

    n = np.arange(T + E)
    D = res.info["D"]
    for t, b, j in zip(*np.nonzero(S)):
        base = D[:, b, j] - kc(n - t)            # remove the spike (kc = kappa at integer lags)

        def L_of(d):
            Dd = D.copy()
            Dd[:, b, j] = base + kc(n - t - d)
            return (Dd ** 2).sum() / (T * B)

        # The interpolant is C^1 with a jump of the second derivative at integer lags, so a central
        # difference has an O(h) error; use the second-order one-sided formulas on each side.
        h, L0 = 1e-5, L_of(0.0)
        right = (-3 * L0 + 4 * L_of(h) - L_of(2 * h)) / (2 * h)
        left = (3 * L0 - 4 * L_of(-h) + L_of(-2 * h)) / (2 * h)
        np.testing.assert_allclose(res.dL_dt[t, b, j], right, rtol=FD_RTOL, atol=FD_ATOL)
        np.testing.assert_allclose(res.dL_dt[t, b, j], left, rtol=FD_RTOL, atol=FD_ATOL)


@pytest.mark.parametrize("kappa_exp, T, K", [(0.95, 1000, 270), (0.95, 100, 100), (0.9, 1000, 132),
                                             (0.99, 2000, 1000), (0.99, 50, 50), (0.0, 10, 1)])
def test_kappa_lengths(kappa_exp, T, K):
    kappa = LA.kappa_kernel(kappa_exp, T)
    assert len(kappa) == K
    np.testing.assert_allclose(kappa, kappa_exp ** np.arange(K), rtol=1e-15)


def test_kappa_star_hand():
    ks = LA.kappa_star(np.array([1.0, 0.5, 0.25]))
    # m = -1, 0, 1, 2, 3: (kappa[m+1] - kappa[m-1]) / 2
    np.testing.assert_array_equal(ks, [0.5, 0.25, (0.25 - 1) / 2, -0.25, -0.125])


def test_spike_train_official_tail_long_T():
    """T = 300, kappa_exp = 0.95: K = 270, official tail 200, shapes (T, B, N) (no code shape defect)."""
    rng = np.random.default_rng(0)
    S, tgt = raster(rng, 300, 1, 2, 0.05), raster(rng, 300, 1, 2, 0.05)
    res = LA.spike_train(S, tgt, 0.95, train_tail="official")
    assert res.info["K"] == 270 and res.info["tail"] == 200
    assert res.dL_dS.shape == res.dL_dt.shape == (300, 1, 2)
    full = LA.spike_train(S, tgt, 0.95)
    assert full.info["tail"] == 269 and full.value >= res.value


def test_spike_train_hand_case():
    """T = 2, B = N = 1, kappa_exp = 0.5 (K = 2, E = 1); spike at t = 0, target at t = 1."""
    S = np.array([1.0, 0.0]).reshape(2, 1, 1)
    tgt = np.array([0.0, 1.0]).reshape(2, 1, 1)
    res = LA.spike_train(S, tgt, 0.5)
    # diff = [1, -1]; D[0] = 1, D[1] = 0.5 - 1 = -0.5, D[2] = -0.5; L = (1 + 0.25 + 0.25) / 2
    np.testing.assert_allclose(res.info["D"][:, 0, 0], [1.0, -0.5, -0.5])
    assert res.value == pytest.approx(0.75)
    # dS[0] = (2/2)(D[0] + 0.5 D[1]) = 0.75; dS[1] = D[1] + 0.5 D[2] = -0.75
    np.testing.assert_allclose(res.dL_dS[:, 0, 0], [0.75, -0.75])
    # kappa_star[-1..2] = 0.5, 0.25, -0.5, -0.25; dT[0] = -(0.25 D[0] - 0.5 D[1] - 0.25 D[2])
    np.testing.assert_allclose(res.dL_dt[:, 0, 0], [-(0.25 * 1 - 0.5 * -0.5 - 0.25 * -0.5), 0.0])


# ------------------------------------------------------------------------------------------ latency
def ce_closed_form(tf, fired, labels, beta, T_sim):
    """-(1/B) sum_b log softmax(beta (T_sim - tf))_y with silent neurons at z = 0 (spec 5.3)."""
    z = np.where(fired, beta * (T_sim - tf), 0.0)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(labels)), labels].mean()


def test_latency_hand_case():
    T = 5
    S = np.zeros((T, 1, 3))
    S[[1, 2], 0, 0] = 1          # neuron 0 first spike at 1
    S[3, 0, 1] = 1               # neuron 1 at 3, neuron 2 silent
    res = LA.latency(S, [1], beta_softmax=0.5, lambda_nospike=0.1)
    z = np.array([0.5 * 4, 0.5 * 2, 0.0])
    p = np.exp(z) / np.exp(z).sum()
    assert res.value == pytest.approx(-np.log(p[1]), rel=1e-14)
    expected = np.zeros((T, 1, 3))
    expected[1, 0, 0] = -0.5 * p[0]
    expected[3, 0, 1] = -0.5 * (p[1] - 1)
    np.testing.assert_allclose(res.dL_dt, expected, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(res.dL_dS, 0.0)
    np.testing.assert_array_equal(res.info["first_spike_times"], [[1, 3, 5]])
    np.testing.assert_allclose(res.info["probabilities"], [p], rtol=1e-14)


def test_latency_nospike_term():
    S = np.zeros((4, 2, 2))
    S[0, 0, 1] = 1              # sample 0: label 0 silent; sample 1: label 1 silent too, all silent
    res = LA.latency(S, [0, 1], beta_softmax=1.0, lambda_nospike=0.3)
    assert res.info["L_ns"] == pytest.approx(0.3 * 2 / 2)
    np.testing.assert_array_equal(res.dL_dS[:, 0, 0], -0.3 / 2)
    np.testing.assert_array_equal(res.dL_dS[:, 1, 1], -0.3 / 2)
    np.testing.assert_array_equal(res.dL_dS[:, 0, 1], 0.0)
    np.testing.assert_array_equal(res.dL_dS[:, 1, 0], 0.0)
    # sample 1 all silent: uniform softmax, ce = log 2; sample 0: z = [0, 4]
    ce0 = -np.log(1 / (1 + np.exp(4.0)))
    assert res.info["L_ce"] == pytest.approx((ce0 + np.log(2)) / 2, rel=1e-14)
    assert res.value == pytest.approx(res.info["L_ce"] + 0.3)
    # silent neurons get no timing gradient
    np.testing.assert_array_equal(res.dL_dt[:, 0, 0], 0.0)
    np.testing.assert_array_equal(res.dL_dt[:, 1], 0.0)


@given(shapes, seeds, st.floats(0.05, 2.0))
def test_latency_dT_is_derivative_of_ce(shape, seed, beta):
    """P-L3: dL_dt at first spikes = dL_ce/dtf for firing neurons (FD of the closed form); 0 elsewhere."""
    rng = np.random.default_rng(seed)
    T, B, N = shape
    S = raster(rng, *shape, p=0.2)
    labels = rng.integers(0, N, B)
    res = LA.latency(S, labels, beta_softmax=beta, lambda_nospike=0.0)
    fired = S.any(axis=0)
    tf = np.where(fired, S.argmax(axis=0), T).astype(float)
    np.testing.assert_array_equal(res.info["first_spike_times"], tf)
    assert res.value == pytest.approx(ce_closed_form(tf, fired, labels, beta, T), rel=RTOL, abs=ATOL)
    u = rng.standard_normal((B, N)) * fired
    numeric = fd_dir(lambda t: ce_closed_form(t, fired, labels, beta, T), tf, u)
    grad_tf = res.dL_dt.sum(axis=0)       # the only non-zero entry of (b, j) is at t = tf
    np.testing.assert_allclose(np.vdot(grad_tf, u), numeric, rtol=FD_RTOL, atol=FD_ATOL)
    mask = np.zeros(S.shape, bool)
    bb, jj = np.nonzero(fired)
    mask[tf[bb, jj].astype(int), bb, jj] = True
    assert np.all(res.dL_dt[~mask] == 0)
    np.testing.assert_array_equal(res.dL_dS, 0.0)


@given(shapes, seeds, st.integers(1, 10))
def test_latency_shift_invariance(shape, seed, extra):
    """P-L3: without silent neurons L_ce does not depend on T_sim (appending silent steps)."""
    rng = np.random.default_rng(seed)
    T, B, N = shape
    S = raster(rng, *shape, p=0.3)
    S[-1] = 1                                 # every neuron fires at least once
    labels = rng.integers(0, N, B)
    a = LA.latency(S, labels, 0.7)
    b = LA.latency(np.concatenate([S, np.zeros((extra, B, N))]), labels, 0.7)
    assert a.value == pytest.approx(b.value, rel=1e-12)
    np.testing.assert_allclose(b.dL_dt[:T], a.dL_dt, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(b.dL_dt[T:], 0.0)


def test_latency_silent_neuron_depends_on_T_sim():
    S = np.zeros((3, 1, 2))
    S[0, 0, 0] = 1
    a = LA.latency(S, [0], 1.0)
    b = LA.latency(np.concatenate([S, np.zeros((2, 1, 2))]), [0], 1.0)
    # z = [T, 0]: longer window -> more confident
    assert a.value == pytest.approx(np.log1p(np.exp(-3.0)))
    assert b.value == pytest.approx(np.log1p(np.exp(-5.0)))


def test_latency_early_stop_trace(rng):
    """T_sim of an early-stopped trace is used (spec 5.3 / A13)."""
    T, B = 30, 2
    m = snnref.NeuronModel.antlr(0.9, 0.9, T=T)
    net = snnref.Network([np.full((4, 3), 1.5)], model=m)
    x = np.zeros((T, B, 4))
    x[2, 0, 0] = x[5, 1, 1] = 1
    full = snnref.forward(net, x)
    short = snnref.forward(net, x, latency_early_stop=True)
    assert short.T < T
    res = LA.latency(short, [0, 2], 0.5)
    assert res.info["T_sim"] == short.T
    assert res.dL_dt.shape == (short.T, B, 3)
    ref = LA.latency(full.output.S[:short.T], [0, 2], 0.5)
    assert res.value == ref.value
    np.testing.assert_array_equal(res.dL_dt, ref.dL_dt)


# ------------------------------------------------------------------------------------------ dtype
def test_float32_trace_gives_float32_gradients(rng):
    T = 12
    m = snnref.NeuronModel.antlr(0.9, 0.9, T=T)
    net = snnref.Network([rng.random((5, 3)) * 2], model=m, dtype="float32")
    x = raster(rng, T, 2, 5, 0.4)
    tr = snnref.forward(net, x)
    for res in (LA.count(tr, [0, 1]), LA.spike_train(tr, raster(rng, T, 2, 3)), LA.latency(tr, [0, 1])):
        assert res.dL_dS.dtype == np.float32 and res.dL_dt.dtype == np.float32
        assert isinstance(res.value, float)
    assert snnref.losses.count is LA.count


# ------------------------------------------------------------------------------------------ errors
def test_errors():
    S = np.zeros((4, 2, 3))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        LA.count(S, [0, 3])
    with pytest.raises(ValueError, match=r"labels must have shape \(B,\) = \(2,\)"):
        LA.latency(S, [0])
    with pytest.raises(TypeError, match="labels must be an integer array"):
        LA.count(S, [0.5, 1])
    with pytest.raises(TypeError, match="max_target_spikes must be a non-negative integer"):
        LA.count(S, [0, 1], max_target_spikes=1.5)
    with pytest.raises(ValueError, match="min_target_spikes must be a non-negative integer; got -1"):
        LA.count(S, [0, 1], min_target_spikes=-1)
    with pytest.raises(ValueError, match=r"loss_scale must be in \(0, inf\]"):
        LA.count(S, [0, 1], loss_scale=0.0)
    with pytest.raises(ValueError, match="target must have the shape of the output raster"):
        LA.spike_train(S, np.zeros((4, 2, 2)))
    bad = np.zeros((4, 2, 3))
    bad[1, 0, 2] = 0.5
    with pytest.raises(ValueError, match="target must contain only 0 and 1"):
        LA.spike_train(S, bad)
    with pytest.raises(ValueError, match=r"kappa_exp must be in \[0, 1\)"):
        LA.spike_train(S, S, kappa_exp=1.0)
    with pytest.raises(ValueError, match="train_tail must be None"):
        LA.spike_train(S, S, train_tail="full")
    with pytest.raises(ValueError, match="train_tail must be a non-negative integer"):
        LA.spike_train(S, S, train_tail=-2)
    with pytest.raises(ValueError, match="S must contain only 0 and 1"):
        LA.latency(bad, [0, 1])
    with pytest.raises(ValueError, match=r"beta_softmax must be in \[0, inf\]"):
        LA.latency(S, [0, 1], beta_softmax=-1.0)
    with pytest.raises(ValueError, match=r"lambda_nospike must be in \[0, inf\]"):
        LA.latency(S, [0, 1], lambda_nospike=-0.1)
    with pytest.raises(ValueError, match=r"S must be time-major with shape \(T, B, N\)"):
        LA.count(np.zeros((4, 3)), [0])
    with pytest.raises(TypeError, match="trace must be a snnref.Trace or an output raster"):
        LA.count(object(), [0])
    with pytest.raises(ValueError, match="S has 1 non-finite"):
        LA.count(np.full((2, 1, 1), np.nan)[:1], [0])
