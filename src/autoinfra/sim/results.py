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
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
            paths[name] = _atomic(out / f"{name}.parquet", _parquet_writer(frame))
        text = json.dumps(self.summary, indent=2, sort_keys=True, default=_jsonable)
        paths["summary"] = _atomic(
            out / "summary.json", lambda p: p.write_text(text, encoding="utf-8")
        )
        return paths


def _parquet_writer(frame: pd.DataFrame) -> Callable[[Path], object]:
    def write(path: Path) -> None:
        frame.to_parquet(path, index=False)

    return write


def _atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Write to a temporary file in the same directory, then rename over the target."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
