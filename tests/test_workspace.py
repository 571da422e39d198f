"""snnref.workspace.Workspace shared by forward and backward across calls of different shapes: every
result equals the one without a workspace bit for bit (the backward's internal buffers are reused,
the trace is not touched, no returned array is a view of a buffer)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import cases
from snnref import backward, forward, losses
from snnref.workspace import Workspace

RULES = ("act_rnn", "act_srm", "act_slayer", "timing", "antlr")


def grads_equal(a, b):
    for x, y in zip(a.dW + a.db, b.dW + b.db):
        assert x.tobytes() == y.tobytes()


@settings(max_examples=15)
@given(st.lists(st.tuples(cases(family="antlr", max_T=20, max_B=3), st.sampled_from(RULES),
                          st.sampled_from([-1, 0])), min_size=2, max_size=4))
def test_forward_backward_with_workspace_same_bits(runs):
    ws = Workspace()
    for case, rule, tau_min in runs:
        labels = np.arange(case.x.shape[1]) % case.net.sizes[-1]
        opts = {"timing_tau_min": tau_min} if rule in ("timing", "antlr") else {}
        tr = forward(case.net, case.x)
        res = losses.latency(tr, labels, lambda_nospike=0.1)
        ref = backward(case.net, tr, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt, **opts)
        tw = forward(case.net, case.x, workspace=ws)
        kept = [lt.V.copy() for lt in tw.layers]
        got = backward(case.net, tw, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt, workspace=ws, **opts)
        grads_equal(got, ref)
        for lt, v in zip(tw.layers, kept):  # the backward does not touch the trace
            assert lt.V.tobytes() == v.tobytes()
        again = backward(case.net, tw, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt, workspace=ws, **opts)
        grads_equal(again, ref)
        grads_equal(got, ref)  # the first result is not a view of a reused buffer
        assert "workspace" not in got.options
        adj = backward(case.net, tw, rule, dL_dS=res.dL_dS, dL_dt=res.dL_dt, workspace=ws, return_adjoints=True,
                       **opts)
        grads_equal(adj, ref)


def test_workspace_type_checked(rng):
    from snnref import Network, NeuronModel

    net = Network([rng.normal(size=(3, 2))], None, NeuronModel.antlr(0.9, 0.9, T=4))
    tr = forward(net, np.zeros((4, 1, 3)))
    with pytest.raises(TypeError, match="workspace must be"):
        backward(net, tr, "act_srm", dL_dS=np.zeros((4, 1, 2)), workspace={})
