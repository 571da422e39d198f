# %% [markdown]
# # 4. ANTLR: the activation and the timing rule combined
#
# ANTLR (spec 3.5, Algorithm 3) injects the weighted sum of both gradients into the same voltage
# adjoint:
#
# ```
# dV[t] = lambda_act sigma(V[t]) dS[t]  +  lambda_tim (-dT[t] / Vstar[t]) [S[t] = 1]
# ```
#
# and this combined dV feeds **both** back-projections: the activation one (C5, through dV_dep and
# dI) and the timing one (T3, through E1/E2). So below the output layer there are cross terms: a
# timing error creates an activation signal in the layer below and vice versa.
#
# Code: [`antlr_layer`](../../snnref/rules/antlr.py) and [`antlr_backward`](../../snnref/rules/antlr.py);
# per-step formulas [`surrogate`](../../snnref/rules/steps.py), [`timing_injection`](../../snnref/rules/steps.py),
# [`core_step`](../../snnref/rules/steps.py), [`aux_traces_step`](../../snnref/rules/steps.py).

# %%
import numpy as np

import snnref
from snnref import losses, plot

T = 60
model = snnref.NeuronModel.antlr(0.95, 0.95, T=T)
rng = np.random.default_rng(5)
net = snnref.Network([rng.uniform(-0.2, 1.0, (15, 10)), rng.uniform(-0.2, 1.0, (10, 2))],
                     [np.zeros(10), np.zeros(2)], model)
x = (rng.random((T, 1, 15)) < 0.08).astype(float)
target = np.zeros((T, 1, 2))
target[[12, 33], 0, 0] = 1
target[[25], 0, 1] = 1
trace = snnref.forward(net, x)
res = losses.spike_train(trace, target)
surr = dict(ste_alpha=0.3, ste_beta=1.0)              # Table A1
grad = {r: snnref.backward(net, trace, r, dL_dS=res.dL_dS, dL_dt=res.dL_dt, **surr)
        for r in ("act_srm", "timing", "antlr")}

# %% [markdown]
# **The two limits** (spec 10.3, P-T3): with lambda_tim = 0 ANTLR is the activation rule act_srm,
# with lambda_act = 0 it is the timing rule, in every layer.

# %%
only_act = snnref.backward(net, trace, "antlr", dL_dS=res.dL_dS, dL_dt=res.dL_dt, lambda_tim=0.0, **surr)
only_tim = snnref.backward(net, trace, "antlr", dL_dS=res.dL_dS, dL_dt=res.dL_dt, lambda_act=0.0, **surr)
for l in range(2):
    print(f"layer {l + 1}: |antlr(1,0) - act_srm| = {np.abs(only_act.dW[l] - grad['act_srm'].dW[l]).max():.1e}, "
          f"|antlr(0,1) - timing| = {np.abs(only_tim.dW[l] - grad['timing'].dW[l]).max():.1e}")

# %% [markdown]
# **The output layer is a plain sum** (P-T5): its gradient is linear in (lambda_act, lambda_tim).
# The hidden layer is not: the difference is the cross terms.

# %%
for l in range(2):
    s = grad["act_srm"].dW[l] + grad["timing"].dW[l]
    diff = np.abs(grad["antlr"].dW[l] - s).max()
    print(f"layer {l + 1}: |antlr - (act_srm + timing)| = {diff:.3e}   (|antlr| = {np.abs(grad['antlr'].dW[l]).max():.3e})")

# %% [markdown]
# The injected gradient of the four rules side by side for one output neuron: the activation
# rules spread it over every step where V is near the threshold, the timing rule puts it only at
# the spikes, ANTLR has both.

# %%
plot.rule_gradients(net, trace, neuron=0, dL_dS=res.dL_dS, dL_dt=res.dL_dt, **surr)

# %% [markdown]
# And for a hidden neuron, where the cross terms show up:

# %%
j = int(np.argmax(trace.layers[0].S[:, 0, :].sum(axis=0)))
plot.rule_gradients(net, trace, neuron=j, layer=0, dL_dS=res.dL_dS, dL_dt=res.dL_dt, **surr)

# %% [markdown]
# Which of these gradients predicts the true loss? `snnref experiment landscape` measures it: along
# lines in weight space it splits every change of the true loss into spike moves and spikes
# appearing or disappearing, and compares each rule's prediction with both (ANTLR paper section 3.4).
