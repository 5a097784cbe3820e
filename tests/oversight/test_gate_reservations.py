"""The headroom guard on a backend that places work by reservations: room is judged on what
placement counts, the counted share is believed to fall no faster than the declared decay,
drained tasks come back at their requests, and memory gets the same room."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.core.actions import DrainMachine
from autoinfra.core.clock import SimClock
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Decision, Justification, Proposal
from autoinfra.oversight.gate import Gate, GateSettings
from tests.oversight.observations import ScriptedSensor, make_obs

N = 10
DECAY_S = 600.0


def _cell(
    t: float,
    requested: float,
    counted: float | None,
    *,
    mem: float = 0.1,
    decay_s: float | None = DECAY_S,
) -> Observation:
    """N machines of 1 CPU and 1 memory, each with ``requested`` CPU of which placement counts
    ``counted`` (None: a backend that places by requests and reports nothing more)."""
    obs = make_obs(t, np.ones(N), np.ones(N, dtype=bool), np.full(N, requested), 0.0)
    extra: dict[str, object] = {}
    if counted is not None:
        extra["cpu_counted"] = np.full(N, counted, dtype=np.float32)
        if decay_s is not None:
            extra["reservation_decay_s"] = decay_s
    return dataclasses.replace(
        obs, mem_requested=np.full(N, mem, dtype=np.float32), pending_mem=0.0, extra=extra
    )


def _drain(m: int) -> Proposal:
    return Proposal(DrainMachine(machine=m), "energy", 20, Justification("t", {}, ""), 0.95,
                    request_id=f"energy/{m}")  # fmt: skip


def _gate(obs: Observation) -> tuple[Gate, ScriptedSensor, SimClock]:
    clock = SimClock()
    clock.advance(obs.time_s)
    sensor = ScriptedSensor(obs)
    return Gate(GateSettings(), clock=clock, sensor=sensor), sensor, clock


def _approved_drains(gate: Gate) -> int:
    return sum(gate.review(_drain(m)).decision == Decision.APPROVE for m in range(N))


def test_room_is_judged_on_what_placement_counts_with_drained_tasks_back_at_requests() -> None:
    # 9.0 CPU requested of 10, of which placement counts 3.0. By requests no drain leaves 10 %.
    # By what is counted, draining k machines leaves 10 - k CPU for 3.0 + 0.6 k (each drained
    # machine's tasks are placed anew at their requests): k <= 4 keeps 10 % free. Counting them
    # at their reservations would let 6 go.
    by_requests, _, _ = _gate(_cell(0.0, 0.9, None))
    assert _approved_drains(by_requests) == 0
    gate, _, _ = _gate(_cell(0.0, 0.9, 0.3))
    believed = gate.remaining_budget("energy").believed_demand_cpu
    assert believed is not None and abs(believed - 3.0) < 1e-5
    assert _approved_drains(gate) == 4


def test_without_a_declared_decay_reported_reservations_are_not_believed() -> None:
    gate, _, _ = _gate(_cell(0.0, 0.9, 0.3, decay_s=None))
    budget = gate.remaining_budget("energy")
    assert budget.believed_demand_cpu is not None and abs(budget.believed_demand_cpu - 9.0) < 1e-5
    assert _approved_drains(gate) == 0


def test_a_picture_claiming_reservations_fall_faster_than_they_decay_is_believed_that_far() -> None:
    gate, sensor, clock = _gate(_cell(0.0, 0.5, 0.5))  # nothing reclaimed yet: 5.0 counted
    gate.remaining_budget("energy")
    clock.advance(5.0)
    sensor.obs = _cell(5.0, 0.5, 0.05)  # the picture claims 90 % reclaimed five seconds later
    believed = gate.remaining_budget("energy").believed_demand_cpu
    assert believed is not None
    assert abs(believed - 5.0 * math.exp(-5.0 / DECAY_S)) < 1e-4  # not 0.5
    # the same claim, kept up for ten minutes: the belief follows the decay and no faster
    for t in range(10, 605, 5):
        clock.advance(5.0)
        sensor.obs = _cell(float(t), 0.5, 0.05)
        gate.remaining_budget("energy")
    believed = gate.remaining_budget("energy").believed_demand_cpu
    assert believed is not None and abs(believed - 5.0 * math.exp(-600.0 / DECAY_S)) < 1e-3
    # an honest share rising again is believed at once
    clock.advance(5.0)
    sensor.obs = _cell(610.0, 0.5, 0.45)
    believed = gate.remaining_budget("energy").believed_demand_cpu
    assert believed is not None and abs(believed - 4.5) < 1e-4


def test_memory_gets_the_same_room() -> None:
    # CPU is all but free by what is counted, but memory requests fill 95 % of the cell
    gate, _, _ = _gate(_cell(0.0, 0.9, 0.1, mem=0.95))
    verdict = gate.review(_drain(0))
    assert verdict.decision == Decision.REJECT and "memory" in verdict.reason
    roomy, _, _ = _gate(_cell(0.0, 0.9, 0.1, mem=0.5))
    assert roomy.review(_drain(0)).decision == Decision.APPROVE


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 900.0), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=25,
    )
)
def test_the_believed_share_never_falls_faster_than_the_declared_decay(
    steps: list[tuple[float, float]],
) -> None:
    """Whatever share of its requests each picture claims placement counts, and however the
    pictures are spaced, the demand the gate believes falls no faster than exp(-dt / decay)
    between two pictures, and is never below what the picture shows."""
    gate, sensor, clock = _gate(_cell(0.0, 0.5, 0.5))
    previous = gate.remaining_budget("energy").believed_demand_cpu
    t = 0.0
    for dt, share in steps:
        t += dt
        clock.advance(dt)
        sensor.obs = _cell(t, 0.5, 0.5 * share)
        believed = gate.remaining_budget("energy").believed_demand_cpu
        assert believed is not None and previous is not None
        assert believed >= 5.0 * share - 1e-4  # at least what the picture shows
        assert believed >= previous * math.exp(-dt / DECAY_S) - 1e-4
        assert believed <= 5.0 + 1e-4  # never above the requests
        previous = believed
