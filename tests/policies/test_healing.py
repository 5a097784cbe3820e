"""Repair rules: one step per incident, retries after failures, escalation of a persistent hog."""

from __future__ import annotations

from autoinfra.core.actions import DrainMachine, EvictTasks, IsolateMachine, KillProcess, Reroute
from autoinfra.core.proposal import Finding, Outcome
from autoinfra.policies.healing import HealingPolicy, HealingSettings, SecurityPolicy
from tests.agents.fakes import FakeSim


def _f(kind: str, target: str, t: float, **detail: object) -> Finding:
    return Finding(kind, target, 0.8, t, dict(detail))


def test_each_finding_kind_maps_to_its_repair() -> None:
    obs = FakeSim().observe()
    pol = HealingPolicy(
        kinds=frozenset({"node_failure", "cpu_hog", "network_congestion", "intrusion"})
    )
    out = pol.decide(
        obs,
        [
            _f("node_failure", "machine:1", 0),
            _f("cpu_hog", "machine:2", 0),
            _f("network_congestion", "link:3", 0, rack=1),
            _f("intrusion", "machine:4", 0),
            _f("demand_forecast", "cluster", 0),
        ],
    )
    assert [p.action for p in out] == [
        EvictTasks(machine=1),
        KillProcess(machine=2),
        Reroute(rack=1, away_from_link=3),
        IsolateMachine(machine=4),
    ]
    assert all(p.justification.reason and p.findings for p in out)
    assert SecurityPolicy().decide(obs, [_f("cpu_hog", "machine:2", 0)]) == []


def test_one_step_per_incident_then_retry_and_escalate() -> None:
    world = FakeSim()
    pol = HealingPolicy(HealingSettings(retry_s=30, escalate_after_s=60))
    hog = lambda t: [_f("cpu_hog", "machine:2", t)]  # noqa: E731
    (kill,) = pol.decide(world.observe(), hog(0))
    world.clock.advance(5)
    assert pol.decide(world.observe(), hog(5)) == []  # waiting for the outcome
    pol.observe_outcomes([Outcome("r", False, 5.0, "refused")], [kill])
    world.clock.advance(10)
    assert pol.decide(world.observe(), hog(15)) == []  # retry only after retry_s
    world.clock.advance(25)
    (again,) = pol.decide(world.observe(), hog(40))
    assert again.action == KillProcess(machine=2)
    pol.observe_outcomes([Outcome("r2", True, 45.0)], [again])
    world.clock.advance(30)
    assert pol.decide(world.observe(), hog(70)) == []  # killed; give it time
    world.clock.advance(40)
    (drain,) = pol.decide(world.observe(), hog(110))
    assert drain.action == DrainMachine(machine=2)


def test_a_cleared_incident_starts_over() -> None:
    world = FakeSim()
    pol = HealingPolicy()
    (first,) = pol.decide(world.observe(), [_f("node_failure", "machine:5", 0)])
    pol.observe_outcomes([Outcome("r", True, 1.0)], [first])
    assert pol.decide(world.observe(), [_f("node_failure", "machine:5", 5)]) == []
    assert pol.decide(world.observe(), []) == []  # heartbeats are back
    (again,) = pol.decide(world.observe(), [_f("node_failure", "machine:5", 20)])
    assert again.action == EvictTasks(machine=5)


def test_a_step_the_cluster_keeps_refusing_is_given_up() -> None:
    world = FakeSim()
    pol = HealingPolicy(HealingSettings(retry_s=10, max_attempts=2))
    hog = [_f("cpu_hog", "machine:3", 0)]
    tries = 0
    for _ in range(20):
        out = pol.decide(world.observe(), hog)
        if out:
            tries += 1
            pol.observe_outcomes([Outcome("r", False, world.now_s, "no rogue process")], out)
        world.clock.advance(10)
    assert tries == 2
