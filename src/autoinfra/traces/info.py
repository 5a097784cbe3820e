"""What a trace folder holds: ``trace_info()`` behind ``autoinfra trace info``.

Counts come from the validated tables (through the cache), so they are the rows a workload is
built from; with ``lenient`` the skipped rows are listed beside them. A table missing from the
folder is reported in ``missing`` with a count of None rather than failing the whole report:
the point of ``trace info`` is to show what is there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoinfra.core.errors import TraceError
from autoinfra.traces.archive import jsonable
from autoinfra.traces.checks import SkipReport
from autoinfra.traces.paths import default_trace_dir
from autoinfra.traces.reader import has_table, part_files, read_part, read_table, to_frame
from autoinfra.traces.schema import (
    SCHEMA_VERSION,
    TABLES,
    TIME_AFTER_WINDOW_US,
    US_PER_S,
    TaskEventType,
)
from autoinfra.traces.tables import MachineEventType
from autoinfra.traces.usage import observed_ratios, ratio_stats


def _events_by_type(frame: pd.DataFrame, names: dict[int, str]) -> dict[str, int]:
    codes, counts = np.unique(frame["event_type"].to_numpy(np.int64), return_counts=True)
    return {names.get(int(c), str(int(c))): int(n) for c, n in zip(codes, counts, strict=True)}


def _span_s(times_us: np.ndarray) -> tuple[float | None, float | None]:
    t = times_us[times_us != TIME_AFTER_WINDOW_US]
    if t.size == 0:
        return None, None
    return float(t.min()) / US_PER_S, float(t.max()) / US_PER_S


def trace_info(trace_dir: str | Path | None = None, lenient: bool = False) -> dict[str, Any]:
    """Counts, spans, event mixes, platforms and usage/request figures of a trace folder."""
    root = Path(trace_dir) if trace_dir is not None else default_trace_dir()
    if not root.is_dir():
        raise TraceError(
            "not a trace folder (expected task_events/, machine_events/, ...)",
            path=str(root),
            kind="missing_table",
        )
    frames: dict[str, pd.DataFrame] = {}
    skipped: dict[str, Any] = {}
    missing = [name for name in TABLES if not has_table(root, name)]
    usage_rows = 0
    for name in TABLES:
        if name in missing:
            continue
        if name == "task_usage":
            # part by part: a full download's usage (about 1.2 billion rows) would not fit in
            # memory; the usage/request figures come from the first part, as in the workload
            frames[name], usage_rows, skipped[name] = _stream_usage(root, lenient)
            continue
        frames[name], report = read_table(name, root, lenient)
        skipped[name] = report.to_dict()
    if len(missing) == len(TABLES):
        raise TraceError(
            f"no trace table found here (looked for {', '.join(TABLES)})",
            path=str(root),
            kind="missing_table",
        )

    info: dict[str, Any] = {
        "trace_dir": str(root.resolve()),
        "schema_version": SCHEMA_VERSION,
        "lenient": lenient,
        "missing": missing,
    }
    for name in TABLES:
        info[name] = len(frames[name]) if name in frames else None
    if "task_usage" in frames:
        info["task_usage"] = usage_rows
    task_names = {int(e): e.name for e in TaskEventType}
    machine_names = {int(e): e.name for e in MachineEventType}
    info["events_by_type"] = {
        name: _events_by_type(
            frames[name], machine_names if name == "machine_events" else task_names
        )
        for name in ("machine_events", "job_events", "task_events")
        if name in frames
    }
    me = frames.get("machine_events")
    info["machines"] = int(me["machine_id"].nunique()) if me is not None else None
    info["platforms"] = _platforms(me) if me is not None else []
    te = frames.get("task_events")
    if te is not None:
        info["jobs"] = int(te["job_id"].nunique())
        info["tasks"] = len(te[["job_id", "task_index"]].drop_duplicates())
        info["start_s"], info["end_s"] = _span_s(te["time"].to_numpy(np.int64))
    else:
        info["jobs"] = info["tasks"] = info["start_s"] = info["end_s"] = None
    tu = frames.get("task_usage")
    if tu is not None and te is not None:
        ratios = observed_ratios(tu, te)
        info["usage_calibration"] = {
            "what": "usage / request per measured task of the first task_usage part (mean CPU "
            "rate / CPU request, canonical memory usage / memory request), unclipped, by band",
            "window_s": [
                float(tu["start_time"].min()) / US_PER_S,
                float(tu["end_time"].max()) / US_PER_S,
            ],
            **ratio_stats(ratios),
        }
    else:
        info["usage_calibration"] = None
    info["skipped"] = skipped
    info["skipped_rows"] = sum(r["skipped_rows"] for r in skipped.values())
    result: dict[str, Any] = jsonable(info)
    return result


def _stream_usage(root: Path, lenient: bool) -> tuple[pd.DataFrame, int, dict[str, Any]]:
    """The first task_usage part as a frame, the row count of all parts, the skip report."""
    schema = TABLES["task_usage"]
    report = SkipReport()
    first: pd.DataFrame | None = None
    rows = 0
    for part in part_files(root, "task_usage"):
        table, part_report = read_part(part, schema, lenient=lenient)
        report.merge(part_report)
        rows += table.num_rows
        if first is None:
            first = to_frame([table], schema)
    if first is None:  # has_table() found a part, so only a race with a deletion gets here
        raise TraceError("task_usage has no part files", path=str(root), kind="missing_table")
    return first, rows, report.to_dict()


def _platforms(me: pd.DataFrame) -> list[dict[str, Any]]:
    """Per platform id: machines, and the (cpus, memory) capacities seen with how many machines."""
    frame = me.assign(platform_id=me["platform_id"].astype(object).fillna("unknown"))
    out = []
    for pid, rows in frame.groupby("platform_id", sort=True):
        caps = rows.dropna(subset=["cpus", "memory"]).drop_duplicates(
            ["machine_id", "cpus", "memory"]
        )
        cap_counts = caps.groupby(["cpus", "memory"]).size().sort_values(ascending=False)
        levels = zip(
            cap_counts.index.get_level_values(0),
            cap_counts.index.get_level_values(1),
            cap_counts.to_numpy(),
            strict=True,
        )
        out.append(
            {
                "platform_id": str(pid),
                "machines": int(rows["machine_id"].nunique()),
                "capacities": [
                    {"cpus": float(c), "memory": float(m), "machines": int(n)} for c, m, n in levels
                ],
            }
        )
    return out
