"""A* rerouting vs the healing rule on congestion scenarios (catalogue row ``astar``).

Each held-out seed (``seed + 100 ..``; nothing here is tuned, the seeds only have to be ones the
settings were never looked at with) builds an 80-machine cell (two racks) from the evaluation
half of the shipped Google 2011 slice and injects, at ``inject_s``, background load on every uplink
of both racks for ``duration_s``: one "hot" uplink per rack at 0.90..1.05 of capacity (congested
with the rack's own share) and the others at 0.30..1.00 (so moving all the traffic onto them
congests some of them). Configurations with 2 and 4 uplinks per rack. Both policies see the same
observations and findings (``LinkCongestionDetector`` defaults); their reroutes are applied to the
simulator at once (no API latency, so only the decisions differ).

Figures per policy, over all runs:

- ``recovery_s_mean``: injection to recovery of each congestion fault (the simulator's judgement:
  the rack's tasks no longer slowed); a fault no action recovered counts at ``duration_s`` (it
  self-clears then), and ``recovered_by_action`` counts the others;
- ``links_left_congested``: uplinks still carrying rack traffic above capacity just before the
  faults clear (ground truth from the simulator's link table, which no policy sees);
- ``slowed_task_s``: running-task-seconds spent in a rack slowed by a congested uplink;
- ``speed_lost_task_s``: the same weighted by how much each was slowed (sum over ticks of
  tasks x (1 - rack speed)): what congestion cost in work;
- ``reroutes``: reroute actions applied; ``restores``: equal splits restored (``RestoreRoutes``,
  A* only: the rule has no way back).
"""

from __future__ import annotations

from typing import Any

import numpy as np

TICK_S = 10.0
INJECT_S = 300.0
DURATION_S = 1500.0
RUNS_PER_CONFIG = 10


def _scenario(seed: int, n_racks: int, uplinks: int) -> Any:
    from autoinfra.faults import FaultScenario
    from autoinfra.faults.spec import FaultKind, FaultSpec

    rng = np.random.default_rng(seed)
    faults = []
    for r in range(n_racks):
        hot = int(rng.integers(uplinks))
        for j in range(uplinks):
            load = rng.uniform(0.90, 1.05) if j == hot else rng.uniform(0.30, 1.00)
            faults.append(
                FaultSpec(
                    FaultKind.NETWORK_CONGESTION,
                    INJECT_S,
                    target=f"link:{r * uplinks + j}",
                    duration_s=DURATION_S,
                    load=float(load),
                )
            )
    return FaultScenario(name=f"congestion-{seed}", faults=tuple(faults), source="bench")


