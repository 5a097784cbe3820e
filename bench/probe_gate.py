"""Probe of the gate's guards and the telemetry trust check on a slice of the shipped trace.

    python bench/probe_gate.py --json bench/results/probe_gate.json [--machines 300]

Three cases, each beside an honest run of the same slice with the shipped ``agents`` system:

- **spoofed idle** (``idle``): from ``--from-s`` (600 s) the sensor reports every machine idle
  (no CPU or memory used or requested; task counts as they are); the world goes on as before;
- **frozen** (``frozen``): from ``--from-s`` the sensor keeps returning the snapshot it took then;
- **escalations** (``escalate``): at ``--escalate-at-s`` (1500 s, when the slice has about 30 %
  of its CPU free, so each drain alone passes the headroom guard) a rogue agent with a drain
  scope proposes to drain every machine at confidence 0.1 (so each one is escalated) and the
  preset's auto-approver says yes to all of them 60 s later.

``idle-gate-only`` and ``frozen-gate-only`` repeat the two spoofs with the runtime's trust check
switched off, to measure what the gate's guards hold on their own.

For each it prints machines drained and powered off, usable machines at the end and the least
usable at any time, the least free CPU share of the usable machines (free of what placement counts:
requests, or reservations for the work placed by them), pending tasks at the end, the
simulator's evictions, and when the runtime entered safe mode (if it has one). Everything is
measured from the simulator's truth (``sim.observe()``), not from the spoofed sensor.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from machine import machine_info
from output import update_section, write_json

CASES = ("honest", "idle", "frozen", "escalate", "idle-gate-only", "frozen-gate-only")


class SpoofedCluster:
    """The simulator as a sensor sees it, with the picture spoofed from ``from_s`` on."""

    def __init__(self, sim: Any, mode: str, from_s: float) -> None:
        self.sim = sim
        self.mode = mode
        self.from_s = from_s
        self._frozen: Any = None

    @property
    def now_s(self) -> float:
        return float(self.sim.now_s)

    def observe(self) -> Any:
        obs = self.sim.observe()
        if self.sim.now_s < self.from_s:
            return obs
        if self.mode == "idle":
            n = obs.n_machines
            zero_f = np.zeros(n, dtype=np.float32)
            return dataclasses.replace(
                obs,
                cpu_used=zero_f,
                cpu_requested=zero_f,
                mem_used=zero_f,
                mem_requested=zero_f,
                cpu_throttled_share=zero_f,
            )
        if self.mode == "frozen":
            if self._frozen is None:
                self._frozen = obs
            return self._frozen
        return obs


def _rogue_agent(sensor: Any, n_machines: int, at_s: float) -> Any:
    from autoinfra.agents.base import Agent
    from autoinfra.core.actions import DrainMachine
    from autoinfra.core.proposal import Justification, Proposal
    from autoinfra.security.identity import Identity, Role

    class DrainAll:
        """Once, at ``at_s``: a low-confidence drain of every machine."""

        def __init__(self) -> None:
            self.done = False

        def decide(self, observation: Any, findings: Sequence[Any]) -> list[Proposal]:
            if self.done or observation.time_s < at_s:
                return []
            self.done = True
            return [
                Proposal(
                    DrainMachine(machine=m), "rogue", 20, Justification("probe: drain all"), 0.1
                )
                for m in range(n_machines)
            ]

    return Agent(
        "rogue",
        sensor=sensor,
        policy=DrainAll(),
        period_s=5.0,
        priority=20,
        identity=Identity.for_role("rogue", Role.ENERGY),
        description="probe: proposes to drain every machine at low confidence",
    )


def _with_rogue(runtime: Any, rogue: Any) -> Any:
    """The same runtime with one more agent (a new Runtime over the same parts)."""
    from autoinfra.agents.runtime import Runtime

    kwargs: dict[str, Any] = {
        "clock": runtime.clock,
        "actuator": runtime.actuator,
        "arbiter": runtime.arbiter,
        "gate": runtime.gate,
        "audit": runtime.audit,
        "settings": runtime.settings,
    }
    if getattr(runtime, "trust", None) is not None:
        kwargs["trust"] = runtime.trust
    return Runtime([*runtime.agents, rogue], **kwargs)


def load_slice(machines: int, window_s: float, seed: int) -> Any:
    """The default study's evaluation slice: ``machines`` drawn with ``seed``, ``window_s`` long."""
    from autoinfra.experiments.inputs import load_inputs
    from autoinfra.experiments.spec import ExperimentSpec, Scale

    scale = Scale("probe", machines, window_s, (seed,), f"{machines} machines, {window_s:g} s")
    return load_inputs(ExperimentSpec(seeds=(seed,), scale=scale)).slices[seed]


