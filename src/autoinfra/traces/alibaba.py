"""Alibaba cluster trace v2017 as CloudSimPy prepared it: its job file, read as CloudSimPy reads it.

CloudSimPy (github.com/FengcunLi/CloudSimPy) ships ``jobs.csv``: one row per *task* of a batch job
(``submit_time, duration, cpu, memory, job_id, task_id, instances_num, disk``, after an unnamed
row-index column). A task runs ``instances_num`` identical instances, each asking ``cpu`` (of a
64-CPU machine), ``memory`` and ``disk`` (shares of a machine's 1.0) for ``duration`` seconds.
The package keeps a byte-for-byte copy under ``data/alibaba-2017-cloudsimpy`` with its NOTICE.

So that a replay is the peer's workload and not our reading of it, the rules of CloudSimPy's own
reader (``playground/Non_DAG/utils/csv_reader.py``) are kept:

- a job's submit time is that of its **last** row in file order (the reader overwrites it per
  row; 78 of the file's jobs have rows with different submit times);
- jobs are ordered by that submit time, ties in order of first appearance (Python's stable sort
  over a dict in insertion order);
- ``generate(offset, number)`` takes ``number`` jobs from ``offset`` in that order and measures
  times from the first of them.

``cloudsimpy_workload`` turns the chosen jobs into the :class:`Workload` our simulator replays:
one task instance per row of the TaskTable, machines of ``machine_cpu`` CPUs as capacity 1.0,
usage equal to the request (CloudSimPy has no usage model: an instance holds what it asks for),
no services, one flat usage shape.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import TraceError
from autoinfra.traces.tables import (
    MachineEventType,
    MachineTable,
    ServiceTable,
    TaskEnd,
    TaskTable,
    UsageModel,
    Workload,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

COLUMNS: tuple[str, ...] = (
    "",
    "submit_time",
    "duration",
    "cpu",
    "memory",
    "job_id",
    "task_id",
    "instances_num",
    "disk",
)
# CloudSimPy's launch scripts build MachineConfig(64, 1, 1): 64 CPUs, memory 1, disk 1
MACHINE_CPU = 64.0
MACHINE_MEMORY = 1.0
MACHINE_DISK = 1.0
MAX_FILE_BYTES = 64 << 20  # the shipped file is 1.2 MB; refuse anything absurd before reading it
MAX_INSTANCES = 50_000_000  # an instances_num typo must not become a terabyte of arrays


def default_cloudsimpy_jobs_path() -> Path:
    """The shipped copy of CloudSimPy's ``jobs.csv`` (see its NOTICE.md)."""
    data = Path(str(resources.files("autoinfra") / "data"))
    return data / "alibaba-2017-cloudsimpy" / "jobs.csv.gz"


@dataclass(frozen=True, slots=True, eq=False)
class JobFile:
    """The rows of a CloudSimPy job file, plus the job order CloudSimPy's reader derives."""

    path: str
    submit_s: F64  # per row, as written
    duration_s: F64
    cpu: F64  # CPUs of a machine of MACHINE_CPU
    memory: F64
    disk: F64
    job_id: I64
    task_id: I64
    instances: I64
    job_order: I64  # job ids, in CloudSimPy's order (by last-row submit time, stable)
    job_submit_s: F64  # each job's submit time (its last row's), aligned with job_order

    def __len__(self) -> int:
        return int(self.submit_s.shape[0])


