"""Replay the shipped Google 2011 slice at full cell size (every machine, every job).

    python bench/replay_slice.py --json bench/results/replay_slice.json

The slice is the trace's first 5.7 hours (task_events parts 0-3; see the data NOTICE). Loading
goes through ``autoinfra.traces.load_workload`` (its Parquet cache makes the second load fast;
``load_s`` says which it was). Reports the same figures as ``simulate_cell_day.py``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from machine import machine_info
from output import write_json
from simulate_cell_day import peak_rss_mb


def run(trace: str | None, faults: str, tick_s: float, seed: int) -> dict[str, Any]:
    from autoinfra.sim import SimSettings, Simulator
    from autoinfra.traces import load_workload

    t0 = time.perf_counter()
    workload = load_workload(trace, seed=seed)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim = Simulator(workload, SimSettings(tick_s=tick_s), scenario=faults, seed=seed)
    sim.run()
    wall_s = time.perf_counter() - t0
    res = sim.results()
    s = res.summary
    ended = int((res.tasks["status"] == "ended").sum())
    events = s["tasks_submitted"] + s["placements"] + s["evictions"] + ended
    return {
        "workload": workload.source,
        "machines": s["machines"],
        "hours": round(s["sim_time_s"] / 3600, 3),
        "faults": faults,
        "tick_s": tick_s,
        "load_s": round(load_s, 3),
        "wall_s": round(wall_s, 3),
        "ticks": s["ticks"],
        "events": int(events),
        "events_per_s": round(events / wall_s, 1),
        "placements": s["placements"],
        "placements_per_s": round(s["placements"] / wall_s, 1),
        "tasks": s["tasks_submitted"],
        "running_tasks_mean": round(float(res.ticks["running_tasks"].mean()), 1),
        "pending_tasks_mean": round(float(res.ticks["pending_tasks"].mean()), 1),
        "evictions": s["evictions"],
        "trace_evictions": s["trace_evictions"],
        "mean_cpu_util": round(s["mean_cpu_util"], 4),
        "mean_cpu_alloc": round(s["mean_cpu_alloc"], 4),
        "mean_sched_delay_s": round(s["mean_sched_delay_s"], 3),
        "energy_kwh": round(s["energy_kwh"], 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "bytes_per_task": round(s["bytes_per_task"], 2),
        "machine": machine_info(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default=None, help="trace folder (default: the shipped slice)")
    ap.add_argument("--faults", default="storm")
    ap.add_argument("--tick-s", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    out = run(args.trace, args.faults, args.tick_s, args.seed)
    print(json.dumps(out, indent=2))
    if args.json is not None:
        write_json(args.json, out)


if __name__ == "__main__":
    main()
