"""Request resizes in the world: reservations follow; cuts below usage cost throttling or kills."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.errors import SimulationError
from autoinfra.sim import SimSettings, Simulator
from tests.sim.builders import S, make_workload


def _sim(service: S, machines: int = 4) -> Simulator:
    wl = make_workload(machines, [], [service], end_s=3600)
    return Simulator(wl, SimSettings(candidates=0))


def test_a_cut_frees_reservations_in_place_and_new_replicas_use_it() -> None:
    # 2 replicas asking 0.2 CPU, using 0.05 each (demand 0.1)
    sim = _sim(S(replicas=2, cpu=0.2, mem=0.1, demand=0.1, max_replicas=8))
    sim.run(until_s=10)
    before = float(sim.observe().cpu_requested.sum())
    sim.writer.resize_service_requests(0, 0.08, 0.1, by="rightsizing")
    obs = sim.observe()
    assert float(obs.cpu_requested.sum()) == pytest.approx(before - 2 * 0.12, abs=1e-5)
    assert float(obs.service_cpu_request[0]) == pytest.approx(0.08)
    sim.writer.set_service_replicas(0, 4, by="scaling")
    sim.run(until_s=20)
    assert float(sim.observe().cpu_requested.sum()) == pytest.approx(4 * 0.08, abs=1e-5)
    summary = sim.results().summary
    assert summary["resizes"] == 1
    assert summary["resize_oom_kills"] == 0 and summary["resize_throttled_ticks"] == 0
    ev = sim.results().events
    assert ev[ev["op"] == "resize_service_requests"]["by"].tolist() == ["rightsizing"]


def test_cpu_below_demand_is_throttled_and_counted() -> None:
    sim = _sim(S(replicas=2, cpu=0.2, mem=0.1, demand=0.3))  # 0.15 per replica
    sim.run(until_s=10)
    sim.writer.resize_service_requests(0, 0.1, 0.1, by="rightsizing")  # limit 0.1 < 0.15
    sim.run(until_s=60)
    obs = sim.observe()
    assert float(obs.service_cpu_used[0]) == pytest.approx(0.2, abs=1e-5)  # 2 x the new limit
    summary = sim.results().summary
    assert summary["resize_throttled_ticks"] == 10  # every tick from 10 s to 60 s
    assert bool(np.asarray(obs.extra["service_slo_violating"])[0])


def test_memory_below_use_kills_the_replicas_again_and_again() -> None:
    sim = _sim(S(replicas=2, cpu=0.2, mem=0.1, demand=0.1))  # each uses all of its 0.1
    sim.run(until_s=10)
    peak = sim.observe().extra["service_mem_peak"]
    assert isinstance(peak, np.ndarray) and float(peak[0]) == pytest.approx(0.1, abs=1e-6)
    sim.writer.resize_service_requests(0, 0.2, 0.05, by="rightsizing")
    first = sim.results().summary["resize_oom_kills"]
    assert first == 2
    sim.run(until_s=40)
    summary = sim.results().summary
    assert summary["resize_oom_kills"] > first  # placed again, killed again: a crash loop
    assert summary["evictions"] >= summary["resize_oom_kills"]
    # given its memory back, the replicas run again
    sim.writer.resize_service_requests(0, 0.2, 0.1, by="rightsizing")
    kills = sim.results().summary["resize_oom_kills"]
    sim.run(until_s=80)
    assert sim.results().summary["resize_oom_kills"] == kills
    assert int(sim.observe().service_running[0]) == 2


def test_a_grow_that_no_longer_fits_moves_the_replica() -> None:
    # one machine of 0.5 CPU holds both 0.2 replicas; at 0.3 each only one fits there
    sim = _sim(S(replicas=2, cpu=0.2, mem=0.1, demand=0.1), machines=2)
    sim.run(until_s=10)
    obs = sim.observe()
    sim.writer.resize_service_requests(0, 0.3, 0.1, by="rightsizing")
    sim.run(until_s=20)
    obs = sim.observe()
    assert (obs.cpu_requested <= obs.cpu_capacity + 1e-6).all()
    assert int(obs.service_running[0]) == 2
    assert sim.results().summary["resize_moves"] == 1  # the second replica moved off


def test_bad_resizes_are_refused_and_logged() -> None:
    sim = _sim(S(replicas=2))
    for args in ((5, 0.1, 0.1), (0, 0.0, 0.1), (0, 0.1, float("nan")), (0, 1.5, 0.1)):
        with pytest.raises(SimulationError):
            sim.writer.resize_service_requests(*args, by="x")
    events = sim.results().events
    assert len(events) == 4 and not events["ok"].any()
    assert sim.results().summary["resizes"] == 0


def test_quiet_ticks_are_not_skipped_past_a_resized_services_costs() -> None:
    counts = []
    for skip in (False, True):
        sim = _sim(S(replicas=2, cpu=0.2, mem=0.1, demand=0.3))
        sim.run(until_s=10)
        sim.writer.resize_service_requests(0, 0.1, 0.1, by="rightsizing")
        sim.run(until_s=600, skip_quiet=skip)
        counts.append(sim.results().summary["resize_throttled_ticks"])
    assert counts[0] == counts[1] == 118  # every tick from 10 s to 600 s
