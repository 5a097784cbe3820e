"""Exactly once across restarts: an escalated request approved after a restart runs once, ever.

The runtime, the gate, the queue and the audit log are all rebuilt from their files between the
steps, as a new process would; the fake world counts what reached it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autoinfra.actuators import SimulatedActuator
from autoinfra.agents import Agent, Runtime
from autoinfra.core.actions import DrainMachine
from autoinfra.core.lifecycle import ActionStatus
from autoinfra.oversight import ApprovalQueue, Gate, GateSettings
from autoinfra.security import AuditKey, AuditLog, Identity, Role, verify_file
from autoinfra.telemetry import SimSensor
from tests.agents.conftest import ScriptedPolicy
from tests.agents.fakes import FakeSim

S = ActionStatus


class _Process:
    """One 'process' of the system: everything built afresh over the same files."""

    def __init__(
        self, world: FakeSim, files: Path, key: AuditKey, *, propose: bool, latency_s: float = 0.0
    ) -> None:
        self.queue = ApprovalQueue(files / "approvals.jsonl")
        self.audit = AuditLog(files / "audit.jsonl", key=key)
        policy = ScriptedPolicy(lambda t: [DrainMachine(machine=1)] if propose and t == 0 else [])
        agent = Agent(
            "healing",
            sensor=SimSensor(world),
            policy=policy,
            period_s=5.0,
            priority=10,
            identity=Identity.for_role("healing", Role.OPERATOR),
        )
        # every proposal escalates (risk >= 0.01), and nobody but the test answers
        gate = Gate(GateSettings(escalate_risk=0.01), clock=world.clock, sensor=SimSensor(world),
                    queue=self.queue)  # fmt: skip
        self.actuator = SimulatedActuator(world, latency_s=latency_s)
        self.runtime = Runtime([agent], clock=world.clock, actuator=self.actuator, gate=gate,
                               audit=self.audit)  # fmt: skip

    def run(self, world: FakeSim, ticks: int) -> None:
        for _ in range(ticks):
            self.runtime.tick()
            world.step()

    def stop(self) -> None:
        self.queue.close()
        self.audit.close()


def _drains(world: FakeSim) -> int:
    return sum(1 for _, _, op, target in world.events if op == "drain" and target == 1)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[FakeSim, Path, AuditKey]:
    return FakeSim(seed=0), tmp_path, AuditKey.load_or_create(tmp_path / "keys" / "audit.key")


def test_restart_then_approve_executes_once(setup: tuple[FakeSim, Path, AuditKey]) -> None:
    world, files, key = setup
    first = _Process(world, files, key, propose=True)
    first.run(world, 2)
    (rec,) = first.runtime.records
    assert rec.status == S.AWAITING_APPROVAL and _drains(world) == 0
    rid = rec.request_id
    first.stop()
    del first

    second = _Process(world, files, key, propose=False)
    restored = second.runtime.record(rid)  # rebuilt from the queue, with the whole action
    assert restored.status == S.AWAITING_APPROVAL and restored.action == DrainMachine(machine=1)
    second.queue.answer(rid, approved=True, by="alice", why="go ahead", at_s=world.now_s)
    second.run(world, 3)
    assert second.runtime.record(rid).status == S.SUCCEEDED
    assert _drains(world) == 1
    assert second.queue.state_of(rid) == "done"
    second.stop()
    del second

    third = _Process(world, files, key, propose=False)
    third.run(world, 5)
    assert _drains(world) == 1  # not again
    assert third.runtime.records == [] and third.actuator.applied == []
    third.stop()
    assert verify_file(files / "audit.jsonl", key) is None  # one chain across the three runs
    events = [r.event for r in AuditLog(files / "audit.jsonl", key=key).records]
    assert events.count("restored") == 1 and events.count("submitted") == 1


def test_approved_before_restart_runs_once_after(setup: tuple[FakeSim, Path, AuditKey]) -> None:
    world, files, key = setup
    first = _Process(world, files, key, propose=True)
    first.run(world, 1)
    (rec,) = first.runtime.records
    first.queue.answer(rec.request_id, approved=True, by="bob", why="ok", at_s=world.now_s)
    first.stop()  # answered, but the runtime never saw the answer
    del first
    second = _Process(world, files, key, propose=False)
    second.run(world, 3)
    assert second.runtime.record(rec.request_id).status == S.SUCCEEDED and _drains(world) == 1
    second.stop()
    del second
    third = _Process(world, files, key, propose=False)
    third.run(world, 3)
    assert _drains(world) == 1
    third.stop()


def test_crash_between_submit_and_outcome_is_never_rerun(
    setup: tuple[FakeSim, Path, AuditKey],
) -> None:
    world, files, key = setup
    first = _Process(world, files, key, propose=True, latency_s=30.0)
    first.run(world, 1)
    (rec,) = first.runtime.records
    first.queue.answer(rec.request_id, approved=True, by="bob", why="ok", at_s=world.now_s)
    first.runtime.tick()  # the intent is written and the action submitted...
    assert first.runtime.record(rec.request_id).status == S.SUBMITTED
    first.stop()  # ...and the process dies before it polls the outcome
    del first

    second = _Process(world, files, key, propose=False)
    restored = second.runtime.record(rec.request_id)
    assert restored.status == S.FAILED
    assert "outcome unknown" in restored.history[-1].why
    second.run(world, 3)
    assert second.actuator.applied == []  # never submitted again
    assert second.queue.state_of(rec.request_id) == "done"
    second.stop()


def test_unanswered_requests_expire_to_deny(setup: tuple[FakeSim, Path, AuditKey]) -> None:
    world, files, key = setup
    first = _Process(world, files, key, propose=True)
    first.run(world, 1)
    (rec,) = first.runtime.records
    first.stop()
    del first
    world.clock.advance(901.0)  # past the 15-minute default time to live
    second = _Process(world, files, key, propose=False)
    second.run(world, 1)
    final = second.runtime.record(rec.request_id)
    assert final.status == S.REJECTED and "no answer within 900 s" in final.history[-1].why
    assert second.queue.state_of(rec.request_id) == "done" and _drains(world) == 0
    second.stop()
