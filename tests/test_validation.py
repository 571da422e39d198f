"""Every input-validation message of NeuronModel, Network, forward and the backward dispatcher."""
import numpy as np
import pytest

from snnref import Network, NeuronModel, backward, forward


@pytest.fixture
def model():
    return NeuronModel(alpha_I=0.5, alpha_V=0.5)


@pytest.fixture
def net(model):
    return Network([np.ones((2, 3))], None, model)


@pytest.fixture
def tnet():
    return Network([np.ones((2, 3))], None, NeuronModel.tsslbp())


# ------------------------------------------------------------------------------ NeuronModel
@pytest.mark.parametrize("kw, exc, match", [
    ({"alpha_I": 1.5}, ValueError, r"alpha_I must be in \[0, 1\]; got 1\.5\. alpha is a per-step decay"),
    ({"alpha_I": -0.1}, ValueError, r"alpha_I must be in \[0, 1\]; got -0\.1"),
    ({"alpha_V": 1.0001}, ValueError, r"alpha_V must be in \[0, 1\]; got 1\.0001.*NeuronModel\.tsslbp"),
    ({"alpha_V": -1}, ValueError, r"alpha_V must be in \[0, 1\]; got -1\.0"),
    ({"theta": 0.0}, ValueError, r"theta must be in \(0, inf\]; got 0\.0\. The threshold must be positive"),
    ({"theta": -1.0}, ValueError, r"theta must be in \(0, inf\]; got -1\.0"),
    ({"beta_I": 0.0}, ValueError, r"beta_I must be in \(0, inf\]; got 0\.0"),
    ({"beta_V": -2.0}, ValueError, r"beta_V must be in \(0, inf\]; got -2\.0"),
    ({"beta_bias": -1.0}, ValueError, r"beta_bias must be in \[0, inf\]; got -1\.0"),
    ({"alpha_I": float("nan")}, ValueError, r"alpha_I must be finite; got nan"),
    ({"theta": float("inf")}, ValueError, r"theta must be finite; got inf"),
    ({"alpha_I": "0.5"}, TypeError, r"alpha_I must be a real number; got '0\.5' \(str\)"),
    ({"theta": True}, TypeError, r"theta must be a real number; got True \(bool\)"),
    ({"beta_V": None}, TypeError, r"beta_V must be a real number; got None"),
    ({"reset_current": 1}, TypeError, r"reset_current must be True or False; got 1\."),
    ({"strict_threshold": "yes"}, TypeError, r"strict_threshold must be True or False; got 'yes'"),
    ({"psp_output": None}, TypeError, r"psp_output must be True or False; got None"),
    ({"psp_output": True}, ValueError, r"psp_output=True \(TSSL-BP PSP-trace output\) requires reset_current=False"),
])
def test_neuron_model_messages(kw, exc, match):
    args = {"alpha_I": 0.5, "alpha_V": 0.5}
    args.update(kw)
    with pytest.raises(exc, match=match):
        NeuronModel(**args)


def test_neuron_model_edges_accepted():
    m = NeuronModel(alpha_I=0, alpha_V=1, beta_bias=0, reset_current=np.bool_(False))
    assert (m.alpha_I, m.alpha_V, m.beta_bias, m.reset_current) == (0.0, 1.0, 0.0, False)
    assert isinstance(m.alpha_I, float) and type(m.reset_current) is bool
    with pytest.raises(ValueError, match=r"theta must be in \(0, inf\]"):
        m.replace(theta=0.0)  # replace() validates again


@pytest.mark.parametrize("kw, match", [
    ({"tau_m": 0.5}, r"tau_m must be in \[1, inf\]; got 0\.5\. TSSL-BP time constants are in time steps"),
    ({"tau_s": 0.0}, r"tau_s must be in \[1, inf\]; got 0\.0\. TSSL-BP time constants"),
    ({"tau_s": -3}, r"tau_s must be in \[1, inf\]; got -3\.0"),
    ({"tau_m": float("nan")}, r"tau_m must be finite; got nan"),
    ({"theta": 0.0}, r"theta must be in \(0, inf\]; got 0\.0\. The threshold must be positive"),
])
def test_tsslbp_constructor_messages(kw, match):
    with pytest.raises(ValueError, match=match):
        NeuronModel.tsslbp(**kw)