def run_case(
    workload: Any,
    case: str,
    *,
    window_s: float,
    from_s: float,
    seed: int,
    escalate_at_s: float = 1500.0,
) -> dict[str, Any]:
    from autoinfra.agents import make_system
    from autoinfra.core.actions import DrainMachine, SetMachinePower
    from autoinfra.core.lifecycle import ActionStatus
    from autoinfra.core.observation import MachineState, placement_counted
    from autoinfra.sim import SimSettings, Simulator

    sim = Simulator(
        workload,
        config=SimSettings(tick_s=5.0, until_s=min(window_s, workload.end_s - workload.start_s)),
        seed=seed,
    )
    system = make_system("agents", sim, seed=seed)
    runtime = system.runtime
    sensor = runtime.agents[0].sensor
    spoof = case.removesuffix("-gate-only")
    if spoof in ("idle", "frozen"):
        sensor.cluster = SpoofedCluster(sim, spoof, from_s)
    if case.endswith("-gate-only"):
        runtime.trust = None
    if case == "escalate":
        rogue = _rogue_agent(sensor, sim.observe().n_machines, escalate_at_s)
        runtime = _with_rogue(runtime, rogue)
        from_s = escalate_at_s
    findings: list[tuple[float, str, str]] = []
    runtime.on_finding = lambda agent, f: findings.append((float(sim.now_s), f.kind, f.target))
    min_usable = None
    min_free = None
    started = time.perf_counter()
    while not sim.done:
        sim.step()
        runtime.tick()
        if sim.now_s >= from_s and int(sim.now_s) % 30 == 0:
            truth = sim.observe()
            usable = (truth.machine_state == MachineState.ON) & truth.schedulable
            cap = float(truth.cpu_capacity[usable].sum())
            # what the scheduler counts as taken: requests, or for non-production work its
            # reservations when the system places by reservations (agents-v1 does)
            counted = placement_counted(truth)
            demand = float(counted[usable].sum()) + float(truth.pending_cpu)
            free = (cap - demand) / cap if cap > 0 else -1.0
            count = int(usable.sum())
            min_usable = count if min_usable is None else min(min_usable, count)
            min_free = free if min_free is None else min(min_free, free)
    wall_s = time.perf_counter() - started
    truth = sim.observe()
    usable_now = (truth.machine_state == MachineState.ON) & truth.schedulable
    usable_end = int(usable_now.sum())
    cap_end = float(truth.cpu_capacity[usable_now].sum())
    done = [r for r in runtime.records if r.status == ActionStatus.SUCCEEDED]
    drained = {r.action.machine for r in done if isinstance(r.action, DrainMachine)}
    off = {
        r.action.machine for r in done if isinstance(r.action, SetMachinePower) and not r.action.on
    }
    safe = [e for e in _audit_events(runtime) if e[0] == "safe_mode"]
    entered = next((at for kind, at, data in safe if data.get("entered")), None)
    summary = sim.results().summary
    return {
        "case": case,
        "machines": int(truth.n_machines),
        "drained": len(drained),
        "powered_off": len(off),
        "usable_end": usable_end,
        "usable_min": min_usable,
        "free_cpu_share_min": round(min_free, 4) if min_free is not None else None,
        "pending_tasks_end": int(truth.pending_tasks),
        # what waits, against the usable CPU: the gate keeps aggregate headroom, so work left
        # waiting by fragmentation (no single machine has room) must still fit that headroom
        "pending_cpu_share_end": round(float(truth.pending_cpu) / cap_end, 4) if cap_end else None,
        "evictions": int(summary["evictions"]),
        "machine_down_findings": sum(1 for f in findings if f[1] == "node_failure"),
        "safe_mode_entered_s": entered,
        "safe_mode_delay_s": (entered - from_s) if entered is not None else None,
        "wall_s": round(wall_s, 2),
    }


