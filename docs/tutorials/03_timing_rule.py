# %% [markdown]
# # 3. The timing rule and the division by Vstar
#
# The timing-based rule (spec 3.4, Algorithm 2) treats each spike as an event at a time t_hat and
# asks how the loss changes when that time moves. Raising V a little at a spike step makes the
# threshold crossing happen earlier, by the overshoot divided by the slope of V:
#
# ```
# dV[t] = -dT[t] / Vstar[t]        at spikes only, 0 elsewhere                              (T2)
# Vstar[t] = max(V[t] - (1 - S[t-1]) V[t-1], 0.01)   ("code" slope with floor, spec 1.4)
# ```
#
# The spike-time gradient of a hidden layer comes from the spikes it caused above, through the
# kernel's slope `eps_star` over the causal window (T3), computed with the auxiliary traces E1/E2.
#
# Code: [`timing_layer`](../../snnref/rules/timing.py), with the step helpers
# [`vstar`](../../snnref/rules/steps.py), [`timing_injection`](../../snnref/rules/steps.py) (T2) and
# [`aux_traces_step`](../../snnref/rules/steps.py) (E1/E2 for (T3)); the whole rule is
# [`timing_backward`](../../snnref/rules/timing.py).

# %%
import numpy as np

import snnref
from snnref import companion, losses, plot

T = 60
model = snnref.NeuronModel.antlr(0.95, 0.95, T=T)
rng = np.random.default_rng(3)
net = snnref.Network([rng.uniform(-0.2, 1.0, (15, 10)), rng.uniform(-0.2, 1.0, (10, 2))],
                     [np.zeros(10), np.zeros(2)], model)
x = (rng.random((T, 1, 15)) < 0.08).astype(float)
target = np.zeros((T, 1, 2))
target[[10, 30, 45], 0, 0] = 1
target[[20, 50], 0, 1] = 1
trace = snnref.forward(net, x)
res = losses.spike_train(trace, target, kappa_exp=0.95)       # spec 5.2: dL_dS and dL_dt
g = snnref.backward(net, trace, "timing", dL_dt=res.dL_dt, return_adjoints=True)
print("output spikes of neuron 0 at", np.flatnonzero(trace.output.S[:, 0, 0]))

# %% [markdown]
# **The division by Vstar, checked by hand.** At the output layer dT is the loss's dL_dt at the
# spikes; dividing by the slope gives exactly the rule's injected dV.

# %%
out = g.adjoints[-1]
vs = companion.vstar(trace.output.V, trace.output.S)
spikes = trace.output.S != 0
by_hand = np.where(spikes, -out["dT"] / vs, 0.0)
print("max |dV_rule - (-dT / Vstar)| =", np.abs(out["dV"] - by_hand).max())
for t in np.flatnonzero(spikes[:, 0, 0]):
    print(f"t = {t:2d}: V = {trace.output.V[t, 0, 0]:.3f}, Vstar = {vs[t, 0, 0]:.3f}, dT = {out['dT'][t, 0, 0]:+.5f}, "
          f"dV = {out['dV'][t, 0, 0]:+.5f}")

# %% [markdown]
# A spike that barely crosses the threshold after a slow rise has a small Vstar and therefore a
# large dV: the 1/Vstar factor is why the official code floors Vstar at 0.01 (spec 1.4, A7). Below,
# |dV| against Vstar for every spike of both spiking layers.

# %%
fig = plot.new_figure(5.0, 3.0)
ax = fig.subplots()
for l, lt in enumerate(trace.layers):
    s = lt.S != 0
    v = companion.vstar(lt.V, lt.S)[s]
    d = np.abs(g.adjoints[l]["dV"][s])
    ax.scatter(v, d + 1e-12, s=12, label=f"layer {l + 1}")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("Vstar at the spike")
ax.set_ylabel("|dV| = |dT| / Vstar")
ax.legend(fontsize=7)
fig

# %% [markdown]
# **What the timing rule is the gradient of.** Freeze the raster; give every frozen spike a
# continuous time that moves linearly with the input (interpolated threshold crossing). The loss
# `Ltil = L0 + sum dL_dt (t_hat - t)` of this *tangent model* (spec 10.3, P-T2) has exactly the
# timing rule as its gradient, hidden layers included:

# %%
tangent = companion.timing_tangent(net, x, res.dL_dt, L0=res.value)
u = companion.random_direction(net, rng=4)
print(f"timing <grad, u>       = {companion.grad_dot(g, u):.10f}")
print(f"finite difference Ltil = {companion.directional_fd(tangent, net, u):.10f}")

# %% [markdown]
# The timing rule gives a neuron gradient only at its spikes: a silent neuron gets none (P-T8),
# and a missing spike cannot be created by it. Output neuron 0:

# %%
plot.rule_gradients(net, trace, neuron=0, dL_dS=res.dL_dS, dL_dt=res.dL_dt, rules=("act_srm", "timing"))
