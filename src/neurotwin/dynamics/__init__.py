"""Neuron and synapse math: parameter dataclasses, exact propagators, step functions,
spike-time solvers. Pure functions over explicit state; no simulation objects."""

from neurotwin.dynamics.adex import AdEx as AdEx
from neurotwin.dynamics.adex import AdExConstants as AdExConstants
from neurotwin.dynamics.adex import AdExState as AdExState
from neurotwin.dynamics.adex import adex_constants as adex_constants
from neurotwin.dynamics.adex import adex_step as adex_step
from neurotwin.dynamics.alpha import AlphaConstants as AlphaConstants
from neurotwin.dynamics.alpha import AlphaLIF as AlphaLIF
from neurotwin.dynamics.alpha import AlphaState as AlphaState
from neurotwin.dynamics.alpha import alpha_constants as alpha_constants
from neurotwin.dynamics.alpha import alpha_kernel_factor as alpha_kernel_factor
from neurotwin.dynamics.alpha import alpha_step as alpha_step
from neurotwin.dynamics.conductance import CondAlphaAdEx as CondAlphaAdEx
from neurotwin.dynamics.conductance import CondAlphaLIF as CondAlphaLIF
from neurotwin.dynamics.conductance import CondConstants as CondConstants
from neurotwin.dynamics.conductance import CondExpAdEx as CondExpAdEx
from neurotwin.dynamics.conductance import CondExpLIF as CondExpLIF
from neurotwin.dynamics.conductance import CondState as CondState
from neurotwin.dynamics.conductance import cond_constants as cond_constants
from neurotwin.dynamics.conductance import cond_step as cond_step
from neurotwin.dynamics.event_lif import EventLIF as EventLIF
from neurotwin.dynamics.event_lif import EventLIFConstants as EventLIFConstants
from neurotwin.dynamics.event_lif import event_lif_constants as event_lif_constants
from neurotwin.dynamics.event_lif import kernel_peak as kernel_peak
from neurotwin.dynamics.lif import LIF as LIF
from neurotwin.dynamics.lif import LIFConstants as LIFConstants
from neurotwin.dynamics.lif import LIFState as LIFState
from neurotwin.dynamics.lif import exp_kernel_factor as exp_kernel_factor
from neurotwin.dynamics.lif import lif_constants as lif_constants
from neurotwin.dynamics.lif import lif_step as lif_step
from neurotwin.dynamics.models import MODELS as MODELS
from neurotwin.dynamics.spike_time import free_evolution as free_evolution
from neurotwin.dynamics.spike_time import next_spike_time as next_spike_time
from neurotwin.dynamics.spike_time import next_spike_times as next_spike_times
