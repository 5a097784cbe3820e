"""BackendActuator on the fake cluster: effects awaited, refusals as outcomes, the journal makes a
restart reconcile what was in flight instead of executing it twice."""

from __future__ import annotations

import json
from pathlib import Path

from autoinfra.actuators import BackendActuator, actuator_for
from autoinfra.core.actions import DrainMachine, KillProcess, ScaleService
from autoinfra.testing import FakeCluster


def test_drain_succeeds_when_the_machine_is_empty_and_refusals_are_outcomes() -> None:
    fake = FakeCluster()
    act = BackendActuator(fake, fake, fake.clock)
    act.submit("d1", DrainMachine(machine=0))
    act.submit("k1", KillProcess(machine=1))  # nothing rogue runs there
    outcomes = {o.request_id: o for o in act.poll()}
    assert outcomes["d1"].succeeded and "no tasks" in outcomes["d1"].detail
    assert not outcomes["k1"].succeeded and "no rogue process" in outcomes["k1"].detail
    assert [c[1:] for c in fake.calls] == [("drain", "machine:0", "d1")]


def test_journal_reconciles_an_interrupted_request_and_never_repeats(tmp_path: Path) -> None:
    fake = FakeCluster()
    journal = tmp_path / "journal.jsonl"
    act = BackendActuator(fake, fake, fake.clock, journal_path=journal)
    act.submit("s1", ScaleService(service=0, delta_replicas=1))
    act.poll()
    # a process killed between "applying" and "applied" leaves only the first line
    with journal.open("a") as fh:
        fh.write(
            json.dumps(
                {
                    "request_id": "s2",
                    "step": "applying",
                    "kind": "scale_service",
                    "target": "service:1",
                }
            )
            + "\n"
        )
        fh.write('{"request_id": "torn')  # and a torn last line
    restarted = BackendActuator(fake, fake, fake.clock, journal_path=journal)
    restarted.submit("s1", ScaleService(service=0, delta_replicas=1))  # already applied
    restarted.submit("s2", ScaleService(service=1, delta_replicas=1))  # was in flight
    outcomes = {o.request_id: o for o in restarted.poll()}
    assert set(outcomes) == {"s2"} and not outcomes["s2"].succeeded
    assert "reconciled after a restart" in outcomes["s2"].detail
    assert restarted.applied == []
    assert int(fake.replicas[0]) == 4 and int(fake.replicas[1]) == 3  # one step, not two


def test_close_marks_what_is_open() -> None:
    fake = FakeCluster()
    act = BackendActuator(fake, fake, fake.clock)
    fake.inject(
        type(
            "F",
            (),
            {"kind": "node_failure", "target": "machine:2", "at_s": 0.0, "duration_s": None},
        )()
    )
    act.submit("d", DrainMachine(machine=3))
    act.poll()
    act.submit("later", DrainMachine(machine=4))
    marked = {o.request_id: o.detail for o in act.close()}
    assert marked == {"later": "interrupted by shutdown (not applied)"}


def test_actuator_for_picks_by_what_it_is_given() -> None:
    fake = FakeCluster()
    assert isinstance(actuator_for(fake), BackendActuator)
