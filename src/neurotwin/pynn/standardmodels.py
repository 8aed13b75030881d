"""PyNN's standard cell and synapse types as neurotwin runs them.

Each supported cell type names the neurotwin model it becomes (``neurotwin_model``) and
translates PyNN's parameter names onto that model's fields. PyNN's units (ms, mV, nA, nF,
µS, Hz) are neurotwin's base units (:mod:`neurotwin.units`), so every scale factor is 1;
the one exception in spelling, AdEx' ``a``, is in nS on both sides.

==========================  ======================================  ==========================
PyNN type                   neurotwin                               limits
==========================  ======================================  ==========================
IF_curr_exp                 :class:`~neurotwin.LIF`                 exact
IF_curr_alpha               :class:`~neurotwin.AlphaLIF`            exact
IF_cond_exp                 :class:`~neurotwin.CondExpLIF`          exponential integrator
IF_cond_alpha               :class:`~neurotwin.CondAlphaLIF`        exponential integrator
EIF_cond_exp_isfa_ista      :class:`~neurotwin.CondExpAdEx`         first order (AdEx terms)
EIF_cond_alpha_isfa_ista    :class:`~neurotwin.CondAlphaAdEx`       first order (AdEx terms)
SpikeSourceArray            SpikeSourceArray                        times on the time grid
SpikeSourcePoisson          SpikeSourcePoisson                      <= one spike per step
SpikeSourceGamma            SpikeSourceArray                        drawn from the seed
SpikeSourcePoissonRefr.     SpikeSourceArray                        drawn from the seed
StaticSynapse               a projection's weights                  delays on the time grid
TsodyksMarkramSynapse       TsodyksMarkram                          tau_psc = target's tau_syn
STDPMechanism               PairSTDP                                SpikePairRule, Additive or
                                                                    Multiplicative; dendritic
                                                                    delay fraction 1
SimpleStochasticSynapse     Bernoulli                               draws from the run's seed
==========================  ======================================  ==========================

Weights are in nA for the current-based types and in µS for the conductance-based ones
(PyNN's units). Only the ``ideal`` backend runs the alpha-shaped and conductance-based
types and the dynamic synapse types (:mod:`neurotwin.network.synapse_types`); the twins
refuse them (their neurons have exponential current-based synaptic inputs; docs/pynn.md
says what each chip would need). The other standard types raise ``NotImplementedError``
when instantiated, naming what is missing.
"""

from __future__ import annotations

import dataclasses
import re
from functools import partial
from typing import Any, ClassVar

import numpy as np
from pyNN import errors
from pyNN.standardmodels import build_translations, cells, receptors, synapses

from neurotwin.dynamics.alpha import AlphaLIF
from neurotwin.dynamics.conductance import CondAlphaAdEx, CondAlphaLIF, CondExpAdEx, CondExpLIF
from neurotwin.dynamics.lif import LIF
from neurotwin.errors import ConfigError
from neurotwin.network import synapse_types as nt_synapses
from neurotwin.pynn.simulator import state

__all__ = [
    "AdditiveWeightDependence",
    "EIF_cond_alpha_isfa_ista",
    "EIF_cond_exp_isfa_ista",
    "IF_cond_alpha",
    "IF_cond_exp",
    "IF_curr_alpha",
    "IF_curr_exp",
    "MultiplicativeWeightDependence",
    "STDPMechanism",
    "SimpleStochasticSynapse",
    "SpikePairRule",
    "SpikeSourceArray",
    "SpikeSourceGamma",
    "SpikeSourcePoisson",
    "SpikeSourcePoissonRefractory",
    "StaticSynapse",
    "TsodyksMarkramSynapse",
]

_LIF_NAMES = (
    ("tau_m", "tau_mem"),
    ("cm", "cm"),
    ("v_rest", "v_rest"),
    ("v_thresh", "v_thresh"),
    ("v_reset", "v_reset"),
    ("tau_refrac", "tau_refrac"),
    ("i_offset", "i_offset"),
    ("tau_syn_E", "tau_syn_exc"),
    ("tau_syn_I", "tau_syn_inh"),
)
_REVERSALS = (("e_rev_E", "e_rev_exc"), ("e_rev_I", "e_rev_inh"))
_ADEX_NAMES = (
    ("v_spike", "v_spike"),
    ("a", "a"),
    ("b", "b"),
    ("delta_T", "delta_t"),
    ("tau_w", "tau_w"),
)


