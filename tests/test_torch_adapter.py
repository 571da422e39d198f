"""The PyTorch adapter example (examples/torch_adapter.py), when torch is importable; and, through
autograd, the meaning of the act_rnn adjoints documented in docs/VERIFYING.md."""
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from examples.torch_adapter import TorchActRnn  # noqa: E402
from snnref.verify import standard_case, verify  # noqa: E402
from snnref.verify.conformance import problem_arrays, run_conformance  # noqa: E402


def test_torch_adapter_conforms():
    res = run_conformance("examples.torch_adapter:factory", max_examples=25, seed=3)
    assert res.ok, res.error


def test_act_rnn_adjoints_are_signals_from_above_not_total_derivatives():
    ref = standard_case("deep", "float64")
    ad = TorchActRnn()
    problem = problem_arrays(ref, ad, {})
    rec = {}
    out = ad.backward(problem, "act_rnn", _record=rec)
    m = ref.model
    rel = []
    for l in range(ref.n_layers):
        dS = ref.arrays[f"adjoints/act_rnn/{l}/dS"]
        dV = ref.arrays[f"adjoints/act_rnn/{l}/dV"]
        dI = ref.arrays[f"adjoints/act_rnn/{l}/dI"]
        I, V = ref.arrays[f"forward/{l}/I"], ref.arrays[f"forward/{l}/V"]
        # "dS" = the autograd gradient of the copy read by the layer above (C5) ...
        np.testing.assert_allclose(ad._grad(rec["S_up"][l]).transpose(1, 0, 2), dS, rtol=1e-12, atol=1e-14)
        # ... while autograd's total dL/dS[t] is g of (R1): dS minus the reset paths
        nxt = lambda a: np.concatenate([a[1:], np.zeros_like(a[:1])])  # noqa: E731
        g = dS - m["alpha_I"] * I * nxt(dI) - m["alpha_V"] * V * nxt(dV)
        total = ad._grad(rec["S"][l]).transpose(1, 0, 2)
        np.testing.assert_allclose(total, g, rtol=1e-12, atol=1e-14)
        rel.append(np.abs(total - dS).max() / np.abs(total).max())
        # "dV" = "dV_dep" = V[t].grad (total); "dT" all zeros
        np.testing.assert_allclose(ad._grad(rec["V"][l]).transpose(1, 0, 2), dV, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(ref.arrays[f"adjoints/act_rnn/{l}/dV_dep"], dV)
        assert not ref.arrays[f"adjoints/act_rnn/{l}/dT"].any()
    assert max(rel) > 0.1      # the two notions differ by O(1), not by rounding
    assert verify(ref, {f"gradients/act_rnn/dW/{l}": out["dW"][l] for l in range(ref.n_layers)},
                  weight_layout="out_in").ok
