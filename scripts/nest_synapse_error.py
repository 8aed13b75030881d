"""Error of the ideal engine's alpha-shaped and conductance-based neurons against NEST.

Usage::

    python scripts/nest_synapse_error.py [--dt 0.1] [--duration 500]

For each model one neuron receives the same excitatory and inhibitory Poisson-like spike
trains (fixed seed) and a bias current that makes it fire, in neurotwin (``ideal``
backend) and in NEST 3.10 (``iaf_psc_alpha``, ``iaf_cond_exp``, ``iaf_cond_alpha``,
``aeif_cond_exp``, ``aeif_cond_alpha``: NEST integrates the conductance-based models with
GSL's adaptive RKF45). Printed per model: the largest membrane difference up to 1 ms
before NEST's first spike (mV), over the whole run (mV, includes the upstrokes of spikes
that do not fall in the same step), the spike counts and the largest spike-time
difference of matched spikes (ms).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os

import numpy as np

import neurotwin as nt
from neurotwin.bench.peers_nest import nest_parameters

WEIGHT_SCALE = 1000.0  # nA -> pA and µS -> nS


def cases() -> list[tuple[str, object, float, float]]:
    """(NEST model, neurotwin model, exc weight, inh weight) per model."""
    return [
        ("iaf_psc_alpha", nt.AlphaLIF(tau_syn_exc=2.0, tau_syn_inh=4.0, i_offset=0.6,
                                      tau_refrac=2.0), 0.4, 0.5),
        ("iaf_cond_exp", nt.CondExpLIF(i_offset=0.6, tau_refrac=2.0), 0.02, 0.04),
        ("iaf_cond_alpha", nt.CondAlphaLIF(tau_syn_exc=1.0, tau_syn_inh=2.0, i_offset=0.6,
                                           tau_refrac=2.0), 0.02, 0.04),
        ("aeif_cond_exp", nt.CondExpAdEx(i_offset=0.5, tau_refrac=2.0), 0.01, 0.02),
        ("aeif_cond_alpha", nt.CondAlphaAdEx(i_offset=0.5, tau_refrac=2.0), 0.005, 0.01),
    ]


def inputs(duration: float, dt: float, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Excitatory and inhibitory spike times on the grid (ms), 200 Hz and 100 Hz."""
    rng = np.random.default_rng(seed)
    grid = np.arange(1, round(duration / dt) - 2) * dt
    exc = np.unique(np.round(rng.choice(grid, int(duration * 0.2)) / dt) * dt)
    inh = np.unique(np.round(rng.choice(grid, int(duration * 0.1)) / dt) * dt)
    return exc, inh


def run_nest(name: str, model: object, w_exc: float, w_inh: float, duration: float,
             dt: float) -> tuple[np.ndarray, np.ndarray]:
    """NEST's membrane trace at 0, dt, ... and its spike times."""
    with contextlib.redirect_stdout(io.StringIO()):
        import nest

        nest.verbosity = nest.VerbosityLevel.ERROR
        nest.ResetKernel()
        nest.resolution = dt
        neuron = nest.Create(name, params=nest_parameters(model.to_dict()))
        exc, inh = inputs(duration, dt)
        for times, weight in ((exc, w_exc), (inh, -w_inh)):
            gen = nest.Create("spike_generator", params={"spike_times": times})
            nest.Connect(gen, neuron, syn_spec={"weight": weight * WEIGHT_SCALE, "delay": dt})
        meter = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": dt})
        rec = nest.Create("spike_recorder")
        nest.Connect(meter, neuron)
        nest.Connect(neuron, rec)
        nest.Simulate(duration + dt)
        ev = meter.events
        v = np.concatenate([[model.v_rest], ev["V_m"][np.argsort(ev["times"])]])  # type: ignore[attr-defined]
        return v[: round(duration / dt)], np.sort(rec.events["times"])


def run_neurotwin(model: object, w_exc: float, w_inh: float, duration: float,
                  dt: float) -> tuple[np.ndarray, np.ndarray]:
    """neurotwin's membrane trace at 0, dt, ... and its spike times."""
    net = nt.Network(dt=dt)
    pop = net.add(nt.Population(1, model, label="n"))  # type: ignore[arg-type]
    exc, inh = inputs(duration, dt)
    for times, weight, receptor in ((exc, w_exc, "exc"), (inh, w_inh, "inh")):
        src = net.add(nt.SpikeSourceArray([times]))
        net.connect(src, pop, weights=[[weight]], receptor=receptor, delays=dt)
    net.record(pop, "spikes", "v")
    res = nt.simulate(net, duration, backend="ideal")
    return res.trace("n", "v").numpy()[:, 0], res.spikes("n")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dt", type=float, default=0.1, help="time step, ms")
    parser.add_argument("--duration", type=float, default=500.0, help="run, ms")
    args = parser.parse_args()
    os.environ.setdefault("PYNEST_QUIET", "1")
    print(f"dt = {args.dt} ms, {args.duration} ms")
    print(f"{'NEST model':16s} {'max|dv| <1st-1ms':>18s} {'max|dv| all':>12s} "
          f"{'spikes nt/NEST':>14s} {'max|dt_spike|':>13s}")
    # every NEST run before the first neurotwin run: NEST crashed (SIGSEGV) when called
    # again after numba's threads had run in the process
    reference = [run_nest(name, model, w_exc, w_inh, args.duration, args.dt)
                 for name, model, w_exc, w_inh in cases()]
    for (name, model, w_exc, w_inh), (v_n, s_n) in zip(cases(), reference, strict=True):
        v_t, s_t = run_neurotwin(model, w_exc, w_inh, args.duration, args.dt)
        first = min(s_n[0] if s_n.size else args.duration, args.duration)
        upto = round((first - 1.0) / args.dt)  # the subthreshold trace: 1 ms before it
        before = np.abs(v_t[:upto] - v_n[:upto]).max()
        every = np.abs(v_t - v_n).max()
        k = min(s_n.size, s_t.size)
        shift = np.abs(s_t[:k] - s_n[:k]).max() if k else float("nan")
        print(f"{name:16s} {before:18.2e} {every:12.2e} {s_t.size:>6d}/{s_n.size:<7d} "
              f"{shift:13.3f}")


if __name__ == "__main__":
    main()
