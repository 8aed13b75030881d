"""sPyNNaker's host-side mapping, timed: ``python peers_spynnaker.py JOB.json``.

Runs INSIDE sPyNNaker's own virtual environment (``bench/envs/spynnaker``), started by
file path by :mod:`neurotwin.bench.s2_mapping`; it imports the standard library and
sPyNNaker only, never neurotwin. Job (JSON object): ``n_neurons``, ``fan_in``, ``seed``,
``workdir`` (an empty directory; a ``spynnaker.cfg`` with ``virtual_board = True`` is
written there and the process works in it), ``width``/``height`` (chips of the virtual
machine, a multiple of 12 for a torus of 48-chip boards) and ``result_path``.

The network: one ``IF_curr_exp`` population of ``n_neurons`` with one recurrent
``FixedNumberPreConnector(fan_in)`` projection (static synapses, weight 0.1 nA, delay
1 ms), built with ``sim.Population``/``sim.Projection`` and mapped by ``sim.run(1.0)``.
On a virtual board sPyNNaker maps and generates every core's data on the host (its
on-machine synapse expander is disabled for virtual boards), then stops before loading.

Times come from sPyNNaker's own ``FecTimer`` records in its global provenance database
(``timer_provenance``: every algorithm's time in ms, by category):

* ``mapping_s`` (path a) - every algorithm of the "Mapping Stage" that is not a report
  (splitter selection and partitioning, placement, system and application routing, tag
  and key (routing info) allocation, routing-table generation, executable types), less
  "Virtual machine generator" (building the machine description, reported as
  ``machine_s``), plus the router-table compressor of the "Loading Stage" where it ran
  (it skips tables that already fit);
* ``data_generation_s`` - "SDRAM outgoing partition allocator" and "Graph data
  specification writer" (every core's data, synaptic matrices included: with a virtual
  board the connector draws the connections and the rows are built on the host);
* ``path_b_s`` = ``mapping_s`` + ``data_generation_s``;
* ``run_wall_s`` - wall time of ``sim.run`` as a whole (adds report writing, machine
  generation, provenance bookkeeping), and ``setup_s``/``build_s`` for ``sim.setup`` and
  population/projection creation.
"""

from __future__ import annotations

import glob
import json
import os
import sqlite3
import sys
import time
from typing import Any

CFG = """[Machine]
virtual_board = True
version = 5
width = {width}
height = {height}

[Mode]
mode = Production

[Reports]
write_partitioner_reports = False
write_application_graph_placer_report = False
write_router_info_report = False
write_network_specification_report = False
write_sdram_usage_report_per_chip = False
write_energy_report = False
keep_data_database = False
keep_input_output_database = False
"""
"""The ``spynnaker.cfg`` written into the working directory (reports off)."""

MAPPING = "Mapping Stage"
MACHINE = "Virtual machine generator"
DATA_GENERATION = ("SDRAM outgoing partition allocator", "Graph data specification writer")
REPORT = "Reporting"
ROUTING_TABLES = "Merged routing table generator"
"""The last algorithm of path (a) in the mapping stage: once it has run, (a) is complete."""


def _timings(root: str) -> list[dict[str, Any]]:
    """Every timed algorithm from the global provenance database under ``root``."""
    paths = sorted(glob.glob(os.path.join(root, "**", "global_provenance.sqlite3"),
                             recursive=True), key=os.path.getmtime)
    if not paths:
        raise RuntimeError(f"no global_provenance.sqlite3 under {root}")
    with sqlite3.connect(paths[-1]) as db:
        rows = db.execute(
            "SELECT c.category, t.algorithm, t.work, t.time_taken, t.skip_reason "
            "FROM timer_provenance t JOIN category_timer_provenance c "
            "ON t.category_id = c.category_id ORDER BY t.timer_id").fetchall()
    return [{"category": c, "algorithm": a, "work": w, "time_s": ms / 1000.0,
             "skipped": s} for c, a, w, ms, s in rows]


def _sum(rows: list[dict[str, Any]], keep: Any) -> float:
    return float(sum(r["time_s"] for r in rows if r["skipped"] is None and keep(r)))