def test_tsslbp_constructor_bad_type():
    with pytest.raises(TypeError, match=r"tau_m must be a real number; got '5' \(str\)"):
        NeuronModel.tsslbp(tau_m="5")


@pytest.mark.parametrize("kw, exc, match", [
    ({"T": 0}, ValueError, r"T must be a positive integer \(number of simulated steps\) for beta_auto; got 0\."),
    ({"T": -5}, ValueError, r"T must be a positive integer .* got -5\."),
    ({"T": 2.5}, ValueError, r"T must be a positive integer .* got 2\.5\."),
    ({"T": True}, ValueError, r"T must be a positive integer .* got True\."),
    ({"T": None}, ValueError, r"T must be a positive integer .* got None\."),
    ({"alpha_I": 2}, ValueError, r"alpha_I must be in \[0, 1\]; got 2\.0"),
    ({"alpha_V": -0.5}, ValueError, r"alpha_V must be in \[0, 1\]; got -0\.5"),
    ({"theta": -1.0}, ValueError, r"theta must be in \(0, inf\]; got -1\.0"),
])
def test_antlr_constructor_messages(kw, exc, match):
    with pytest.raises(exc, match=match):
        NeuronModel.antlr(**kw)


def test_antlr_constructor_bad_T_ignored_without_beta_auto():
    m = NeuronModel.antlr(0.9, 0.9, T=0, beta_auto=False, beta_V=0.5)
    assert m.beta_V == 0.5 and m.beta_I == 1.0


@pytest.mark.parametrize("name, kw, match", [
    ("foo", {}, r"name must be one of \['alpha_synapse', 'lif_instant_current', 'nonleaky_exponential', "
                r"'nonleaky_linear', 'simple_if'\]; got 'foo'"),
    ("alpha_synapse", {"alpha_I": 0.5}, r"special case 'alpha_synapse' needs alpha_V in \(0, 1\)\."),
    ("alpha_synapse", {"alpha_V": 0.5}, r"special case 'alpha_synapse' needs alpha_I in \(0, 1\)\."),
    ("lif_instant_current", {}, r"special case 'lif_instant_current' needs alpha_V in \(0, 1\)\."),
    ("nonleaky_exponential", {}, r"special case 'nonleaky_exponential' needs alpha_I in \(0, 1\)\."),
    ("simple_if", {"alpha_I": 0.5}, r"special case 'simple_if' fixes alpha_I = 0\.0; got 0\.5\."),
    ("nonleaky_linear", {"alpha_V": 0.9}, r"special case 'nonleaky_linear' fixes alpha_V = 1\.0; got 0\.9\."),
    ("lif_instant_current", {"alpha_V": 1.0}, r"alpha_V must be in \(0, 1\); got 1\.0\."),
    ("nonleaky_exponential", {"alpha_I": 0.0}, r"alpha_I must be in \(0, 1\); got 0\.0\."),
    ("alpha_synapse", {"alpha_I": 0.5, "alpha_V": 1.5}, r"alpha_V must be in \(0, 1\); got 1\.5\."),
])
def test_special_case_messages(name, kw, match):
    with pytest.raises(ValueError, match=match):
        NeuronModel.special_case(name, **kw)


# ------------------------------------------------------------------------------ Network
def test_network_weights_not_a_list(model):
    with pytest.raises(TypeError, match=r"weights must be a list of 2-D arrays \[W_1, \.\.\., W_L\]"):
        Network(np.ones((2, 3)), None, model)
    with pytest.raises(TypeError, match=r"weights must be a list of 2-D arrays"):
        Network(3.0, None, model)


def test_network_empty(model):
    with pytest.raises(ValueError, match=r"weights is empty: a network needs at least one spiking layer"):
        Network([], None, model)
    with pytest.raises(ValueError, match=r"weights\[0\] has an empty dimension \(shape \(0, 3\)\)"):
        Network([np.ones((0, 3))], None, model)
    with pytest.raises(ValueError, match=r"weights\[1\] has an empty dimension \(shape \(3, 0\)\)"):
        Network([np.ones((2, 3)), np.ones((3, 0))], None, model)


def test_network_wrong_rank(model):
    with pytest.raises(ValueError, match=r"weights\[0\] must have 2 dimensions; got shape \(3,\) \(1 dimensions\)"):
        Network([np.ones(3)], None, model)
    with pytest.raises(ValueError, match=r"weights\[1\] must have 2 dimensions; got shape \(3, 2, 1\)"):
        Network([np.ones((2, 3)), np.ones((3, 2, 1))], None, model)


