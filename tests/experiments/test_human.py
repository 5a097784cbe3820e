"""The human-operator model: parameters within their cited ranges, alert timing, the playbook,
night-time acknowledgement and reproducibility for a seed."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from autoinfra.core.actions import EvictTasks, KillProcess, Reroute
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState
from autoinfra.experiments.baselines.human import HumanOperator
from autoinfra.experiments.baselines.human_model import (
    HumanSettings,
    LogNormalDelay,
    UniformRange,
)
from tests.experiments.observations import make_observation

DISTRIBUTIONS = [
    f.name
    for f in fields(HumanSettings)
    if isinstance(getattr(HumanSettings(), f.name), LogNormalDelay | UniformRange)
]


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_each_distribution_is_cited_and_its_mean_is_within_the_cited_range(name: str) -> None:
    dist = getattr(HumanSettings(), name)
    assert dist.source.strip()
    if isinstance(dist, LogNormalDelay):
        low, high = dist.cited_range_s
        mean = dist.mean_s
    else:
        low, high = dist.cited_range
        mean = dist.mean
    assert low <= mean <= high
    # and the sampler really has that mean (10k draws, a loose statistical bound)
    rng = np.random.default_rng(0)
    draws = np.array([dist.sample(rng) for _ in range(10_000)])
    assert low <= draws.mean() <= high
    assert draws.mean() == pytest.approx(mean, rel=0.05)


def test_playbook_resolution_time_matches_the_calibration_chain() -> None:
    s = HumanSettings()
    # PagerDuty 126 min / 3 (SRE book playbook) = 42 min from problem to fix, under DORA's 1 h
    node_down = next(a for a in s.alerts if a.name == "NodeDown")
    total = node_down.for_s + s.group_wait_s + s.ack_delay.mean_s + s.diagnose_and_fix.mean_s
    assert 0.5 * 42 * 60 <= total <= 60 * 60
    assert s.ack_delay.mean_s <= 4 * 60  # PagerDuty: MTTA under 4 min at large companies
    assert s.rule_evaluation_s == 60.0 and s.group_wait_s == 30.0  # Prometheus/Alertmanager


def test_unknown_parameter_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigError, match="ack_delayy"):
        HumanSettings().with_params({"ack_delayy": 3})
    tuned = HumanSettings().with_params({"ack_delay": {"mean_s": 120.0}, "responders": 2})
    assert tuned.ack_delay.mean_s == 120.0 and tuned.responders == 2
    with pytest.raises(ConfigError, match="responders"):
        HumanSettings().with_params({"responders": "two"})
    with pytest.raises(ConfigError, match="ack_delay"):
        HumanSettings().with_params({"ack_delay": {"median": 3}})
    with pytest.raises(ConfigError, match="alerts"):
        HumanOperator(
            HumanSettings().with_params(
                {"alerts": [{"name": "DiskFull", "for_s": 60, "threshold": 0.9, "source": "x"}]}
            ),
            seed=0,
        )


def _down(t: float, age_from: float = 0.0) -> object:
    age = max(0.0, t - age_from)
    return make_observation(time_s=t, heartbeat_age_s=[0, age, 0, 0])


def _run(operator: HumanOperator, observe, until_s: float, step_s: float = 5.0):  # type: ignore[no-untyped-def]
    findings, actions = [], []
    t = 0.0
    while t <= until_s:
        obs = observe(t)
        fs = operator.analyze(obs)
        findings += [(t, f) for f in fs]
        actions += [(t, p.action) for p in operator.decide(obs, fs)]
        t += step_s
    return findings, actions


def test_node_down_is_paged_after_for_and_group_wait_then_evicted_after_ack_and_fix() -> None:
    op = HumanOperator(HumanSettings(), seed=3)
    findings, actions = _run(op, lambda t: _down(t), 3 * 3600.0)
    # heartbeat older than 60 s from t=65; rules run every 60 s (t=120 first sees it), must hold
    # 5 min (fires at t=420), then 30 s group wait
    assert [(t, f.kind, f.target) for t, f in findings] == [(450.0, "node_failure", "machine:1")]
    incident = op.incidents[0]
    assert incident.acked_s > incident.notified_s
    evicts = [(t, a) for t, a in actions if isinstance(a, EvictTasks)]
    assert len(evicts) == 1 and evicts[0][1] == EvictTasks(machine=1)
    assert evicts[0][0] >= incident.fix_s


def test_same_seed_same_delays_and_other_seed_other_delays() -> None:
    a = HumanOperator(HumanSettings(), seed=7)
    b = HumanOperator(HumanSettings(), seed=7)
    c = HumanOperator(HumanSettings(), seed=8)
    for op in (a, b, c):
        _run(op, lambda t: _down(t), 1200.0)
    assert a.incidents == b.incidents
    assert a.incidents[0].fix_s != c.incidents[0].fix_s


def test_night_pages_are_acknowledged_slower_on_average() -> None:
    def ack(start_hour: float) -> float:
        delays = []
        for seed in range(200):
            settings = HumanSettings().with_params({"start_hour_of_day": start_hour})
            op = HumanOperator(settings, seed=seed)
            op._page("NodeDown", 1, 100.0)
            delays.append(op.incidents[0].acked_s - 100.0)
        return float(np.mean(delays))

    day, night = ack(10.0), ack(2.0)
    assert HumanSettings().is_night(0.0, 2.0) and not HumanSettings().is_night(0.0, 10.0)
    assert HumanSettings().is_night(3600.0 * 13, 10.0)  # 23:00
    assert night > 1.3 * day


def test_busy_cpu_without_a_rogue_process_is_closed_without_action() -> None:
    op = HumanOperator(HumanSettings(), seed=1)
    # machine 0 at 95 % CPU, but its tasks request 0.48 of its 0.5: the load is theirs
    busy = {"cpu_used": [0.475, 0.1, 0.1, 0.1], "cpu_requested": [0.48, 0.3, 0.3, 0.3]}
    findings, actions = _run(op, lambda t: make_observation(time_s=t, **busy), 3 * 3600.0)
    assert [f.kind for _, f in findings] == ["cpu_hog"]  # the alert fires (a false alarm) ...
    assert not [a for _, a in actions if isinstance(a, KillProcess)]  # ... and nothing is killed


def test_hog_is_killed_and_congestion_rerouted() -> None:
    op = HumanOperator(HumanSettings(responders=2), seed=2)

    def world(t: float) -> object:
        return make_observation(
            time_s=t,
            cpu_used=[0.49, 0.1, 0.1, 0.1],  # 0.49 used, 0.1 requested: a process nobody asked for
            cpu_requested=[0.1, 0.3, 0.3, 0.3],
            link_utilization=[0.2, 1.4],
            link_rack=[0, 0],
        )

    _, actions = _run(op, world, 4 * 3600.0)
    kinds = {type(a) for _, a in actions}
    assert KillProcess in kinds and Reroute in kinds
    assert Reroute(rack=0, away_from_link=1) in [a for _, a in actions]


def test_capacity_review_powers_spares_on_and_never_off() -> None:
    op = HumanOperator(HumanSettings(), seed=0)
    state = [MachineState.ON, MachineState.ON, MachineState.OFF, MachineState.OFF]
    _, actions = _run(
        op,
        lambda t: make_observation(
            time_s=t, machine_state=state, pending_cpu=0.4, pending_tasks=3, service_cpu_used=[0.2]
        ),
        5 * 3600.0,
        step_s=60.0,
    )
    assert op.reviews and op.reviews[0] <= 4 * 3600.0
    powers = [a for _, a in actions if hasattr(a, "on")]
    assert powers and all(a.on for a in powers)
