"""Fault targets for the local fleet, drawn from the seed and the fleet's layout alone.

A scenario says ``target: random`` for most faults. Drawn at injection among the machines that
look busy then, the target would depend on what the system under test had done so far, and two
systems run on the same seed would meet different faults. So every ``random`` target is fixed
before the run, from the seed and the configured layout (machines, racks, uplinks per rack), the
way the simulator fixes its schedule (``faults.schedule.draw_schedule``): the same fault on the
same machine at the same time for every system. A fault that then strikes a machine with nothing
on it, or one already down, is the world's business (the injector records what it could not do).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autoinfra.backends.local.config import LocalSettings
from autoinfra.faults.schedule import draw_schedule
from autoinfra.faults.spec import FaultScenario

__all__ = ["seeded_targets"]

# the targets' own stream: the run's other draws (the injector's) do not shift them
_TARGET_STREAM = 0x7A4


def seeded_targets(faults: Sequence[Any], config: LocalSettings, seed: int) -> list[Any]:
    """``faults`` sorted by time, each ``random`` target replaced by one drawn from the seed."""
    specs = sorted(faults, key=lambda f: float(f.at_s))
    if not specs:
        return []
    slots = np.arange(config.machines, dtype=np.int64)
    machine_rack = slots // config.machines_per_rack
    link_rack = np.repeat(np.arange(config.racks, dtype=np.int64), config.links_per_rack)
    run_end_s = max(float(specs[-1].at_s) + 1.0, float(config.duration_s))
    drawn = draw_schedule(
        FaultScenario("live", tuple(specs), "the live run"),
        np.random.default_rng([int(seed), _TARGET_STREAM]),
        run_end_s=run_end_s,
        machines_at=lambda _t: slots,
        link_rack=link_rack,
        machine_rack=machine_rack,
    )
    return list(drawn)
