"""Clocks never go backwards; errors say where the problem is."""

from __future__ import annotations

import pytest

from autoinfra.core import ConfigError, SimClock, TraceError, WallClock
from autoinfra.core.clock import Clock


def test_sim_clock_moves_forward_only() -> None:
    c = SimClock(10.0)
    c.advance(5)
    assert c.now_s() == 15.0
    with pytest.raises(ValueError, match="backwards"):
        c.advance_to(3.0)


def test_clocks_satisfy_protocol() -> None:
    assert isinstance(SimClock(), Clock)
    w = WallClock()
    assert isinstance(w, Clock)
    assert w.now_s() >= 0.0


def test_trace_error_names_file_line_field() -> None:
    path = "task_events/part-00000.csv.gz"
    e = TraceError("expected an integer", path=path, line=7, field="time")
    assert str(e) == "task_events/part-00000.csv.gz, line 7, field 'time': expected an integer"


def test_config_error_names_source_and_field() -> None:
    e = ConfigError("must be >= 0", source="storm.yaml", field="faults[2].at_s")
    assert "storm.yaml" in str(e) and "faults[2].at_s" in str(e)
