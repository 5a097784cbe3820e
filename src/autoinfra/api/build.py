"""Building a served cluster: a simulated slice, the autonomous system on it, the API's wiring.

The system is built the way experiments build it (``make_system("agents", sim, seed=...)``), then
three things change for a person to be in the loop: the gate's approver is
:class:`~autoinfra.api.wiring.NobodyApproves` (escalations wait), the gate is wrapped to honour
pins, the actuator to keep the execution ledger, and the scaling and energy policies heed
operator verdicts (:mod:`autoinfra.api.preference`). The audit chain is a file in the state
directory, continued across restarts.

``--demo``: a synthetic cell (calibrated on the Google slice) of 40 machines over a day, with a
fault storm every 15 minutes (node failure, CPU hog, congestion, intrusion) and a lower escalation
threshold so a new user sees approvals wait for them at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoinfra.api.oversight import Oversight, open_audit, queue_of
from autoinfra.api.preference import PreferenceFilter, VerdictPreferences
from autoinfra.api.simservice import ServiceSettings, SimClusterService
from autoinfra.api.state import StateStore
from autoinfra.api.wiring import LedgerActuator, NobodyApproves, PinGate
from autoinfra.core.actions import action_to_dict

__all__ = ["ServeOptions", "build_sim_service", "demo_scenario"]


@dataclass(frozen=True, slots=True)
class ServeOptions:
    state_dir: Path
    seed: int = 0
    demo: bool = True
    machines: int = 40
    hours: float = 24.0
    scenario: str = "storm"
    escalate_risk: float = 0.7
    audit_fsync: bool = False  # see build_sim_service
    settings: ServiceSettings = field(default_factory=ServiceSettings)


def demo_scenario(hours: float, every_s: float = 900.0) -> Any:
    from autoinfra.faults.loading import scenario_from_dict

    faults = []
    at = 300.0
    while at < hours * 3600 - every_s:
        faults += [
            {"kind": "node_failure", "at_s": at, "target": "random"},
            {"kind": "cpu_hog", "at_s": at + 60, "target": "random", "duration_s": 600},
            {
                "kind": "network_congestion",
                "at_s": at + 120,
                "target": "random",
                "duration_s": 400,
                "load": 1.5,
            },
            {"kind": "intrusion", "at_s": at + 180, "target": "random", "duration_s": 600},
        ]
        at += every_s
    return scenario_from_dict(
        {"name": "demo-storm", "description": "a storm every 15 min", "faults": faults},
        source="<demo>",
    )


def build_sim_service(opts: ServeOptions) -> SimClusterService:
    from autoinfra.agents import make_system
    from autoinfra.faults import load_scenario
    from autoinfra.sim import SimSettings, Simulator
    from autoinfra.traces.synthetic import generate_cell

    opts.state_dir.mkdir(parents=True, exist_ok=True)
    workload = generate_cell(machines=opts.machines, hours=opts.hours, seed=opts.seed)
    scenario = demo_scenario(opts.hours) if opts.demo else load_scenario(opts.scenario)
    sim = Simulator(workload, config=SimSettings(tick_s=5.0), scenario=scenario, seed=opts.seed)
    escalate = 0.45 if opts.demo else opts.escalate_risk
    system = make_system(
        "agents",
        sim,
        seed=opts.seed,
        params={
            "approver": NobodyApproves(),
            "escalate_risk": escalate,
        },
    )
    store = StateStore(opts.state_dir / "api.db")
    runtime = system.runtime
    # the chain on disk, continued across restarts. Each record is one write() to a file opened
    # for append, so kill -9 cannot lose or tear it; fsync per record (for power loss) costs
    # milliseconds each while the runtime holds the API's lock, so it is an option
    runtime.audit = open_audit(opts.state_dir / "audit.jsonl", fsync=opts.audit_fsync)
    gate = runtime.gate
    queue = queue_of(gate)
    run_id = f"run{int(time.time() * 1000):x}"
    prefs = VerdictPreferences(seed=opts.seed)
    for agent in runtime.agents:
        if agent.agent_id in ("scaling", "energy") and agent.policy is not None:
            agent.policy = PreferenceFilter(agent.policy, prefs)
    ledger = LedgerActuator(runtime.actuator, store, run_id, now_s=lambda: float(sim.now_s))
    runtime.actuator = ledger
    service = SimClusterService(
        sim,
        system,
        store=store,
        oversight=Oversight(runtime.audit, queue),
        ledger=ledger,
        prefs=prefs,
        run_id=run_id,
        settings=opts.settings,
    )
    ledger.on_execute = lambda rid, action: service.record(
        "executed",
        actor="executor",
        data={"request_id": rid, "action": action_to_dict(action), "run_id": run_id},
    )
    assert gate is not None
    runtime.gate = PinGate(gate, pinned=service.pinned, seen=service._seen)
    return service
