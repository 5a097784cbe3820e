"""A trace folder that starts mid-life: the shipped slice without its first task_events parts."""

from __future__ import annotations

from pathlib import Path

from autoinfra.traces import default_trace_dir


def mid_life_trace(dest: Path, first_part: int = 3) -> Path:
    """``dest`` holding the shipped tables, task_events and job_events from ``first_part`` on
    (symlinks: nothing is copied)."""
    src = default_trace_dir()
    for table in ("machine_events", "job_events", "task_events", "task_usage"):
        (dest / table).mkdir(parents=True)
        for p in sorted((src / table).iterdir()):
            events = table in ("task_events", "job_events")
            if events and int(p.name.split("-")[1]) < first_part:
                continue
            (dest / table / p.name).symlink_to(p)
    return dest
