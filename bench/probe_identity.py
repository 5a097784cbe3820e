"""Probe of identities inside the process: the forgery cases of issue 7 on a slice of the trace.

    python bench/probe_identity.py --json bench/results/probe_identity.json [--machines 300]

Each case runs the shipped ``agents`` system on the same slice with one extra, misbehaving agent
(``rogue``) that acts from ``--at-s`` (600 s) on, beside an honest run without it:

- ``subclass``: a scaler's policy defines a ``DrainMachine`` subclass with kind ``scale_service``
  and target ``service:<m>`` (the probe's bypass of scope and blast radius) and drains every
  machine with it; if the class cannot be defined, it hands over a look-alike object instead;
- ``claims_healer``: an observer returns ``AgentTickResult(agent_id="healing")`` with 200 kills;
- ``spoofed_names``: a healer-scoped agent returns 200 process kills (the blast radius counts them
  and, unlike drains, the headroom guard does not stop them first), each with another
  ``Proposal.agent`` (the probe got 200 of 200 approved against a blast radius of 50);
- ``unnamed``: the same 200 kills without claims: the gate's per-agent blast radius applies;
- ``squatted_ids``: at ``--at-s`` an energy agent labels proposals with the scaler's predictable
  ids for the next 300 s (``scaling:<t>:service:<k>``, the Q-table policy's labels), which used
  to silence the scaler with no audit record (the runtime took the first proposal under an id as
  the request and dropped later ones as replays);
- ``no_identity``: an agent built without an identity proposes 200 kills;
- ``bad_fields``: a policy that builds ``ScaleService(service=1.5)`` and
  ``DrainMachine(machine=None)``, which stopped the runtime for every agent.

For each: how many of the rogue's actions were submitted, how many of its operations (and drains)
reached the simulator (from the simulator's own event log), the refusals the audit log holds
(``proposal_refused`` and scope ``denied``), and whether the honest agents submitted exactly what
they did in the honest run. Run it with ``PYTHONPATH`` at an older checkout to see the "before".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from machine import machine_info
from output import write_json
from probe_gate import load_slice

CASES = (
    "subclass",
    "claims_healer",
    "spoofed_names",
    "unnamed",
    "squatted_ids",
    "no_identity",
    "bad_fields",
)


def _rogue(case: str, sensor: Any, n_machines: int, at_s: float) -> Any:
    from autoinfra.agents.base import Agent, AgentTickResult
    from autoinfra.core.actions import DrainMachine, KillProcess, ScaleService
    from autoinfra.core.proposal import Justification, Proposal
    from autoinfra.security.identity import Identity, Role

    def proposal(action: Any, agent: str = "", label: str = "") -> Proposal:
        return Proposal(action, agent, 20, Justification(f"probe: {case}"), 1.0, label)

    def kills(agent: Callable[[int], str] = lambda m: "") -> tuple[Proposal, ...]:
        # process kills: the blast radius counts them and, unlike drains, the headroom guard
        # does not stop them first; labels "rogue-<m>" keep them apart (and traceable) in old code
        n = min(200, n_machines)
        return tuple(proposal(KillProcess(machine=m), agent(m), f"rogue-{m}") for m in range(n))

    class Once:
        """A policy that returns ``make(now)`` once, at ``at_s``."""

        def __init__(self, make: Callable[[float], Any]) -> None:
            self.make, self.done = make, False

        def decide(self, observation: Any, findings: Sequence[Any]) -> Any:
            if self.done or observation.time_s < at_s:
                return []
            self.done = True
            return self.make(observation.time_s)

    class Raw(Agent):
        """Returns a forged tick result once, at ``at_s``."""

        def __init__(self, forge: Callable[[Any, float], Any], **kw: Any) -> None:
            super().__init__("rogue", sensor=sensor, period_s=5.0, priority=20, **kw)
            self.forge, self.done = forge, False

        def tick(self, now_s: float) -> Any:
            obs = self.perceive()
            if self.done or now_s < at_s:
                return AgentTickResult(obs, (), (), "rogue", now_s)
            self.done = True
            return self.forge(obs, now_s)

    healer = Identity.for_role("rogue", Role.HEALER)
    if case == "subclass":

        def posing(now: float) -> list[Proposal]:
            try:
                # labelled a scaling step on "service:<m>": inside a scaler's scope, priced as a
                # scaling step, outside the blast radius; the actuator saw a DrainMachine
                posing = {"kind": "scale_service", "target_kind": "service"}
                cls = type("PosingDrain", (DrainMachine,), posing)
                return [proposal(cls(machine=m), label=f"rogue-{m}") for m in range(n_machines)]
            except TypeError:
                kind = {"kind": "scale_service", "target": "service:0", "machine": 0}
                look = type("LookAlike", (), kind)
                return [proposal(look()) for _ in range(n_machines)]

        return Agent("rogue", sensor=sensor, policy=Once(posing), period_s=5.0, priority=20,
                     identity=Identity.for_role("rogue", Role.SCALER))  # fmt: skip
    if case == "claims_healer":
        return Raw(lambda obs, now: AgentTickResult(obs, (), kills(lambda m: "healing"),
                                                    "healing", now))  # fmt: skip
    if case == "spoofed_names":
        return Raw(lambda obs, now: AgentTickResult(obs, (), kills(lambda m: f"ghost-{m}"),
                                                    "rogue", now), identity=healer)  # fmt: skip
    if case == "unnamed":
        return Raw(
            lambda obs, now: AgentTickResult(obs, (), kills(), "rogue", now), identity=healer
        )
    if case == "squatted_ids":
        n_services = int(sensor.collect().service_ids.shape[0])

        def squat(now: float) -> list[Proposal]:
            # every instant the scaler (period 15 s) may tick at in the next 300 s: the
            # runtime ticks once per 5 s simulator step, so its phase is one of three
            labels = [
                (k, f"scaling:{now + 5.0 * i:.0f}:service:{k}")
                for i in range(1, 61)
                for k in range(n_services)
            ]
            # distinct actions: the runtime drops an action identical to one in flight
            return [
                proposal(ScaleService(service=k, delta_replicas=1 + j), label=label)
                for j, (k, label) in enumerate(labels)
            ]

        return Agent("rogue", sensor=sensor, policy=Once(squat), period_s=5.0, priority=20,
                     identity=Identity.for_role("rogue", Role.ENERGY))  # fmt: skip
    if case == "no_identity":
        return Agent("rogue", sensor=sensor, policy=Once(lambda now: list(kills())),
                     period_s=5.0, priority=20)  # fmt: skip
    if case == "bad_fields":

        def bad(now: float) -> list[Proposal]:
            if int(now) % 10 == 0:
                return [proposal(ScaleService(service=1.5, delta_replicas=1))]  # type: ignore[arg-type]
            return [proposal(DrainMachine(machine=None))]  # type: ignore[arg-type]

        class Always:
            def decide(self, observation: Any, findings: Sequence[Any]) -> list[Proposal]:
                return bad(observation.time_s) if observation.time_s >= at_s else []

        return Agent("rogue", sensor=sensor, policy=Always(), period_s=5.0, priority=20,
                     identity=Identity.for_role("rogue", Role.OPERATOR))  # fmt: skip
    raise SystemExit(f"unknown case {case!r}; expected one of {CASES}")


def run_case(
    workload: Any, case: str, *, window_s: float, at_s: float, seed: int
) -> dict[str, Any]:
    from autoinfra.agents import make_system
    from autoinfra.agents.runtime import Runtime
    from autoinfra.sim import SimSettings, Simulator

    until = min(window_s, workload.end_s - workload.start_s)
    sim = Simulator(workload, config=SimSettings(tick_s=5.0, until_s=until), seed=seed)
    system = make_system("agents", sim, seed=seed)
    runtime = system.runtime
    if case != "honest":
        rogue = _rogue(case, runtime.agents[0].sensor, sim.observe().n_machines, at_s)
        kwargs: dict[str, Any] = {
            "clock": runtime.clock, "actuator": runtime.actuator, "arbiter": runtime.arbiter,
            "gate": runtime.gate, "audit": runtime.audit,
            "settings": runtime.settings,
        }  # fmt: skip
        if getattr(runtime, "trust", None) is not None:
            kwargs["trust"] = runtime.trust
        runtime = Runtime([*runtime.agents, rogue], **kwargs)
    started = time.perf_counter()
    crashed = ""
    try:
        while not sim.done:
            sim.step()
            runtime.tick()
    except Exception as exc:  # the probe reports a crash rather than dying with it
        crashed = f"{type(exc).__name__}: {exc}"[:200]
    wall_s = time.perf_counter() - started
    submitted = Counter(
        r.proposed_by
        for r in runtime.records
        if any(t.status.value == "submitted" for t in r.history)
    )
    events = sim.results().events
    rogue_ops = events[events["by"].astype(str).str.startswith("rogue")]
    audit = [(r.event, dict(r.data)) for r in runtime.audit]
    refused = [d for e, d in audit if e == "proposal_refused" and d.get("agent") == "rogue"]
    denied = [d for e, d in audit if e == "denied" and "rogue" in str(d.get("why", ""))]
    honest = {k: v for k, v in submitted.items() if k != "rogue"}
    # why the rogue's admitted proposals went nowhere: the first words of each final reason
    rejected = Counter(
        r.history[-1].why.split(":")[0][:40]
        for r in runtime.records
        if r.proposed_by == "rogue" and r.status.value == "rejected"
    )
    return {
        "case": case,
        "crashed": crashed,
        "rogue_submitted": submitted.get("rogue", 0),
        "rogue_ops_applied": int((rogue_ops["op"] != "detect").sum()),
        "rogue_drains_applied": int((rogue_ops["op"] == "drain").sum()),
        "refused_audited": len(refused),
        "denied_audited": len(denied),
        "refusal_example": _example(refused, denied),
        "rogue_rejected": dict(sorted(rejected.items())),
        "honest_submitted": dict(sorted(honest.items())),
        "wall_s": round(wall_s, 2),
    }


def _example(refused: list[dict[str, Any]], denied: list[dict[str, Any]]) -> str:
    if refused:
        return str(refused[0]["reason"])
    return str(denied[0]["why"]) if denied else ""


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--machines", type=int, default=300)
    ap.add_argument("--window-s", type=float, default=3600.0)
    ap.add_argument("--at-s", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    workload = load_slice(args.machines, args.window_s, args.seed)
    kw = {"window_s": args.window_s, "at_s": args.at_s, "seed": args.seed}
    honest = run_case(workload, "honest", **kw)
    print(json.dumps(honest), flush=True)
    results = [honest]
    for case in args.cases.split(","):
        res = run_case(workload, case, **kw)
        res["honest_agents_unchanged"] = res["honest_submitted"] == honest["honest_submitted"]
        print(json.dumps(res), flush=True)
        results.append(res)
    out = {"probe": "identity", "results": results, "machine": machine_info(), "argv": sys.argv[1:]}
    if args.json is not None:
        from pathlib import Path

        write_json(Path(args.json), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
