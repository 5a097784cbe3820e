"""Replay one synthetic 2011-shaped cell-day in the simulator and report how fast it went.

    python bench/simulate_cell_day.py --json bench/results/cell_day.json

Defaults: 12,500 machines, 24 h, the ``storm`` fault scenario (faults on), 5 s ticks, and a job
arrival rate scaled so the day has about 5 million task events (``--arrival-scale``; the
synthetic cell at scale 1.0 arrives at the shipped slice's own rate, about 1.8 million events a
day). Events are counted the way the trace counts task events: one SUBMIT, one SCHEDULE per
placement, one EVICT per eviction, one end (FINISH/FAIL/KILL) per task ending.

Output (stdout and ``--json``): wall_s (the simulation only; generation is reported apart),
cpu_s (this process's CPU seconds over the same span: on a shared machine the figure that
compares across runs), events, events_per_s, placements_per_s, peak_rss_mb, bytes_per_task
(simulator state per task instance: records, running slots, completion heap, pending queue;
the workload's input columns are reported apart as workload_bytes_per_task), and the machine
(CPU model, cores, Python, NumPy, numba). No assertion on time: this measures, it does not judge.
``--profile`` adds ``profile_cpu_s``: the run's CPU time by part under cProfile.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from machine import machine_info
from output import write_json


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def workload_bytes(workload: Any) -> int:
    total = 0
    for table in (workload.tasks, workload.services, workload.machines):
        for name in table.__dataclass_fields__:
            value = getattr(table, name)
            total += getattr(value, "nbytes", 0)
    return total


# the compiled kernels a profile names apart: (file, function) -> part
_PARTS = {
    ("kernels/slots.py", "place"): "placement kernel",
    ("kernels/queue.py", "merge_rows"): "queue merge kernel",
    ("kernels/tick.py", "refresh_state"): "state pass kernel",
    ("kernels/slots.py", "complete"): "finishing kernel",
    ("kernels/usage.py", "recompute_sums"): "usage step and respread kernels",
    ("kernels/usage.py", "respread_services"): "usage step and respread kernels",
    ("kernels/usage.py", "update_reservations"): "usage step and respread kernels",
}


def profiled_run(sim: Any) -> dict[str, float]:
    """Run ``sim`` under cProfile (thread CPU time) and split the time by part: the kernels
    above, and everything else (Python per tick, small kernels, the profiler's own cost)."""
    import cProfile
    import pstats

    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    sim.run()
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    split: dict[str, float] = {}
    for (path, _, fn), v in stats.items():
        for (file, name), part in _PARTS.items():
            if path.replace("\\", "/").endswith(file) and fn == name:
                split[part] = split.get(part, 0.0) + v[2]
    split["everything else"] = total - sum(split.values())
    split["total"] = total
    return {k: round(v, 2) for k, v in split.items()}


def run(machines: int, hours: float, seed: int, faults: str, tick_s: float,
        arrival_scale: float, profile: bool = False) -> dict[str, Any]:
    from autoinfra.sim import SimSettings, Simulator
    from autoinfra.traces import generate_cell

    t0 = time.perf_counter()
    workload = generate_cell(machines=machines, hours=hours, seed=seed,
                             arrival_scale=arrival_scale)
    gen_s = time.perf_counter() - t0
    c0 = time.process_time()
    t0 = time.perf_counter()
    sim = Simulator(workload, SimSettings(tick_s=tick_s), scenario=faults, seed=seed)
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    split = profiled_run(sim) if profile else None
    if split is None:
        sim.run()
    run_s = time.perf_counter() - t0
    wall_s = init_s + run_s
    # CPU seconds of this process over the same span: what one core did, whatever else the
    # shared machine ran (wall_s counts the waits for the core as well)
    cpu_s = time.process_time() - c0
    res = sim.results()
    s = res.summary
    ended = int((res.tasks["status"] == "ended").sum())
    events = s["tasks_submitted"] + s["placements"] + s["evictions"] + ended
    running = res.ticks["running_tasks"]
    return {
        "machines": machines,
        "hours": hours,
        "seed": seed,
        "faults": faults,
        "tick_s": tick_s,
        "arrival_scale": arrival_scale,
        "generate_s": round(gen_s, 3),
        "init_s": round(init_s, 3),
        "run_s": round(run_s, 3),
        "wall_s": round(wall_s, 3),
        "cpu_s": round(cpu_s, 3),
        "ticks": s["ticks"],
        "ms_per_tick": round(1e3 * run_s / max(s["ticks"], 1), 3),
        "events": int(events),
        "generator_task_events": workload.meta.get("task_events", {}).get("total"),
        "events_per_s": round(events / wall_s, 1),
        "placements": s["placements"],
        "placements_per_s": round(s["placements"] / wall_s, 1),
        "tasks": s["tasks_submitted"],
        "tasks_finished": s["tasks_finished"],
        "running_tasks_mean": round(float(running.mean()), 1),
        "running_tasks_max": int(running.max()),
        "pending_tasks_mean": round(float(res.ticks["pending_tasks"].mean()), 1),
        "evictions": s["evictions"],
        "preemptions": s["preemptions"],
        "mean_cpu_alloc": round(s["mean_cpu_alloc"], 4),
        "mean_cpu_util": round(s["mean_cpu_util"], 4),
        "mean_sched_delay_s": round(s["mean_sched_delay_s"], 3),
        "faults_injected": s["faults_injected"],
        "faults_recovered": s["faults_recovered"],
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "bytes_per_task": round(s["bytes_per_task"], 2),
        "bytes_per_running_slot": round(
            (s["state_bytes"]["slots"] + s["state_bytes"]["heap"]) / max(int(running.max()), 1), 2
        ),
        "state_bytes": s["state_bytes"],
        "workload_bytes_per_task": round(workload_bytes(workload) / max(len(workload.tasks), 1), 2),
        "placement_stats": dict(
            zip(
                ("considered", "remembered", "searched", "retried", "examined", "preempting",
                 "class_reused"),
                sim._state.place_stats.tolist(),
                strict=True,
            )
        ),
        "machine": machine_info(),
        **({"profile_cpu_s": split} if split is not None else {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=12500)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--faults", default="storm")
    ap.add_argument("--tick-s", type=float, default=5.0)
    ap.add_argument("--arrival-scale", type=float, default=2.0)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--profile", action="store_true",
                    help="run under cProfile and split the CPU time by part (slower: the "
                         "timings then include the profiler's cost)")  # fmt: skip
    args = ap.parse_args()
    out = run(args.machines, args.hours, args.seed, args.faults, args.tick_s, args.arrival_scale,
              args.profile)  # fmt: skip
    print(json.dumps(out, indent=2))
    if args.json is not None:
        write_json(args.json, out)


if __name__ == "__main__":
    main()
