"""Machine events to a :class:`MachineTable`, and the machines of a time window.

The trace records machines as ADD, REMOVE and UPDATE events; a workload starts from the state of
the cell at its window start. :func:`machines_in_window` replays a table up to the window start
(each machine's last event: present after ADD or UPDATE, gone after REMOVE), turns the machines
present into ADD events at time 0, and keeps the later events of the window in order, times moved
so the window starts at 0. The same function serves :func:`autoinfra.traces.workload.load_workload`
and :func:`autoinfra.traces.slicing.window`.

Missing capacities (the trace leaves them empty on some ADD events, and REMOVE events carry none)
are filled from the same machine's other events, then from its platform's most common capacity,
then from the cell's; how many were filled is returned so the caller can report it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autoinfra.traces.schema import TIME_AFTER_WINDOW_US, US_PER_S
from autoinfra.traces.tables import MachineEventType, MachineTable

UNKNOWN_PLATFORM = "unknown"


def machine_table(events: pd.DataFrame, offset_us: int) -> tuple[MachineTable, dict[str, int]]:
    """All machine events as a table, times in seconds relative to ``offset_us`` (may be < 0)."""
    ev = events.loc[events["time"].to_numpy(np.int64) != TIME_AFTER_WINDOW_US]
    order = np.lexsort((np.arange(len(ev)), ev["time"].to_numpy(np.int64)))
    ev = ev.iloc[order].reset_index(drop=True)
    platform = ev["platform_id"].astype(object).where(ev["platform_id"].notna(), UNKNOWN_PLATFORM)
    codes, names = pd.factorize(platform.astype(str), sort=True)
    frame = pd.DataFrame(
        {
            "machine": ev["machine_id"].to_numpy(np.int64),
            "platform": codes,
            "cpu": ev["cpus"].to_numpy(np.float64),
            "mem": ev["memory"].to_numpy(np.float64),
        }
    )
    missing_before = int(frame["cpu"].isna().sum() + frame["mem"].isna().sum())
    for col in ("cpu", "mem"):
        same_machine = frame.groupby("machine", sort=False)[col]
        frame[col] = same_machine.ffill().fillna(same_machine.bfill())
        modes = frame.groupby("platform")[col].agg(
            lambda s: s.mode().iloc[0] if s.notna().any() else np.nan
        )
        frame[col] = frame[col].fillna(frame["platform"].map(modes))
        overall = frame[col].mode()
        frame[col] = frame[col].fillna(float(overall.iloc[0]) if len(overall) else 0.0)
    filled = {
        "capacity_fields_filled": missing_before,
        "machines": int(frame["machine"].nunique()),
    }
    table = MachineTable(
        time_s=(ev["time"].to_numpy(np.int64) - offset_us) / US_PER_S,
        machine_id=frame["machine"].to_numpy(np.int64),
        event=ev["event_type"].to_numpy(np.int8),
        platform=frame["platform"].to_numpy(np.int16),
        cpu=frame["cpu"].to_numpy(np.float32),
        mem=frame["mem"].to_numpy(np.float32),
        platforms=tuple(str(n) for n in names),
    )
    return table, filled


def take(table: MachineTable, rows: np.ndarray, time_s: np.ndarray | None = None) -> MachineTable:
    """A table of the given rows (optionally with new times), same platform index."""
    return MachineTable(
        time_s=(table.time_s[rows] if time_s is None else time_s).astype(np.float64),
        machine_id=table.machine_id[rows],
        event=table.event[rows],
        platform=table.platform[rows],
        cpu=table.cpu[rows],
        mem=table.mem[rows],
        platforms=table.platforms,
    )


def machines_in_window(table: MachineTable, start_s: float, end_s: float) -> MachineTable:
    """The cell's state at ``start_s`` as ADD events at 0, then events in (start_s, end_s]."""
    n = len(table)
    before = np.flatnonzero(table.time_s <= start_s)
    # each machine's last event at or before the start (rows are time-sorted, ties in file order)
    order = np.lexsort((before, table.machine_id[before]))
    sorted_rows = before[order]
    last_of_machine = np.ones(sorted_rows.shape[0], dtype=np.bool_)
    if sorted_rows.size:
        ids = table.machine_id[sorted_rows]
        last_of_machine[:-1] = ids[1:] != ids[:-1]
    last_rows = sorted_rows[last_of_machine]
    present = last_rows[table.event[last_rows] != MachineEventType.REMOVE]
    initial = take(table, present, np.zeros(present.shape[0]))
    initial = MachineTable(
        time_s=initial.time_s,
        machine_id=initial.machine_id,
        event=np.full(present.shape[0], MachineEventType.ADD, dtype=np.int8),
        platform=initial.platform,
        cpu=initial.cpu,
        mem=initial.mem,
        platforms=table.platforms,
    )
    later = np.flatnonzero((table.time_s > start_s) & (table.time_s <= end_s)) if n else before
    moved = take(table, later, table.time_s[later] - start_s)
    return concat(initial, moved)


def concat(a: MachineTable, b: MachineTable) -> MachineTable:
    return MachineTable(
        time_s=np.concatenate((a.time_s, b.time_s)),
        machine_id=np.concatenate((a.machine_id, b.machine_id)),
        event=np.concatenate((a.event, b.event)),
        platform=np.concatenate((a.platform, b.platform)),
        cpu=np.concatenate((a.cpu, b.cpu)),
        mem=np.concatenate((a.mem, b.mem)),
        platforms=a.platforms,
    )
