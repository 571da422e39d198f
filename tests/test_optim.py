"""Optimisers and StepLR (snnref/training/optim.py) against hand-derived values (torch.optim semantics).

Expected values are derived by hand in the comments (dyadic numbers are exact in float64), or in
closed form (e.g. Adam with a constant gradient moves by lr * g / (|g| + eps) every step), or by a
plain per-element Python transcription of the torch update equations (``_naive_*``).
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snnref.optim import SGD, Adam, AdamW, StepLR, make_optimizer

EPS = 1e-8


def arr(*x, dtype=np.float64):
    return np.array(x, dtype=dtype)


# ------------------------------------------------------------------------------------------------
# SGD
# ------------------------------------------------------------------------------------------------
def test_sgd_plain_step():
    p = arr(1.0, -2.0)
    SGD([p], lr=0.5).step([arr(0.5, -0.25)])
    np.testing.assert_array_equal(p, arr(0.75, -1.875))   # 1 - 0.25, -2 + 0.125


def test_sgd_momentum_three_steps():
    # lr 0.5, momentum 0.5, g = 1: buf = 1, 1.5, 1.75;  p = 0 - 0.5 buf_k cumulatively
    p = arr(0.0)
    opt = SGD([p], lr=0.5, momentum=0.5)
    expected = [-0.5, -1.25, -2.125]
    for e in expected:
        opt.step([arr(1.0)])
        assert p[0] == e
    np.testing.assert_array_equal(opt.momentum_buffer[0], arr(1.75))


def test_sgd_nesterov_three_steps():
    # buf = 1, 1.5, 1.75 ; d = g + 0.5 buf = 1.5, 1.75, 1.875 ; p -= 0.5 d
    p = arr(0.0)
    opt = SGD([p], lr=0.5, momentum=0.5, nesterov=True)
    for e in [-0.75, -1.625, -2.5625]:
        opt.step([arr(1.0)])
        assert p[0] == e


def test_sgd_weight_decay_is_l2_in_gradient_and_momentum():
    # g = 0, wd = 0.25, lr = 0.5: p <- p - 0.5 * 0.25 p = 0.875 p
    p = arr(2.0)
    opt = SGD([p], lr=0.5, weight_decay=0.25)
    opt.step([arr(0.0)])
    assert p[0] == 1.75
    opt.step([arr(0.0)])
    assert p[0] == 1.53125
    # with momentum 0.5 the decay term enters the buffer: g' = 0.25*2 = 0.5 -> buf 0.5, p = 1.75;
    # g' = 0.25*1.75 = 0.4375 -> buf = 0.25 + 0.4375 = 0.6875, p = 1.75 - 0.34375 = 1.40625
    p = arr(2.0)
    opt = SGD([p], lr=0.5, momentum=0.5, weight_decay=0.25)
    opt.step([arr(0.0)])
    opt.step([arr(0.0)])
    assert p[0] == 1.40625


# ------------------------------------------------------------------------------------------------
# Adam / AdamW
# ------------------------------------------------------------------------------------------------
def test_adam_first_step_is_lr_times_sign():
    # m1 = (1-b1) g, v1 = (1-b2) g^2 -> m1/bc1 = g, sqrt(v1/bc2) = |g| -> p -= lr g / (|g| + eps)
    g = arr(0.3, -2.0, 1e-3)
    p = arr(1.0, 1.0, 1.0)
    Adam([p], lr=0.01).step([g])
    np.testing.assert_allclose(p, 1.0 - 0.01 * g / (np.abs(g) + EPS), rtol=1e-14, atol=0)


def test_adam_constant_gradient_three_steps():
    # with a constant g, m_k/bc1_k = g and sqrt(v_k/bc2_k) = |g| for every k: each step moves lr*g/(|g|+eps)
    g = arr(0.5, -4.0)
    p = arr(0.0, 0.0)
    opt = Adam([p], lr=0.1)
    for k in range(1, 4):
        opt.step([g])
        np.testing.assert_allclose(p, -k * 0.1 * g / (np.abs(g) + EPS), rtol=1e-13, atol=0)
    assert opt.step_count[0] == 3


def test_adam_two_different_gradients_closed_form():
    # betas (0.5, 0.75), g1 = 1, g2 = 3:
    # m2 = 0.5*0.5*1 + 0.5*3 = 1.75, bc1 = 0.75 -> m2/bc1 = 7/3
    # v2 = 0.75*0.25*1 + 0.25*9 = 2.4375, bc2 = 1 - 0.5625 = 0.4375 -> v2/bc2 = 39/7
    p = arr(0.0)
    opt = Adam([p], lr=0.1, betas=(0.5, 0.75))
    opt.step([arr(1.0)])
    p1 = -0.1 * 1.0 / (1.0 + EPS)
    np.testing.assert_allclose(p[0], p1, rtol=1e-14)
    opt.step([arr(3.0)])
    expected = p1 - 0.1 * (7 / 3) / (math.sqrt(39 / 7) + EPS)
    np.testing.assert_allclose(p[0], expected, rtol=1e-14)
    np.testing.assert_allclose(opt.exp_avg[0], [1.75], rtol=0)
    np.testing.assert_allclose(opt.exp_avg_sq[0], [2.4375], rtol=0)


def test_adam_weight_decay_is_l2_through_the_moments():
    # p = 2, g = 0, wd = 0.5: g' = 1 -> first step p = 2 - lr * 1/(1+eps)
    p = arr(2.0)
    Adam([p], lr=0.1, weight_decay=0.5).step([arr(0.0)])
    np.testing.assert_allclose(p[0], 2.0 - 0.1 / (1.0 + EPS), rtol=1e-15)


def test_adamw_decoupled_decay():
    # AdamW, p = 2, g = 0, wd = 0.5, lr = 0.1: p <- 2 (1 - 0.05) = 1.9; m = v = 0 so Adam adds 0/(0+eps) = 0
    p = arr(2.0)
    AdamW([p], lr=0.1, weight_decay=0.5).step([arr(0.0)])
    assert p[0] == 2.0 * (1 - 0.1 * 0.5)
    # g = 1: p1 = 2*0.95 - 0.1/(1+eps); p2 = p1*0.95 - 0.1/(1+eps) (constant gradient, see above)
    p = arr(2.0)
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    opt.step([arr(1.0)])
    p1 = 2.0 * 0.95 - 0.1 / (1 + EPS)
    np.testing.assert_allclose(p[0], p1, rtol=1e-14)
    opt.step([arr(1.0)])
    np.testing.assert_allclose(p[0], p1 * 0.95 - 0.1 / (1 + EPS), rtol=1e-14)


def test_adamw_default_weight_decay_is_torch_default():
    assert AdamW([arr(1.0)]).weight_decay == 0.01
    assert Adam([arr(1.0)]).weight_decay == 0.0
    assert make_optimizer("adamw", [arr(1.0)], lr=1e-3, weight_decay=0.01).weight_decay == 0.01


def test_none_gradient_skips_parameter_and_its_step_count():
    p0, p1 = arr(1.0), arr(1.0)
    opt = AdamW([p0, p1], lr=0.1, weight_decay=0.5)
    opt.step([arr(1.0), None])
    assert p1[0] == 1.0                          # neither decayed nor updated
    np.testing.assert_array_equal(opt.step_count, [1, 0])
    opt.step([arr(1.0), arr(-2.0)])
    # p1's first update: decay then lr * sign -> 0.95 + 0.1 * 2/(2+eps)
    np.testing.assert_allclose(p1[0], 0.95 + 0.1 * 2.0 / (2.0 + EPS), rtol=1e-14)
    np.testing.assert_array_equal(opt.step_count, [2, 1])


def _naive_adam(p, gs, lr, b1, b2, eps, wd, decoupled):
    """Per-element transcription of torch.optim.Adam / AdamW (Python floats)."""
    p = list(map(float, p))
    m = [0.0] * len(p)
    v = [0.0] * len(p)
    for k, g in enumerate(gs, start=1):
        for i in range(len(p)):
            gi = float(g[i])
            if decoupled:
                p[i] = p[i] * (1 - lr * wd)
            else:
                gi = gi + wd * p[i]
            m[i] = m[i] * b1 + (1 - b1) * gi
            v[i] = v[i] * b2 + (1 - b2) * gi * gi
            denom = math.sqrt(v[i]) / math.sqrt(1 - b2 ** k) + eps
            p[i] = p[i] + (-(lr / (1 - b1 ** k)) * m[i]) / denom
    return np.array(p)


def _naive_sgd(p, gs, lr, momentum, wd, nesterov):
    p = list(map(float, p))
    buf = [None] * len(p)
    for g in gs:
        for i in range(len(p)):
            gi = float(g[i]) + wd * p[i]
            if momentum:
                buf[i] = gi if buf[i] is None else momentum * buf[i] + gi
                d = gi + momentum * buf[i] if nesterov else buf[i]
            else:
                d = gi
            p[i] = p[i] - lr * d
    return np.array(p)


_vals = st.floats(-3, 3, allow_nan=False, allow_subnormal=False)


@given(st.lists(_vals, min_size=1, max_size=4), st.integers(1, 4), st.data(),
       st.sampled_from(["adam", "adamw", "sgd"]))
def test_matches_naive_transcription(p0, n_steps, data, name):
    n = len(p0)
    gs = [np.array(data.draw(st.lists(_vals, min_size=n, max_size=n))) for _ in range(n_steps)]
    lr = data.draw(st.floats(1e-4, 1.0))
    wd = data.draw(st.sampled_from([0.0, 1e-3, 0.1]))
    p = np.array(p0)
    if name == "sgd":
        mom = data.draw(st.sampled_from([0.0, 0.5, 0.9]))
        nest = mom > 0 and data.draw(st.booleans())
        opt = SGD([p], lr=lr, momentum=mom, weight_decay=wd, nesterov=nest)
        expected = _naive_sgd(p0, gs, lr, mom, wd, nest)
    else:
        b1 = data.draw(st.sampled_from([0.0, 0.5, 0.9]))
        b2 = data.draw(st.sampled_from([0.0, 0.9, 0.999]))
        opt = make_optimizer(name, [p], lr=lr, weight_decay=wd, betas=(b1, b2))
        expected = _naive_adam(p0, gs, lr, b1, b2, 1e-8, wd, decoupled=(name == "adamw"))
    for g in gs:
        opt.step([g])
    np.testing.assert_allclose(p, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_float32_stays_float32_and_matches_float64(name):
    rng = np.random.default_rng(1)
    p64 = rng.standard_normal((3, 4))
    p32 = p64.astype(np.float32)
    gs = [rng.standard_normal((3, 4)) for _ in range(4)]
    o64 = make_optimizer(name, [p64], lr=1e-2, weight_decay=1e-2)
    o32 = make_optimizer(name, [p32], lr=1e-2, weight_decay=1e-2)
    for g in gs:
        o64.step([g])
        o32.step([g])                       # float64 gradient is cast to the parameter dtype
    assert p32.dtype == np.float32
    for v in o32.state_dict().values():
        if isinstance(v, list):
            assert all(b is None or b.dtype == np.float32 for b in v)
    np.testing.assert_allclose(p32, p64, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# state_dict
# ------------------------------------------------------------------------------------------------
def _make(name, params):
    kw = {"sgd": dict(momentum=0.9, weight_decay=1e-3), "adam": dict(weight_decay=1e-3),
          "adamw": dict(weight_decay=1e-2)}[name]
    return make_optimizer(name, params, lr=1e-2, **kw)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_state_dict_resume_is_bit_identical(name, dtype):
    rng = np.random.default_rng(2)
    init = [rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal(2).astype(dtype)]
    gs = [[rng.standard_normal((3, 2)), None if k == 1 else rng.standard_normal(2)] for k in range(6)]

    ref = [a.copy() for a in init]
    o_ref = _make(name, ref)
    s_ref = StepLR(o_ref, step_size=2, gamma=0.5)
    for g in gs:
        o_ref.step(g)
        s_ref.step()

    first = [a.copy() for a in init]
    o1 = _make(name, first)
    s1 = StepLR(o1, step_size=2, gamma=0.5)
    for g in gs[:3]:
        o1.step(g)
        s1.step()
    snapshot = [a.copy() for a in first]
    state, sched_state = o1.state_dict(), s1.state_dict()
    o1.step(gs[3])                                        # the saved state must not follow later updates
    params = [a.copy() for a in snapshot]
    o2 = _make(name, params)                              # fresh optimiser
    o2.lr = 0.123                                         # replaced by the saved lr
    s2 = StepLR(o2, step_size=2, gamma=0.5)
    o2.load_state_dict(state)
    s2.load_state_dict(sched_state)
    assert o2.lr == 1e-2 * 0.5    # 3 epochs at step_size 2, gamma 0.5
    for g in gs[3:]:
        o2.step(g)
        s2.step()
    for a, b in zip(params, ref):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    assert o2.lr == o_ref.lr


def test_state_dict_is_a_copy():
    p = arr(1.0, 2.0)
    opt = Adam([p], lr=0.1)
    opt.step([arr(1.0, 1.0)])
    d = opt.state_dict()
    m = d["exp_avg"][0].copy()
    opt.step([arr(1.0, 1.0)])
    np.testing.assert_array_equal(d["exp_avg"][0], m)
    np.testing.assert_array_equal(d["step"], [1])
    d["exp_avg"][0][:] = 99.0
    opt2 = Adam([arr(1.0, 2.0)], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    opt2.exp_avg[0][:] = -1.0
    assert opt.exp_avg[0][0] != -1.0


def test_state_dict_contents():
    opt = SGD([arr(1.0)], lr=0.1, momentum=0.5)
    d = opt.state_dict()
    assert d == {"type": "SGD", "lr": 0.1, "momentum": 0.5, "weight_decay": 0.0, "nesterov": False,
                 "momentum_buffer": [None]}
    opt = AdamW([arr(1.0)], lr=0.1)
    assert set(opt.state_dict()) == {"type", "lr", "betas", "eps", "weight_decay", "exp_avg", "exp_avg_sq", "step"}


def test_load_state_dict_errors_and_no_partial_update():
    src = Adam([arr(1.0, 2.0), arr(3.0)], lr=0.1)
    src.step([arr(1.0, 1.0), arr(1.0)])
    good = src.state_dict()
    dst = Adam([arr(1.0, 2.0), arr(3.0)], lr=0.5)
    with pytest.raises(ValueError, match="for optimiser type 'Adam' but this optimiser is 'AdamW'"):
        AdamW([arr(1.0, 2.0), arr(3.0)]).load_state_dict(good)
    with pytest.raises(TypeError, match="must be a dict"):
        dst.load_state_dict([1])
    with pytest.raises(ValueError, match="must be a list of 1 arrays .*different set of parameters"):
        Adam([arr(1.0, 2.0)]).load_state_dict(good)
    with pytest.raises(ValueError, match=r"state_dict\['exp_avg'\]\[0\] has shape \(2,\).*expected .* of shape \(3,\)"):
        Adam([arr(1.0, 2.0, 3.0), arr(3.0)]).load_state_dict(good)
    bad = dict(good)
    del bad["eps"]
    with pytest.raises(ValueError, match=r"lacks key\(s\) \['eps'\]"):
        dst.load_state_dict(bad)
    bad = dict(good, step=np.array([0, 1]))
    with pytest.raises(ValueError, match="inconsistent for parameter 0"):
        dst.load_state_dict(bad)
    bad = dict(good, step=np.array([1]))
    with pytest.raises(ValueError, match="must hold 2 non-negative integers"):
        dst.load_state_dict(bad)
    bad = dict(good, lr=-1.0)
    with pytest.raises(ValueError, match=r"lr must be in \(0, inf\]"):
        dst.load_state_dict(bad)
    bad = dict(good, exp_avg=[np.array([np.nan, 0.0]), np.array([0.1])])
    with pytest.raises(ValueError, match="non-finite"):
        dst.load_state_dict(bad)
    assert dst.lr == 0.5 and dst.exp_avg == [None, None]    # unchanged after every rejection
    bad = dict(good, eps=0.0)
    with pytest.raises(ValueError, match="eps must be in"):
        dst.load_state_dict(bad)
    assert dst.lr == 0.5 and dst.eps == 1e-8 and dst.exp_avg == [None, None]
    dst.load_state_dict(good)
    assert dst.lr == 0.1
    np.testing.assert_array_equal(dst.step_count, [1, 1])


# ------------------------------------------------------------------------------------------------
# StepLR
# ------------------------------------------------------------------------------------------------
def test_steplr_schedule():
    opt = SGD([arr(1.0)], lr=1.0)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    lrs = [opt.lr]
    for _ in range(7):
        sched.step()
        lrs.append(opt.lr)
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_steplr_official_antlr_never_triggers_within_10_epochs():
    opt = Adam([arr(1.0)], lr=1e-3)
    sched = StepLR(opt, step_size=10, gamma=0.1)
    for _ in range(9):
        sched.step()
    assert opt.lr == 1e-3
    sched.step()
    assert opt.lr == 1e-3 * 0.1


def test_steplr_state_round_trip_sets_lr():
    opt = SGD([arr(1.0)], lr=1.0)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(5):
        sched.step()
    d = sched.state_dict()
    assert d == {"type": "StepLR", "step_size": 2, "gamma": 0.5, "base_lr": 1.0, "last_epoch": 5}
    opt2 = SGD([arr(1.0)], lr=3.0)
    s2 = StepLR(opt2, step_size=7, gamma=0.9)
    s2.load_state_dict(d)
    assert opt2.lr == 0.25 and s2.step_size == 2
    s2.step()
    assert opt2.lr == 0.125


def test_steplr_errors():
    opt = SGD([arr(1.0)], lr=1.0)
    with pytest.raises(ValueError, match="step_size must be an integer >= 1"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="step_size must be an integer >= 1"):
        StepLR(opt, step_size=2.5)
    with pytest.raises(ValueError, match=r"gamma must be in \(0, inf\]"):
        StepLR(opt, step_size=2, gamma=0.0)
    with pytest.raises(TypeError, match="optimizer must be an snnref.optim optimiser"):
        StepLR("adam", step_size=2)
    sched = StepLR(opt, step_size=2)
    with pytest.raises(ValueError, match="not a StepLR state"):
        sched.load_state_dict({"type": "Adam"})
    with pytest.raises(ValueError, match=r"lacks key\(s\) \['gamma'\]"):
        sched.load_state_dict({"type": "StepLR", "step_size": 2, "base_lr": 1.0, "last_epoch": 0})
    with pytest.raises(ValueError, match="last_epoch'] must be an integer >= 0"):
        sched.load_state_dict({"type": "StepLR", "step_size": 2, "gamma": 0.1, "base_lr": 1.0, "last_epoch": -1})


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------
def test_hyper_parameter_validation():
    p = [arr(1.0)]
    with pytest.raises(ValueError, match=r"lr must be in \(0, inf\]; got 0.0. The learning rate must be positive"):
        Adam(p, lr=0.0)
    with pytest.raises(ValueError, match=r"lr must be in \(0, inf\]"):
        SGD(p, lr=-1e-3)
    with pytest.raises(ValueError, match=r"betas\[0\] must be in \[0, 1\); got 1.0"):
        Adam(p, betas=(1.0, 0.999))
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0, 1\); got -0.1"):
        AdamW(p, betas=(0.9, -0.1))
    with pytest.raises(ValueError, match=r"betas must be a pair"):
        Adam(p, betas=(0.9,))
    with pytest.raises(ValueError, match=r"eps must be in \(0, inf\]"):
        Adam(p, eps=0.0)
    with pytest.raises(ValueError, match=r"weight_decay must be in \[0, inf\]"):
        AdamW(p, weight_decay=-0.01)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, inf\]"):
        SGD(p, lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="nesterov=True requires momentum > 0"):
        SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="lr must be a real number"):
        Adam(p, lr="0.1")
    opt = Adam(p, lr=0.1)
    with pytest.raises(ValueError, match=r"lr must be in \(0, inf\]"):
        opt.lr = 0.0
    opt.lr = 0.2
    assert opt.lr == 0.2


def test_make_optimizer_names_and_errors():
    assert type(make_optimizer("adam", [arr(1.0)], lr=1e-3)) is Adam
    assert type(make_optimizer("AdamW", [arr(1.0)], lr=1e-3)) is AdamW
    sgd = make_optimizer("sgd", [arr(1.0)], lr=1e-3, momentum=0.9, weight_decay=1e-4)
    assert type(sgd) is SGD and sgd.momentum == 0.9 and sgd.weight_decay == 1e-4
    with pytest.raises(ValueError, match=r"optimizer must be one of \['adam', 'adamw', 'sgd'\]; got 'rmsprop'"):
        make_optimizer("rmsprop", [arr(1.0)], lr=1e-3)
    with pytest.raises(ValueError, match="momentum applies only to the 'sgd' optimiser"):
        make_optimizer("adam", [arr(1.0)], lr=1e-3, momentum=0.9)


def test_param_and_grad_validation():
    with pytest.raises(TypeError, match="params must be a list of numpy arrays"):
        Adam(np.zeros(3))
    with pytest.raises(ValueError, match="params is empty"):
        Adam([])
    with pytest.raises(TypeError, match=r"params\[0\] must be a numpy array"):
        Adam([[1.0, 2.0]])
    with pytest.raises(TypeError, match=r"params\[0\] must be float64 or float32; got dtype int64"):
        Adam([np.zeros(2, dtype=np.int64)])
    ro = np.zeros(2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\] is read-only"):
        Adam([ro])
    a = np.zeros(2)
    with pytest.raises(ValueError, match=r"params\[1\] is the same array as params\[0\]"):
        Adam([a, a])
    opt = Adam([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="grads has 1 entries but the optimiser holds 2 parameters"):
        opt.step([np.zeros(2)])
    with pytest.raises(TypeError, match="grads must be a list aligned with params"):
        opt.step(np.zeros(2))
    with pytest.raises(ValueError, match=r"grads\[1\] has shape \(2,\) but params\[1\] has shape \(3,\)"):
        opt.step([np.zeros(2), np.zeros(2)])
    with pytest.raises(TypeError, match=r"grads\[0\] must be a floating array; got dtype int64"):
        opt.step([np.zeros(2, dtype=np.int64), None])
    with pytest.raises(ValueError, match=r"grads\[1\] has 1 non-finite values"):
        opt.step([np.zeros(2), np.array([0.0, np.nan, 0.0])])
    np.testing.assert_array_equal(opt.step_count, [0, 0])   # nothing was applied


def _numpy_adam_step(p, g, m, v, k, lr, b1, b2, eps, wd, decoupled):
    """One Adam / AdamW step written with numpy array expressions and Python-float scalars (NumPy's
    "weak" scalars keep float32 arrays in float32), in torch's operation order."""
    if decoupled:
        p *= 1.0 - lr * wd
    elif wd != 0.0:
        g = g + wd * p
    m *= b1
    m += (1.0 - b1) * g
    v *= b2
    v += ((1.0 - b2) * g) * g
    denom = np.sqrt(v) / math.sqrt(1.0 - b2 ** k) + eps
    p += ((-(lr / (1.0 - b1 ** k))) * m) / denom


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_adam_equals_numpy_array_expressions(name, dtype, wd):
    """The compiled one-pass update equals, bit for bit, the numpy array expressions with Python-float
    scalars (float32 stays float32 arithmetic), over several steps of a large parameter."""
    rng = np.random.default_rng(7)
    p = rng.standard_normal((300, 70)).astype(dtype)
    q = p.copy()
    m = np.zeros_like(q)
    v = np.zeros_like(q)
    opt = make_optimizer(name, [p], lr=3e-3, weight_decay=wd, betas=(0.9, 0.999))
    for k in range(1, 6):
        g = (rng.standard_normal(p.shape) * 10.0 ** rng.integers(-6, 2, p.shape)).astype(dtype)
        opt.step([g])
        _numpy_adam_step(q, g, m, v, k, 3e-3, 0.9, 0.999, 1e-8, wd, decoupled=(name == "adamw"))
        np.testing.assert_array_equal(p, q)
    assert p.dtype == dtype and np.any(p != p.astype(np.float16))


def test_non_contiguous_parameter_refused():
    with pytest.raises(ValueError, match="not C-contiguous"):
        make_optimizer("adam", [np.zeros((3, 4)).T], lr=1e-3)
