"""The guards on every path: pending escalations count, answers and executions are re-checked,
every capacity-removing kind counts, the headroom guard keeps its own ledger, settings are checked.

The cell: 10 machines of 1.0 CPU, 6.0 CPU requested or pending, 10 % headroom: capacity must stay
at or above 6 / 0.9 = 6.67, so three machines may go and the fourth may not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

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
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Decision, Justification, Proposal
from autoinfra.oversight import Gate, GateSettings
from tests.oversight.observations import ScriptedSensor, make_obs

N = 10


def _cell(
    t: float = 0.0, usable: Any = None, demand: float = 6.0, beats: Any = None
) -> Observation:
    ok = np.ones(N, dtype=bool) if usable is None else np.asarray(usable)
    requested = np.where(ok, 0.5, 0.0)
    pending = max(0.0, demand - float(requested.sum()))
    return make_obs(t, np.ones(N), ok, requested, pending, heartbeat_age_s=beats)


def _gate(obs: Observation | None = None, **kw: Any) -> tuple[Gate, ScriptedSensor, SimClock]:
    clock = SimClock()
    sensor = ScriptedSensor(obs if obs is not None else _cell())
    base = {"max_machines_per_window": 50, "max_machines_share": 0.0, "min_headroom_share": 0.1}
    gate = Gate(GateSettings(**(base | kw)), clock=clock, sensor=sensor)
    return gate, sensor, clock


_n = iter(range(10**6))


def _p(action: Action, agent: str = "energy", conf: float = 1.0) -> Proposal:
    return Proposal(action, agent, 20, Justification("why"), conf, f"{agent}/{next(_n)}")


def test_pending_escalations_take_the_blast_radius_while_they_wait() -> None:
    gate, _, _ = _gate(max_machines_per_window=2)
    verdicts = [gate.review(_p(DrainMachine(machine=m), conf=0.1)) for m in range(3)]
    assert [v.decision for v in verdicts[:2]] == [Decision.ESCALATE] * 2
    assert verdicts[2].decision == Decision.REJECT and "blast-radius" in verdicts[2].reason
    assert len(gate.queue) == 2


def test_pending_escalations_take_the_headroom_while_they_wait() -> None:
    gate, _, _ = _gate()
    decisions = [gate.review(_p(DrainMachine(machine=m), conf=0.1)).decision for m in range(5)]
    assert decisions == [Decision.ESCALATE] * 3 + [Decision.REJECT] * 2


def test_a_denied_escalation_gives_its_budget_back() -> None:
    gate, _, _ = _gate(max_machines_per_window=1)
    first = _p(DrainMachine(machine=0), conf=0.1)
    assert gate.review(first).decision == Decision.ESCALATE
    assert gate.review(_p(DrainMachine(machine=1))).decision == Decision.REJECT
    gate.queue.answer(first.request_id, approved=False, by="alice", why="no", at_s=1.0)
    (answer,) = gate.answers(1.0)
    assert not answer.approved
    assert gate.review(_p(DrainMachine(machine=1))).decision == Decision.APPROVE


def test_an_approval_is_checked_again_when_it_arrives() -> None:
    gate, sensor, _ = _gate()
    waiting = _p(DrainMachine(machine=0), conf=0.1)
    assert gate.review(waiting).decision == Decision.ESCALATE
    sensor.obs = _cell(t=60.0, demand=8.5)  # demand grew while the request waited
    gate.queue.answer(waiting.request_id, approved=True, by="alice", why="ok", at_s=60.0)
    (answer,) = gate.answers(60.0)
    assert not answer.approved and answer.by == "gate"
    assert "approved by alice, refused on re-check: headroom" in answer.why


def test_recheck_just_before_execution() -> None:
    gate, sensor, clock = _gate()
    p = _p(DrainMachine(machine=0))
    assert gate.review(p).decision == Decision.APPROVE
    assert gate.recheck(p) is None  # nothing changed: it may go
    sensor.obs = _cell(t=5.0, demand=9.0)
    clock.advance(5.0)
    why = gate.recheck(p)
    assert why is not None and "headroom" in why
    # refused, it gave its budget back: a scale-up needs no headroom and still passes
    assert gate.review(_p(ScaleService(service=0, delta_replicas=0))).decision == Decision.APPROVE


def test_recheck_of_an_unknown_proposal_checks_and_reserves_it() -> None:
    gate, _, _ = _gate(max_machines_per_window=1)
    stranger = _p(DrainMachine(machine=3))
    assert gate.recheck(stranger) is None  # e.g. approved before a restart
    assert gate.review(_p(DrainMachine(machine=4))).decision == Decision.REJECT


_REMOVING = {
    "power-off": lambda m: SetMachinePower(machine=m, on=False),
    "evict": lambda m: EvictTasks(machine=m),
    "isolate": lambda m: IsolateMachine(machine=m),
    "drain": lambda m: DrainMachine(machine=m),
}


@pytest.mark.parametrize("kind", sorted(_REMOVING))
def test_every_removing_kind_counts_for_headroom_and_all_but_evictions_for_radius(
    kind: str,
) -> None:
    make = _REMOVING[kind]
    gate, _, _ = _gate(max_machines_per_window=2)
    decisions = [gate.review(_p(make(m), conf=0.95)).decision for m in range(3)]
    third = Decision.APPROVE if kind == "evict" else Decision.REJECT
    assert decisions == [Decision.APPROVE, Decision.APPROVE, third]
    tight, _, _ = _gate(_cell(demand=7.0))  # 7 / 0.9 = 7.8: two machines may go, not three
    decisions = [tight.review(_p(make(m), conf=0.95)).decision for m in range(3)]
    assert decisions == [Decision.APPROVE, Decision.APPROVE, Decision.REJECT]


def test_a_flood_of_drains_cannot_hold_back_a_repair() -> None:
    # the window's radius spent by one agent's drains (a rogue, or consolidation): evicting a
    # lost machine's tasks still passes, since every backend refuses it on a machine that has
    # not failed (autoinfra.testing.conformance) and it disrupts nothing still running
    beats = np.zeros(N)
    beats[[7, 8]] = 120.0  # silent for two minutes: lost, not capacity
    gate, _, _ = _gate(_cell(demand=5.0, beats=beats), max_machines_per_window=2)
    for m in (0, 1):
        assert gate.review(_p(DrainMachine(machine=m), "rogue")).decision == Decision.APPROVE
    third = gate.review(_p(DrainMachine(machine=2), "rogue"))
    assert third.decision == Decision.REJECT and "blast-radius" in third.reason
    for m in (7, 8):
        verdict = gate.review(_p(EvictTasks(machine=m), "healing"))
        assert verdict.decision == Decision.APPROVE, verdict.reason
    # what may disrupt work still counts: the window's removals are spent
    drain = gate.review(_p(DrainMachine(machine=4), "healing"))
    assert drain.decision == Decision.REJECT and "blast-radius" in drain.reason


def test_an_eviction_outside_the_radius_does_not_let_a_drain_of_its_machine_in_free() -> None:
    # Hypothesis found it: the eviction left machine 7 marked as removing, and the cluster-wide
    # radius took a later drain of machine 7 for a machine it already counted
    beats = np.zeros(N)
    beats[7] = 120.0
    gate, _, _ = _gate(_cell(demand=5.0, beats=beats), max_machines_per_window=1)
    assert gate.review(_p(DrainMachine(machine=1), "energy")).decision == Decision.APPROVE
    assert gate.review(_p(EvictTasks(machine=7), "healing")).decision == Decision.APPROVE
    drain = gate.review(_p(DrainMachine(machine=7), "other"))
    assert drain.decision == Decision.REJECT and "by all agents" in drain.reason


def test_power_on_and_kill_remove_no_capacity() -> None:
    gate, _, _ = _gate(_cell(demand=9.5), max_machines_per_window=2)
    assert gate.review(_p(SetMachinePower(machine=0, on=True))).decision == Decision.APPROVE
    assert gate.review(_p(KillProcess(machine=1), "healing")).decision == Decision.APPROVE


def test_a_frozen_picture_does_not_defeat_the_headroom_guard() -> None:
    gate, _, clock = _gate()
    approved = 0
    for m in range(8):  # the sensor keeps returning the first snapshot, hours on
        clock.advance(700.0)
        approved += gate.review(_p(DrainMachine(machine=m))).decision == Decision.APPROVE
    assert approved == 3


def test_spoofed_idle_is_not_a_picture_to_remove_capacity_on() -> None:
    gate, sensor, clock = _gate()
    gate.review(_p(ScaleService(service=0, delta_replicas=0)))  # the gate sees the true demand
    clock.advance(5.0)
    sensor.obs = make_obs(5.0, np.ones(N), np.ones(N, dtype=bool), np.zeros(N), 0.0)
    verdict = gate.review(_p(DrainMachine(machine=0)))
    assert verdict.decision == Decision.REJECT and "believed" in verdict.reason
    assert gate.review(_p(SetMachinePower(machine=1, on=True))).decision == Decision.APPROVE
    # a fall the trace does show (15 % in 5 s) is believed: 5.1 / 0.9 = 5.67 -> four may go
    clock.advance(5.0)
    sensor.obs = _cell(t=10.0, demand=5.1)
    decisions = [gate.review(_p(DrainMachine(machine=m))).decision for m in range(6)]
    assert decisions.count(Decision.APPROVE) == 4


def test_many_agent_names_share_one_removal_budget() -> None:
    gate, _, _ = _gate(max_machines_per_window=3, min_headroom_share=0.0)
    decisions = [gate.review(_p(DrainMachine(machine=m), f"agent-{m}")).decision for m in range(8)]
    assert decisions.count(Decision.APPROVE) == 3


def test_silent_machines_are_not_capacity_and_removing_them_removes_none() -> None:
    beats = np.zeros(N)
    beats[:2] = 120.0  # two machines silent for two minutes
    gate, _, _ = _gate(_cell(beats=beats, demand=6.0))
    # 8 counted, 6.0 demand: 8 - 1 = 7 leaves 14 %, 6 leaves 0 %
    assert gate.review(_p(EvictTasks(machine=0), "healing")).decision == Decision.APPROVE
    assert gate.review(_p(DrainMachine(machine=5))).decision == Decision.APPROVE
    assert gate.review(_p(DrainMachine(machine=6))).decision == Decision.REJECT


def test_a_sensor_that_raises_refuses_reductions_only() -> None:
    gate, sensor, _ = _gate()
    sensor.error = RuntimeError("prometheus down")
    v = gate.review(_p(DrainMachine(machine=0)))
    assert v.decision == Decision.REJECT and "prometheus down" in v.reason
    assert gate.review(_p(SetMachinePower(machine=1, on=True))).decision == Decision.APPROVE


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("min_headroom_share", math.nan),
        ("min_headroom_share", -0.1),
        ("min_headroom_share", 1.0),
        ("max_machines_share", 1.5),
        ("max_machines_share", math.inf),
        ("max_actions_share", -1.0),
        ("window_s", 0.0),
        ("window_s", math.nan),
        ("max_machines_per_window", -1),
        ("max_actions_per_agent", 0),
        ("max_actions_per_target", True),
        ("escalate_risk", math.nan),
        ("demand_fall_share", 2.0),
        ("approval_timeout_s", -5.0),
        ("heartbeat_limit_s", math.inf),
    ],
)
def test_settings_are_validated_naming_the_field(name: str, value: Any) -> None:
    with pytest.raises(ConfigError) as err:
        GateSettings(**{name: value})
    assert err.value.field == name and name in str(err.value)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"size_weight": math.nan}, "size_weight"),
        ({"confidence_weight": -1.0}, "confidence_weight"),
        ({"unknown_kind_risk": 1.5}, "unknown_kind_risk"),
        ({"base": {"drain_machine": math.nan}}, "base.drain_machine"),
    ],
)
def test_risk_model_settings_are_validated(kw: dict[str, Any], name: str) -> None:
    from autoinfra.oversight import RiskModel

    with pytest.raises(ConfigError) as err:
        RiskModel(**kw)
    assert err.value.field == name


def _restartable_gate(tmp_path: Any) -> tuple[Gate, Callable[[], Gate]]:
    """A gate over an approval queue on disk (radius 2), and its restart over the same file."""
    from autoinfra.oversight import ApprovalQueue

    path = tmp_path / "approvals.log"
    clock, sensor = SimClock(), ScriptedSensor(_cell())
    settings = GateSettings(max_machines_per_window=2, max_machines_share=0.0)
    queue = ApprovalQueue(path)

    def restart() -> Gate:
        queue.close()
        return Gate(settings, clock=clock, sensor=sensor, queue=ApprovalQueue(path))

    return Gate(settings, clock=clock, sensor=sensor, queue=queue), restart


def test_requests_waiting_in_a_reloaded_queue_hold_their_budget(tmp_path: Any) -> None:
    gate, restart = _restartable_gate(tmp_path)
    for m in range(2):
        assert gate.review(_p(DrainMachine(machine=m), conf=0.1)).decision == Decision.ESCALATE
    v = restart().review(_p(DrainMachine(machine=5)))
    assert v.decision == Decision.REJECT and "blast-radius" in v.reason


def test_a_reloaded_queue_takes_the_same_shares_a_fresh_review_took(tmp_path: Any) -> None:
    # an escalated eviction takes no radius but its machine's capacity; after a restart the
    # reloaded request must take exactly that again (Reservation.of builds both)
    gate, restart = _restartable_gate(tmp_path)
    asks = Proposal(EvictTasks(machine=4), "healing", 80, Justification("why", {"ask_human": True}),
                    1.0, "healing/ask")  # fmt: skip
    assert gate.review(asks).decision == Decision.ESCALATE
    before = (dict(gate.ledger.removing), gate.ledger.removed_count(), dict(gate.ledger.touched))
    again = restart()
    after = (dict(again.ledger.removing), again.ledger.removed_count(), dict(again.ledger.touched))
    assert before == after == ({4: 1}, 0, {})
