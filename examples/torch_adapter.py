"""A PyTorch port of the ANTLR neuron and the act_rnn rule (BPTT with a surrogate), written as a
snnref conformance adapter.

It uses PyTorch conventions on purpose: batch-first tensors (B, T, N) and ``torch.nn.Linear``-style
weights (out, in). The adapter declares them (``layout = "BTN"``, ``weight_layout = "out_in"``)
and the suite converts. Run it with:

    snnref conformance --adapter examples.torch_adapter:factory      (from the repository root)

act_rnn is plain autograd through the forward of spec 1.1 with a surrogate derivative for the spike
(spec 1.5): the reset factors (1 - S[t-1]) are part of the graph, which is exactly what the reset
paths of (R1) are. snnref's adjoints map to autograd as follows (docs/VERIFYING.md):

    "dV" = V[t].grad (total derivative, (R2))      "dI" = I[t].grad (total derivative, (R3))
    "dS" = the gradient arriving from the layer above only (C5) -- the .grad of the copy of S[t]
           that feeds the next layer, NOT S[t].grad (which also holds the reset paths, (R1) g)
"""
import numpy as np
import torch

__all__ = ["TorchActRnn", "factory"]


class _Spike(torch.autograd.Function):
    """S = H(V - theta) (">="); backward: sigma(V) = ste_alpha exp(-ste_beta |V - theta|)."""

    @staticmethod
    def forward(ctx, V, theta, ste_alpha, ste_beta):
        ctx.save_for_backward(V)
        ctx.c = (theta, ste_alpha, ste_beta)
        return (V >= theta).to(V.dtype)

    @staticmethod
    def backward(ctx, grad):
        (V,) = ctx.saved_tensors
        theta, a, b = ctx.c
        return grad * a * torch.exp(-b * (V - theta).abs()), None, None, None


class TorchActRnn:
    name = "torch-act_rnn"
    rules = ("act_rnn",)
    dtypes = ("float64", "float32")
    layout = "BTN"
    weight_layout = "out_in"

    def _run(self, problem, track):
        m = problem["model"]
        dt = torch.float64 if problem["dtype"] == "float64" else torch.float32
        opts = problem.get("options", {})
        x = torch.as_tensor(problem["x"], dtype=dt)                       # (B, T, N_0)
        Ws = [torch.tensor(W, dtype=dt, requires_grad=True) for W in problem["weights"]]   # (out, in)
        bs = [torch.tensor(b, dtype=dt, requires_grad=True) for b in problem["biases"]]
        B, T, _ = x.shape
        rec = {"I": [], "V": [], "S": [], "S_up": []}
        inp = [x[:, t] for t in range(T)]
        for W, b in zip(Ws, bs):
            I_prev = V_prev = S_prev = torch.zeros(B, W.shape[0], dtype=dt)
            Is, Vs, Ss, ups = [], [], [], []
            for t in range(T):
                keep = 1 - S_prev
                I = m["alpha_I"] * (keep if m["reset_current"] else 1) * I_prev + m["beta_I"] * (inp[t] @ W.T)
                V = m["alpha_V"] * keep * V_prev + m["beta_V"] * I + m["beta_bias"] * b
                S = _Spike.apply(V, m["theta"], opts.get("ste_alpha", 1.0), opts.get("ste_beta", 3.0))
                up = S * 1.0                   # the copy the next layer reads: its .grad is the signal from above
                for a in (I, V, S, up) if track else ():
                    a.retain_grad()
                Is.append(I), Vs.append(V), Ss.append(S), ups.append(up)
                I_prev, V_prev, S_prev = I, V, S
            rec["I"].append(Is), rec["V"].append(Vs), rec["S"].append(Ss), rec["S_up"].append(ups)
            inp = ups
        return rec, Ws, bs

    @staticmethod
    def _stack(lst):
        return torch.stack(lst, dim=1).detach().numpy()                   # (B, T, N)

    def forward(self, problem):
        with torch.no_grad():
            rec, _, _ = self._run(problem, track=False)
        return {k: [self._stack(l) for l in rec[k]] for k in ("I", "V", "S")}

    def backward(self, problem, rule, _record=None):
        if rule != "act_rnn":
            raise ValueError(f"{self.name} implements act_rnn only")
        rec, Ws, bs = self._run(problem, track=True)
        if _record is not None:
            _record.update(rec)
        dLdS = torch.as_tensor(problem["dL_dS"], dtype=Ws[0].dtype)       # (B, T, N_L)
        out = torch.stack(rec["S_up"][-1], dim=1)
        (out * dLdS).sum().backward()
        adj = []
        for l in range(len(Ws)):
            a = {"dV": self._grad(rec["V"][l]), "dI": self._grad(rec["I"][l])}
            a["dV_dep"] = a["dV"]
            a["dS"] = self._grad(rec["S_up"][l])
            adj.append(a)
        return {"dW": [W.grad.numpy().copy() for W in Ws], "db": [b.grad.numpy().copy() for b in bs],
                "adjoints": adj}

    @staticmethod
    def _grad(lst):
        return torch.stack([a.grad if a.grad is not None else torch.zeros_like(a) for a in lst], dim=1).numpy()


def factory():
    return TorchActRnn()