def test_network_mismatched_sizes(model):
    with pytest.raises(ValueError, match=r"weights\[1\]\.shape\[0\] \(2\) must equal weights\[0\]\.shape\[1\] \(3\): "
                                         r"layer 1 has 3 neurons\. W\^l has shape \(N_\(l-1\), N_l\)"):
        Network([np.ones((2, 3)), np.ones((2, 2))], None, model)


def test_network_non_floating(model):
    with pytest.raises(TypeError, match=r"weights\[0\] must be a floating array; got dtype int64\. "
                                        r"Use weights\[0\]\.astype\(np\.float64\)"):
        Network([np.ones((2, 3), dtype=np.int64)], None, model)
    with pytest.raises(TypeError, match=r"weights\[0\] must be a floating array; got dtype bool"):
        Network([np.ones((2, 3), dtype=bool)], None, model)
    with pytest.raises(TypeError, match=r"weights\[0\] must be a numeric array; got an object array"):
        Network([np.array([[1.0, None]], dtype=object)], None, model)
    with pytest.raises(TypeError, match=r"biases\[0\] must be a floating array; got dtype int64"):
        Network([np.ones((2, 3))], [np.ones(3, dtype=np.int64)], model)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_network_non_finite(model, bad):
    W = np.ones((2, 3))
    W[1, 2] = bad
    with pytest.raises(ValueError, match=r"weights\[1\] has 1 non-finite values \(NaN or inf\); first at index "
                                         r"\(1, 2\)\. Remove or replace them"):
        Network([np.ones((4, 2)), W], None, model)
    b = np.zeros(3)
    b[0] = bad
    with pytest.raises(ValueError, match=r"biases\[0\] has 1 non-finite values \(NaN or inf\); first at index \(0,\)"):
        Network([np.ones((2, 3))], [b], model)


def test_network_float32_overflow(model):
    with pytest.raises(ValueError, match=r"weights\[0\] \(converted to float32, values beyond its range overflow\) "
                                         r"has 1 non-finite values"):
        Network([np.array([[1.0, 1e300]])], None, model, dtype=np.float32)


def test_network_bias_length(model):
    with pytest.raises(ValueError, match=r"biases\[1\] has length 2; expected 4 \(= weights\[1\]\.shape\[1\]\)"):
        Network([np.ones((2, 3)), np.ones((3, 4))], [np.zeros(3), np.zeros(2)], model)
    with pytest.raises(ValueError, match=r"biases must be None or a list of 2 arrays \(one per spiking layer\)"):
        Network([np.ones((2, 3)), np.ones((3, 4))], [np.zeros(3)], model)
    with pytest.raises(ValueError, match=r"biases must be None or a list of 1 arrays"):
        Network([np.ones((2, 3))], np.zeros(3), model)
    with pytest.raises(ValueError, match=r"biases\[0\] must have 1 dimensions; got shape \(1, 3\)"):
        Network([np.ones((2, 3))], [np.zeros((1, 3))], model)


def test_network_model_and_dtype():
    with pytest.raises(TypeError, match=r"model must be a snnref\.NeuronModel; got str\. Use NeuronModel\.antlr"):
        Network([np.ones((2, 3))], None, "antlr")
    with pytest.raises(TypeError, match=r"model must be a snnref\.NeuronModel; got NoneType"):
        Network([np.ones((2, 3))])
    m = NeuronModel(alpha_I=0.5, alpha_V=0.5)
    with pytest.raises(TypeError, match=r"dtype must be float64 or float32; got int32\. snnref computes in float64"):
        Network([np.ones((2, 3))], None, m, dtype=np.int32)
    with pytest.raises(TypeError, match=r"dtype must be float64 or float32; got float16"):
        Network([np.ones((2, 3))], None, m, dtype="float16")
    with pytest.raises(TypeError, match=r"dtype must be float64 or float32; got 'double precision'"):
        Network([np.ones((2, 3))], None, m, dtype="double precision")


