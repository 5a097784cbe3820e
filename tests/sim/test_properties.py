"""Invariants that must hold for any workload and any sequence of actions (Hypothesis)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoinfra.core.errors import SimulationError
from autoinfra.core.observation import MachineState
from autoinfra.sim import SimSettings, Simulator
from autoinfra.sim import layout as L
from tests.sim.builders import S, T, make_workload

_task = st.builds(
    T,
    submit_s=st.floats(0, 300),
    duration_s=st.one_of(st.floats(1, 400), st.just(float("inf"))),
    cpu=st.floats(0.0, 0.6),
    mem=st.floats(0.0, 0.6),
    priority=st.integers(0, 11),
    cpu_ratio=st.floats(0.0, 3.0),
    mem_ratio=st.floats(0.0, 1.5),
)
_action = st.tuples(
    st.sampled_from(
        [
            "power_off",
            "power_on",
            "drain",
            "cordon",
            "uncordon",
            "evict_stranded",
            "kill_rogue",
            "isolate",
            "reroute",
            "scale",
        ]
    ),
    st.integers(0, 5),
    st.integers(0, 6),
)
_world = st.fixed_dictionaries(
    {
        "machines": st.lists(
            st.tuples(st.floats(0.1, 1.0), st.floats(0.1, 1.0)), min_size=1, max_size=6
        ),
        "tasks": st.lists(_task, max_size=25),
        "services": st.lists(
            st.builds(
                S, replicas=st.integers(1, 3), cpu=st.floats(0.01, 0.3), demand=st.floats(0.0, 1.0)
            ),
            max_size=2,
        ),
        "fit": st.sampled_from(["first", "best"]),
        "candidates": st.integers(0, 3),
        "preemption": st.booleans(),
        "placement": st.sampled_from(["requests", "reservations"]),
        "scenario": st.sampled_from(["none", "storm", "intrusion"]),
        "seed": st.integers(0, 2**16),
        "actions": st.lists(_action, max_size=8),
    }
)


def _build(d: dict[str, Any]) -> Simulator:
    tasks = sorted(d["tasks"], key=lambda t: t.submit_s)
    wl = make_workload(d["machines"], tasks, d["services"], end_s=700)
    cfg = SimSettings(
        fit=d["fit"],
        candidates=d["candidates"],
        preemption=d["preemption"],
        boot_delay_s=30,
        scan_limit=2,
        placement=d.get("placement", "requests"),
        reclaim="cpu+memory",  # the strictest case: both resources overcommitted
    )
    return Simulator(wl, cfg, scenario=d["scenario"], seed=d["seed"])


def _act(sim: Simulator, action: tuple[str, int, int]) -> None:
    op, m, k = action
    m %= sim.observe().n_machines
    try:
        if op in ("power_off", "power_on", "drain", "evict_stranded", "kill_rogue", "isolate"):
            getattr(sim.writer, op)(m, by="prop")
        elif op in ("cordon", "uncordon"):
            sim.writer.cordon(m, op == "uncordon", by="prop")
        elif op == "reroute":
            sim.writer.reroute(0, away_from_link=k % 2, by="prop")
        elif op == "scale" and sim.observe().service_ids.size:
            sim.writer.set_service_replicas(0, 1 + k % 3, by="prop")
    except SimulationError:
        pass  # refused: the invariants must hold all the same


def _check(sim: Simulator) -> None:
    w = sim._state
    mf, mi = w.mf, w.mi
    # allocations never exceed capacity on a machine that can take tasks; placed against
    # reservations, non-production work may overcommit, production never does
    prod = slice(9, L.N_PRIO)
    if sim.config.placement == "requests":
        assert np.all(mf[L.M_CPU_ALLOC] <= mf[L.M_CPU_CAP] + 1e-6)
        assert np.all(mf[L.M_MEM_ALLOC] <= mf[L.M_MEM_CAP] + 1e-6)
    assert np.all(w.mprio[:, 0, prod].sum(axis=1) <= mf[L.M_CPU_CAP] + 1e-6)
    assert np.all(w.mprio[:, 1, prod].sum(axis=1) <= mf[L.M_MEM_CAP] + 1e-6)
    # reservations: the machine sums are the slots' own, and never above the requests
    sf, si = w.pool.sf, w.pool.si
    live = si[L.S_TASK] >= 0
    for row, srow, k in ((L.M_CPU_RSV, L.S_CPU_RSV, 2), (L.M_MEM_RSV, L.S_MEM_RSV, 3)):
        per = np.bincount(si[L.S_MACH, live], weights=sf[srow, live], minlength=w.n_machines)
        np.testing.assert_allclose(mf[row], per, atol=1e-5)
        np.testing.assert_allclose(w.mprio[:, k, :].sum(axis=1), per, atol=1e-5)
    assert np.all(sf[L.S_CPU_RSV, live] <= sf[L.S_CPU_REQ, live] + 1e-7)
    assert np.all(sf[L.S_MEM_RSV, live] <= sf[L.S_MEM_REQ, live] + 1e-7)
    # every submitted task is pending, running or ended with a reason; the structures agree
    rec = w.rec
    st_ = rec.status[: rec.n]
    assert np.count_nonzero(st_ == L.ST_PENDING) == len(w.queue)
    assert np.count_nonzero(st_ == L.ST_RUNNING) == w.pool.used == mi[L.M_NTASKS].sum()
    ended = st_ == L.ST_ENDED
    assert np.all(rec.end_reason[: rec.n][ended] != L.END_NONE)
    assert np.all(rec.end_reason[: rec.n][~ended] == L.END_NONE)
    # power: never negative, nothing drawn by machines that are off or absent
    off = (mi[L.M_STATE] == MachineState.OFF) | (mi[L.M_STATE] == MachineState.ABSENT)
    assert np.all(mf[L.M_POWER] >= 0) and np.all(mf[L.M_POWER][off] == 0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_world)
def test_invariants_hold_at_every_tick(d: dict[str, Any]) -> None:
    sim = _build(d)
    _check(sim)
    actions = list(d["actions"])
    while not sim.done:
        sim.step()
        if actions and sim.now_s % 60 == 0:
            _act(sim, actions.pop())
        _check(sim)
    res = sim.results()
    assert res.ticks["energy_kwh"].is_monotonic_increasing
    assert (res.ticks["power_w"] >= 0).all()
    submitted = int((np.asarray([t.submit_s for t in d["tasks"]]) <= 700).sum())
    assert len(res.tasks) >= submitted  # plus any replicas created by scaling


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_world)
def test_the_same_seed_gives_identical_outputs(d: dict[str, Any]) -> None:
    runs = []
    for _ in range(2):
        sim = _build(d)
        actions = list(d["actions"])
        while not sim.done:
            sim.step()
            if actions and sim.now_s % 60 == 0:
                _act(sim, actions.pop())
        runs.append(sim.results())
    a, b = runs
    pd.testing.assert_frame_equal(a.ticks, b.ticks)
    pd.testing.assert_frame_equal(a.tasks, b.tasks)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.faults, b.faults)
