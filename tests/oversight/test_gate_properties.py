"""Properties of the gate under any telemetry, any interleaving of escalations and answers, any
agent names: the machines removed in a window never exceed the blast radius, and usable capacity
never falls below the headroom floor.

The world is a model: machines with a capacity, usable until an executed action removes them,
and a constant true demand ``D`` (requested plus pending CPU). The gate sees it through a sensor
the test scripts, tick by tick, as one of:

- ``honest``: the truth; ``idle``: the true machine states with no CPU requested or pending (the
  spoof that once drained a cell); ``frozen``: the very first snapshot, forever; ``stale``: any
  earlier honest snapshot, with its own old time; ``noisy``: the true states with random requests
  and pending work.

That is the threat model the gate alone answers for: the load figures may be anything, and the
machine states may be any past truth (monitoring that lags, freezes or replays). A picture that
invents machines or silences heartbeats is the trust check's job (``telemetry.trust``, safe mode
in the runtime), not the gate's. The first snapshot is honest, so the gate has seen the true
demand once; the headroom floor is then ``(1 - demand_fall_share) x D / (1 - min_headroom_share)``
(or the capacity at the start, when that was already below it).

Executions happen whenever the test says, each after ``Gate.recheck`` as the runtime does it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from autoinfra.core.actions import (
    Action,
    DrainMachine,
    EvictTasks,
    IsolateMachine,
    KillProcess,
    ScaleService,
    SetMachinePower,
)
from autoinfra.core.clock import SimClock
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Decision, Justification, Proposal
from autoinfra.oversight import Gate, GateSettings
from autoinfra.oversight.guards import removes_capacity
from tests.oversight.observations import ScriptedSensor, make_obs

MODES = ("honest", "idle", "frozen", "stale", "noisy")
KINDS = ("drain", "off", "on", "evict", "isolate", "kill", "scale")


def _action(kind: str, machine: int) -> Action:
    return {
        "drain": lambda: DrainMachine(machine=machine),
        "off": lambda: SetMachinePower(machine=machine, on=False),
        "on": lambda: SetMachinePower(machine=machine, on=True),
        "evict": lambda: EvictTasks(machine=machine),
        "isolate": lambda: IsolateMachine(machine=machine),
        "kill": lambda: KillProcess(machine=machine),
        "scale": lambda: ScaleService(service=0, delta_replicas=1),
    }[kind]()


@dataclass
class TinyCluster:
    cap: np.ndarray
    demand: float
    usable: np.ndarray
    clock: SimClock = field(default_factory=SimClock)
    snapshots: list[Observation] = field(default_factory=list)

    def honest(self) -> Observation:
        share = np.where(self.usable, self.cap, 0.0)
        total = float(share.sum())
        placed = min(self.demand, 0.9 * total)
        requested = share * (placed / total) if total > 0 else share
        obs = make_obs(self.clock.now_s(), self.cap, self.usable, requested, self.demand - placed)
        self.snapshots.append(obs)
        return obs

    def picture(self, mode: str, rng: np.random.Generator) -> Observation:
        if mode == "honest":
            return self.honest()
        now = self.clock.now_s()
        if mode == "idle":
            return make_obs(now, self.cap, self.usable, np.zeros_like(self.cap), 0.0)
        if mode == "frozen":
            return self.snapshots[0]
        if mode == "stale":
            return self.snapshots[int(rng.integers(len(self.snapshots)))]
        requested = rng.uniform(0, 1, self.cap.shape[0]) * self.cap
        return make_obs(
            now, self.cap, self.usable, requested, float(rng.uniform(0, 2 * self.demand))
        )

    def usable_cpu(self) -> float:
        return float(self.cap[self.usable].sum())


_tele = st.tuples(st.just("tele"), st.sampled_from(MODES))
_propose = st.tuples(
    st.just("propose"),
    st.text(alphabet="abcxyz-_/:.0", min_size=1, max_size=3),  # any agent names
    st.sampled_from(KINDS),
    st.integers(0, 40),
    st.sampled_from([1.0, 0.9, 0.3, 0.05]),  # low confidence escalates
    st.booleans(),  # executed at once when approved (as the runtime does), or held for later
)
_answer = st.tuples(st.just("answer"), st.integers(0, 50), st.booleans())
_advance = st.tuples(st.just("advance"), st.sampled_from([5.0, 30.0, 60.0, 200.0]))
_execute = st.tuples(st.just("execute"), st.integers(0, 50))
# weighted towards proposing and executing, so most runs remove machines up to a limit
steps = st.lists(
    st.one_of(_propose, _propose, _propose, _propose, _execute, _answer, _answer, _tele, _advance),
    min_size=20,
    max_size=80,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(4, 12),
    caps=st.lists(st.sampled_from([0.25, 0.5, 1.0]), min_size=24, max_size=24),
    load=st.floats(0.3, 0.95),
    radius=st.integers(1, 12),
    headroom=st.sampled_from([0.0, 0.1, 0.3]),
    long_run=st.booleans(),
    start_mode=st.sampled_from(MODES),
    plan=steps,
    seed=st.integers(0, 2**16),
)
def test_removals_stay_within_the_radius_and_above_the_floor(
    n: int,
    caps: list[float],
    load: float,
    radius: int,
    headroom: float,
    long_run: bool,
    start_mode: str,
    plan: list[tuple[Any, ...]],
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    cap = np.asarray(caps[:n], dtype=np.float64)
    world = TinyCluster(cap, load * float(cap.sum()), np.ones(n, dtype=bool))
    sensor = ScriptedSensor(world.honest())
    settings_ = GateSettings(
        window_s=600.0,
        max_machines_per_window=radius,
        max_machines_share=0.0,
        min_headroom_share=headroom,
        max_actions_per_agent=1000,
        max_actions_share=0.0,
        max_actions_per_target=1000,
    )
    gate = Gate(settings_, clock=world.clock, sensor=sensor)
    # the gate's first look is at the honest picture (it has seen the true demand once)
    first = Proposal(
        ScaleService(service=0, delta_replicas=1), "init", 1, Justification("x"), 1.0, "r-init"
    )
    gate.review(first)
    floor = (1 - settings_.demand_fall_share) * world.demand / (1 - headroom)
    floor = min(world.usable_cpu(), floor)
    horizon_s = 3000.0 if long_run else 590.0  # short runs keep the true demand in the window
    modes = ("frozen", "stale") if long_run else MODES  # long: only pictures that show D
    sensor.obs = world.picture(start_mode if start_mode in modes else "frozen", rng)
    pending: list[Proposal] = []
    approved: list[Proposal] = []
    removed_at: list[tuple[float, int]] = []

    def execute(p: Proposal, now: float) -> None:
        if gate.recheck(p, now) is None and removes_capacity(p.action):
            act = p.action
            if isinstance(act, (EvictTasks, SetMachinePower)):
                # every machine here runs work and none has failed: the backend refuses both
                # (autoinfra.testing.conformance checks it of every backend), which is what the
                # gate counts on when it leaves them out of the radius on a picture of idle
                return
            m = int(act.machine)
            world.usable[m] = False
            removed_at.append((now, m))
            in_window = {mm for t, mm in removed_at if t > now - settings_.window_s}
            assert len(in_window) <= radius, (in_window, radius)
            assert world.usable_cpu() >= floor - 1e-6, (world.usable_cpu(), floor)

    for k, step in enumerate(plan):
        now = world.clock.now_s()
        if step[0] == "tele":
            mode = step[1] if step[1] in modes else "frozen"
            sensor.obs = world.picture(mode, rng)
        elif step[0] == "propose":
            _, agent, kind, machine, confidence, at_once = step
            p = Proposal(
                _action(kind, machine % n), agent, 1, Justification("x"), confidence, f"r{k}"
            )
            verdict = gate.review(p)
            if verdict.decision == Decision.APPROVE and at_once:
                execute(p, now)
            elif verdict.decision == Decision.APPROVE:
                approved.append(p)
            elif verdict.decision == Decision.ESCALATE:
                pending.append(p)
        elif step[0] == "answer" and pending:
            p = pending.pop(step[1] % len(pending))
            gate.queue.answer(p.request_id, approved=step[2], by="person", why="x", at_s=now)
            for answer in gate.answers(now):
                if answer.approved and answer.request_id == p.request_id:
                    approved.append(p)
        elif step[0] == "advance" and now + step[1] <= horizon_s:
            world.clock.advance(step[1])
        elif step[0] == "execute" and approved:
            execute(approved.pop(step[1] % len(approved)), now)
    event(f"removals executed: {min(len(removed_at), 3)}+")
    limited = len({m for _, m in removed_at}) >= radius or world.usable_cpu() < floor + 1.0
    event(f"stopped by a limit: {bool(removed_at) and limited}")
