"""Readers: the real slice's counts, every kind of bad row, lenient counts, file discovery."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from autoinfra.core.errors import TraceError
from autoinfra.traces import read_table, reader
from autoinfra.traces.reader import part_files
from autoinfra.traces.schema import TABLES, TaskEventType

# (file, table, line, field, kind) -- the corpus README says the same in words
CORPUS = [
    ("task_events_field_count_line7.csv", "task_events", 7, None, "field_count"),
    ("task_events_not_numeric_line7.csv", "task_events", 7, "job_id", "not_numeric"),
    ("task_events_unknown_event_line7.csv", "task_events", 7, "event_type", "unknown_event"),
    ("task_events_time_backwards_line7.csv", "task_events", 7, "time", "time_backwards"),
    ("task_events_missing_priority_line7.csv", "task_events", 7, "priority", "missing_value"),
    ("task_events_priority_out_of_range_line7.csv", "task_events", 7, "priority", "out_of_range"),
    ("task_events_empty_line4.csv", "task_events", 4, None, "field_count"),
    (
        "machine_events_unknown_event_line3.csv.gz",
        "machine_events",
        3,
        "event_type",
        "unknown_event",
    ),
    ("job_events_not_numeric_line5.csv", "job_events", 5, "time", "not_numeric"),
    ("task_usage_field_count_line2.csv", "task_usage", 2, None, "field_count"),
    ("task_events_mixed_lenient.csv", "task_events", 3, None, "field_count"),
]


def _lines(path: Path) -> int:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:
        return sum(1 for _ in fh)


@pytest.mark.parametrize(
    ("table", "rows"),
    [
        ("task_events", 803_964),
        ("machine_events", 37_780),
        ("job_events", 21_342),
        ("task_usage", 10_000),
    ],
)
def test_slice_row_counts(slice_dir: Path, table: str, rows: int) -> None:
    frame, report = read_table(table, slice_dir)
    assert len(frame) == rows
    assert report.total == 0
    assert list(frame.columns) == list(TABLES[table].names)


def test_slice_values_are_typed_as_the_schema_says(slice_dir: Path) -> None:
    machines, _ = read_table("machine_events", slice_dir)
    assert machines["machine_id"].nunique() == 12_583
    events, _ = read_table("task_events", slice_dir)
    assert events["time"].dtype == np.int64
    assert events["machine_id"].dtype == np.float64  # optional: NaN where the file is empty
    assert set(events["event_type"].unique()) <= {int(e) for e in TaskEventType}
    assert events["priority"].between(0, 11).all()
    usage, _ = read_table("task_usage", slice_dir)
    assert usage.shape[1] == 20  # the excerpt keeps the official 20 fields


def test_reading_stops_at_the_first_part_past_until_us(slice_dir: Path) -> None:
    frame, _ = read_table("task_events", slice_dir, until_us=1_000 * 1_000_000)
    assert len(frame) == 450_146  # part 0 only: part 1 starts at 5,611 s
    frame, _ = read_table("task_events", slice_dir, until_us=6_000 * 1_000_000)
    assert len(frame) == 450_146 + 77_776


def test_corpus_is_described_and_tested(bad_traces: Path) -> None:
    readme = (bad_traces / "README.md").read_text()
    files = sorted(p.name for p in bad_traces.iterdir() if p.name != "README.md")
    assert files == sorted(c[0] for c in CORPUS)
    for name in files:
        assert name in readme


@pytest.mark.parametrize(("name", "table", "line", "field", "kind"), CORPUS)
def test_bad_file_is_rejected_naming_file_line_and_field(
    bad_traces: Path, name: str, table: str, line: int, field: str | None, kind: str
) -> None:
    path = bad_traces / name
    with pytest.raises(TraceError) as err:
        read_table(table, path, cache=False)
    assert err.value.path == str(path)
    assert err.value.line == line
    assert err.value.field == field
    assert err.value.kind == kind
    assert f"line {line}" in str(err.value) and name in str(err.value)


@pytest.mark.parametrize(("name", "table", "line", "field", "kind"), CORPUS[:-1])
def test_lenient_skips_exactly_the_bad_row(
    bad_traces: Path, name: str, table: str, line: int, field: str | None, kind: str
) -> None:
    path = bad_traces / name
    frame, report = read_table(table, path, lenient=True, cache=False)
    assert report.counts == {kind: 1}
    assert report.files == {str(path): {kind: 1}}
    assert report.examples[0]["line"] == line
    assert len(frame) == _lines(path) - 1


def test_lenient_counts_each_kind_in_a_mixed_file(bad_traces: Path) -> None:
    frame, report = read_table(
        "task_events", bad_traces / "task_events_mixed_lenient.csv", lenient=True, cache=False
    )
    assert report.counts == {
        "field_count": 1,
        "not_numeric": 1,
        "unknown_event": 1,
        "time_backwards": 1,
    }
    assert sorted(e["line"] for e in report.examples) == [3, 5, 8, 11]
    assert len(frame) == 8
    assert np.all(np.diff(frame["time"].to_numpy()) >= 0)
    assert "skipped 4 rows" in report.summary()


def test_parts_are_read_in_part_number_order(tmp_path: Path, bad_traces: Path) -> None:
    src = (bad_traces / "task_events_field_count_line7.csv").read_text().splitlines()
    good = [line for i, line in enumerate(src, 1) if i != 7]
    folder = tmp_path / "task_events"
    folder.mkdir()
    # names sort differently as text and as numbers: 10 after 9
    (folder / "part-00010-of-00500.csv").write_text("\n".join(good[6:]) + "\n")
    with gzip.open(folder / "part-00009-of-00500.csv.gz", "wt") as fh:
        fh.write("\n".join(good[:6]) + "\n")
    assert [p.name for p in part_files(tmp_path, "task_events")] == [
        "part-00009-of-00500.csv.gz",
        "part-00010-of-00500.csv",
    ]
    frame, _ = read_table("task_events", tmp_path, cache=False)
    assert len(frame) == len(good)
    assert np.all(np.diff(frame["time"].to_numpy()) >= 0)


def test_error_names_the_part_inside_a_folder(tmp_path: Path, bad_traces: Path) -> None:
    folder = tmp_path / "task_events"
    folder.mkdir()
    bad = folder / "part-00001-of-00002.csv"
    shutil.copy(bad_traces / "task_events_unknown_event_line7.csv", bad)
    good = (bad_traces / "task_events_field_count_line7.csv").read_text().splitlines()[:6]
    (folder / "part-00000-of-00002.csv").write_text("\n".join(good) + "\n")
    with pytest.raises(TraceError, match=r"part-00001-of-00002\.csv, line 7"):
        read_table("task_events", tmp_path, cache=False)


def test_task_usage_accepts_the_19_field_release(tmp_path: Path, slice_dir: Path) -> None:
    first = part_files(slice_dir, "task_usage")[0]
    with gzip.open(first, "rt") as fh:
        rows = [next(fh).rstrip("\n").rsplit(",", 1)[0] for _ in range(5)]
    path = tmp_path / "part-00000-of-00500.csv"
    path.write_text("\n".join(rows) + "\n")
    frame, _ = read_table("task_usage", path, cache=False)
    assert len(frame) == 5
    assert frame["sampled_cpu_usage"].isna().all()


def test_missing_table_and_unknown_table(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no part files") as err:
        read_table("task_events", tmp_path, cache=False)
    assert err.value.kind == "missing_table"
    with pytest.raises(TraceError, match="unknown trace table"):
        read_table("task_evnets", tmp_path, cache=False)


def test_empty_file_is_an_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "part-00000-of-00001.csv"
    path.write_text("")
    frame, report = read_table("machine_events", path, cache=False)
    assert len(frame) == 0 and report.total == 0
    assert list(frame.columns) == list(TABLES["machine_events"].names)


def test_unreadable_gzip_is_a_trace_error(tmp_path: Path) -> None:
    path = tmp_path / "part-00000-of-00001.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(TraceError, match="cannot read"):
        read_table("machine_events", path, cache=False)


def test_a_part_that_unpacks_past_the_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small gzip file can unpack to gigabytes: reading stops at the cap, with our error."""
    monkeypatch.setattr(reader, "MAX_PART_BYTES", 1000)
    monkeypatch.setattr(reader, "_CHUNK_BYTES", 64)
    path = tmp_path / "part-00000-of-00001.csv.gz"
    path.write_bytes(gzip.compress(b"0,,1,0,,0,u,0,0,0.1,0.1,0,0\n" * 500))
    assert path.stat().st_size < 1000
    with pytest.raises(TraceError, match="larger than") as info:
        read_table("task_events", path, cache=False)
    assert info.value.kind == "too_large"