def read_cloudsimpy_jobs(path: str | Path | None = None) -> JobFile:
    """Read and check a CloudSimPy job file (``.csv`` or ``.csv.gz``); errors name the line."""
    p = Path(path) if path is not None else default_cloudsimpy_jobs_path()
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TraceError(
                f"file is {size} bytes, over the {MAX_FILE_BYTES} accepted", path=str(p)
            )
        raw = p.read_bytes()
    except OSError as exc:
        raise TraceError(f"cannot read: {exc.strerror}", path=str(p), kind="missing") from exc
    try:
        text = gzip.decompress(raw).decode("utf-8") if raw[:2] == b"\x1f\x8b" else raw.decode()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise TraceError(f"not a readable (gzipped) UTF-8 CSV: {exc}", path=str(p)) from exc
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or tuple(h.strip() for h in header) != COLUMNS:
        raise TraceError(
            f"header is {header!r:.80}, expected {','.join(COLUMNS)!r}", path=str(p), line=1
        )
    cols: dict[str, list[float]] = {name: [] for name in COLUMNS[1:]}
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != len(COLUMNS):
            raise TraceError(f"{len(row)} fields, expected {len(COLUMNS)}", path=str(p), line=line)
        for name, value in zip(COLUMNS[1:], row[1:], strict=True):
            cols[name].append(_number(value, str(p), line, name))
    if not cols["submit_time"]:
        raise TraceError("no job rows", path=str(p))
    f = {name: np.asarray(v, dtype=np.float64) for name, v in cols.items()}
    ints = {name: f[name].astype(np.int64) for name in ("job_id", "task_id", "instances_num")}
    for name, arr in ints.items():
        bad = np.flatnonzero(arr != f[name])
        if bad.size:
            raise TraceError(
                f"expected an integer, got {f[name][bad[0]]!r}", path=str(p),
                line=int(bad[0]) + 2, field=name,
            )  # fmt: skip
    checks = (
        ("submit_time", f["submit_time"] >= 0, "seconds >= 0"),
        ("duration", f["duration"] > 0, "seconds > 0"),
        ("cpu", (f["cpu"] > 0) & (f["cpu"] <= MACHINE_CPU), f"CPUs in (0, {MACHINE_CPU:g}]"),
        ("memory", (f["memory"] >= 0) & (f["memory"] <= MACHINE_MEMORY), "a share in [0, 1]"),
        ("disk", (f["disk"] >= 0) & (f["disk"] <= MACHINE_DISK), "a share in [0, 1]"),
        ("instances_num", ints["instances_num"] >= 1, "an integer >= 1"),
    )
    for name, ok, expected in checks:
        bad = np.flatnonzero(~ok)
        if bad.size:
            raise TraceError(
                f"expected {expected}, got {f[name][bad[0]]!r}", path=str(p),
                line=int(bad[0]) + 2, field=name,
            )  # fmt: skip
    if int(ints["instances_num"].sum()) > MAX_INSTANCES:
        raise TraceError(
            f"{int(ints['instances_num'].sum())} task instances, over {MAX_INSTANCES}",
            path=str(p), field="instances_num",
        )  # fmt: skip
    order, job_submit = _job_order(ints["job_id"], f["submit_time"])
    return JobFile(
        path=str(p),
        submit_s=f["submit_time"],
        duration_s=f["duration"],
        cpu=f["cpu"],
        memory=f["memory"],
        disk=f["disk"],
        job_id=ints["job_id"],
        task_id=ints["task_id"],
        instances=ints["instances_num"],
        job_order=order,
        job_submit_s=job_submit,
    )


