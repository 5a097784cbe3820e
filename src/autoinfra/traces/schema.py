"""The Google cluster-usage trace 2011 (version 2) schema, as data.

Source: C. Reiss, J. Wilkes, J. L. Hellerstein, "Google cluster-usage traces: format + schema",
Google Inc., 2011, revised 2014 (github.com/google/cluster-data, ClusterData2011_2). The part files
are header-less CSV; each table below lists its fields in file order, with the type and whether the
schema document marks the field mandatory. Readers validate against this module only, so a change
in what we accept is a change here (and a bump of ``SCHEMA_VERSION``, which keys the cache).

Time conventions from the document: timestamps are microseconds since 600 s before the start of the
trace window; a time of 0 means "before the window" and 2^63 - 1 means "after the window".

The shipped task_usage excerpt has the official 20 fields; the original v2 release had 19 (field 20,
sampled CPU usage, came with the 2014 revision), so both counts are accepted for that table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType

from autoinfra.core.errors import TraceError
from autoinfra.traces.tables import MachineEventType

# bump when what the readers produce changes: it is part of every cache key
SCHEMA_VERSION = 2  # 2: plausibility bounds on times, ids and capacities

US_PER_S = 1_000_000
# the schema document: "an event 20 seconds after the start of the trace has timestamp 620 s"
TRACE_WINDOW_START_S = 600.0
# the schema document: time 2^63 - 1 marks events after the end of the trace window
TIME_AFTER_WINDOW_US = 2**63 - 1

# Plausibility bounds, checked on every row (``Column.low`` / ``high``), and why:
# - times: the 2011 trace spans 29 days (Reiss et al.: May 2011, "29 days"), stamped from 600 s
#   before its window; 31 days leaves a margin for derived traces of the same format, and anything
#   later is corruption. One task event at 9e18 us once stretched a workload's span to 285,000
#   years and the training step tried to cut it into episodes until the kernel killed it.
#   The one exception is the schema's own marker 2^63 - 1 ("after the window").
MAX_TRACE_TIME_US = (600 + 31 * 86_400) * US_PER_S
# - ids: job and machine ids in the trace are below 7e9; optional id columns travel as float64
#   (NaN for empty), which holds integers exactly only up to 2^53, so larger ids are refused
#   rather than silently rounded (and pyarrow refuses the cast outright).
MAX_ID = 2**53
# - task indices: below 2^31 (the slice's largest is 20,009; the simulator stores them as int32).
MAX_TASK_INDEX = 2**31 - 1
# - capacities and requests are normalised so the largest machine of the trace is 1.0.
MAX_NORMALISED = 1.0


class TaskEventType(enum.IntEnum):
    """task_events and job_events event types (the schema document's state diagram)."""

    SUBMIT = 0  # became eligible for scheduling
    SCHEDULE = 1  # placed on a machine
    EVICT = 2  # descheduled by the cluster (a higher priority, a machine going away, ...)
    FAIL = 3  # descheduled because the task failed
    FINISH = 4  # completed normally
    KILL = 5  # cancelled by its user or because a job it depended on died
    LOST = 6  # presumably ended, but the record of it is missing
    UPDATE_PENDING = 7  # scheduling class, resources or priority changed while waiting
    UPDATE_RUNNING = 8  # the same, while running


class Kind(enum.StrEnum):
    """How a field is stored in the CSV."""

    INT = "int"
    FLOAT = "float"
    HASH = "hash"  # an opaque base64 string (users, names, platform ids)
    BOOL = "bool"  # 0 or 1


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    mandatory: bool
    # inclusive bounds for numbers, checked by the reader (None: any value of the kind)
    low: float | None = None
    high: float | None = None
    # a value accepted whatever the bounds say (the "after the window" time marker)
    sentinel: int | None = None


@dataclass(frozen=True, slots=True)
class TableSchema:
    """One trace table: its fields in file order and what the reader checks beyond types."""

    name: str
    columns: tuple[Column, ...]
    time_column: str
    # True when the schema document says rows are sorted by time within a part file
    time_sorted: bool
    event_column: str | None
    event_codes: frozenset[int]
    # field counts accepted in a file (the official count first)
    field_counts: tuple[int, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def columns_for(self, n_fields: int) -> tuple[Column, ...]:
        """The leading ``n_fields`` columns (a shorter accepted variant drops trailing fields)."""
        return self.columns[:n_fields]


_I, _F, _H, _B = Kind.INT, Kind.FLOAT, Kind.HASH, Kind.BOOL


def _time(name: str) -> Column:
    """A mandatory timestamp: within the trace's span, or the "after the window" marker."""
    return Column(name, _I, True, low=0, high=MAX_TRACE_TIME_US, sentinel=TIME_AFTER_WINDOW_US)


_TASK_CODES = frozenset(int(e) for e in TaskEventType)
# job_events use the same codes; the document defines no UPDATE_RUNNING meaning for jobs but the
# code is the same enumeration, so it is accepted rather than rejected
_JOB_CODES = _TASK_CODES
_MACHINE_CODES = frozenset(int(e) for e in MachineEventType)

MACHINE_EVENTS = TableSchema(
    name="machine_events",
    columns=(
        _time("time"),
        Column("machine_id", _I, True, low=0, high=MAX_ID),
        Column("event_type", _I, True),
        Column("platform_id", _H, False),
        Column("cpus", _F, False, low=0.0, high=MAX_NORMALISED),
        Column("memory", _F, False, low=0.0, high=MAX_NORMALISED),
    ),
    time_column="time",
    time_sorted=True,
    event_column="event_type",
    event_codes=_MACHINE_CODES,
    field_counts=(6,),
)

JOB_EVENTS = TableSchema(
    name="job_events",
    columns=(
        _time("time"),
        Column("missing_info", _I, False, low=0, high=3),
        Column("job_id", _I, True, low=0, high=MAX_ID),
        Column("event_type", _I, True),
        Column("user", _H, False),
        Column("scheduling_class", _I, False, low=0, high=3),
        Column("job_name", _H, False),
        Column("logical_job_name", _H, False),
    ),
    time_column="time",
    time_sorted=True,
    event_column="event_type",
    event_codes=_JOB_CODES,
    field_counts=(8,),
)

TASK_EVENTS = TableSchema(
    name="task_events",
    columns=(
        _time("time"),
        Column("missing_info", _I, False, low=0, high=3),
        Column("job_id", _I, True, low=0, high=MAX_ID),
        Column("task_index", _I, True, low=0, high=MAX_TASK_INDEX),
        Column("machine_id", _I, False, low=0, high=MAX_ID),
        Column("event_type", _I, True),
        Column("user", _H, False),
        Column("scheduling_class", _I, False, low=0, high=3),
        Column("priority", _I, True, low=0, high=11),
        Column("cpu_request", _F, False, low=0.0, high=MAX_NORMALISED),
        Column("memory_request", _F, False, low=0.0, high=MAX_NORMALISED),
        Column("disk_space_request", _F, False, low=0.0, high=MAX_NORMALISED),
        Column("different_machines_restriction", _B, False, low=0, high=1),
    ),
    time_column="time",
    time_sorted=True,
    event_column="event_type",
    event_codes=_TASK_CODES,
    field_counts=(13,),
)

TASK_USAGE = TableSchema(
    name="task_usage",
    columns=(
        _time("start_time"),
        _time("end_time"),
        Column("job_id", _I, True, low=0, high=MAX_ID),
        Column("task_index", _I, True, low=0, high=MAX_TASK_INDEX),
        Column("machine_id", _I, True, low=0, high=MAX_ID),
        Column("cpu_rate", _F, False, low=0.0),
        Column("canonical_memory_usage", _F, False, low=0.0),
        Column("assigned_memory_usage", _F, False, low=0.0),
        Column("unmapped_page_cache", _F, False, low=0.0),
        Column("total_page_cache", _F, False, low=0.0),
        Column("maximum_memory_usage", _F, False, low=0.0),
        Column("disk_io_time", _F, False, low=0.0),
        Column("local_disk_space_usage", _F, False, low=0.0),
        Column("maximum_cpu_rate", _F, False, low=0.0),
        Column("maximum_disk_io_time", _F, False, low=0.0),
        Column("cycles_per_instruction", _F, False, low=0.0),
        Column("memory_accesses_per_instruction", _F, False, low=0.0),
        Column("sample_portion", _F, False, low=0.0),
        Column("aggregation_type", _B, False, low=0, high=1),
        Column("sampled_cpu_usage", _F, False, low=0.0),
    ),
    time_column="start_time",
    # the document sorts task_usage by measurement window only loosely (windows of different
    # lengths interleave), so the reader does not check order for it
    time_sorted=False,
    event_column=None,
    event_codes=frozenset(),
    field_counts=(20, 19),
)

TABLES: MappingProxyType[str, TableSchema] = MappingProxyType(
    {t.name: t for t in (MACHINE_EVENTS, JOB_EVENTS, TASK_EVENTS, TASK_USAGE)}
)


def table_schema(name: str) -> TableSchema:
    """The schema of a table by name, with an error that lists the known ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise TraceError(
            f"unknown trace table {name!r}; expected one of {sorted(TABLES)}", kind="unknown_table"
        ) from None
