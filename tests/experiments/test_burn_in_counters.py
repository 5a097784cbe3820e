"""The price of overcommit (memory kills, throttled machine-seconds) is measured after the
burn-in, like every other figure, not over the whole run."""

from __future__ import annotations

import pytest

from autoinfra.experiments.inputs import load_inputs
from autoinfra.experiments.run import RunSettings, execute_run
from autoinfra.experiments.spec import RunSpec, build_spec
from autoinfra.experiments.systems import ensure_registered
from autoinfra.sim import Simulator

WINDOW_S, BURN_IN_S = 600.0, 300.0


def test_the_counters_cover_the_measured_span_only(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = build_spec(
        {"scale": "quick", "machines": 16, "window_s": WINDOW_S, "seeds": "1", "jobs": 1},
        known_systems=ensure_registered(),
    )
    workload = load_inputs(spec).slices[1]

    # counters that grow with the clock: a kill every 10 s, one machine throttled all along
    def clocked(sim: Simulator) -> dict[str, float]:
        return {"memory_kills": sim.now_s // 10, "throttled_machine_s": sim.now_s}

    monkeypatch.setattr(Simulator, "price_counters", clocked)
    settings = RunSettings(window_s=WINDOW_S, tick_s=5.0, record_every_s=60.0, burn_in_s=BURN_IN_S)
    metrics = execute_run(RunSpec("noop", "none", 1), workload, settings).metrics
    end_s = BURN_IN_S + WINDOW_S
    assert metrics["throttled_machine_s"] == pytest.approx(end_s - BURN_IN_S)
    assert metrics["memory_kills"] == pytest.approx(end_s // 10 - BURN_IN_S // 10)
    whole = execute_run(
        RunSpec("noop", "none", 1),
        workload,
        RunSettings(window_s=end_s, tick_s=5.0, record_every_s=60.0),
    ).metrics
    assert whole["throttled_machine_s"] == pytest.approx(end_s)  # no burn-in: the whole run
