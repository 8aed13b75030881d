r"""Membrane dynamics of the chip's neuron circuits, in hardware units.

Each circuit is a current-based LIF neuron, or an AdEx neuron where its exponential term
or adaptation is switched on, with its own, *actual* parameters (what its CapMem codes
produce on this particular chip, :meth:`Chip.circuit_parameters`). The math is that of
:mod:`neurotwin.dynamics` (``lif_step``; ``adex_step`` when any circuit uses AdEx
features, which reduces exactly to the LIF step for the others), reused unchanged: in
hardware units (time µs, voltage mV, current nA, capacitance pF) the equations read
numerically as they do in model units (ms, mV, nA, nF), because mV/µs = nA/pF.

On top of the LIF step the analog circuit adds

* temporal membrane noise: a random current, constant over each step, drawn so that the
  free membrane fluctuates with stationary standard deviation ``noise_mv`` around its
  deterministic trajectory whatever the step (for a step of dt the current has standard
  deviation ``noise_mv * sqrt(1 - P_vv^2) / P_vi``, the exact discretisation of an
  Ornstein-Uhlenbeck membrane);
* the supply rails: the membrane is clamped to [0, 1200] mV after every step.

The threshold comparator compares the noisy membrane; a disabled comparator is an
infinite threshold. The reset is a clamp to ``v_reset`` for the refractory time, as in
:func:`~neurotwin.dynamics.lif.lif_step`.

Logical neurons (:func:`merge_compartments`): k neighbouring circuits whose membranes are
connected share one membrane (calix/hxtorch logical neurons of one compartment; twin
model). Capacitances and leak conductances add, every member's synaptic inputs and
offset current flow onto the shared membrane, and the first member (the anchor) spikes,
resets and counts the refractory time::

    C = sum_c C_c,   g = sum_c g_c  (g_c = C_c / tau_c),   tau_mem = C / g
    v_leak = sum_c g_c v_leak_c / g,   i_offset = sum_c i_offset_c
    C dv/dt = -g (v - v_leak) + sum_c (i_exc_c - i_inh_c) + i_offset
    (each member's i_exc_c, i_inh_c decays with its own tau_syn_c)
    noise_mv = sqrt(sum_c noise_c^2 g_c C_c / (g C))   (independent noise currents)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from neurotwin.bss2 import specs
from neurotwin.dynamics.adex import AdEx, AdExConstants, AdExState, adex_constants, adex_step
from neurotwin.dynamics.lif import LIF, LIFConstants, LIFState, lif_constants, lif_step
from neurotwin.errors import ConfigError, check_multiple_of, check_positive

__all__ = ["CircuitParameters", "Emulation", "emulate", "merge_compartments"]

_F64 = torch.float64


@dataclass(frozen=True, eq=False)
class CircuitParameters:
    """The actual analog parameters of n neuron circuits; every field has shape (n,).

    Voltages in mV, times in µs (hardware), currents in nA, capacitance in pF.
    """

    v_leak: np.ndarray
    """Resting (leak) potential, mV."""
    v_reset: np.ndarray
    """Reset potential, mV."""
    v_thresh: np.ndarray
    """Spike threshold, mV; +inf where the comparator is disabled."""
    tau_mem: np.ndarray
    """Membrane time constant, µs."""
    tau_syn_exc: np.ndarray
    """Excitatory synaptic time constant, µs."""
    tau_syn_inh: np.ndarray
    """Inhibitory synaptic time constant, µs."""
    c_mem: np.ndarray
    """Membrane capacitance, pF."""
    syn_gain_exc: np.ndarray
    """Excitatory current jump per weight LSB at a nominal driver, nA."""
    syn_gain_inh: np.ndarray
    """Inhibitory current jump per weight LSB at a nominal driver, nA."""
    i_offset: np.ndarray
    """Constant membrane offset current, nA."""
    tau_refrac: np.ndarray
    """Refractory (reset clamp) time, µs."""
    noise_mv: np.ndarray
    """Stationary standard deviation of the free membrane's temporal noise, mV."""
    v_exp: np.ndarray
    """AdEx exponential threshold V_T, mV."""
    delta_t: np.ndarray
    """AdEx slope factor, mV; 0 where the exponential term is off."""
    a: np.ndarray
    """Subthreshold adaptation conductance, nS; 0 where adaptation is off."""
    b: np.ndarray
    """Spike-triggered adaptation increment, nA; 0 where adaptation is off."""
    tau_w: np.ndarray
    """Adaptation time constant, µs."""

    @property
    def n(self) -> int:
        """Number of circuits."""
        return int(self.v_leak.size)

    @property
    def uses_adex(self) -> bool:
        """Whether any circuit has its exponential term or adaptation on."""
        return bool(np.any(self.delta_t > 0) or np.any(self.a != 0) or np.any(self.b != 0))

    def adex_constants(self, dt: float) -> AdExConstants:
        """AdEx step constants (torch float64 tensors of shape (n,)) for a step of ``dt`` µs.

        Built with :func:`~neurotwin.dynamics.adex.adex_constants` one circuit at a time;
        a circuit whose exponential term is off gets a zero exponential current.
        """
        check_positive("dt", dt, "µs")
        on = self.delta_t > 0
        per_circuit = [
            adex_constants(
                AdEx(tau_mem=float(tm), tau_syn_exc=float(te), tau_syn_inh=float(ti),
                     cm=float(cm), tau_refrac=float(tr), delta_t=float(dlt) if dlt > 0 else 1.0,
                     a=float(a), b=float(b), tau_w=float(tw)),
                dt,
            )
            for tm, te, ti, cm, tr, dlt, a, b, tw in zip(
                self.tau_mem, self.tau_syn_exc, self.tau_syn_inh, self.c_mem, self.tau_refrac,
                self.delta_t, self.a, self.b, self.tau_w, strict=True)
        ]

        def stack(name: str) -> torch.Tensor:
            return torch.tensor([getattr(c, name) for c in per_circuit], dtype=_F64)

        return AdExConstants(
            lif=self.step_constants(dt),
            g_l_delta_t=torch.where(torch.from_numpy(on), stack("g_l_delta_t"), 0.0),
            # off: an infinite V_T keeps the unused exponential at exactly 0
            v_exp=torch.tensor(np.where(on, self.v_exp, np.inf), dtype=_F64),
            delta_t=stack("delta_t"),
            p_ww=stack("p_ww"),
            a_us=stack("a_us"),
            b=stack("b"),
        )

    def step_constants(self, dt: float) -> LIFConstants:
        """LIF step constants (torch float64 tensors of shape (n,)) for a step of ``dt`` µs.

        The propagators come from :func:`~neurotwin.dynamics.lif.lif_constants`, one
        circuit at a time; the potentials and the offset current are the circuit's own.
        """
        check_positive("dt", dt, "µs")
        per_circuit = [
            lif_constants(
                LIF(tau_mem=float(tm), tau_syn_exc=float(te), tau_syn_inh=float(ti),
                    cm=float(cm), tau_refrac=float(tr)),
                dt,
            )
            for tm, te, ti, cm, tr in zip(self.tau_mem, self.tau_syn_exc, self.tau_syn_inh,
                                          self.c_mem, self.tau_refrac, strict=True)
        ]
        stacked = {
            name: torch.tensor([getattr(c, name) for c in per_circuit], dtype=_F64)
            for name in ("p_vv", "p_vi", "p_ve", "p_vn", "p_ee", "p_nn")
        }
        return LIFConstants(
            v_rest=torch.tensor(self.v_leak, dtype=_F64),
            v_reset=torch.tensor(self.v_reset, dtype=_F64),
            v_thresh=torch.tensor(self.v_thresh, dtype=_F64),
            i_offset=torch.tensor(self.i_offset, dtype=_F64),
            refrac_steps=torch.tensor([c.refrac_steps for c in per_circuit], dtype=torch.int64),
            **stacked,
        )

    def __post_init__(self) -> None:
        n = np.size(self.v_leak)
        for f in fields(self):
            arr = np.array(getattr(self, f.name), dtype=np.float64, copy=True)
            if arr.shape != (n,):
                raise ConfigError(f"{f.name} must have shape ({n},), got {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, f.name, arr)


def merge_compartments(params: CircuitParameters, member_ptr: np.ndarray) -> CircuitParameters:
    """Parameters of logical neurons made of connected circuits (module docstring).

    Parameters
    ----------
    params
        Actual parameters of all member circuits, (n_circuits,), members of one neuron
        consecutive, the anchor first.
    member_ptr
        (n + 1,) offsets: neuron i has the circuits ``member_ptr[i]:member_ptr[i + 1]``.

    Returns
    -------
    CircuitParameters
        One entry per logical neuron, (n,). A neuron of one circuit keeps that circuit's
        parameters bit for bit; the synaptic fields are the anchor's (each member's own
        synaptic inputs stay with the member).
    """
    ptr = np.asarray(member_ptr, dtype=np.int64)
    if ptr.ndim != 1 or ptr.size < 1 or ptr[0] != 0 or ptr[-1] != params.n \
            or np.any(np.diff(ptr) < 1):
        raise ConfigError(f"member_ptr must rise strictly from 0 to {params.n}")
    anchor = ptr[:-1]
    single = np.diff(ptr) == 1
    g_c = params.c_mem / params.tau_mem
    c_sum = np.add.reduceat(params.c_mem, anchor)
    g_sum = np.add.reduceat(g_c, anchor)

    def merged(value: np.ndarray, joint: np.ndarray) -> np.ndarray:
        return np.where(single, value[anchor], joint)

    values = {f.name: getattr(params, f.name)[anchor] for f in fields(params)}
    values.update(
        c_mem=merged(params.c_mem, c_sum),
        tau_mem=merged(params.tau_mem, c_sum / g_sum),
        v_leak=merged(params.v_leak, np.add.reduceat(g_c * params.v_leak, anchor) / g_sum),
        i_offset=merged(params.i_offset, np.add.reduceat(params.i_offset, anchor)),
        noise_mv=merged(params.noise_mv, np.sqrt(np.add.reduceat(
            params.noise_mv**2 * g_c * params.c_mem, anchor) / (g_sum * c_sum))),
    )
    return CircuitParameters(**values)


@dataclass(frozen=True, eq=False)
class Emulation:
    """What an emulation recorded. Index k of a trace is the state at time ``k * dt``."""

    dt: float
    """Step, µs (hardware time)."""
    spikes: np.ndarray
    """Spike mask, (steps, n) bool; a spike in row k is stamped ``(k + 1) * dt``."""
    v: np.ndarray | None
    """Membrane potential, mV, (steps + 1, n); None if not recorded."""
    i_exc: np.ndarray | None
    """Excitatory synaptic current, nA, (steps + 1, n); None if not recorded."""
    i_inh: np.ndarray | None
    """Inhibitory synaptic current, nA, (steps + 1, n); None if not recorded."""
    w: np.ndarray | None
    """Adaptation current, nA, (steps + 1, n) (zero for LIF circuits); None if not recorded."""

    def spike_times(self) -> tuple[np.ndarray, np.ndarray]:
        """All spikes as (times in µs, circuit positions 0..n-1), sorted by time."""
        step, pos = np.nonzero(self.spikes)
        return (step + 1) * self.dt, pos


RECORDABLE = ("v", "i_exc", "i_inh", "w")


def emulate(
    params: CircuitParameters,
    duration: float,
    dt: float,
    rng: np.random.Generator,
    input_exc: np.ndarray | None = None,
    input_inh: np.ndarray | None = None,
    initial_v: np.ndarray | None = None,
    hold_reset: bool = False,
    record: tuple[str, ...] = ("v",),
) -> Emulation:
    """Run n circuits for ``duration`` µs of hardware time in steps of ``dt`` µs.

    Parameters
    ----------
    params
        Actual circuit parameters.
    duration
        Hardware time, µs, a multiple of ``dt``.
    dt
        Step, µs. Propagation is exact for any step; it sets the time resolution of
        inputs, spikes and recorded traces.
    rng
        Source of the temporal noise.
    input_exc, input_inh
        Synaptic current jumps (nA, >= 0) arriving in each step, shape (steps, n); the
        jump of row k is added at the end of step k.
    initial_v
        Membrane potential at t = 0, mV, (n,); default: the leak potential (a circuit
        that has settled).
    hold_reset
        Clamp every membrane to its reset potential for the whole run (the reset
        override used to measure reset potentials).
    record
        State variables to record: any of "v", "i_exc", "i_inh", "w".
    """
    unknown = set(record) - set(RECORDABLE)
    if unknown:
        raise ConfigError(f"cannot record {sorted(unknown)}; recordable: {', '.join(RECORDABLE)}")
    steps = int(check_multiple_of("duration", duration, dt, unit="µs"))
    n = params.n
    inputs: list[torch.Tensor | None] = []
    for name, arr in (("input_exc", input_exc), ("input_inh", input_inh)):
        if arr is None:
            inputs.append(None)
            continue
        arr = np.asarray(arr, dtype=np.float64)
        if arr.shape != (steps, n):
            raise ConfigError(f"{name} must have shape ({steps}, {n}), got {arr.shape}")
        inputs.append(torch.from_numpy(arr))
    v0 = params.v_reset if hold_reset else (params.v_leak if initial_v is None else initial_v)
    v0 = np.asarray(v0, dtype=np.float64)
    if v0.shape != (n,):
        raise ConfigError(f"initial_v must have shape ({n},), got {v0.shape}")
    zero = torch.zeros(n, dtype=_F64)
    refrac0 = torch.full((n,), steps + 1 if hold_reset else 0, dtype=torch.int64)
    state: Any
    step: Any
    if params.uses_adex:
        constants: Any = params.adex_constants(dt)
        lif = constants.lif
        state = AdExState(torch.tensor(v0, dtype=_F64), zero, zero, zero, refrac0)
        step = adex_step
    else:
        constants = lif = params.step_constants(dt)
        state = LIFState(torch.tensor(v0, dtype=_F64), zero, zero, refrac0)
        step = lif_step
    # noise current per step such that the free membrane's stationary std is noise_mv
    noise_scale = torch.tensor(params.noise_mv, dtype=_F64) * torch.sqrt(
        1.0 - lif.p_vv**2) / lif.p_vi
    noise = torch.from_numpy(rng.standard_normal((steps, n))) * noise_scale
    traces = {name: torch.empty((steps + 1, n), dtype=_F64) for name in record}
    for name, tensor in traces.items():
        tensor[0] = getattr(state, name, zero)
    spikes = torch.empty((steps, n), dtype=torch.bool)
    in_exc, in_inh = inputs
    for k in range(steps):
        spiked, state = step(
            state,
            zero if in_exc is None else in_exc[k],
            zero if in_inh is None else in_inh[k],
            noise[k],
            constants,
        )
        state = state._replace(v=torch.clamp(state.v, specs.MEMBRANE_RAIL_LOW_MV,
                                             specs.MEMBRANE_RAIL_HIGH_MV))
        spikes[k] = spiked
        for name, tensor in traces.items():
            tensor[k + 1] = getattr(state, name, zero)
    out: dict[str, Any] = {name: None for name in RECORDABLE}
    out.update({name: tensor.numpy() for name, tensor in traces.items()})
    return Emulation(dt=dt, spikes=spikes.numpy(), **out)