class NeuronType:
    """What a neuron cell type adds for neurotwin: its model and its state variables."""

    neurotwin_model: ClassVar[type]
    state_names: ClassVar[dict[str, str | None]]
    """PyNN state variable -> neurotwin state variable (None: one neurotwin does not hold,
    0 throughout)."""

    @classmethod
    def models(cls, parameters: dict[str, np.ndarray], size: int) -> tuple[list[Any], np.ndarray]:
        """The distinct neurotwin models of a population and, per neuron, which one.

        ``parameters`` are native (neurotwin) names -> arrays of shape (size,). Raises
        ``pyNN.errors.InvalidParameterValueError`` for a parameter set the model refuses.
        """
        fields = [f.name for f in dataclasses.fields(cls.neurotwin_model)]
        table = np.column_stack([
            np.broadcast_to(np.asarray(parameters[f], np.float64), (size,)) for f in fields
        ])
        rows, which = np.unique(table, axis=0, return_inverse=True)
        pynn_name = {t["translated_name"]: name
                     for name, t in cls.translations.items()}  # type: ignore[attr-defined]
        models = []
        for row in rows:
            try:
                values = dict(zip(fields, map(float, row), strict=True))
                models.append(cls.neurotwin_model(**values))
            except ConfigError as err:
                # say it in PyNN's names (tau_m, not tau_mem)
                message = re.sub(r"\b\w+\b", partial(_rename, pynn_name), str(err))
                raise errors.InvalidParameterValueError(f"{cls.__name__}: {message}") from None
        return models, np.asarray(which).ravel()


def _rename(names: dict[str, str], match: re.Match[str]) -> str:
    return names.get(match[0], match[0])


_CURRENTS: dict[str, str | None] = {"v": "v", "isyn_exc": "i_exc", "isyn_inh": "i_inh"}
_CONDUCTANCES: dict[str, str | None] = {"v": "v", "gsyn_exc": "g_exc", "gsyn_inh": "g_inh"}


class IF_curr_exp(NeuronType, cells.IF_curr_exp):
    __doc__ = cells.IF_curr_exp.__doc__
    translations = build_translations(*_LIF_NAMES)
    recordable: ClassVar[list[str]] = ["spikes", "v", "isyn_exc", "isyn_inh"]
    neurotwin_model = LIF
    state_names: ClassVar[dict[str, str | None]] = _CURRENTS


class IF_curr_alpha(NeuronType, cells.IF_curr_alpha):
    __doc__ = cells.IF_curr_alpha.__doc__
    translations = build_translations(*_LIF_NAMES)
    recordable: ClassVar[list[str]] = ["spikes", "v", "isyn_exc", "isyn_inh"]
    neurotwin_model = AlphaLIF
    state_names: ClassVar[dict[str, str | None]] = _CURRENTS


class IF_cond_exp(NeuronType, cells.IF_cond_exp):
    __doc__ = cells.IF_cond_exp.__doc__
    translations = build_translations(*_LIF_NAMES, *_REVERSALS)
    recordable: ClassVar[list[str]] = ["spikes", "v", "gsyn_exc", "gsyn_inh"]
    neurotwin_model = CondExpLIF
    state_names: ClassVar[dict[str, str | None]] = _CONDUCTANCES


class IF_cond_alpha(NeuronType, cells.IF_cond_alpha):
    __doc__ = cells.IF_cond_alpha.__doc__
    translations = build_translations(*_LIF_NAMES, *_REVERSALS)
    recordable: ClassVar[list[str]] = ["spikes", "v", "gsyn_exc", "gsyn_inh"]
    neurotwin_model = CondAlphaLIF
    state_names: ClassVar[dict[str, str | None]] = _CONDUCTANCES


class EIF_cond_exp_isfa_ista(NeuronType, cells.EIF_cond_exp_isfa_ista):
    __doc__ = cells.EIF_cond_exp_isfa_ista.__doc__
    translations = build_translations(*_LIF_NAMES, *_REVERSALS, *_ADEX_NAMES)
    recordable: ClassVar[list[str]] = ["spikes", "v", "w", "gsyn_exc", "gsyn_inh"]
    neurotwin_model = CondExpAdEx
    state_names: ClassVar[dict[str, str | None]] = {**_CONDUCTANCES, "w": "w"}


class EIF_cond_alpha_isfa_ista(NeuronType, cells.EIF_cond_alpha_isfa_ista):
    __doc__ = cells.EIF_cond_alpha_isfa_ista.__doc__
    translations = build_translations(*_LIF_NAMES, *_REVERSALS, *_ADEX_NAMES)
    recordable: ClassVar[list[str]] = ["spikes", "v", "w", "gsyn_exc", "gsyn_inh"]
    neurotwin_model = CondAlphaAdEx
    state_names: ClassVar[dict[str, str | None]] = {**_CONDUCTANCES, "w": "w"}