def _run(cell: Any, seed: int, uplinks: int, policy: Any) -> dict[str, float]:
    from autoinfra.core.actions import RestoreRoutes
    from autoinfra.core.errors import SimulationError
    from autoinfra.core.proposal import Outcome
    from autoinfra.sim import SimSettings, Simulator
    from autoinfra.sim.layout import L_UTIL, L_WEIGHT, R_NET, R_TASKS
    from autoinfra.telemetry.detectors import LinkCongestionDetector

    cfg = SimSettings(
        tick_s=TICK_S,
        until_s=INJECT_S + DURATION_S + 300.0,
        record_every_s=TICK_S,
        uplinks_per_rack=uplinks,
    )
    sim = Simulator(cell, cfg, scenario=_scenario(seed, 2, uplinks), seed=seed)
    det = LinkCongestionDetector()
    reroutes, restores, left, lost = 0, 0, -1, 0.0
    state = sim._state  # ground truth the policies never see (weights, slowdown)
    while not sim.done:
        sim.step()
        lost += float((state.rf[R_TASKS] * (1.0 - state.rf[R_NET])).sum()) * TICK_S
        obs = sim.observe()
        findings = det.analyze(obs)
        for f in findings:  # a mitigation earns credit only for a fault its actor detected
            sim.record_detection(f.target, by="bench", kind=f.kind)
        proposals = policy.decide(obs, findings)
        outcomes = []
        for i, p in enumerate(proposals):
            ok = True
            try:
                if isinstance(p.action, RestoreRoutes):
                    sim.writer.restore_routes(p.action.rack, by="bench")
                    restores += 1
                else:
                    sim.writer.reroute(p.action.rack, p.action.away_from_link, by="bench")
                    reroutes += 1
            except SimulationError:
                ok = False
            outcomes.append(Outcome(f"r{i}", ok, obs.time_s))
        policy.observe_outcomes(outcomes, proposals)
        if left < 0 and obs.time_s >= INJECT_S + DURATION_S - TICK_S:
            lf = state.lf
            left = int(np.count_nonzero((lf[L_WEIGHT] > 0) & (lf[L_UTIL] > 1.0)))
    res = sim.results()
    f = res.faults
    f = f[f["origin"] == "scenario"]
    rec = (f["recovered_s"] - f["injected_s"]).to_numpy(np.float64)
    by_action = ~f["self_cleared"].to_numpy(bool)
    slowed = float(res.ticks["net_slowed_tasks"].sum()) * TICK_S
    return {
        "recovery_s_sum": float(np.nansum(rec)),
        "faults": float(rec.size),
        "recovered_by_action": float(by_action.sum()),
        "links_left_congested": float(left),
        "slowed_task_s": slowed,
        "speed_lost_task_s": lost,
        "reroutes": float(reroutes),
        "restores": float(restores),
    }


def compare_astar(seed: int = 0) -> dict[str, Any]:
    from autoinfra.policies.healing import HealingPolicy
    from autoinfra.policies.routing import AStarReroutePolicy
    from autoinfra.traces import load_workload, sample_cell, split_windows, window

    wl = load_workload(None, seed=seed)
    ev = split_windows(wl.end_s - wl.start_s, 0.5).evaluation
    part = window(wl, ev.start_s, ev.end_s)
    totals: dict[str, dict[str, float]] = {"rule": {}, "astar": {}}
    per_config: dict[str, dict[str, dict[str, float]]] = {}
    for uplinks in (2, 4):
        for k in range(RUNS_PER_CONFIG):
            s = seed + 100 + k
            cell = sample_cell(part, 80, s)
            for name, make in (("rule", HealingPolicy), ("astar", AStarReroutePolicy)):
                got = _run(cell, s, uplinks, make())
                for key, v in got.items():
                    totals[name][key] = totals[name].get(key, 0.0) + v
                    cfg = per_config.setdefault(f"uplinks={uplinks}", {}).setdefault(name, {})
                    cfg[key] = cfg.get(key, 0.0) + v

    def figures(t: dict[str, float]) -> dict[str, float]:
        return {
            "recovery_s_mean": round(t["recovery_s_sum"] / t["faults"], 1),
            "recovered_by_action": int(t["recovered_by_action"]),
            "faults": int(t["faults"]),
            "links_left_congested": int(t["links_left_congested"]),
            "slowed_task_s": round(t["slowed_task_s"], 0),
            "speed_lost_task_s": round(t["speed_lost_task_s"], 0),
            "reroutes": int(t["reroutes"]),
            "restores": int(t["restores"]),
        }

    d, c = figures(totals["rule"]), figures(totals["astar"])
    better = (
        c["recovery_s_mean"] <= d["recovery_s_mean"]
        and c["links_left_congested"] <= d["links_left_congested"]
        and c["speed_lost_task_s"] < d["speed_lost_task_s"]
    )
    return {
        "default": {"policy": "healing.rules-v1", **d},
        "candidate": {"policy": "healing.astar-v1", **c},
        "per_config": {k: {n: figures(t) for n, t in v.items()} for k, v in per_config.items()},
        "runs": 2 * RUNS_PER_CONFIG,
        "held_out_seeds": [seed + 100 + k for k in range(RUNS_PER_CONFIG)],
        "verdict": "better on recovery, links and slowdown" if better else "default stays",
    }
