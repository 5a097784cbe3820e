"""What a run leaves behind: per-tick rows, per-task rows, fault timelines, every mutator call,
and a summary; written as Parquet (atomically) for the experiments and reports.

``ticks`` columns (one row per recorded tick; "powered" = BOOTING, ON, DRAINING or FAILED, the
states that draw power):

- ``time_s``; ``cpu_util`` / ``mem_util``: CPU the tasks were served (hogs and intruders are
  not utilisation) / memory used over the capacity of powered machines; ``cpu_alloc`` /
  ``mem_alloc``: requests placed over that capacity;
- ``power_w``: IT power now; ``facility_power_w`` = power_w x PUE; ``energy_kwh`` and
  ``facility_energy_kwh``: cumulative since the start;
- ``machines_<state>`` for on, draining, booting, off, failed, absent;
- ``running_tasks`` (on running machines), ``stranded_tasks`` (on failed machines),
  ``pending_tasks``; ``throttled_share``: share of running tasks' CPU demand not served;
  ``net_slowed_tasks``: running tasks in racks slowed by a congested uplink; ``max_link_util``;
- cumulative counters ``tasks_finished`` (work completed), ``evictions`` (preemptions, drains,
  memory kills, stranded evictions, trace removals), ``preemptions``, ``placements``;
- ``services_violating``: services served less than ``slo_served_share`` of their CPU demand
  this tick (throttled, network-slowed or stranded replicas, or too few replicas for the demand
  at their CPU limit); ``services``: how many services exist, the denominator of a violation rate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoinfra.core.atomic import atomic_path, write_text

TICK_COLUMNS: tuple[str, ...] = (
    "time_s",
    "cpu_util",
    "mem_util",
    "cpu_alloc",
    "mem_alloc",
    "power_w",
    "facility_power_w",
    "energy_kwh",
    "facility_energy_kwh",
    "machines_on",
    "machines_draining",
    "machines_booting",
    "machines_off",
    "machines_failed",
    "machines_absent",
    "running_tasks",
    "stranded_tasks",
    "pending_tasks",
    "throttled_share",
    "net_slowed_tasks",
    "max_link_util",
    "tasks_finished",
    "evictions",
    "preemptions",
    "placements",
    "services_violating",
    "services",
)
_INT_COLUMNS = frozenset(TICK_COLUMNS[9:18]) | {
    "net_slowed_tasks",
    "tasks_finished",
    "evictions",
    "preemptions",
    "placements",
    "services_violating",
    "services",
}
EVENT_COLUMNS: tuple[str, ...] = ("time_s", "by", "op", "target", "ok", "detail")


class TickRecorder:
    """Rows of ``TICK_COLUMNS`` in a growing float64 buffer (no Python object per row)."""

    def __init__(self) -> None:
        self.rows = np.zeros((256, len(TICK_COLUMNS)), dtype=np.float64)
        self.n = 0

    def add(self, row: Sequence[float]) -> None:
        if self.n == self.rows.shape[0]:
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
        self.rows[self.n] = row
        self.n += 1

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows[: self.n].copy(), columns=list(TICK_COLUMNS))
        for col in _INT_COLUMNS:
            df[col] = df[col].astype(np.int64)
        return df


class EventLog:
    """Every mutator call and detection: who, what, on what, whether it worked, and why not."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, str, str, str, bool, str]] = []

    def add(self, time_s: float, by: str, op: str, target: str, ok: bool, detail: str = "") -> None:
        self.rows.append((time_s, by, op, target, ok, detail))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(EVENT_COLUMNS))


@dataclass(frozen=True, slots=True, eq=False)
class SimResults:
    """The outputs of one run (see the module docstring for the ``ticks`` columns).

    ``tasks``: one row per submitted task instance: task_id, job, task_index, service, priority,
    submit_s, start_s (first start), end_s, end_reason (finish, fail, kill, censored -- the
    workload's own ending once its work is done -- or scaled_down; empty while not ended),
    status (pending, running, ended), sched_delay_s (first start - submit), evictions,
    work_lost_s (seconds of progress thrown away by evictions). ``faults``: the timelines (see
    ``autoinfra.sim.incidents``). ``events``: time_s, by, op, target, ok, detail.
    """

    ticks: pd.DataFrame
    tasks: pd.DataFrame
    faults: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def to_parquet(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ticks, tasks, faults, events (Parquet) and summary.json; returns the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for name in ("ticks", "tasks", "faults", "events"):
            frame: pd.DataFrame = getattr(self, name)
            with atomic_path(out / f"{name}.parquet") as tmp:
                frame.to_parquet(tmp, index=False)
            paths[name] = out / f"{name}.parquet"
        text = json.dumps(self.summary, indent=2, sort_keys=True, default=_jsonable)
        paths["summary"] = write_text(out / "summary.json", text)
        return paths


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
