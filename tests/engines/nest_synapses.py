"""NEST 3 as the reference for the dynamic synapses, run in a child process.

NEST's ``ResetKernel`` crashes in a process where numba and torch have run, so the tests
of :mod:`tests.engines.test_synapse_dynamics` call this file as a script: it reads a
JSON list of cases on stdin and writes one result per case on stdout.

* ``{"kind": "tsodyks", "times": [...], "U", "tau_rec", "tau_fac", "tau_psc"}``: the
  PSC amplitudes of ``tsodyks_synapse`` (weight 1) at each presynaptic spike, as its
  weight recorder reports them.
* ``{"kind": "stdp", "pre": [...], "post": [...], "delay", "weight", "Wmax", "lambda",
  "alpha", "mu_plus", "mu_minus", "tau_plus", "tau_minus"}``: the final weight of one
  ``stdp_synapse`` between two parrot neurons that fire at the given times (ms, on the
  0.1 ms grid); the postsynaptic parrot receives the synapse on its port 1, which does
  not repeat spikes.
"""

import json
import sys

DT = 0.1


def _generator(nest, times):
    return nest.Create("spike_generator",
                       params={"spike_times": [round(t - DT, 1) for t in times]})


def tsodyks(nest, case):
    nest.ResetKernel()
    nest.resolution = DT
    pre = nest.Create("parrot_neuron")
    post = nest.Create("iaf_psc_exp", params={"tau_syn_ex": case["tau_psc"], "V_th": 1e9})
    recorder = nest.Create("weight_recorder")
    nest.CopyModel("tsodyks_synapse", "tm_recorded", {"weight_recorder": recorder})
    nest.Connect(_generator(nest, case["times"]), pre, syn_spec={"delay": DT})
    nest.Connect(pre, post, syn_spec={
        "synapse_model": "tm_recorded", "U": case["U"], "tau_rec": case["tau_rec"],
        "tau_fac": case["tau_fac"], "tau_psc": case["tau_psc"], "weight": 1.0,
        "delay": 1.0})
    nest.Simulate(max(case["times"]) + 5.0)
    return [float(w) for w in recorder.get("events")["weights"]]


def stdp(nest, case):
    nest.ResetKernel()
    nest.resolution = DT
    pre = nest.Create("parrot_neuron")
    post = nest.Create("parrot_neuron", params={"tau_minus": case["tau_minus"]})
    nest.Connect(_generator(nest, case["pre"]), pre, syn_spec={"delay": DT})
    nest.Connect(_generator(nest, case["post"]), post, syn_spec={"delay": DT})
    nest.Connect(pre, post, syn_spec={
        "synapse_model": "stdp_synapse", "receptor_type": 1, "delay": case["delay"],
        **{key: case[key] for key in ("weight", "Wmax", "lambda", "alpha", "mu_plus",
                                      "mu_minus", "tau_plus")}})
    nest.Simulate(max(case["pre"] + case["post"]) + case["delay"] + 5.0)
    return float(nest.GetConnections(pre, post).get("weight"))


if __name__ == "__main__":
    import nest

    nest.set_verbosity("M_ERROR")
    cases = json.load(sys.stdin)
    print(json.dumps([{"tsodyks": tsodyks, "stdp": stdp}[c["kind"]](nest, c) for c in cases]))
