"""Benchmarks against peer simulators (``neurotwin bench <name>``).

Each benchmark is a function registered in :data:`BENCHMARKS` that measures neurotwin and
its peers (Brian2, NEST) on exactly the same network, every tool in its own process, and
writes ``bench/results/<name>.json``. See ``docs/benchmarks.md``.
"""

from neurotwin.bench import bss2 as bss2  # registers "bss2"
from neurotwin.bench import cuba as cuba  # registers "cuba"
from neurotwin.bench import eventprop as eventprop  # registers "eventprop"
from neurotwin.bench import microcircuit as microcircuit  # registers "microcircuit"
from neurotwin.bench import s2_dnn as s2_dnn  # registers "s2-dnn"
from neurotwin.bench import s2_mapping as s2_mapping  # registers "s2-mapping"
from neurotwin.bench import vmm as vmm  # registers "vmm"
from neurotwin.bench.registry import BENCHMARKS as BENCHMARKS
from neurotwin.bench.registry import run_benchmark as run_benchmark
