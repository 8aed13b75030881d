"""SpiNNaker2 numbers: every limit, size and bit width the twin uses, with its source.

Sources (short names used below):

* **Gonzalez 2024** -- H. A. Gonzalez et al., "SpiNNaker2: A Large-Scale Neuromorphic
  System for Event-Based and Asynchronous Machine Learning", 2024.
* **Mayr 2019** -- C. Mayr, S. Höppner, S. Furber, "SpiNNaker 2: A 10 Million Core
  Processor System for Brain Simulation and Machine Learning", 2019.
* **Datasheet** -- "SpiNNaker2 datasheet", version 0.03 (2021), distributed with
  SpiNNakerManchester/SpiNNMachine.
* **SpiNNMachine** -- SpiNNakerManchester/SpiNNMachine, ``version_spin2.py`` and
  ``version_248.py`` (the SpiNNaker2 chip and 48-chip board descriptions) and
  ``version_48_chips.py`` (board shape and triad tiling, shared with SpiNNaker1).
* **py-spinnaker2** -- the SpiNNaker2 Python front end; numbers of its LIF application.
* **eeNews 2021** -- P. Clarke, "Manchester, Dresden, Globalfoundries produce SpiNNaker2
  chip", eeNews Analog, 27 July 2021 (the DVFS range of the 22FDX chip: 0.45 V at 100 MHz,
  250 MHz at 0.5 V, up to 500 MHz at 0.6 V; the minimum-energy point at 0.5 V).
* **Höppner 2019** -- S. Höppner et al., "Dynamic Power Management for Neuromorphic
  Many-Core Systems", IEEE TCAS-I 2019 (arXiv:1903.08941): per-PE DVFS between
  performance levels; lower levels lower the energy per neuron and synapse update.
* **Höppner 2021** -- S. Höppner et al., "The SpiNNaker 2 Processing Element Architecture
  for Hybrid Digital Neuromorphic Computing", arXiv:2103.08392 (the PE's accelerators: an
  8-bit MAC array for convolution and matrix multiplication, exp/log units, random-number
  generators, a DMA controller; the text itself was not available to this twin, its
  summaries were).
* **S2 FAQ** -- TU Dresden, "SpiNNaker2 FAQ" (tu-dresden.de/ing/elektrotechnik/iee/hpsn/
  spinnaker2-award/FAQ): "64 Multiply-Accumulate (MAC) units with 8 bit multiplier and 29 bit
  accumulator running 64 MAC operations per clock cycle", 2D-convolution and matrix
  modes, signed/unsigned integers, "Rectified Linear Unit (ReLU) and built-in quantization
  at no extra cost", and MAC, EXP, LOG, PRNG, TRNG accelerators in every PE.
* **Partzsch 2017** -- J. Partzsch et al., "A fixed point exponential function accelerator
  for a neuromorphic many-core system", ISCAS 2017: 32-bit fixed point, single-LSB
  precision, "a throughput multiplication of almost 50" over the software exponential.
* **Mikaitis 2018** -- M. Mikaitis et al., "Approximate Fixed-Point Elementary Function
  Accelerator for the SpiNNaker-2 Neuromorphic Chip", ARITH 2018: one unit for exp and
  natural log whose iterations trade precision for latency.
* **SpiNNaker1** -- numbers of the first-generation machine, used only where SpiNNaker2
  has no published figure; every such constant says so.
* **assumption** -- a choice of this twin where no source gives a number; documented
  in ``docs/spinnaker2.md`` and easy to change here.

KiB = 1024 bytes throughout.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BOARD_CHIPS",
    "BOARD_CHIP_OFFSETS",
    "BOARD_SHAPE",
    "CHIP_DRAM_BYTES",
    "CHIP_IDLE_POWER_W",
    "CHIP_PES",
    "CLOCK_LEVELS_MHZ",
    "CYCLES_MAC_CALL",
    "CYCLES_MAC_TILE_DRAIN",
    "CYCLES_PER_EVENT_RECEIVED",
    "CYCLES_PER_EXP",
    "CYCLES_PER_FILTERED_PACKET",
    "CYCLES_PER_GRU_UNIT",
    "CYCLES_PER_LOG",
    "CYCLES_PER_NEURON",
    "CYCLES_PER_PACKET",
    "CYCLES_PER_PARTIAL_SUM",
    "CYCLES_PER_POISSON_SOURCE",
    "CYCLES_PER_POOL_INPUT",
    "CYCLES_PER_RANDOM_WORD",
    "CYCLES_PER_RELU",
    "CYCLES_PER_REQUANTISE",
    "CYCLES_PER_SPIKE_SENT",
    "CYCLES_PER_SYNAPSE",
    "CYCLES_STAGE_OVERHEAD",
    "CYCLES_TICK_OVERHEAD",
    "DEFAULT_CLOCK_MHZ",
    "DEFAULT_NEURONS_PER_PE",
    "DEFAULT_SOURCES_PER_PE",
    "DEFAULT_TICK_MS",
    "DRAM_BYTES_PER_S",
    "DRAM_LATENCY_NS",
    "DVFS_SUPPLY_V",
    "ENERGY_PER_BIT_ROUTED_J",
    "ENERGY_PER_CYCLE_J",
    "ENERGY_PER_DRAM_BYTE_J",
    "ENERGY_PER_NOC_BYTE_J",
    "ENERGY_REFERENCE_V",
    "EVENT_BYTES",
    "INT4_WEIGHT_MAX",
    "INT8_DELAY_TICKS",
    "INT8_WEIGHT_MAX",
    "KEY_BITS",
    "LINKS_PER_CHIP",
    "LINK_DELTAS",
    "LINK_NAMES",
    "MACS_PER_CYCLE",
    "MAC_ACCUMULATOR_BITS",
    "MAC_ACCUMULATOR_MAX",
    "MAC_ARRAY_COLUMNS",
    "MAC_ARRAY_ROWS",
    "MAC_OPERAND_BITS",
    "MASTER_TABLE_ENTRY_BYTES",
    "MAX_BOARDS",
    "MAX_DELAY_TICKS",
    "NEURON_BYTES",
    "NOC_BYTES_PER_CYCLE",
    "NOC_LATENCY_CYCLES",
    "PACKET_BITS",
    "PES_PER_QPE",
    "PE_DATA_BYTES",
    "PE_INSTRUCTION_BYTES",
    "PE_RESERVED_DATA_BYTES",
    "PE_SRAM_BYTES",
    "POISSON_SOURCE_BYTES",
    "QPES_PER_CHIP",
    "RECEPTORS",
    "RING_BUFFER_ENTRY_BYTES",
    "RING_BUFFER_MAX",
    "RING_BUFFER_SLOTS",
    "ROUTER_ENTRIES",
    "ROUTE_BITS",
    "ROW_DMA_BUFFERS",
    "ROW_HEADER_BYTES",
    "SPIKE_ARRAY_BYTES_PER_SOURCE",
    "SPIKE_ARRAY_BYTES_PER_SPIKE",
    "SYNAPSE_DELAY_BITS",
    "SYNAPSE_SIGN_BITS",
    "SYNAPSE_TARGET_BITS",
    "SYNAPSE_WEIGHT_BITS",
    "SYNAPSE_WORD_BYTES",
    "TRIAD_BOARD_ORIGINS",
    "TRIAD_SIZE",
]

KIB: Final = 1024

# --- chip ---------------------------------------------------------------------------
QPES_PER_CHIP: Final = 38
"""Quad processing elements per chip (Gonzalez 2024; Mayr 2019)."""
PES_PER_QPE: Final = 4
"""ARM Cortex-M4F processing elements per QPE (Gonzalez 2024)."""
CHIP_PES: Final = QPES_PER_CHIP * PES_PER_QPE
"""Application PEs per chip: 152 (Gonzalez 2024; SpiNNMachine lists 153 cores of which
one runs the system software)."""

PE_SRAM_BYTES: Final = 128 * KIB
"""Local SRAM per PE (Gonzalez 2024; Datasheet: "128 Kbytes of local code and data")."""
PE_INSTRUCTION_BYTES: Final = 32 * KIB
"""Part of the PE SRAM holding code (py-spinnaker2's memory layout)."""
PE_DATA_BYTES: Final = PE_SRAM_BYTES - PE_INSTRUCTION_BYTES
"""Part of the PE SRAM holding data: 96 KiB (py-spinnaker2's memory layout)."""

CHIP_DRAM_BYTES: Final = 2 * KIB**3
"""LPDDR4 DRAM per chip, 2 GiB (Gonzalez 2024), shared by the chip's PEs. SpiNNMachine's
description of the 48-chip board uses 1 GiB. The mapping keeps the synaptic rows here,
as sPyNNaker keeps its synaptic matrices in SDRAM and fetches a row by DMA per incoming
spike (assumption: SpiNNaker2 software is taken to use the same split between PE SRAM
and chip DRAM)."""

DVFS_SUPPLY_V: Final = {150.0: 0.50, 300.0: 0.60}
"""DVFS performance levels: PE clock (MHz) -> PE supply voltage (V). The clocks are
SpiNNMachine's ``clock_speeds_hz`` = [150, 300] (also Gonzalez 2024). The voltages are our
reading of eeNews 2021 (assumption where the two meet): the 0.50 V level reaches 250 MHz,
so 150 MHz runs at 0.50 V (the minimum-energy point) and 300 MHz needs the 0.60 V level
(which reaches 500 MHz). No source lists the voltage of each of the two clocks."""
CLOCK_LEVELS_MHZ: Final = tuple(DVFS_SUPPLY_V)
"""DVFS performance levels, PE clock in MHz (150, 300; see ``DVFS_SUPPLY_V``)."""
DEFAULT_CLOCK_MHZ: Final = 300.0
"""Performance level a machine runs at unless told otherwise (assumption: the highest, as
a real-time application needs the most cycles per tick)."""

# --- router -------------------------------------------------------------------------
KEY_BITS: Final = 32
"""Width of a multicast routing key (Gonzalez 2024; Datasheet)."""
ROUTER_ENTRIES: Final = 16_384
"""Associative (key, mask, route) entries per chip router (Datasheet: "16,384 associative
routing entries"; SpiNNMachine ``n_router_entries``)."""
LINKS_PER_CHIP: Final = 6
"""Bidirectional chip-to-chip links (Datasheet: "6 high-speed serial inter-chip links")."""
ROUTE_BITS: Final = LINKS_PER_CHIP + CHIP_PES
"""Bits of a route word: one per link, then one per PE (158; SpiNNaker1's layout of links
then cores, widened to 152 PEs: assumption)."""

LINK_NAMES: Final = ("E", "NE", "N", "W", "SW", "S")
"""Link directions in route-bit order (SpiNNaker1 numbering, kept by SpiNNMachine for
SpiNNaker2 boards): link d is bit d of the route word; the opposite link is (d + 3) % 6."""
LINK_DELTAS: Final = ((1, 0), (1, 1), (0, 1), (-1, 0), (-1, -1), (0, -1))
"""(dx, dy) in chip coordinates of the neighbour across each link (SpiNNaker1 geometry)."""

# --- boards and machines --------------------------------------------------------------
BOARD_CHIPS: Final = 48
"""Chips per board (Gonzalez 2024; SpiNNMachine ``version_248``)."""
BOARD_SHAPE: Final = (8, 8)
"""Bounding box of a board in chip coordinates (SpiNNMachine ``board_shape``)."""
BOARD_CHIP_OFFSETS: Final = tuple(
    (x, y) for x in range(8) for y in range(8) if -4 <= y - x <= 3
)
"""(x, y) of the 48 chips within a board: the hexagonal SpiNN-5 outline that SpiNNMachine
``version_248`` lists for the SpiNNaker2 board (x = 0 holds y 0..3, ..., x = 7 holds
y 3..7)."""
TRIAD_SIZE: Final = 12
"""Three boards tile a 12 x 12 torus of chips (SpiNNMachine triad geometry)."""
TRIAD_BOARD_ORIGINS: Final = ((0, 0), (4, 8), (8, 4))
"""Origins of the three boards of a triad (SpiNNMachine: Ethernet chips at x % 4 == 0 and
(x + y) % 12 == 0)."""
MAX_BOARDS: Final = 720
"""Largest published machine: 720 boards = 34,560 chips = 5,253,120 PEs, the SpiNNcloud
system at TU Dresden (Gonzalez 2024: "more than 5 million cores"; the board count is our
reading of 5M+ cores / (48 x 152))."""

# --- the LIF application's data layout (py-spinnaker2 numbers and assumptions) --------
DEFAULT_NEURONS_PER_PE: Final = 250
"""Neurons per PE of py-spinnaker2's LIF application (at most 250)."""
DEFAULT_SOURCES_PER_PE: Final = 250
"""Spike sources per PE (assumption: the same limit as neurons, so that one 8-bit index
addresses them)."""
MAX_DELAY_TICKS: Final = 8
"""Longest synaptic delay in ticks (py-spinnaker2: 3-bit delays of 1..8 ticks)."""

SYNAPSE_WEIGHT_BITS: Final = 4
"""Weight magnitude bits of a synapse word (py-spinnaker2: int4 weights -15..15)."""
SYNAPSE_SIGN_BITS: Final = 1
"""Sign / receptor bit (exc or inh) of a synapse word (py-spinnaker2)."""
SYNAPSE_DELAY_BITS: Final = 3
"""Delay bits of a synapse word (py-spinnaker2: 1..8 ticks)."""
SYNAPSE_TARGET_BITS: Final = 8
"""Target-neuron index bits of a synapse word, <= 256 neurons per PE (our reading of
py-spinnaker2's 16-bit word, with ``DEFAULT_NEURONS_PER_PE`` = 250)."""
SYNAPSE_WORD_BYTES: Final = (
    SYNAPSE_WEIGHT_BITS + SYNAPSE_SIGN_BITS + SYNAPSE_DELAY_BITS + SYNAPSE_TARGET_BITS
) // 8
"""Bytes per synapse: the 16-bit word above (our reading of py-spinnaker2's synapse rows;
its int8-without-delay variant also packs weight and target into 16 bits)."""
ROW_HEADER_BYTES: Final = 4
"""Header of one synaptic row (one per presynaptic neuron with synapses on the PE): a
32-bit word holding the row length (assumption; rows are padded to 32-bit words)."""
MASTER_TABLE_ENTRY_BYTES: Final = 12
"""Per incoming source slice: key, mask and row address/length words of the lookup table
from a spike's key to its rows in DRAM, held in the PE's SRAM (assumption, after
SpiNNaker1 sPyNNaker's master population table)."""
ROW_DMA_BUFFERS: Final = 2
"""SRAM buffers a PE holds for synaptic rows fetched from DRAM, each the size of its
longest row: one row is processed while the next is fetched (assumption, after
sPyNNaker's double-buffered synaptic-row DMA)."""

RECEPTORS: Final = 2
"""Synaptic input buffers per neuron: excitatory and inhibitory (py-spinnaker2 LIF)."""
RING_BUFFER_SLOTS: Final = MAX_DELAY_TICKS
"""Ring-buffer slots per neuron and receptor: one per possible delay (assumption)."""
RING_BUFFER_ENTRY_BYTES: Final = 4
"""One 32-bit accumulator per slot (assumption)."""
NEURON_BYTES: Final = {"LIF": 52, "AdEx": 84}
"""Per-neuron state and parameters in bytes (assumption). LIF: 4 state words (v, i_exc,
i_inh, refractory counter) + 9 parameter words (three decay factors, v_rest, v_reset,
v_thresh, i_offset, refractory period, input scale) = 13 words. AdEx: LIF + w and 7 more
parameter words (delta_t, v_spike, a, b, tau_w decay, exp-term constants) = 21 words."""
PE_RESERVED_DATA_BYTES: Final = 4 * KIB
"""Data memory a PE keeps for stack, application header and recording pointers
(assumption)."""

SPIKE_ARRAY_BYTES_PER_SPIKE: Final = 4
"""A stored input spike: 32-bit word of tick and source index (assumption)."""
SPIKE_ARRAY_BYTES_PER_SOURCE: Final = 4
"""Per array source: a 32-bit pointer to its first spike (assumption)."""
POISSON_SOURCE_BYTES: Final = 8
"""Per Poisson source: 32-bit rate threshold and 32-bit per-source state (assumption)."""

# --- runtime: tick, numerics of the LIF application -----------------------------------
DEFAULT_TICK_MS: Final = 1.0
"""Real-time tick of the LIF application, ms of model time per tick (the
py-spinnaker2 and sPyNNaker default time step)."""
INT4_WEIGHT_MAX: Final = 15
"""Largest weight magnitude of the "int4_delay" synapse word (py-spinnaker2: int4 weights
-15..15; the sign selects the receptor)."""
INT8_WEIGHT_MAX: Final = 127
"""Largest weight magnitude of the "int8" synapse word (py-spinnaker2's ``lif_no_delay``
applications and its NIR converter scale weights to 127)."""
INT8_DELAY_TICKS: Final = 1
"""The one delay of the "int8" format: the word has no delay bits, a spike acts in the
next tick (py-spinnaker2 ``*_no_delay`` applications)."""
RING_BUFFER_MAX: Final = 2**31 - 1
"""Largest value of a ring-buffer slot: a signed 32-bit accumulator (assumption, with
``RING_BUFFER_ENTRY_BYTES``); sums above it saturate."""

# --- runtime: per-tick cost model of a PE (cycles) -------------------------------------
# No per-operation cycle counts are published for py-spinnaker2's applications; these are
# assumptions of the order measured for SpiNNaker1's sPyNNaker on the same ARM class
# (Sharp et al. 2012, Rhodes et al. 2018: tens of cycles per synaptic event, ~100 per LIF
# update, a few hundred per received packet incl. the row DMA). Change them here.
CYCLES_TICK_OVERHEAD: Final = 2_000
"""Fixed cycles per tick and PE: timer interrupt, recording, DMA set-up (assumption)."""
CYCLES_PER_NEURON: Final = 100
"""Cycles of one LIF neuron update in float32 on the Cortex-M4F (assumption)."""
CYCLES_PER_PACKET: Final = 200
"""Cycles to receive one multicast packet whose key has a synaptic row on the PE:
interrupt, master-table lookup, row DMA (assumption)."""
CYCLES_PER_FILTERED_PACKET: Final = 20
"""Cycles to receive and drop one multicast packet whose key has no synaptic row on the
PE: interrupt entry and exit and one bit test (assumption, after sPyNNaker's bit-field
filter, which marks per source neuron whether the PE holds a row for it so that such
packets skip the master-table lookup and the row DMA; no cycle count is published)."""
CYCLES_PER_SYNAPSE: Final = 20
"""Cycles to process one synaptic word into the ring buffer (assumption)."""
CYCLES_PER_SPIKE_SENT: Final = 30
"""Cycles to send one multicast packet (assumption)."""
CYCLES_PER_POISSON_SOURCE: Final = 40
"""Cycles per Poisson source and tick: PRNG draw and compare (assumption)."""

# --- runtime: energy model (SpiNNaker1 figures where marked) ----------------------------
PACKET_BITS: Final = 40
"""Bits of a multicast packet without payload: 8-bit header + 32-bit key (SpiNNaker1
packet format, kept by SpiNNaker2)."""
ENERGY_PER_BIT_ROUTED_J: Final = 25e-12
"""Energy per bit per chip-to-chip hop, J (SpiNNaker1 figure; no SpiNNaker2
figure is published)."""
CHIP_IDLE_POWER_W: Final = 0.35
"""Idle power of one powered chip, W (SpiNNaker1 figure), drawn by every chip of the
machine whether it holds a slice or not (assumption: a board has no per-chip power
switch, so all its chips, dead ones included, are powered), at every DVFS level
(assumption: the leakage share that DVFS would lower is not modelled)."""
ENERGY_PER_CYCLE_J: Final = 10e-12
"""Energy of one active PE cycle above idle at ``ENERGY_REFERENCE_V``, J (assumption: order
of a Cortex-M4F at SpiNNaker2's near-threshold supply). At supply V a cycle costs
``ENERGY_PER_CYCLE_J * (V / ENERGY_REFERENCE_V) ** 2``: the CV^2 switching energy of CMOS
logic (assumption that a PE's active energy is dynamic; Höppner 2019 measures the energy
per neuron and synapse update falling with the performance level)."""
ENERGY_REFERENCE_V: Final = DVFS_SUPPLY_V[DEFAULT_CLOCK_MHZ]
"""Supply at which ``ENERGY_PER_CYCLE_J`` holds: that of the default level, 0.60 V
(assumption)."""

# --- PE accelerators: MAC array, exp/log unit, RNGs, DMA (used by spinnaker2.dnn) -------
# What a PE has besides its Cortex-M4F (Höppner 2021; S2 FAQ). The MAC array's size, operand
# and accumulator widths are sourced; every cycle count is an assumption (no per-operation
# figure is published), and so is every energy figure below.
MACS_PER_CYCLE: Final = 64
"""Multiply-accumulates the MAC array does per clock cycle (S2 FAQ: "64 MAC units ...
running 64 MAC operations per clock cycle"; Höppner 2021)."""
MAC_ARRAY_ROWS: Final = 4
"""Rows of the MAC array: each row takes one operand of one input stream. Output stationary
with broadcast operands (summaries of Höppner 2021); the 4 x 16 split is our reading of
Höppner 2021 and only the product 64 is confirmed (S2 FAQ), so the split is an
assumption."""
MAC_ARRAY_COLUMNS: Final = MACS_PER_CYCLE // MAC_ARRAY_ROWS
"""Columns of the MAC array, 16: each column takes one weight stream (see
``MAC_ARRAY_ROWS``)."""
MAC_OPERAND_BITS: Final = 8
"""Width of a MAC operand: 8-bit signed or unsigned integers (S2 FAQ; four units can also be
combined into one 16-bit MAC, which the twin does not use)."""
MAC_ACCUMULATOR_BITS: Final = 29
"""Width of each MAC unit's accumulator, signed (S2 FAQ: "29 bit accumulator"). What it
does beyond its range is not published; the twin wraps (two's complement, assumption) and
cuts a layer's reduction into parts that cannot reach the range."""
MAC_ACCUMULATOR_MAX: Final = 2 ** (MAC_ACCUMULATOR_BITS - 1) - 1
"""Largest accumulator value, 2^28 - 1 (from ``MAC_ACCUMULATOR_BITS``)."""
CYCLES_MAC_CALL: Final = 100
"""ARM cycles to configure and start one MAC-array job (addresses, sizes, mode) and take
its end-of-job interrupt (assumption)."""
CYCLES_MAC_TILE_DRAIN: Final = 16
"""Cycles to write one output tile's 64 32-bit accumulators to SRAM: 256 B at 16 B per
cycle (assumption: a 128-bit SRAM port)."""
CYCLES_PER_REQUANTISE: Final = 10
"""ARM cycles to requantise one accumulator to an 8-bit activation as torch's int8 kernels
do: int-to-float, add the bias term, multiply, round, add the zero point, clamp (float32
on the M4F's FPU; assumption). The MAC array's own "built-in quantization at no extra cost"
(S2 FAQ) is a shift, which cannot reproduce torch's float multipliers; it is not used."""
CYCLES_PER_PARTIAL_SUM: Final = 2
"""ARM cycles to add one 29-bit partial sum into a 32-bit total, where a reduction is cut
into parts that keep the accumulator in range (assumption)."""
CYCLES_PER_POOL_INPUT: Final = 2
"""ARM cycles per input element of a max or average pooling window (assumption: a load and
a compare or add)."""
CYCLES_PER_RELU: Final = 2
"""ARM cycles per element of a ReLU that is not fused into the requantisation
(assumption)."""
CYCLES_STAGE_OVERHEAD: Final = 500
"""ARM cycles per PE and layer for receiving its input, synchronising and sending its output
slice (assumption)."""
CYCLES_PER_GRU_UNIT: Final = 40
"""ARM cycles per GRU/EGRU unit and step besides its three exponentials: two float32
divisions of the sigmoids (14 cycles each on the Cortex-M4F's FPU, ARM DDI 0439B), the
gate products and sums, the threshold compare and the 8-bit code of what it sends
(assumption; spinnaker2.egru)."""
CYCLES_PER_EVENT_RECEIVED: Final = 10
"""ARM cycles to append one received EGRU event (unit index, code) to the operand list of
the next MAC-array job (assumption; spinnaker2.egru)."""
EVENT_BYTES: Final = 4
"""Bytes of one EGRU event between PEs: a 16-bit unit index and the 8-bit code in one
32-bit word (assumption; a dense GRU sends its codes as a block, 1 byte per unit)."""
CYCLES_PER_EXP: Final = 4
"""Cycles per exponential on the exp/log unit (assumption, after Partzsch 2017's "almost 50"
times the throughput of a software exponential of ~200 cycles; Mikaitis 2018 lets the
iteration count trade precision for latency)."""
CYCLES_PER_LOG: Final = 4
"""Cycles per natural logarithm on the same unit (assumption, as ``CYCLES_PER_EXP``)."""
CYCLES_PER_RANDOM_WORD: Final = 1
"""Cycles per 32-bit word from the PE's pseudo-random number generator: one register read
(assumption; S2 FAQ lists PRNG and TRNG per PE, no throughput is published)."""
DRAM_BYTES_PER_S: Final = 6.4e9
"""Sustained block-transfer rate of a chip's LPDDR4 interfaces, bytes/s, shared by its PEs'
DMA controllers (Datasheet: "up to 6.4 Gbytes/s sustained block transfer rate")."""
DRAM_LATENCY_NS: Final = 100.0
"""Time from a DMA request to the first DRAM data, ns (assumption: LPDDR4 order)."""
NOC_BYTES_PER_CYCLE: Final = 16
"""Bytes per PE clock cycle that a PE receives from other PEs over the network-on-chip
(assumption: one 128-bit payload per cycle; Höppner 2021 describes a wide-flit data NoC
but no per-PE throughput)."""
NOC_LATENCY_CYCLES: Final = 50
"""Cycles from a PE's send to the first data at the receiving PE (assumption)."""
ENERGY_PER_DRAM_BYTE_J: Final = 40e-12
"""Energy to move one byte between DRAM and a PE, J (assumption: ~5 pJ/bit, the order of
LPDDR4 interfaces)."""
ENERGY_PER_NOC_BYTE_J: Final = 1e-12
"""Energy to move one byte between two PEs of a chip over the NoC, J (assumption)."""