def run_spynnaker(n_neurons: int, fan_in: int, seed: int, workdir: str, width: int,
                  height: int) -> dict[str, Any]:
    """Build and map the network in ``workdir``; return sPyNNaker's timings (module doc)."""
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    # sPyNNaker insists on a ~/.spynnaker.cfg (and writes one if missing): HOME is the
    # working directory, so the user's home is never read or written
    os.environ["HOME"] = workdir
    for name in ("spynnaker.cfg", ".spynnaker.cfg"):
        with open(name, "w") as fh:
            fh.write(CFG.format(width=width, height=height))
    start = time.perf_counter()
    import pyNN.spiNNaker as sim
    import_s = time.perf_counter() - start

    start = time.perf_counter()
    sim.setup(timestep=1.0)
    setup_s = time.perf_counter() - start
    start = time.perf_counter()
    # sPyNNaker seeds connectors through the target population, not an rng argument
    pop = sim.Population(n_neurons, sim.IF_curr_exp(), label="pop", seed=seed)
    connector = sim.FixedNumberPreConnector(fan_in)
    sim.Projection(pop, pop, connector, sim.StaticSynapse(weight=0.1, delay=1.0),
                   receptor_type="excitatory")
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    failure: Exception | None = None
    try:
        sim.run(1.0)
    except Exception as err:  # e.g. MemoryError while drawing the connections (path b)
        failure = err
    run_wall_s = time.perf_counter() - start
    rows = _timings(workdir)
    cores = chips = None
    try:
        from spinn_front_end_common.data import FecDataView

        mine = [p for p in FecDataView.iterate_placemements()
                if getattr(p.vertex.app_vertex, "label", None) == "pop"]
        cores = len(mine)
        chips = len({(p.x, p.y) for p in mine})
    except Exception:
        pass
    try:
        sim.end()
    except Exception:
        if failure is None:
            raise
    out = stage_times(rows, failure)
    out.update(import_s=import_s, setup_s=setup_s, build_s=build_s, run_wall_s=run_wall_s,
               cores=cores, chips=chips, algorithms=rows)
    return out


def stage_times(rows: list[dict[str, Any]], failure: Exception | None = None) -> dict[str, Any]:
    """Paths (a) and (b) from sPyNNaker's timer rows (module doc), seconds.

    If ``sim.run`` failed (``failure``) after the mapping stage had finished (its
    routing tables were generated), the outcome is "partial": (a) is complete, (b) is not
    (``path_b_s`` None), and ``path_b_at_least_s`` is (a) plus the data generation up to
    the failure (FecTimer records the failing algorithm's time with the error as its skip
    reason). A failure before that is raised again.
    """
    mapping_s = _sum(rows, lambda r: r["category"] == MAPPING and r["work"] != REPORT
                     and r["algorithm"] != MACHINE)
    machine_s = _sum(rows, lambda r: r["algorithm"] == MACHINE)
    compress_s = _sum(rows, lambda r: "ompress" in r["algorithm"] and r["work"] != REPORT
                      and r["category"] != MAPPING)
    data_s = _sum(rows, lambda r: r["algorithm"] in DATA_GENERATION)
    out: dict[str, Any] = {
        "status": "ok",
        "reason": None,
        "mapping_s": mapping_s + compress_s,
        "compression_s": compress_s,
        "machine_s": machine_s,
        "data_generation_s": data_s,
        "path_a_s": mapping_s + compress_s,
        "path_b_s": mapping_s + compress_s + data_s,
    }
    if failure is None:
        return out
    mapped = any(r["algorithm"] == ROUTING_TABLES and r["skipped"] is None for r in rows)
    if not mapped:
        raise failure
    until = float(sum(r["time_s"] for r in rows if r["algorithm"] in DATA_GENERATION))
    out.update(status="partial", path_b_s=None, data_generation_s=None,
               path_b_at_least_s=mapping_s + compress_s + until,
               reason=f"sim.run failed after the mapping stage: {type(failure).__name__}: "
                      f"{failure}"[:600])
    return out


def main(argv: list[str]) -> int:
    """``argv = [JOB.json]``: run the job, write the outcome (status ok/error) as JSON."""
    if len(argv) != 1:
        print("usage: peers_spynnaker.py JOB.json", file=sys.stderr)
        return 2
    with open(argv[0]) as fh:
        job = json.load(fh)
    try:
        out = run_spynnaker(job["n_neurons"], job["fan_in"], job["seed"], job["workdir"],
                            job["width"], job["height"])
    except ImportError as err:
        out = {"status": "skipped", "reason": f"ImportError: {err}"}
    except Exception as err:
        import traceback

        tail = "".join(traceback.format_exception(err)[-4:])
        out = {"status": "error", "reason": f"{type(err).__name__}: {err}\n{tail}"}
    with open(job["result_path"], "w") as fh:
        json.dump(out, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
