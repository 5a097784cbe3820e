"""Fixtures of the simulator's tests: a workload factory (see ``builders``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autoinfra.traces.tables import Workload
from tests.sim.builders import make_workload


@pytest.fixture
def workload_factory() -> Callable[..., Workload]:
    """``workload_factory(machines, tasks, services, **kw)``: see ``builders.make_workload``."""
    return make_workload