class SpikeSourceArray(cells.SpikeSourceArray):
    __doc__ = cells.SpikeSourceArray.__doc__
    translations = build_translations(("spike_times", "spike_times"))


class SpikeSourcePoisson(cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__
    translations = build_translations(
        ("rate", "rate"), ("start", "start"), ("duration", "duration"))


class SpikeSourceGamma(cells.SpikeSourceGamma):
    __doc__ = cells.SpikeSourceGamma.__doc__
    translations = build_translations(
        ("alpha", "alpha"), ("beta", "beta"), ("start", "start"), ("duration", "duration"))


class SpikeSourcePoissonRefractory(cells.SpikeSourcePoissonRefractory):
    __doc__ = cells.SpikeSourcePoissonRefractory.__doc__
    translations = build_translations(
        ("rate", "rate"), ("tau_refrac", "tau_refrac"), ("start", "start"),
        ("duration", "duration"))


_WEIGHT_DELAY = (("weight", "weight"), ("delay", "delay"))


class NeurotwinSynapse:
    """What a synapse type adds for neurotwin: the synapse type its connections become."""

    def neurotwin_synapse(self, values: dict[str, np.ndarray]) -> nt_synapses.SynapseType | None:
        """The neurotwin synapse type of connections with these native parameter
        ``values`` (one array per name, aligned); None for a static synapse. Raises
        ``pyNN.errors.InvalidParameterValueError`` for values neurotwin refuses."""
        try:
            return self._neurotwin_synapse(values)
        except ConfigError as err:
            raise errors.InvalidParameterValueError(
                f"{type(self).__name__}: {err}") from None

    def _neurotwin_synapse(self, values: dict[str, np.ndarray]
                           ) -> nt_synapses.SynapseType | None:
        return None

    def _get_minimum_delay(self) -> float:
        given = state.given_min_delay
        return float(state.dt if given is None else given)


class StaticSynapse(NeurotwinSynapse, synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = build_translations(*_WEIGHT_DELAY)


class TsodyksMarkramSynapse(NeurotwinSynapse, synapses.TsodyksMarkramSynapse):
    __doc__ = synapses.TsodyksMarkramSynapse.__doc__
    translations = build_translations(*_WEIGHT_DELAY, ("U", "U"), ("tau_rec", "tau_rec"),
                                      ("tau_facil", "tau_facil"))

    def _neurotwin_synapse(self, values: dict[str, np.ndarray]) -> nt_synapses.TsodyksMarkram:
        return nt_synapses.TsodyksMarkram(U=values["U"], tau_rec=values["tau_rec"],
                                          tau_facil=values["tau_facil"])


class SimpleStochasticSynapse(NeurotwinSynapse, synapses.SimpleStochasticSynapse):
    __doc__ = synapses.SimpleStochasticSynapse.__doc__
    translations = build_translations(*_WEIGHT_DELAY, ("p", "p"))

    def _neurotwin_synapse(self, values: dict[str, np.ndarray]) -> nt_synapses.Bernoulli:
        return nt_synapses.Bernoulli(p=values["p"])


class SpikePairRule(synapses.SpikePairRule):
    __doc__ = synapses.SpikePairRule.__doc__
    translations = build_translations(("tau_plus", "tau_plus"), ("tau_minus", "tau_minus"),
                                      ("A_plus", "A_plus"), ("A_minus", "A_minus"))


class AdditiveWeightDependence(synapses.AdditiveWeightDependence):
    __doc__ = synapses.AdditiveWeightDependence.__doc__
    translations = build_translations(("w_min", "w_min"), ("w_max", "w_max"))


class MultiplicativeWeightDependence(synapses.MultiplicativeWeightDependence):
    __doc__ = synapses.MultiplicativeWeightDependence.__doc__
    translations = build_translations(("w_min", "w_min"), ("w_max", "w_max"))


class STDPMechanism(NeurotwinSynapse, synapses.STDPMechanism):
    __doc__ = synapses.STDPMechanism.__doc__
    base_translations = build_translations(
        *_WEIGHT_DELAY, ("dendritic_delay_fraction", "dendritic_delay_fraction"))

    def __init__(self, timing_dependence: Any = None, weight_dependence: Any = None,
                 voltage_dependence: Any = None, dendritic_delay_fraction: float = 1.0,
                 weight: Any = 0.0, delay: Any = None) -> None:
        if not isinstance(timing_dependence, SpikePairRule) or not isinstance(
                weight_dependence, AdditiveWeightDependence | MultiplicativeWeightDependence):
            raise NotImplementedError(
                "neurotwin.pynn's STDPMechanism combines SpikePairRule with "
                "AdditiveWeightDependence or MultiplicativeWeightDependence, got "
                f"{type(timing_dependence).__name__} and {type(weight_dependence).__name__}")
        if voltage_dependence is not None or dendritic_delay_fraction != 1:
            raise NotImplementedError(
                "neurotwin's STDP takes the whole delay as dendritic, as NEST's stdp_synapse "
                "(dendritic_delay_fraction = 1, no voltage dependence), got "
                f"dendritic_delay_fraction = {dendritic_delay_fraction}")
        synapses.STDPMechanism.__init__(self, timing_dependence, weight_dependence,
                                        voltage_dependence, dendritic_delay_fraction,
                                        weight, delay)

    def _neurotwin_synapse(self, values: dict[str, np.ndarray]) -> nt_synapses.PairSTDP:
        tau_minus = np.unique(values["tau_minus"])
        if tau_minus.size > 1:
            raise ConfigError("tau_minus must be the same for every connection of a "
                              f"projection (a trace of the target neuron), got {tau_minus}")
        multiplicative = isinstance(self.weight_dependence, MultiplicativeWeightDependence)
        return nt_synapses.PairSTDP(
            tau_plus=values["tau_plus"], tau_minus=float(tau_minus[0]) if tau_minus.size
            else 20.0, A_plus=values["A_plus"], A_minus=values["A_minus"],
            w_min=values["w_min"], w_max=values["w_max"],
            weight_dependence="multiplicative" if multiplicative else "additive")


def refused(base: type, reason: str) -> type:
    """``base`` as a type whose construction raises ``NotImplementedError(reason)``."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{base.__name__} is not supported by neurotwin.pynn: "
                                  f"{reason}")

    return type(base.__name__, (base,), {"__init__": __init__, "__doc__": base.__doc__,
                                         "neurotwin_refused": reason})


_NO_DELTA = "neurotwin has no delta synapse (use IF_curr_exp with a short tau_syn)"
_NO_COND = "neurotwin has no such model"
_NO_STDP = ("neurotwin's STDP is SpikePairRule with Additive or MultiplicativeWeightDependence"
            " (neurotwin.network.PairSTDP)")
_NO_COMPONENTS = ("PyNN 0.13's composed cell types (PointNeuron with receptor components) "
                  "are not mapped; use IF_curr_exp or EIF_cond_exp_isfa_ista")
REFUSED = {
    "IF_curr_delta": refused(cells.IF_curr_delta, _NO_DELTA),
    "IF_cond_exp_gsfa_grr": refused(cells.IF_cond_exp_gsfa_grr, _NO_COND),
    "HH_cond_exp": refused(cells.HH_cond_exp, "neurotwin has no Hodgkin-Huxley model"),
    "Izhikevich": refused(cells.Izhikevich, "neurotwin has no Izhikevich model"),
    "GIF_cond_exp": refused(cells.GIF_cond_exp, _NO_COND),
    "SpikeSourceInhGamma": refused(cells.SpikeSourceInhGamma,
                                   "neurotwin's gamma sources have a constant rate"),
    "StochasticTsodyksMarkramSynapse": refused(
        synapses.StochasticTsodyksMarkramSynapse,
        "neurotwin has TsodyksMarkramSynapse and SimpleStochasticSynapse, not both in one"),
    "MultiQuantalSynapse": refused(synapses.MultiQuantalSynapse,
                                   "neurotwin has no multi-quantal release"),
    "AdditivePotentiationMultiplicativeDepression": refused(
        synapses.AdditivePotentiationMultiplicativeDepression, _NO_STDP),
    "GutigWeightDependence": refused(synapses.GutigWeightDependence, _NO_STDP),
    "Vogels2011Rule": refused(synapses.Vogels2011Rule, _NO_STDP),
    "PointNeuron": refused(cells.PointNeuron, _NO_COMPONENTS),
    "LIF": refused(cells.LIF, _NO_COMPONENTS),
    "AdExp": refused(cells.AdExp, _NO_COMPONENTS),
    "CurrExpPostSynapticResponse": refused(receptors.CurrExpPostSynapticResponse,
                                           _NO_COMPONENTS),
    "CondExpPostSynapticResponse": refused(receptors.CondExpPostSynapticResponse,
                                           _NO_COMPONENTS),
    "CondAlphaPostSynapticResponse": refused(receptors.CondAlphaPostSynapticResponse,
                                             _NO_COMPONENTS),
}
REFUSED["AlphaPSR"] = REFUSED["CondAlphaPostSynapticResponse"]
REFUSED["ExpPSR"] = REFUSED["CondExpPostSynapticResponse"]
