"""Shared fixtures for the traces tests: the shipped slice, its workload, the bad-file corpus.

The slice's workload is built once per session. It is built under the same cache folder the
suite-wide ``_isolated_cache`` fixture points every test at (pytest's temp dir), never the user's
home, so later tests that load it again hit the cache as a user would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autoinfra.traces import Workload, default_trace_dir, generate_cell, load_workload

BAD_TRACES = Path(__file__).resolve().parent.parent / "data" / "bad_traces"


@pytest.fixture(scope="session")
def slice_dir() -> Path:
    return default_trace_dir()


@pytest.fixture(scope="session")
def slice_workload(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workload]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOINFRA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "autoinfra-cache"))
        yield load_workload()


@pytest.fixture(scope="session")
def small_cell() -> Workload:
    """A small synthetic cell: fast, and with services, batch at start and arrivals."""
    return generate_cell(machines=300, hours=3.0, seed=7)


@pytest.fixture
def bad_traces() -> Path:
    return BAD_TRACES
