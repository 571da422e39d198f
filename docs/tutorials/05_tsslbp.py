# %% [markdown]
# # 5. TSSL-BP: inter-neuron and intra-neuron terms, and the warm-up
#
# TSSL-BP (Zhang & Li 2020; spec 4) uses a different neuron (spec 2.1): the membrane u is reset
# to 0 after a spike but the input current is not, and each layer passes on its PSP trace
# `a[t] = (1 - 1/tau_s) a[t-1] + s[t]/tau_s`, not its spikes. The gradient w.r.t. the layer's
# input current, G = dL/dx, follows the recursion (P1) of spec 4.2:
#
# ```
# A[t]      = sum_k eps_s[k] E[t+k]                       (E = dL/da: what a unit spike at t would change)
# rho[t]    = s[t] min(1/du[t], 8)                         (-d t_spike / d u: the crossing moves by 1/slope)
# G_tssl[t] = s[t] rho[t] (A[t] + theta_m u[t] G_tssl[t+1])    inter-neuron + intra-neuron term
#           + (1 - s[t]) (1 - theta_m) G_tssl[t+1]                 leak between spikes
# G[t]      = f(u[t]) A[t] if a[t] < 1/(4 tau_s) else G_tssl[t]    warm-up (spec 4.3)
# ```
#
# * **inter-neuron** `rho A`: moving this spike moves the PSP that *other* neurons see;
# * **intra-neuron** `rho theta_m u G_tssl[t+1]`: moving this spike moves its reset, which changes
#   the same neuron's membrane afterwards and hence its *next* spike;
# * **warm-up**: a neuron whose trace is small (before its first spike, or long after a spike) gets
#   a logistic surrogate f(u) A instead, so silent neurons can learn to fire.
#
# Code: [`tsslbp_final_layer`](../../snnref/rules/tsslbp.py) and [`tsslbp_backward`](../../snnref/rules/tsslbp.py);
# per-step formulas [`psp_adjoint_step`](../../snnref/rules/steps.py), [`tssl_rho`](../../snnref/rules/steps.py),
# [`tssl_step`](../../snnref/rules/steps.py) (P1) and [`warmup_slope`](../../snnref/rules/steps.py) (f).

# %%
import numpy as np

import snnref
from snnref import companion, losses, plot

T = 20
model = snnref.NeuronModel.tsslbp(tau_m=5.0, tau_s=3.0)
rng = np.random.default_rng(7)
net = snnref.Network([rng.normal(0.15, 0.3, (6, 5)), rng.normal(0.5, 0.3, (5, 2))], model=model)
x = np.repeat(rng.random((1, 1, 6)) * 2.0, T, axis=0)      # a static input current, as for images (spec 6.3)
target = np.zeros((T, 1, 2))
target[[4, 9, 14], 0, 0] = 1
target[[7, 15], 0, 1] = 1
trace = snnref.forward(net, x)
res = losses.psp_kernel(trace, target=target)              # spec 5.4 with an explicit target raster
g = snnref.backward(net, trace, "tsslbp", dL_da=res.dL_da, return_adjoints=True)
for l, lt in enumerate(trace.layers):
    print(f"layer {l + 1}: spikes per neuron {lt.S[:, 0, :].sum(axis=0).astype(int)}")

# %% [markdown]
# **The two terms, one neuron.** For the hidden neuron with the fewest (but at least two) spikes: A (what a spike would
# change downstream), G_tssl with and without the intra-neuron term (`tssl_intra=False` is an
# ablation, not an official variant), and the gradient G after the warm-up override.

# %%
counts = trace.layers[0].S[:, 0, :].sum(axis=0)
j = int(np.argmin(np.where(counts >= 2, counts, np.inf)))
no_intra = snnref.backward(net, trace, "tsslbp", dL_da=res.dL_da, return_adjoints=True, tssl_intra=False)
adj, adj0 = g.adjoints[0], no_intra.adjoints[0]
t = np.arange(T)
fig = plot.new_figure(6.4, 4.2)
ax_u, ax_g = fig.subplots(2, 1, sharex=True)
lt = trace.layers[0]
ax_u.plot(t, lt.V[:, 0, j], label="u (pre-reset)")
ax_u.plot(t, lt.a[:, 0, j], label="a (PSP trace)")
ax_u.axhline(model.theta, color="tab:red", ls="--", lw=0.8)
ax_u.axhline(1 / (4 * model.tau_s), color="gray", ls=":", lw=0.8, label="warm-up switch a = 1/(4 tau_s)")
ax_u.scatter(np.flatnonzero(lt.S[:, 0, j]), lt.V[lt.S[:, 0, j] != 0, 0, j], color="tab:red", zorder=3)
ax_u.legend(fontsize=6)
ax_g.plot(t, adj["A"][:, 0, j], color="gray", label="A")
ax_g.plot(t, adj["G_tssl"][:, 0, j], color="tab:orange", label="G_tssl (inter + intra)")
ax_g.plot(t, adj0["G_tssl"][:, 0, j], color="tab:orange", ls="--", label="G_tssl, inter only")
ax_g.plot(t, adj["G"][:, 0, j], color="black", lw=0.8, marker=".", label="G (with warm-up)")
ax_g.set_xlabel("time step t")
ax_g.legend(fontsize=6)
fig

# %% [markdown]
# **The warm-up decides whether silent neurons learn.** Without it (`tssl_warmup=False`) the
# gradient of a neuron that never fires is exactly zero; with it, it is `f(u) A`:

# %%
no_warm = snnref.backward(net, trace, "tsslbp", dL_da=res.dL_da, tssl_warmup=False)
for l, lt in enumerate(trace.layers):
    silent = lt.S[:, 0, :].sum(axis=0) == 0
    print(f"layer {l + 1}: {silent.sum()} silent neurons; |dW| into them with warm-up "
          f"{np.abs(g.dW[l][:, silent]).sum():.4f}, without {np.abs(no_warm.dW[l][:, silent]).sum():.4f}")

# %% [markdown]
# **What TSSL-BP is the gradient of** (spec 10.5, P-S3/P-S4): freeze the raster, let every spike
# time move with the membrane (through the reset of the previous spike too), and replace s by a
# logistic only at warm-up steps. The finite-difference gradient of this surrogate model equals
# the rule:

# %%
fd = companion.tssl_surrogate_gradient_fd(net, trace, res.dL_da, warmup=True)
for l in range(2):
    print(f"layer {l + 1}: max |tsslbp - finite difference| = {np.abs(g.dW[l] - fd[l]).max():.2e} "
          f"(max |dW| = {np.abs(g.dW[l]).max():.2e})")
