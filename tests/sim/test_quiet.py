"""``Simulator.run(skip_quiet=True)``: the same run to the bit, with the empty ticks skipped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoinfra.faults import load_scenario
from autoinfra.sim import SimSettings, Simulator
from autoinfra.sim import quiet as Q
from autoinfra.traces import generate_cell
from autoinfra.traces.alibaba import cloudsimpy_workload, read_cloudsimpy_jobs
from autoinfra.traces.tables import Workload


def _both(w: Workload, config: SimSettings, scenario: str = "none") -> tuple[Simulator, Simulator]:
    out = []
    for skip in (False, True):
        sim = Simulator(w, config=config, seed=3, scenario=load_scenario(scenario))
        sim.run(skip_quiet=skip)
        out.append(sim)
    return out[0], out[1]


def _same(a: Simulator, b: Simulator) -> None:
    ra, rb = a.results(), b.results()
    pd.testing.assert_frame_equal(ra.tasks, rb.tasks)
    pd.testing.assert_frame_equal(ra.ticks, rb.ticks)
    pd.testing.assert_frame_equal(ra.faults, rb.faults)
    assert ra.summary == rb.summary
    assert np.array_equal(a._state.mf, b._state.mf, equal_nan=True)  # heartbeats included
    assert np.array_equal(a._state.mi, b._state.mi)
    assert a.now_s == b.now_s and a.clock.now_s() == b.clock.now_s()


def test_a_sparse_replay_skips_most_ticks_and_stays_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = cloudsimpy_workload(read_cloudsimpy_jobs(), n_jobs=12, machines=400)
    config = SimSettings(tick_s=1.0, fit="first", candidates=0, preemption=False,
                       record_every_s=30.0, egress_mbps_per_cpu=0.0)  # fmt: skip
    skipped = []
    real = Q.skip_quiet_ticks

    def counting(sim: Simulator, target_s: float) -> int:
        k = real(sim, target_s)
        skipped.append(k)
        return k

    monkeypatch.setattr(Q, "skip_quiet_ticks", counting)
    a, b = _both(w, config)
    _same(a, b)
    ticks = round(w.end_s / config.tick_s)
    assert sum(skipped) > ticks // 2  # most seconds of this replay are empty


@pytest.mark.parametrize("scenario", ["none", "node-failure"])
def test_a_busy_cell_with_services_and_usage_steps_stays_the_same(scenario: str) -> None:
    w = generate_cell(machines=30, hours=0.5, seed=2)
    _same(*_both(w, SimSettings(tick_s=5.0, record_every_s=60.0), scenario))


def test_nothing_is_skipped_while_the_state_is_unsettled() -> None:
    w = generate_cell(machines=10, hours=0.1, seed=0)
    sim = Simulator(w, config=SimSettings(tick_s=5.0), seed=0)
    # replicas to place: the queue has rows no round has tried
    sim.writer.set_service_replicas(0, int(w.services.max_replicas[0]), by="test")
    assert Q.next_event_s(sim) == -np.inf
    assert Q.skip_quiet_ticks(sim, w.end_s) == 0