def _number(value: str, path: str, line: int, name: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise TraceError(f"expected a number, got {value!r:.40}", path=path, line=line,
                         field=name) from None  # fmt: skip
    if not math.isfinite(x):
        raise TraceError(f"expected a finite number, got {value!r:.40}", path=path, line=line,
                         field=name)  # fmt: skip
    return x


def _job_order(job_id: I64, submit: F64) -> tuple[I64, F64]:
    """CloudSimPy's job order: last-row submit time per job, stable over first appearance."""
    ids, first_row = np.unique(job_id, return_index=True)
    # the last row of each job: first occurrence in the reversed rows
    _, rev_first = np.unique(job_id[::-1], return_index=True)
    last_row = job_id.shape[0] - 1 - rev_first
    appearance = np.argsort(first_row, kind="stable")  # jobs in order of first appearance
    ids, last_row = ids[appearance], last_row[appearance]
    job_submit = submit[last_row]
    by_time = np.argsort(job_submit, kind="stable")
    return ids[by_time], job_submit[by_time]


def cloudsimpy_workload(
    jobs: JobFile,
    *,
    n_jobs: int = 100,
    offset: int = 0,
    machines: int = 12_500,
    machine_cpu: float = MACHINE_CPU,
) -> Workload:
    """``n_jobs`` jobs from ``offset`` (CloudSimPy's ``generate(offset, n_jobs)``) on
    ``machines`` identical machines, as one Workload (times from the first chosen job)."""
    if not 0 <= offset < len(jobs.job_order):
        raise TraceError(
            f"offset {offset} is outside the file's {len(jobs.job_order)} jobs",
            path=jobs.path, field="offset",
        )  # fmt: skip
    if n_jobs < 1 or machines < 1 or not machine_cpu > 0:
        raise TraceError("n_jobs >= 1, machines >= 1 and machine_cpu > 0 expected", path=jobs.path)
    chosen, inst_row, job, submit_of_job = _instances(jobs, n_jobs, offset)
    count_rows = int(np.unique(inst_row).shape[0])
    n = int(inst_row.shape[0])
    # instance number within its task row (rows of one task are consecutive)
    first = np.r_[True, inst_row[1:] != inst_row[:-1]]
    starts = np.flatnonzero(first)
    task_index = np.arange(n, dtype=np.int64) - np.repeat(starts, np.diff(np.r_[starts, n]))
    cpu = (jobs.cpu[inst_row] / machine_cpu).astype(np.float32)
    tasks = TaskTable(
        submit_s=submit_of_job[job].astype(np.float64),
        duration_s=jobs.duration_s[inst_row].astype(np.float32),
        cpu_request=cpu,
        mem_request=jobs.memory[inst_row].astype(np.float32),
        priority=np.zeros(n, dtype=np.int8),  # one class of batch work: nothing preempts
        sched_class=np.zeros(n, dtype=np.int8),
        job=job.astype(np.int32),
        task_index=task_index.astype(np.int32),
        service=np.full(n, -1, dtype=np.int32),
        cpu_usage_ratio=np.ones(n, dtype=np.float32),  # an instance uses what it holds
        mem_usage_ratio=np.ones(n, dtype=np.float32),
        profile=np.zeros(n, dtype=np.int16),
        end=np.full(n, TaskEnd.FINISH, dtype=np.int8),
    )
    horizon = float(np.max(tasks.submit_s + tasks.duration_s.astype(np.float64)))
    empty_i, empty_f = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
    return Workload(
        machines=MachineTable(
            time_s=np.zeros(machines),
            machine_id=np.arange(machines, dtype=np.int64),
            event=np.full(machines, MachineEventType.ADD, dtype=np.int8),
            platform=np.zeros(machines, dtype=np.int16),
            cpu=np.ones(machines, dtype=np.float32),
            mem=np.ones(machines, dtype=np.float32),
            platforms=(f"cloudsimpy-{machine_cpu:g}cpu",),
        ),
        tasks=tasks,
        services=ServiceTable(
            job=empty_i,
            initial_replicas=empty_i,
            min_replicas=empty_i,
            max_replicas=empty_i,
            priority=np.zeros(0, dtype=np.int8),
            cpu_request=empty_f,
            mem_request=empty_f,
            base_cpu_demand=empty_f,
            base_mem_demand=empty_f,
            profile=np.zeros(0, dtype=np.int16),
        ),
        usage=UsageModel(
            name="cloudsimpy-request",
            description="usage = request (CloudSimPy's model: an instance holds what it asks)",
            shapes=np.ones((1, 1), dtype=np.float32),
            step_s=max(horizon, 1.0),
        ),
        job_ids=chosen.astype(np.int64),
        start_s=0.0,
        # one second past the last instance's end at full speed, so the run sees it finish
        end_s=math.ceil(horizon) + 1.0,
        source=f"cloudsimpy-jobs({Path(jobs.path).name}, offset={offset}, jobs={len(chosen)})",
        meta={
            "reader": "autoinfra.traces.alibaba.cloudsimpy_workload",
            "jobs": len(chosen),
            "tasks": count_rows,
            "instances": n,
            "machines": machines,
            "machine_cpu": machine_cpu,
            "submit_base_s": float(jobs.job_submit_s[offset]),
        },
    )


def instance_rows(jobs: JobFile, n_jobs: int = 100, offset: int = 0) -> I64:
    """The file row (CloudSimPy task) of each task instance of ``cloudsimpy_workload``, in the
    TaskTable's order: what per-task figures (a task ends with its last instance) group by."""
    return _instances(jobs, n_jobs, offset)[1]


def _instances(jobs: JobFile, n_jobs: int, offset: int) -> tuple[I64, I64, I64, F64]:
    """(chosen job ids, file row per instance, job rank per instance, submit s per job rank)."""
    chosen = jobs.job_order[offset : offset + n_jobs]  # CloudSimPy caps at the file's end too
    base = float(jobs.job_submit_s[offset])
    rank = {int(j): k for k, j in enumerate(chosen.tolist())}
    # a job's rows in file order, jobs in their order: CloudSimPy's task list is built that way
    row_job = np.array([rank.get(int(j), -1) for j in jobs.job_id.tolist()], dtype=np.int64)
    rows = np.flatnonzero(row_job >= 0)
    rows = rows[np.argsort(row_job[rows], kind="stable")]
    inst_row = np.repeat(rows, jobs.instances[rows])  # one entry per task instance
    submit_of_job = jobs.job_submit_s[offset : offset + chosen.shape[0]] - base
    return chosen, inst_row, row_job[inst_row], submit_of_job
