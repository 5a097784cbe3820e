"""The package's public surface is exactly the names others code against."""

from __future__ import annotations

import autoinfra.traces as traces

EXPECTED = {
    "load_workload",
    "window",
    "sample_cell",
    "split_windows",
    "trace_span",
    "generate_cell",
    "trace_info",
    "default_trace_dir",
    "default_azure_path",
    "UsageModel",
    "Workload",
    "MachineTable",
    "TaskTable",
    "ServiceTable",
    "TaskEnd",
    "MachineEventType",
    "read_table",
}


def test_exports_are_exactly_the_contract() -> None:
    assert set(traces.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(traces, name) is not None


def test_shipped_data_is_found() -> None:
    assert (traces.default_trace_dir() / "task_events").is_dir()
    assert traces.default_azure_path().is_file()
