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


@pytest.mark.parametrize("k", [1, 2, 7, 40])
def test_the_quiet_pass_adds_each_ticks_progress_one_addition_at_a_time(k: int) -> None:
    """``kernels.tick.advance_quiet`` must leave the clocks as k ticks' additions would (not
    k x progress, which rounds differently for fractional progress) and stamp heartbeats on
    powered machines only."""
    from autoinfra.core.observation import MachineState
    from autoinfra.sim.kernels.tick import advance_quiet
    from autoinfra.sim.layout import M_HEARTBEAT, M_PROG, M_STATE, M_VCLOCK, N_MF, N_MI

    rng = np.random.default_rng(k)
    n = 64
    mf = np.zeros((N_MF, n))
    mi = np.zeros((N_MI, n), dtype=np.int32)
    mf[M_PROG] = rng.uniform(0.0, 1.0, n)  # throttled or slowed machines: fractional progress
    mf[M_VCLOCK] = rng.uniform(0.0, 1e4, n)
    mf[M_HEARTBEAT] = -1.0
    mi[M_STATE] = rng.integers(0, 6, n)
    start = mf[M_VCLOCK].copy()
    step = mf[M_PROG] * 5.0
    expected = start.copy()
    for _ in range(k):
        expected += step
    advance_quiet(mf, mi, 5.0, k, 123.0)
    assert np.array_equal(mf[M_VCLOCK], expected)  # to the bit
    if k >= 7:  # the shortcut this must not take would differ here: the test can tell
        assert not np.array_equal(expected, start + step * k)
    powered = (mi[M_STATE] >= MachineState.BOOTING) & (mi[M_STATE] <= MachineState.DRAINING)
    assert np.all(mf[M_HEARTBEAT][powered] == 123.0) and np.all(mf[M_HEARTBEAT][~powered] == -1.0)
