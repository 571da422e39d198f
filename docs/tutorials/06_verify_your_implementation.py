# %% [markdown]
# # 6. Verifying your own implementation against snnref
#
# snnref is meant as a ground truth: float64, explicit loops that follow the spec line by line. If
# you write your own implementation (say in PyTorch for the GPU), compare it with snnref on the
# same weights and inputs, **state by state**: the forward states I, V, S of every layer, then the
# backward adjoints of every layer (`snnref.backward(..., return_adjoints=True)`), and report the
# first step where they differ. A parameter gradient alone only tells you *that* something is
# wrong; the first differing adjoint tells you *where*.
#
# Here "your implementation" is a short NumPy transcription of spec 1.1 (forward) and of
# Algorithm 1 / spec 3.2 (act_srm) with (C1)-(C5). The snnref functions it mirrors are
# [`forward`](../../snnref/forward.py) and [`act_srm_layer`](../../snnref/rules/activation.py), with
# [`dep_step`](../../snnref/rules/steps.py) and [`current_step`](../../snnref/rules/steps.py).
# The `snnref verify` command automates this comparison against stored golden files.

# %%
import numpy as np

import snnref
from snnref.neuron import sigma

T, sizes = 30, (8, 6, 3)
model = snnref.NeuronModel.antlr(0.95, 0.95, T=T)
rng = np.random.default_rng(11)
weights = [rng.uniform(-0.3, 1.0, (sizes[k], sizes[k + 1])) for k in range(2)]
biases = [rng.normal(0, 0.2, sizes[k + 1]) for k in range(2)]
net = snnref.Network(weights, biases, model)
x = (rng.random((T, 2, sizes[0])) < 0.15).astype(float)
dL_dS = rng.normal(size=(T, 2, sizes[-1]))                 # any output gradient will do
m = model


def my_forward(x, weights, biases):
    """Spec 1.1, Eqs. 1-3, written out."""
    layers, inp = [], x
    for W, b in zip(weights, biases):
        B, N = inp.shape[1], W.shape[1]
        I, V, S = (np.zeros((T, B, N)) for _ in range(3))
        for t in range(T):
            keep = 1 - S[t - 1] if t else np.ones((B, N))
            i_prev = I[t - 1] if t else 0.0
            v_prev = V[t - 1] if t else 0.0
            I[t] = m.alpha_I * keep * i_prev + m.beta_I * inp[t] @ W
            V[t] = m.alpha_V * keep * v_prev + m.beta_V * I[t] + m.beta_bias * b
            S[t] = (V[t] >= m.theta).astype(float)
        layers.append(dict(I=I, V=V, S=S))
        inp = S
    return layers


def my_act_srm(layers, x, weights, dL_dS, gate_current=True):
    """Algorithm 1 (spec 3.2) with (C1)-(C5); returns dW and the adjoints of every layer."""
    L = len(layers)
    adj = [dict(dS=np.zeros_like(lt["V"]), dV=np.zeros_like(lt["V"]), dV_dep=np.zeros_like(lt["V"]),
                dI=np.zeros_like(lt["V"])) for lt in layers]
    for t in range(T - 1, -1, -1):
        for l in range(L - 1, -1, -1):
            a, S, V = adj[l], layers[l]["S"][t], layers[l]["V"][t]
            a["dS"][t] = dL_dS[t] if l == L - 1 else m.beta_I * adj[l + 1]["dI"][t] @ weights[l + 1].T   # (C5)
            a["dV"][t] = sigma(V, m.theta, 1.0, 3.0) * a["dS"][t]
            nxt = lambda k: a[k][t + 1] if t + 1 < T else 0.0                                   # noqa: E731
            a["dV_dep"][t] = a["dV"][t] + m.alpha_V * (1 - S) * nxt("dV_dep")                        # (C1)
            gate = (1 - S) if gate_current else 1.0
            a["dI"][t] = m.beta_V * a["dV_dep"][t] + m.alpha_I * gate * nxt("dI")                    # (C2)
    inputs = [x] + [lt["S"] for lt in layers[:-1]]
    dW = [m.beta_I * np.einsum("tbi,tbj->ij", inp, a["dI"]) for inp, a in zip(inputs, adj)]     # (C3)
    return dW, adj

# %% [markdown]
# **Step 1: the forward states.** Compare every state of every layer.

# %%
ref = snnref.forward(net, x)
mine = my_forward(x, weights, biases)
for l, (lt, my) in enumerate(zip(ref.layers, mine)):
    print(f"layer {l + 1}: max |dI| {np.abs(lt.I - my['I']).max():.1e}, max |dV| {np.abs(lt.V - my['V']).max():.1e}, "
          f"spikes equal: {np.array_equal(lt.S, my['S'])}")

# %% [markdown]
# **Step 2: the backward adjoints, and the first step where they differ.** The backward pass runs
# from t = T-1 down to 0, so the first differing step is the *latest* t at which any adjoint of
# any layer differs; the quantity that differs first names the faulty line.

# %%
def first_difference(ref_adjoints, my_adjoints, names=("dS", "dV", "dV_dep", "dI"), tol=1e-10):
    for t in range(T - 1, -1, -1):
        for l in range(len(my_adjoints) - 1, -1, -1):
            for k in names:
                d = np.abs(ref_adjoints[l][k][t] - my_adjoints[l][k][t])
                if d.max() > tol * (1 + np.abs(ref_adjoints[l][k][t]).max()):
                    b, j = np.unravel_index(np.argmax(d), d.shape)
                    return dict(t=t, layer=l + 1, adjoint=k, sample=int(b), neuron=int(j),
                                snnref=float(ref_adjoints[l][k][t, b, j]), mine=float(my_adjoints[l][k][t, b, j]))
    return None


g = snnref.backward(net, ref, "act_srm", dL_dS=dL_dS, ste_alpha=1.0, ste_beta=3.0, return_adjoints=True)
dW, adj = my_act_srm(mine, x, weights, dL_dS)
print("correct transcription: first difference =", first_difference(g.adjoints, adj))
print("max |dW - snnref dW| =", max(np.abs(a - b).max() for a, b in zip(dW, g.dW)))

# %% [markdown]
# Now a typical bug: the reset gate (1 - S[t]) forgotten in the current recursion (C2). The
# weight gradients are merely "somewhat different"; the adjoints point at the line:

# %%
dW_bug, adj_bug = my_act_srm(mine, x, weights, dL_dS, gate_current=False)
print("max |dW - snnref dW| =", max(np.abs(a - b).max() for a, b in zip(dW_bug, g.dW)))
diff = first_difference(g.adjoints, adj_bug)
print("first difference:", diff)
S_out = mine[diff["layer"] - 1]["S"][:, diff["sample"], diff["neuron"]]
print(f"that neuron spikes at {np.flatnonzero(S_out).tolist()}: the first difference is at a spike step, "
      f"in {diff['adjoint']}: the gate of (C2)")
