# %% [markdown]
# # 2. Activation-based BPTT, with and without the reset paths
#
# The spike S = H(V - theta) has no useful derivative, so activation-based rules replace dS/dV by
# a surrogate `sigma(v) = ste_alpha exp(-ste_beta |v - theta|)` (spec 1.5). Two rules follow:
#
# * `act_rnn` (spec 3.1, appendix C): ordinary BPTT through the RNN form (spec 1.1), **including**
#   the reset paths `dI[t+1]/dS[t] = -alpha_I I[t]` and `dV[t+1]/dS[t] = -alpha_V V[t]` (R1-R3);
# * `act_srm` (spec 3.2, Algorithm 1): the same through the SRM form, which has no reset paths: the
#   injected `dV[t] = sigma(V[t]) dS[t]` runs through the linear core (C1)-(C2) only.
#
# Code: [`act_rnn_layer`](../../snnref/rules/activation.py), [`act_srm_layer`](../../snnref/rules/activation.py)
# and [`act_slayer_layer`](../../snnref/rules/activation.py) (spec 3.3), built from the step helpers
# [`surrogate`](../../snnref/rules/steps.py), [`reset_path_signal`](../../snnref/rules/steps.py) (R1),
# [`dep_step`](../../snnref/rules/steps.py) (C1) and [`current_step`](../../snnref/rules/steps.py) (C2).
#
# Neither rule is the gradient of the spiking network. But each is the **exact** gradient of a
# smooth companion model (spec 10.2), which we can check by finite differences:
# `act_rnn` of the *relaxed* network where S = g(V) with g' = sigma (P-A1), and `act_srm` of the
# same network with every reset factor frozen (P-A2).

# %%
import numpy as np

import snnref
from snnref import companion, plot

T = 40
model = snnref.NeuronModel.antlr(0.95, 0.95, T=T)
rng = np.random.default_rng(1)
net = snnref.Network([rng.uniform(-0.3, 1.0, (12, 8)), rng.uniform(-0.3, 1.0, (8, 2))],
                     [rng.normal(0, 0.1, 8), rng.normal(0, 0.1, 2)], model)
x = (rng.random((T, 2, 12)) < 0.1).astype(float)
surr = dict(ste_alpha=1.0, ste_beta=3.0)
C = rng.normal(size=(T, 2, 2))                           # a linear loss L = sum C * S_out, dL/dS_out = C
loss = lambda S: float((C * S).sum())                    # noqa: E731

# %% [markdown]
# **act_rnn = gradient of the relaxed model.** Compare the rule's directional derivative
# `<grad, u>` with a central finite difference of the relaxed loss along a random direction u.

# %%
relaxed = companion.relaxed_forward(net, x, **surr)
u = companion.random_direction(net, rng=2)
g_rnn = snnref.backward(net, relaxed, "act_rnn", dL_dS=C, **surr)
fd = companion.directional_fd(companion.relaxed_objective(net, x, loss, **surr), net, u)
print(f"act_rnn <grad, u> = {companion.grad_dot(g_rnn, u):.10f}")
print(f"finite difference = {fd:.10f}")

# %% [markdown]
# **act_srm = gradient with the reset frozen.** The same check against the relaxed model whose
# reset factors (1 - S[t-1]) are constants (a stop-gradient on the reset paths), and the act_rnn
# gradient against that frozen model (it does not match: the reset paths are the difference).

# %%
g_srm = snnref.backward(net, relaxed, "act_srm", dL_dS=C, **surr)
fd_frozen = companion.directional_fd(companion.relaxed_objective(net, x, loss, frozen_trace=relaxed, **surr), net, u)
print(f"act_srm <grad, u> = {companion.grad_dot(g_srm, u):.10f}")
print(f"finite difference (frozen reset) = {fd_frozen:.10f}")
print(f"act_rnn - act_srm (the reset paths) = {companion.grad_dot(g_rnn, u) - companion.grad_dot(g_srm, u):+.6f}")

# %% [markdown]
# On the real (hard) spiking trace the two rules differ only after spikes: act_rnn sends the
# gradient through the reset paths, so a neuron that spikes gets gradient at the steps *before* its
# spike from the effect of the reset on the steps after it. Below, the injected dV of each rule for
# one hidden neuron (stems) and the accumulated dV_dep (line).

# %%
trace = snnref.forward(net, x)
fired = np.flatnonzero(trace.layers[0].S[:, 0, :].sum(axis=0))
j = int(fired[0]) if len(fired) else 0
print("hidden neuron", j, "spikes at", np.flatnonzero(trace.layers[0].S[:, 0, j]))
plot.rule_gradients(net, trace, neuron=j, layer=0, dL_dS=C, rules=("act_srm", "act_rnn", "act_slayer"), **surr)
