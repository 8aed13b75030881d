"""``neurotwin bench eventprop``: EventProp training speed against jaxsnn, memory against BPTT.

Two parts, each measurement in a fresh process:

1. **Epoch time.** One Yin-Yang training epoch of a 5-200-3 network (:class:`NetConfig`:
   the network, encoding and optimiser of jaxsnn's ``yinyang_layered_event_prop``
   example, with its times read as ms: tau_mem 12 ms, tau_syn 6 ms, inputs x t_late with
   t_late = 12 ms, each of the 5 input spikes sent 5 times, t_max 24 ms, one spike per
   neuron, Adam at lr 0.005; batch 32 as ``experiments.yinyang``) trained by neurotwin's EventProp
   (:mod:`neurotwin.eventprop`, float64, one torch thread), by neurotwin's surrogate BPTT
   baseline (:mod:`neurotwin.train.bptt`, dt = 0.1 ms, float32) and by jaxsnn's own example
   (``peers_jaxsnn.py`` in the jaxsnn environment, pinned to one CPU; its second epoch, the
   first includes compilation). Ratio: neurotwin EventProp / jaxsnn. Where CUDA is
   available (``cuda``), neurotwin's EventProp (float64, the torch event loop) and BPTT
   (float32) also run an epoch on the GPU (``neurotwin_eventprop_cuda``,
   ``neurotwin_bptt_cuda``): figures beside the CPU ratio, which stays CPU against CPU.
2. **Memory.** Peak memory of one training step (forward, loss, backward) of EventProp and
   of BPTT for the same network as the simulated duration grows (default 10, 100, 1000 ms
   = 100 ... 10 000 steps of 0.1 ms; inputs within the first 5 ms, float64 for both).
   Method: in a fresh process, after imports, data and layers are set up, the peak RSS
   counter is reset (``/proc/self/clear_refs`` = 5); the step's memory is VmHWM after it
   minus VmRSS before it (falls back to VmHWM before the step where the reset is refused);
   a small warm-up step (one sample, at most 24 ms) runs first, so that torch's lazy
   initialisation is not counted; glibc is told to serve blocks >= 8 KiB by mmap
   (``MALLOC_MMAP_THRESHOLD_``), so freed memory leaves the resident set instead of
   hiding later allocations. Also reported, exactly: ``saved_mb``, the bytes of the
   storages autograd keeps for the backward pass (``saved_tensors_hooks``). With ``cuda``
   each row also has ``eventprop_cuda`` and ``bptt_cuda``: the step's peak GPU memory
   (``torch.cuda.max_memory_allocated`` during the step minus the memory allocated before
   it), exact up to the caching allocator's block rounding.

The result goes to ``bench/results/eventprop.json`` (keys: :data:`SCHEMA`).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.bench.registry import BENCHMARKS
from neurotwin.bench.report import check_schema, machine_info, write_result
from neurotwin.errors import ConfigError, check_device, check_int

__all__ = [
    "DEFAULT_DURATIONS",
    "JAXSNN_PYTHON",
    "SCHEMA",
    "NetConfig",
    "child_main",
    "memory_step",
    "run_eventprop",
    "step_memory_mb",
    "validate",
]

DEFAULT_DURATIONS = (10.0, 100.0, 1000.0)
"""Simulated durations of the memory part, ms (100, 1000, 10 000 steps of 0.1 ms)."""
JAXSNN_PYTHON = "bench/envs/jaxsnn/bin/python"
"""Python of the jaxsnn environment, relative to the working directory."""
TARGET_EPOCH_RATIO = 1.0 / 3.0
"""Target: neurotwin's EventProp epoch at most a third of jaxsnn's."""
_MB_FLOOR = 0.1
"""Smallest step memory a ratio divides by, MiB (below it the measurement is page noise)."""
TARGET_MEMORY_RATIO = 10.0
"""Target: BPTT's step memory at least 10x EventProp's at the longest duration."""
SCHEMA_VERSION = 1

SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("benchmark", "schema_version", "created", "machine", "network", "epoch", "memory"),
    "machine": ("platform", "cpu", "cpu_count", "python", "versions", "load_avg_1min"),
    "epoch": ("enabled", "batch_size", "n_batches", "n_samples", "tools", "ratio",
              "target_ratio", "meets_target"),
    "epoch.tools.*": ("status", "reason", "epoch_time_s", "epoch_cpu_s"),
    "memory": ("enabled", "method", "batch_size", "dt", "rows", "ratio_at_longest",
               "target_ratio", "meets_target"),
    "memory.rows.*": ("duration_ms", "steps", "eventprop", "bptt", "ratio"),
    "memory.rows.*.eventprop": ("status", "reason", "step_mb", "saved_mb", "step_time_s"),
    "memory.rows.*.bptt": ("status", "reason", "step_mb", "saved_mb", "step_time_s"),
}
"""Required keys of the result, by path ("*": every entry of a mapping or list)."""

_CHILD = ("import sys; from neurotwin.bench.eventprop import child_main; "
          "sys.exit(child_main(sys.argv[1:]))")
_LOG_TAIL = 2000
_MMAP_THRESHOLD = 8192
_MEMORY_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(_MMAP_THRESHOLD)}
"""Memory processes: glibc serves blocks >= 8 KiB by mmap and unmaps them when freed, so the
resident set follows the live tensors instead of keeping freed heap for reuse."""


@dataclass(frozen=True)
class NetConfig:
    """The 5-200-3 Yin-Yang network of the benchmark (jaxsnn's example, times in ms).

    Weights are jaxsnn's initial distributions converted to nA: jaxsnn writes
    tau_mem v' = -v + I with I jumping by w, so w(nA) = w(jaxsnn) cm / tau_mem.
    """

    n_hidden: int = 200
    tau_mem: float = 12.0
    tau_syn: float = 6.0
    v_thresh: float = 1.0
    t_max: float = 24.0
    t_late: float = 12.0
    duplication: int = 5
    w1_mean: float = 0.6 / 12.0
    w1_std: float = 0.32 / 12.0
    w2_mean: float = 0.5 / 12.0
    w2_std: float = 0.8 / 12.0
    lr: float = 0.005
    dt: float = 0.1


def _words(value: Any) -> tuple[Any, ...]:
    if isinstance(value, str):
        return tuple(w.strip() for w in value.split(",") if w.strip())
    if isinstance(value, int | float):
        return (value,)
    return tuple(value)


def _status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def step_memory_mb(step: Any) -> tuple[float | None, str]:
    """Run ``step()`` and return (its peak memory above the resident set before it, MiB,
    how it was measured); (None, why) where /proc is unavailable."""
    before = _status_mb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        how = "VmHWM after - VmRSS before, peak counter reset (clear_refs)"
    except OSError:
        before = _status_mb("VmHWM")
        how = "VmHWM after - VmHWM before (peak counter not resettable)"
    step()
    peak = _status_mb("VmHWM")
    if before is None or peak is None:
        return None, "no /proc/self/status"
    return peak - before, how


def _inputs(cfg: NetConfig, n: int, t_late: float, seed: int) -> tuple[Any, Any]:
    """Yin-Yang training samples as a duplicated latency-coded batch, and their labels."""
    from neurotwin.datasets import latency_encode, yinyang_samples
    from neurotwin.datasets.yinyang import TRAIN_SEED

    samples = yinyang_samples(n, TRAIN_SEED + seed)
    batch = latency_encode(samples.inputs, 0.0, t_late, bias_time=0.0)
    times = np.repeat(batch.times, cfg.duplication, axis=1)
    ids = np.repeat(batch.ids, cfg.duplication, axis=1)
    return (times, ids), samples.labels


def _network(cfg: NetConfig, method: str, t_max: float, dtype: Any) -> tuple[Any, Any]:
    from neurotwin.dynamics.event_lif import EventLIF

    p = EventLIF(tau_mem=cfg.tau_mem, tau_syn=cfg.tau_syn, v_thresh=cfg.v_thresh)
    if method == "eventprop":
        from neurotwin.eventprop import LIFLayer
        hidden = LIFLayer(5, cfg.n_hidden, p, t_max, max_spikes=1, weight_mean=cfg.w1_mean,
                          weight_std=cfg.w1_std, seed=0, dtype=dtype)
        out = LIFLayer(cfg.n_hidden, 3, p, t_max, max_spikes=1, weight_mean=cfg.w2_mean,
                       weight_std=cfg.w2_std, seed=1, dtype=dtype)
        return hidden, out
    from neurotwin.train import bptt
    hidden_bptt = bptt.SurrogateLIFLayer(5, cfg.n_hidden, p, t_max, cfg.dt, max_spikes=1,
                                weight_mean=cfg.w1_mean, weight_std=cfg.w1_std, seed=0,
                                dtype=dtype)
    out_bptt = bptt.SurrogateLIFLayer(cfg.n_hidden, 3, p, t_max, cfg.dt, max_spikes=1,
                             weight_mean=cfg.w2_mean, weight_std=cfg.w2_std, seed=1,
                             dtype=dtype)
    return hidden_bptt, out_bptt


def _step_fn(method: str, hidden: Any, out: Any, t_max: float, dt: float,
             device: str = "cpu") -> Any:
    """``f(times, ids, labels) -> (loss, first times, hidden spikes per sample)``, backward
    included; the numpy inputs are moved to ``device`` (that of the layers)."""
    import torch

    from neurotwin.eventprop import losses
    from neurotwin.spikes import Spikes, first_spike_times
    from neurotwin.train import bptt

    def step(times: Any, ids: Any, labels: Any) -> tuple[float, Any, float]:
        batch = Spikes(torch.as_tensor(times, device=device),
                       torch.as_tensor(ids, device=device))
        if method == "eventprop":
            h = hidden(batch)
            t_first = first_spike_times(out(h), 3)
            n_hidden = float((h.ids != -1).sum()) / len(labels)
        else:
            h = hidden(batch)
            t_first = bptt.grid_first_spike_times(out(h), dt)
            n_hidden = float(h.detach().sum()) / len(labels)
        loss = losses.ttfs_cross_entropy(t_first, torch.as_tensor(labels, device=device),
                                         t_silent=t_max)
        loss.backward()
        return float(loss.detach()), t_first.detach(), n_hidden

    return step


def _epoch_job(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    cfg = NetConfig(**job["network"])
    method, batch_size, n_batches = job["method"], job["batch_size"], job["n_batches"]
    device = job.get("device", "cpu")
    dtype = torch.float64 if method == "eventprop" else torch.float32
    (times, ids), labels = _inputs(cfg, batch_size * n_batches, cfg.t_late, job["seed"])
    hidden, out = (layer.to(device) for layer in _network(cfg, method, cfg.t_max, dtype))
    step = _step_fn(method, hidden, out, cfg.t_max, cfg.dt, device)
    opt = torch.optim.Adam([*hidden.parameters(), *out.parameters()], lr=cfg.lr)
    order = np.random.default_rng(job["seed"]).permutation(len(labels))
    correct, spikes, batch_times = 0, 0.0, []
    start, start_cpu = time.perf_counter(), time.process_time()
    for b in range(n_batches):
        t0 = time.perf_counter()
        rows = order[b * batch_size:(b + 1) * batch_size]
        opt.zero_grad()
        _, t_first, n_hidden = step(times[rows], ids[rows], labels[rows])
        opt.step()
        # reading the result back synchronises a GPU, so the batch time is complete
        correct += int((t_first.argmin(dim=1).cpu().numpy() == labels[rows]).sum())
        spikes += n_hidden
        batch_times.append(time.perf_counter() - t0)
    return {
        "epoch_time_s": time.perf_counter() - start,
        "epoch_cpu_s": time.process_time() - start_cpu,
        "first_batch_s": batch_times[0],
        "median_batch_s": float(np.median(batch_times)),
        "hidden_spikes_per_sample": spikes / n_batches,
        "train_accuracy": correct / (batch_size * n_batches),
        "dtype": str(dtype).removeprefix("torch."),
        "device": str(device) if device == "cpu" else torch.cuda.get_device_name(device),
        "torch_threads": torch.get_num_threads(),
    }


def memory_step(method: str, duration: float, batch_size: int,
                network: dict[str, Any] | None = None, seed: int = 0,
                device: str = "cpu") -> dict[str, Any]:
    """Peak memory and time of one training step of ``method`` ("eventprop" or "bptt") at
    simulated ``duration`` ms, in this process (float64 for both), after a warm-up step on one
    sample and at most ``NetConfig.t_max``. On a CUDA ``device`` the memory is the step's
    peak GPU memory, MiB (module docstring)."""
    import torch

    cfg = NetConfig(**(network or {}))

    def layers(t_max: float) -> tuple[Any, Any]:
        hidden, out = _network(cfg, method, t_max, torch.float64)
        return hidden.to(device), out.to(device)

    # warm-up on one sample and a short run: torch's lazy initialisation is not the step's
    # memory, and the little heap it frees barely hides the step's own allocations
    warm = min(duration, cfg.t_max)
    (times, ids), labels = _inputs(cfg, 1, 5.0, seed)
    _step_fn(method, *layers(warm), warm, cfg.dt, device)(times, ids, labels)
    (times, ids), labels = _inputs(cfg, batch_size, 5.0, seed)
    hidden, out = layers(duration)
    step = _step_fn(method, hidden, out, duration, cfg.dt, device)
    timing: list[float] = []
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    def run() -> None:
        t0 = time.perf_counter()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            step(times, ids, labels)
        timing.append(time.perf_counter() - t0)

    if device == "cpu":
        mb, how = step_memory_mb(run)
    else:
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        run()
        torch.cuda.synchronize(device)
        mb = (torch.cuda.max_memory_allocated(device) - before) / 2**20
        how = "torch.cuda.max_memory_allocated during the step minus memory_allocated before"
    return {"step_mb": mb, "saved_mb": sum(storages.values()) / 2**20,
            "step_time_s": timing[0], "how": how}


def child_main(argv: list[str]) -> int:
    """Entry of a measurement process: ``argv = [JOB.json]`` (kind "epoch" or "memory")."""
    import torch

    torch.set_num_threads(1)
    job = json.loads(Path(argv[0]).read_text())
    try:
        if job["kind"] == "epoch":
            out = _epoch_job(job)
        else:
            out = memory_step(job["method"], job["duration"], job["batch_size"],
                              job["network"], job["seed"], job.get("device", "cpu"))
        out.update(status="ok", reason=None)
    except Exception as err:
        out = {"status": "error", "reason": f"{type(err).__name__}: {err}"}
    Path(job["result_path"]).write_text(json.dumps(out))
    return 0


def _spawn(cmd: list[str], job: dict[str, Any], workdir: Path, timeout_s: float,
           env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd + [job file]`` in a new process; its outcome, or an error entry."""
    stem = f"job-{time.monotonic_ns()}"
    job_path, result_path, log_path = (workdir / f"{stem}.{e}" for e in ("json", "out", "log"))
    job_path.write_text(json.dumps({**job, "result_path": str(result_path)}))
    with open(log_path, "wb") as log:
        try:
            subprocess.run([*cmd, str(job_path)], stdout=log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, env=env, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return {"status": "error", "reason": f"timed out after {timeout_s:g} s"}
    if not result_path.exists():
        tail = log_path.read_text(errors="replace")[-_LOG_TAIL:]
        return {"status": "error", "reason": f"no result; log:\n{tail}"}
    out: dict[str, Any] = json.loads(result_path.read_text())
    return out


def _neurotwin_epoch(method: str, cfg: NetConfig, batch_size: int, n_batches: int, seed: int,
                     workdir: Path, timeout_s: float, device: str = "cpu") -> dict[str, Any]:
    job = {"kind": "epoch", "method": method, "network": asdict(cfg),
           "batch_size": batch_size, "n_batches": n_batches, "seed": seed, "device": device}
    return _spawn([sys.executable, "-c", _CHILD], job, workdir, timeout_s)


def _jaxsnn_epoch(python: str, cfg: NetConfig, batch_size: int, n_batches: int, epochs: int,
                  seed: int, workdir: Path, timeout_s: float) -> dict[str, Any]:
    """jaxsnn's example with the benchmark's sizes; times converted back to its seconds."""
    if not Path(python).exists():
        return {"status": "skipped", "reason": (
            f"no jaxsnn environment at {python}: python3 -m venv bench/envs/jaxsnn && "
            "bench/envs/jaxsnn/bin/pip install jaxsnn==0.3.0")}
    unit = 1e-6  # the example's times are seconds of BSS-2 hardware time (model ms / 1000)
    args = ["--seed", str(seed), "--hidden-size", str(cfg.n_hidden),
            "--n-spikes-hidden", str(cfg.n_hidden + 5 * cfg.duplication),
            "--n-spikes-output", str(cfg.n_hidden + 3),
            "--tau-mem", repr(cfg.tau_mem * unit), "--tau-syn", repr(cfg.tau_syn * unit),
            "--t-late", repr(cfg.t_late * unit), "--threshold", repr(cfg.v_thresh),
            "--trainset-size", str(batch_size * n_batches), "--testset-size", str(batch_size),
            "--batch-size", str(batch_size), "--epochs", str(epochs), "--lr", repr(cfg.lr)]
    env = {**os.environ, "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
                                      "intra_op_parallelism_threads=1",
           "JAX_PLATFORMS": "cpu"}
    script = Path(__file__).with_name("peers_jaxsnn.py")
    out = _spawn([python, str(script)], {"args": args}, workdir, timeout_s, env)
    if out["status"] == "ok":
        out["epoch_time_s"] = out["epoch_times_s"][-1]
        out["first_epoch_s"] = out["epoch_times_s"][0]
        out["epoch_cpu_s"] = out["epoch_cpu_s"][-1]
        out["args"] = args
    return out


def validate(result: dict[str, Any]) -> None:
    """Raise :class:`DataError` naming every key of :data:`SCHEMA` missing in ``result``
    (a part with ``enabled: false`` needs no further keys; a skipped tool only its reason)."""
    check_schema(result, SCHEMA)


def _positive_int(name: str, value: Any) -> int:
    check_int(name, value, low=1)
    return value


def _done(show: bool, what: str, outcome: dict[str, Any], key: str) -> None:
    """One line per finished measurement, so that a long run shows (and a log keeps) what is
    done before the tables."""
    if show:
        value = outcome.get(key) if outcome["status"] == "ok" else outcome["reason"]
        print(f"  {what}: {outcome['status']} {key} = {value}", flush=True)


def _show(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 120))
    ep = result["epoch"]
    if ep["enabled"]:
        table = Table(title=f"Yin-Yang 5-{result['network']['n_hidden']}-3 training epoch, "
                            f"{ep['n_samples']} samples, batch {ep['batch_size']}")
        for col in ("tool", "epoch s", "CPU s", "first epoch s", "hidden spikes/sample"):
            table.add_column(col, justify="left" if col == "tool" else "right")
        for name, r in ep["tools"].items():
            if r["status"] != "ok":
                table.add_row(name, f"[yellow]{r['status']}[/]: "
                              + (r["reason"] or "").splitlines()[0])
                continue
            first = r.get("first_epoch_s")
            spikes = r.get("hidden_spikes_per_sample")
            table.add_row(name, f"{r['epoch_time_s']:.2f}", f"{r['epoch_cpu_s']:.2f}",
                          "–" if first is None else f"{first:.2f}",
                          "–" if spikes is None else f"{spikes:.1f}")
        console.print(table)
        ratio = ep["ratio"]
        console.print("neurotwin EventProp / jaxsnn: "
                      + ("–" if ratio is None else f"{ratio:.2f} wall, "
                         f"{ep['ratio_cpu']:.2f} CPU time (target <= 1/3)"))
    mem = result["memory"]
    if mem["enabled"]:
        table = Table(title=f"Peak memory of one training step, batch {mem['batch_size']}, "
                            f"dt {mem['dt']} ms")
        for col in ("duration ms", "steps", "EventProp MiB", "BPTT MiB", "BPTT/EventProp",
                    "saved MiB (EP / BPTT)", "EventProp s", "BPTT s"):
            table.add_column(col, justify="right")

        def cell(r: dict[str, Any], key: str, fmt: str) -> str:
            return format(r[key], fmt) if r["status"] == "ok" else str(r["status"])

        for row in mem["rows"]:
            ev, bp = row["eventprop"], row["bptt"]
            table.add_row(f"{row['duration_ms']:g}", str(row["steps"]),
                          cell(ev, "step_mb", ".1f"), cell(bp, "step_mb", ".1f"),
                          "–" if row["ratio"] is None else f"{row['ratio']:.0f}x",
                          f"{cell(ev, 'saved_mb', '.2f')} / {cell(bp, 'saved_mb', '.1f')}",
                          cell(ev, "step_time_s", ".2f"), cell(bp, "step_time_s", ".2f"))
        console.print(table)
        if "eventprop_cuda" in mem["rows"][0]:
            table = Table(title="Peak GPU memory of one training step (CUDA)")
            for col in ("duration ms", "EventProp MiB", "BPTT MiB", "BPTT/EventProp",
                        "EventProp s", "BPTT s"):
                table.add_column(col, justify="right")
            for row in mem["rows"]:
                ev, bp = row["eventprop_cuda"], row["bptt_cuda"]
                table.add_row(f"{row['duration_ms']:g}", cell(ev, "step_mb", ".2f"),
                              cell(bp, "step_mb", ".1f"),
                              "–" if row["ratio_cuda"] is None else f"{row['ratio_cuda']:.0f}x",
                              cell(ev, "step_time_s", ".3f"), cell(bp, "step_time_s", ".3f"))
            console.print(table)
    if "output" in result:
        console.print(f"written to {result['output']}")


@BENCHMARKS.register("eventprop")
def run_eventprop(
    *,
    batch_size: int = 32,
    n_samples: int = 5000,
    epochs_jaxsnn: int = 2,
    durations: Sequence[float] | str = DEFAULT_DURATIONS,
    memory_batch_size: int = 8,
    skip_jaxsnn: bool = False,
    skip_bptt_epoch: bool = False,
    epoch: bool = True,
    memory: bool = True,
    quick: bool = False,
    jaxsnn_python: str = JAXSNN_PYTHON,
    seed: int = 0,
    output: str | Path | None = "bench/results/eventprop.json",
    timeout_s: float = 1800.0,
    show: bool = True,
    cuda: bool | None = None,
) -> dict[str, Any]:
    """Run the EventProp benchmark; write and return the result.

    Parameters
    ----------
    batch_size
        Samples per training batch (32, as ``neurotwin run yinyang``; jaxsnn's example
        uses 64).
    n_samples
        Training samples per epoch (the published Yin-Yang train split: 5000); the epoch
        uses the whole batches, n_samples // batch_size of them.
    epochs_jaxsnn
        Epochs jaxsnn runs; the last one is reported (the first includes compilation).
    durations
        Simulated durations of the memory part, ms (multiples of 0.1; a list or
        comma-separated text).
    memory_batch_size
        Batch size of the memory part.
    skip_jaxsnn
        Do not run jaxsnn (its entry is "skipped").
    skip_bptt_epoch
        Do not time a BPTT epoch.
    epoch, memory
        Run the epoch-time part, the memory part.
    quick
        640 samples per epoch, durations 10 and 100 ms, memory batch at most 4.
    jaxsnn_python
        Python of the jaxsnn environment.
    seed
        Seed of the data order and of jaxsnn's example.
    output
        JSON file to write (None: do not write).
    timeout_s
        Wall-clock limit of each measurement process, s.
    show
        Print the result tables (rich).
    cuda
        Also time the epochs and measure the step memory on the GPU (``cuda:0``); None: where
        torch sees a CUDA device.

    Returns
    -------
    The result as written to ``output`` (keys: :data:`SCHEMA`).
    """
    batch_size = _positive_int("batch_size", batch_size)
    n_samples = _positive_int("n_samples", n_samples)
    epochs_jaxsnn = _positive_int("epochs_jaxsnn", epochs_jaxsnn)
    memory_batch_size = _positive_int("memory_batch_size", memory_batch_size)
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if cuda:
        check_device("cuda")
    devices = ["cpu", "cuda"] if cuda else ["cpu"]
    if quick:
        n_samples, memory_batch_size = min(n_samples, 640), min(memory_batch_size, 4)
        durations = DEFAULT_DURATIONS[:2]
    try:
        duration_list = sorted(float(d) for d in _words(durations))
    except (TypeError, ValueError):
        raise ConfigError(f"durations must be numbers (ms), got {durations!r}") from None
    cfg = NetConfig()
    from neurotwin.train.bptt import n_steps

    steps = [n_steps(d, cfg.dt) for d in duration_list]
    if memory and not duration_list:
        raise ConfigError("durations must name at least one duration for the memory part")
    n_batches = n_samples // batch_size
    if n_batches < 1:
        raise ConfigError(f"n_samples must be >= batch_size = {batch_size}, got {n_samples}")

    machine = machine_info(("numpy", "torch"))
    with tempfile.TemporaryDirectory(prefix="neurotwin-bench-eventprop-") as tmp:
        workdir = Path(tmp)
        ep: dict[str, Any] = {"enabled": False}
        if epoch:
            tools: dict[str, dict[str, Any]] = {}
            for device in devices:
                suffix = "" if device == "cpu" else f"_{device}"
                for method in ("eventprop", "bptt"):
                    if method == "bptt" and skip_bptt_epoch:
                        continue
                    name = f"neurotwin_{method}{suffix}"
                    tools[name] = _neurotwin_epoch(
                        method, cfg, batch_size, n_batches, seed, workdir, timeout_s, device)
                    _done(show, f"epoch {name}", tools[name], "epoch_time_s")
            tools["jaxsnn"] = (
                {"status": "skipped", "reason": "skipped by --skip-jaxsnn"} if skip_jaxsnn
                else _jaxsnn_epoch(jaxsnn_python, cfg, batch_size, n_batches, epochs_jaxsnn,
                                   seed, workdir, timeout_s))
            _done(show, "epoch jaxsnn", tools["jaxsnn"], "epoch_time_s")
            ours, peer = tools["neurotwin_eventprop"], tools["jaxsnn"]
            ratio = (ours["epoch_time_s"] / peer["epoch_time_s"]
                     if ours["status"] == "ok" and peer["status"] == "ok" else None)
            ratio_cpu = (ours["epoch_cpu_s"] / peer["epoch_cpu_s"]
                         if ours["status"] == "ok" and peer["status"] == "ok" else None)
            ep = {"enabled": True, "batch_size": batch_size, "n_batches": n_batches,
                  "n_samples": batch_size * n_batches, "tools": tools, "ratio": ratio,
                  "ratio_cpu": ratio_cpu,
                  "target_ratio": TARGET_EPOCH_RATIO,
                  "meets_target": None if ratio is None else ratio <= TARGET_EPOCH_RATIO}
        mem: dict[str, Any] = {"enabled": False}
        if memory:
            rows = []
            for duration, n in zip(duration_list, steps, strict=True):
                row: dict[str, Any] = {"duration_ms": duration, "steps": n}
                for device in devices:
                    suffix = "" if device == "cpu" else f"_{device}"
                    for method in ("eventprop", "bptt"):
                        job = {"kind": "memory", "method": method, "duration": duration,
                               "batch_size": memory_batch_size, "network": asdict(cfg),
                               "seed": seed, "device": device}
                        row[method + suffix] = _spawn([sys.executable, "-c", _CHILD], job,
                                                      workdir, timeout_s, env=_MEMORY_ENV)
                        _done(show, f"memory {method + suffix} {duration:g} ms",
                              row[method + suffix], "step_mb")
                ok = row["eventprop"]["status"] == "ok" and row["bptt"]["status"] == "ok"
                row["ratio"] = (row["bptt"]["step_mb"]
                                / max(row["eventprop"]["step_mb"], _MB_FLOOR)
                                if ok and row["bptt"]["step_mb"] is not None
                                and row["eventprop"]["step_mb"] is not None else None)
                row["ratio_saved"] = (row["bptt"]["saved_mb"] / row["eventprop"]["saved_mb"]
                                      if ok and row["eventprop"]["saved_mb"] else None)
                if cuda:
                    ev, bp = row["eventprop_cuda"], row["bptt_cuda"]
                    row["ratio_cuda"] = (bp["step_mb"] / max(ev["step_mb"], _MB_FLOOR)
                                         if ev["status"] == "ok" and bp["status"] == "ok"
                                         else None)
                rows.append(row)
            last = rows[-1]["ratio"]
            how = next((r[m]["how"] for r in rows for m in ("eventprop", "bptt")
                        if r[m]["status"] == "ok"), None)
            mem = {"enabled": True,
                   "method": f"fresh process per cell, MALLOC_MMAP_THRESHOLD_="
                             f"{_MMAP_THRESHOLD}; {how}; saved_mb: bytes of the storages "
                             "autograd saves for backward (saved_tensors_hooks); float64 "
                             "for both; inputs within the first 5 ms; ratio with EventProp "
                             f"floored at {_MB_FLOOR} MiB",
                   "ratio_saved_at_longest": rows[-1].get("ratio_saved"),
                   "batch_size": memory_batch_size, "dt": cfg.dt, "rows": rows,
                   "ratio_at_longest": last, "target_ratio": TARGET_MEMORY_RATIO,
                   "ratio_cuda_at_longest": rows[-1].get("ratio_cuda"),
                   "meets_target": None if last is None else last >= TARGET_MEMORY_RATIO}
    result = {
        "benchmark": "eventprop",
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "network": asdict(cfg),
        "seed": seed,
        "epoch": ep,
        "memory": mem,
    }
    validate(result)
    if output is not None:
        write_result(result, Path(output))
        result["output"] = str(output)
    if show:
        _show(result)
    return result
