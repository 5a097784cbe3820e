"""The CloudSimPy job-file reader: the shipped copy, CloudSimPy's reading rules, bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from autoinfra.core.errors import TraceError
from autoinfra.traces.alibaba import (
    MACHINE_CPU,
    cloudsimpy_workload,
    default_cloudsimpy_jobs_path,
    instance_rows,
    read_cloudsimpy_jobs,
)

HEADER = ",submit_time,duration,cpu,memory,job_id,task_id,instances_num,disk\n"


def _write(tmp_path: Path, rows: list[str], gz: bool = False) -> Path:
    text = HEADER + "".join(f"{i},{r}\n" for i, r in enumerate(rows))
    p = tmp_path / ("jobs.csv.gz" if gz else "jobs.csv")
    p.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return p


def test_shipped_file_matches_its_notice() -> None:
    path = default_cloudsimpy_jobs_path()
    assert (path.parent / "NOTICE.md").is_file()
    jobs = read_cloudsimpy_jobs()
    assert len(jobs) == 31_756  # "31,756 task rows" (NOTICE.md)
    w = cloudsimpy_workload(jobs, n_jobs=100)
    # the NOTICE's run: the first 100 jobs are 35,319 task instances
    assert len(w.tasks) == 35_319
    assert w.meta["tasks"] == 628
    assert np.all(np.diff(w.tasks.submit_s) >= 0)
    assert w.tasks.submit_s[0] == 0.0  # times from the first job
    assert len(w.machines) == 12_500 and np.all(w.machines.cpu == 1.0)


def test_job_submit_is_its_last_row_and_ties_keep_file_order(tmp_path: Path) -> None:
    # job 7 first appears at 10 but its last row says 30; jobs 5 and 3 tie at 20
    rows = [
        "10,5.0,1.0,0.01,7,1,2,0",
        "20,6.0,2.0,0.02,5,2,1,0",
        "20,7.0,0.5,0.01,3,3,3,0",
        "30,8.0,1.0,0.01,7,4,1,0",
    ]
    jobs = read_cloudsimpy_jobs(_write(tmp_path, rows, gz=True))
    assert jobs.job_order.tolist() == [5, 3, 7]
    assert jobs.job_submit_s.tolist() == [20.0, 20.0, 30.0]
    w = cloudsimpy_workload(jobs, n_jobs=3, machines=4)
    # job 5 (1 instance), job 3 (3), job 7's two rows (2 + 1), times from 20 s
    assert w.tasks.submit_s.tolist() == [0, 0, 0, 0, 10, 10, 10]
    assert w.tasks.duration_s.tolist() == [6, 7, 7, 7, 5, 5, 8]
    np.testing.assert_allclose(w.tasks.cpu_request[:2], [2.0 / MACHINE_CPU, 0.5 / MACHINE_CPU])
    assert instance_rows(jobs, 3).tolist() == [1, 2, 2, 2, 0, 0, 3]
    assert w.tasks.task_index.tolist() == [0, 0, 1, 2, 0, 1, 0]
    # offset and number as CloudSimPy's generate(offset, number): from job 3, times from it
    w2 = cloudsimpy_workload(jobs, n_jobs=5, offset=1, machines=4)
    assert w2.job_ids.tolist() == [3, 7] and w2.tasks.submit_s.tolist() == [0, 0, 0, 10, 10, 10]


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        (["10,5.0,x,0.01,7,1,2,0"], "line 2, field 'cpu': expected a number"),
        (["10,5.0,1.0,0.01,7,1,2,0", "10,-5,1.0,0.01,7,1,2,0"], "line 3, field 'duration'"),
        (["10,5.0,1.0,0.01,7,1,2.5,0"], "line 2, field 'instances_num': expected an integer"),
        (["10,5.0,65,0.01,7,1,2,0"], "field 'cpu': expected CPUs in (0, 64]"),
        (["10,5.0,1.0,0.01,7,1,0,0"], "field 'instances_num': expected an integer >= 1"),
        (["10,5.0,1.0,0.01,7,1"], "line 2: 7 fields, expected 9"),
        (["10,nan,1.0,0.01,7,1,2,0"], "field 'duration': expected a finite number"),
        ([], "no job rows"),
    ],
)
def test_bad_rows_name_line_and_field(tmp_path: Path, rows: list[str], needle: str) -> None:
    with pytest.raises(TraceError) as err:
        read_cloudsimpy_jobs(_write(tmp_path, rows))
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_header_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "other.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(TraceError, match="line 1: header is"):
        read_cloudsimpy_jobs(p)
    with pytest.raises(TraceError, match="cannot read"):
        read_cloudsimpy_jobs(tmp_path / "absent.csv")
    with pytest.raises(TraceError, match="offset 9 is outside"):
        cloudsimpy_workload(read_cloudsimpy_jobs(_write(tmp_path, ["1,1,1,0,1,1,1,0"])), offset=9)