def _audit_events(runtime: Any) -> list[tuple[str, float, dict[str, Any]]]:
    return [(r.event, float(r.at_s), dict(r.data)) for r in runtime.audit]


_COLUMNS = (
    ("drained", "drained"),
    ("powered_off", "powered off"),
    ("usable_end", "usable at end"),
    ("usable_min", "usable min"),
    ("free_cpu_share_min", "min free CPU share"),
    ("pending_tasks_end", "pending at end"),
    ("evictions", "evictions"),
    ("safe_mode_delay_s", "safe mode after (s)"),
)
BEGIN, END = "<!-- probe-gate:start -->", "<!-- probe-gate:end -->"


def section(out: dict[str, Any], before: dict[str, Any] | None) -> str:
    """RESULTS.md section: each case's figures, with the figures before the fix when given."""
    old = {r["case"]: r for r in before["results"]} if before else {}
    head = "| case | " + " | ".join(label for _, label in _COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(_COLUMNS) + 1)]
    for r in out["results"]:

        def cell(key: str, r: dict[str, Any] = r) -> str:
            now = "n/a" if r[key] is None else str(r[key])
            base = old.get(r["case"].removesuffix("-gate-only"))  # before: no trust check
            if base is not None and key in base:
                was = base[key]
                return f"{'n/a' if was is None else was} -> {now}"
            return now

        lines.append(f"| {r['case']} | " + " | ".join(cell(k) for k, _ in _COLUMNS) + " |")
    m = out["machine"]
    return "\n".join(
        [
            BEGIN,
            "## Gate probe (issue 7, items 1, 2 and 6): `bench/probe_gate.py`",
            "",
            f"`python bench/probe_gate.py {' '.join(out['argv'])}` on {m['cpu']} "
            f"({m['cores']} cores, load {m['load_average_1m']}). The shipped `agents` system on "
            "the default study's 300-machine slice (seed 0, 1 h); spoofs from 600 s, the rogue's "
            "300 low-confidence drains at 1500 s, approved by the 60 s auto-approver. Figures "
            "from the simulator's truth. `before -> after` where a before run was given "
            "(`--before`, the same script on the code before the fix). Min free CPU share is of "
            "what placement counts: requests, and for the non-production work `agents` places by "
            "reservations, its reservations (before issue 9's counted headroom, the probe "
            "measured requests only, which placement by reservations overcommits by design).",
            "",
            *lines,
            END,
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--machines", type=int, default=300)
    ap.add_argument("--window-s", type=float, default=3600.0)
    ap.add_argument("--from-s", type=float, default=600.0)
    ap.add_argument("--escalate-at-s", type=float, default=1500.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--before", type=Path, default=None, help="a JSON of this probe, before")
    ap.add_argument("--results-md", type=Path, default=None, help="update this RESULTS.md")
    args = ap.parse_args(argv)
    workload = load_slice(args.machines, args.window_s, args.seed)
    results = []
    for case in args.cases.split(","):
        res = run_case(
            workload,
            case,
            window_s=args.window_s,
            from_s=args.from_s,
            seed=args.seed,
            escalate_at_s=args.escalate_at_s,
        )
        print(json.dumps(res), flush=True)
        results.append(res)
    out = {"probe": "gate", "results": results, "machine": machine_info(), "argv": sys.argv[1:]}
    print(json.dumps(out["machine"]))
    if args.json is not None:
        write_json(args.json, out)
    if args.results_md is not None:
        before = json.loads(args.before.read_text()) if args.before is not None else None
        update_section(args.results_md, BEGIN, END, section(out, before))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
