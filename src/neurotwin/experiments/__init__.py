"""Reproductions of published experiments, one module each, registered by name.

``neurotwin run NAME`` (or :func:`run_experiment`) runs one and writes
``results/NAME/``: ``metrics.json`` and the experiment's PNG plots.
"""

from neurotwin.experiments import bss2_har as bss2_har  # registers "bss2-har"
from neurotwin.experiments import bss2_mnist_vmm as bss2_mnist_vmm  # registers "bss2-mnist-vmm"
from neurotwin.experiments import bss2_neuron as bss2_neuron  # registers "bss2-neuron"
from neurotwin.experiments import bss2_pong as bss2_pong  # registers "bss2-pong"
from neurotwin.experiments import bss2_synfire as bss2_synfire  # registers "bss2-synfire"
from neurotwin.experiments import cuba as cuba  # registers "cuba"
from neurotwin.experiments import microcircuit as microcircuit  # registers "microcircuit"
from neurotwin.experiments import mnist_latency as mnist_latency  # registers "mnist-latency"
from neurotwin.experiments import (
    mnist_latency_twins as mnist_latency_twins,  # registers "mnist-latency-twins"
)
from neurotwin.experiments import s2_balanced as s2_balanced  # registers "s2-balanced"
from neurotwin.experiments import s2_egru as s2_egru  # registers "s2-egru"
from neurotwin.experiments import s2_hybrid as s2_hybrid  # registers "s2-hybrid"
from neurotwin.experiments import s2_mnist_int8 as s2_mnist_int8  # registers "s2-mnist-int8"
from neurotwin.experiments import s2_scale as s2_scale  # registers "s2-scale"
from neurotwin.experiments import yinyang as yinyang  # registers "yinyang"
from neurotwin.experiments import yinyang_twins as yinyang_twins  # registers "yinyang-twins"
from neurotwin.experiments.base import EXPERIMENTS as EXPERIMENTS
from neurotwin.experiments.base import Experiment as Experiment
from neurotwin.experiments.base import config_from_dict as config_from_dict
from neurotwin.experiments.base import load_config as load_config
from neurotwin.experiments.base import register_experiment as register_experiment
from neurotwin.experiments.base import run_experiment as run_experiment
from neurotwin.experiments.base import run_on_ranks as run_on_ranks
