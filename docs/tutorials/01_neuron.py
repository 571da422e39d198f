# %% [markdown]
# # 1. The neuron in RNN form and in SRM form
#
# snnref simulates the generalised current-based LIF neuron of the ANTLR paper (spec 1.1, Eqs. 1-3).
# For neuron j of a spiking layer, with the spikes S_i of the layer below:
#
# ```
# I_j[t] = alpha_I (1 - S_j[t-1]) I_j[t-1] + beta_I sum_i w_ij S_i[t]
# V_j[t] = alpha_V (1 - S_j[t-1]) V_j[t-1] + beta_V I_j[t] + beta_b b_j
# S_j[t] = H(V_j[t] - theta)          (spike when V >= theta = 1)
# ```
#
# A spike at t-1 cuts **both** recurrences (the "reset paths" of appendix D). The same model has a
# closed form, the SRM form (spec 1.2, Eqs. 4-5): every input spike adds the kernel
# `eps[tau] = beta_I beta_V sum_k alpha_I^k alpha_V^(tau-k)` to V, but only input spikes that
# arrived after the neuron's own last spike count (the *causal set*).
#
# Code: [`forward`](../../snnref/forward.py) runs either form: `_lif_rnn_kernel` (the recurrence) and
# `_lif_srm_kernel` (the causal-set sum); the kernel is [`eps`](../../snnref/neuron.py) and its slope
# [`eps_star`](../../snnref/neuron.py) (spec 1.3, 1.4).

# %%
import numpy as np

import snnref
from snnref import plot
from snnref.neuron import eps, eps_star

T = 60
model = snnref.NeuronModel.antlr(alpha_I=0.95, alpha_V=0.95, T=T)   # beta_auto: the PSP peaks at 1
print(model)
rng = np.random.default_rng(0)
W = rng.uniform(-0.2, 0.8, size=(20, 3))
net = snnref.Network([W], [np.zeros(3)], model)
x = (rng.random((T, 1, 20)) < 0.05).astype(float)          # time-major input (T, B, N_0)

# %% [markdown]
# The kernel: with `beta_auto` (the official default) beta_V is chosen so that one input spike
# through a weight of 1 just reaches the threshold at the kernel's peak.

# %%
k = eps(model, T)
fig = plot.new_figure(6.4, 2.6)
ax = fig.subplots()
ax.plot(k, label="eps[tau] (PSP kernel)")
ax.plot(eps_star(model, T), label="eps_star[tau] = (eps[tau+1] - eps[tau-1]) / 2")
ax.axhline(1.0, color="gray", ls=":")
ax.set_xlabel("tau (steps)")
ax.legend(fontsize=7)
print(f"peak eps = {k.max():.6f} at tau = {k.argmax()}")
fig

# %% [markdown]
# Both forms give the same states: the recurrence and the causal-set sum are the same model
# (property P-F1 of spec 10.1).

# %%
rnn = snnref.forward(net, x, form="rnn")
srm = snnref.forward(net, x, form="srm")
print("max |V_rnn - V_srm| =", np.abs(rnn.layers[0].V - srm.layers[0].V).max())
print("same spikes:", np.array_equal(rnn.layers[0].S, srm.layers[0].S))

# %% [markdown]
# The input raster and the output spikes, and one neuron's membrane potential and current. V and I
# are stored *pre-reset*: the value plotted at a spike step is the one that crossed theta; the next
# step restarts from the new input only.

# %%
plot.raster(rnn, title="input and output spikes")

# %%
plot.membrane(rnn, neuron=0)