def test_network_conversions(model):
    net = Network([[[1, 2.0]], np.ones((2, 1), dtype=np.float32)], None, model, dtype="float32")
    assert net.dtype is np.float32 and net.sizes == (1, 2, 1)
    assert all(w.dtype == np.float32 and w.flags.c_contiguous for w in net.weights)
    assert [b.shape for b in net.biases] == [(2,), (1,)] and not any(b.any() for b in net.biases)
    W = np.ones((3, 2), order="F")
    assert Network([W], None, model).weights[0].flags.c_contiguous


# ------------------------------------------------------------------------------ forward
def test_forward_wrong_rank(net):
    with pytest.raises(ValueError, match=r"x must be time-major with shape \(T, B, N\); got shape \(3, 2\)\. "
                                         r"For a single sample use x\[:, None, :\]"):
        forward(net, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"x must be time-major with shape \(T, B, N\); got shape \(3, 1, 2, 1\)"):
        forward(net, np.ones((3, 1, 2, 1)))


def test_forward_wrong_n0(net):
    with pytest.raises(ValueError, match=r"x\.shape\[2\] \(4\) must equal the number of input neurons of the "
                                         r"network \(2\); got shape \(3, 1, 4\)"):
        forward(net, np.ones((3, 1, 4)))


def test_forward_empty_T_or_B(net):
    with pytest.raises(ValueError, match=r"x has T = 0 time steps \(shape \(0, 1, 2\)\); simulate at least one step"):
        forward(net, np.ones((0, 1, 2)))
    with pytest.raises(ValueError, match=r"x has an empty batch \(shape \(3, 0, 2\)\); pass at least one sample"):
        forward(net, np.ones((3, 0, 2)))


def test_forward_non_binary_antlr(net, tnet):
    x = np.zeros((3, 1, 2))
    x[1, 0, 1] = 0.5
    with pytest.raises(ValueError, match=r"x must contain only 0 and 1 \(spikes\); found 0\.5 at index \(1, 0, 1\)\. "
                                         r"Encode real-valued input as spikes first"):
        forward(net, x)
    with pytest.raises(ValueError, match=r"x must contain only 0 and 1 \(spikes\); found 2\.0 at index \(0, 0, 0\)"):
        forward(net, np.full((3, 1, 2), 2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"found -1\.0 at index \(0, 0, 0\)"):
        forward(net, -np.ones((3, 1, 2)))
    forward(tnet, x)  # TSSL-BP models accept real-valued input


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_forward_non_finite_input(net, tnet, bad):
    x = np.zeros((3, 1, 2))
    x[2, 0, 1] = bad
    for n in (net, tnet):
        with pytest.raises(ValueError, match=r"x has 1 non-finite values \(NaN or inf\); first at index \(2, 0, 1\)"):
            forward(n, x)


def test_forward_input_types(net):
    with pytest.raises(TypeError, match=r"x must be a numeric array; got an object array"):
        forward(net, np.array([[[1, None]]], dtype=object))
    with pytest.raises(TypeError, match=r"x must be a floating, integer or boolean array; got dtype <U1\. "
                                        r"Use x\.astype\(np\.float64\)"):
        forward(net, np.array([[["a", "b"]]]))
    with pytest.raises(TypeError, match=r"net must be a snnref\.Network; got str"):
        forward("net", np.ones((3, 1, 2)))


def test_forward_bad_form_and_flag(net):
    with pytest.raises(ValueError, match=r"form must be one of \['rnn', 'srm'\]; got 'SRM'"):
        forward(net, np.ones((3, 1, 2)), form="SRM")
    with pytest.raises(TypeError, match=r"latency_early_stop must be True or False; got 1\."):
        forward(net, np.ones((3, 1, 2)), latency_early_stop=1)


def test_forward_float32_input_overflow(tnet):
    net32 = Network(tnet.weights, None, tnet.model, dtype=np.float32)
    with pytest.raises(ValueError, match=r"x \(converted to float32, values beyond its range overflow\)"):
        forward(net32, np.full((2, 1, 2), 1e300))


# ------------------------------------------------------------------------------ backward dispatcher
@pytest.fixture
def trace(net):
    return forward(net, np.ones((3, 1, 2)))


@pytest.fixture
def ttrace(tnet):
    return forward(tnet, np.ones((3, 1, 2)))


def test_backward_unknown_rule(net, trace):
    with pytest.raises(ValueError, match=r"rule must be one of \['act_rnn', 'act_slayer', 'act_srm', 'antlr', "
                                         r"'timing', 'tsslbp'\]; got 'ANTLR'"):
        backward(net, trace, "ANTLR")


def test_backward_wrong_gradient_shape(net, trace, tnet, ttrace):
    with pytest.raises(ValueError, match=r"dL_dS must have shape \(T_sim, B, N_out\) = \(3, 1, 3\) \(the trace's "
                                         r"output layer\); got \(3, 1, 2\)"):
        backward(net, trace, "act_rnn", dL_dS=np.ones((3, 1, 2)))
    with pytest.raises(ValueError, match=r"dL_dt must have shape \(T_sim, B, N_out\) = \(3, 1, 3\).*got \(4, 1, 3\)"):
        backward(net, trace, "timing", dL_dt=np.ones((4, 1, 3)))
    with pytest.raises(ValueError, match=r"dL_da must have shape \(T_sim, B, N_out\) = \(3, 1, 3\).*got \(3, 3\)"):
        backward(tnet, ttrace, "tsslbp", dL_da=np.ones((3, 3)))


def test_backward_bad_gradient_values(net, trace):
    with pytest.raises(ValueError, match=r"dL_dS has 9 non-finite values \(NaN or inf\); first at index \(0, 0, 0\)"):
        backward(net, trace, "antlr", dL_dS=np.full((3, 1, 3), np.nan))
    with pytest.raises(TypeError, match=r"dL_dS must be a floating array; got dtype int64"):
        backward(net, trace, "antlr", dL_dS=np.ones((3, 1, 3), dtype=np.int64))


def test_backward_family_mismatch(net, trace, tnet, ttrace):
    g = np.ones((3, 1, 3))
    with pytest.raises(ValueError, match=r"rule 'tsslbp' needs a TSSL-BP model \(NeuronModel\.tsslbp\(\.\.\.\), "
                                         r"psp_output=True\)"):
        backward(net, trace, "tsslbp", dL_da=g)
    with pytest.raises(ValueError, match=r"rule 'antlr' is an ANTLR-family rule; this network has a TSSL-BP model\. "
                                         r"Use rule='tsslbp'"):
        backward(tnet, ttrace, "antlr", dL_dS=g)
    with pytest.raises(ValueError, match=r"rule 'tsslbp' needs dL_da \(e\.g\. snnref\.losses\.psp_kernel"):
        backward(tnet, ttrace, "tsslbp")
    with pytest.raises(ValueError, match=r"rule 'tsslbp' takes dL_da only; dL_dS / dL_dt belong to the ANTLR-family"):
        backward(tnet, ttrace, "tsslbp", dL_da=g, dL_dS=g)
    with pytest.raises(ValueError, match=r"rule 'act_srm' takes dL_dS and/or dL_dt; dL_da is for rule='tsslbp'"):
        backward(net, trace, "act_srm", dL_dS=g, dL_da=g)


def test_backward_trace_from_another_network(net, trace, ttrace, model):
    other_sizes = Network([np.ones((2, 4))], None, model)
    with pytest.raises(ValueError, match=r"trace layer sizes \(2, 3\) do not match the network's \(2, 4\); "
                                         r"run forward\(net, x\) again"):
        backward(other_sizes, trace, "antlr")
    other_model = Network([np.ones((2, 3))], None, model.replace(theta=2.0))
    with pytest.raises(ValueError, match=r"trace was produced with a different NeuronModel than net\.model"):
        backward(other_model, trace, "antlr")
    other_dtype = Network([np.ones((2, 3))], None, model, dtype=np.float32)
    with pytest.raises(ValueError, match=r"trace dtype float64 differs from the network dtype float32"):
        backward(other_dtype, trace, "antlr")
    deeper = Network([np.ones((2, 3)), np.ones((3, 3))], None, model)
    with pytest.raises(ValueError, match=r"trace layer sizes \(2, 3\) do not match the network's \(2, 3, 3\)"):
        backward(deeper, trace, "antlr")


def test_backward_bad_objects(net, trace):
    with pytest.raises(TypeError, match=r"trace must be the result of snnref\.forward\(net, x\); got dict"):
        backward(net, {"S": 1}, "antlr")
    with pytest.raises(TypeError, match=r"net must be a snnref\.Network; got list"):
        backward([np.ones((2, 3))], trace, "antlr")
