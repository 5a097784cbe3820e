"""The Parquet and workload caches: second reads hit, equal the first, and miss on change."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoinfra.traces import Workload, load_workload, read_table, reader
from autoinfra.traces import workload as workload_module
from autoinfra.traces.archive import from_arrays, to_arrays
from autoinfra.traces.cache import CACHE_ENV, cache_root


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    return root


@pytest.fixture
def bad_copy(tmp_path: Path, bad_traces: Path) -> Path:
    path = tmp_path / "part-00000-of-00001.csv"
    shutil.copy(bad_traces / "task_events_mixed_lenient.csv", path)
    return path


def _no_parsing(*_: object, **__: object) -> None:
    raise AssertionError("parsed again: the cache was not used")


def test_cache_root_follows_the_environment(own_cache: Path) -> None:
    assert cache_root() == own_cache


def test_second_read_hits_the_cache_and_equals_the_first(
    own_cache: Path, bad_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, report1 = read_table("task_events", bad_copy, lenient=True)
    assert list(own_cache.glob("tables/*.parquet"))
    monkeypatch.setattr(reader, "_parse_part", _no_parsing)
    second, report2 = read_table("task_events", bad_copy, lenient=True)
    pd.testing.assert_frame_equal(first, second)
    # the skip report survives the cache: lenient reads are never silently clean
    assert report2.counts == report1.counts and report2.total == 4


def test_a_changed_file_misses_the_cache(own_cache: Path, bad_copy: Path) -> None:
    first, _ = read_table("task_events", bad_copy, lenient=True)
    lines = bad_copy.read_text().splitlines()
    bad_copy.write_text("\n".join(lines[:6]) + "\n")
    st = bad_copy.stat()
    os.utime(bad_copy, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    second, report = read_table("task_events", bad_copy, lenient=True)
    assert len(second) < len(first)
    assert report.counts == {"field_count": 1, "not_numeric": 1}


def test_strict_and_lenient_reads_do_not_share_entries(own_cache: Path, bad_copy: Path) -> None:
    read_table("task_events", bad_copy, lenient=True)
    with pytest.raises(Exception, match="line 3"):
        read_table("task_events", bad_copy, lenient=False)


def test_no_temporary_files_are_left_behind(own_cache: Path, bad_copy: Path) -> None:
    read_table("task_events", bad_copy, lenient=True)
    leftovers = [p for p in own_cache.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def _assert_same(a: Workload, b: Workload) -> None:
    arrays_a, meta_a = to_arrays(a)
    arrays_b, meta_b = to_arrays(b)
    assert arrays_a.keys() == arrays_b.keys()
    for key in arrays_a:
        np.testing.assert_array_equal(arrays_a[key], arrays_b[key], err_msg=key)
        assert arrays_a[key].dtype == arrays_b[key].dtype, key
    assert meta_a == meta_b


def test_workload_cache_round_trip(
    slice_workload: Workload, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the session fixture built the slice's workload into this session's cache: this load hits it
    monkeypatch.setattr(workload_module, "_build", _no_parsing)
    again = load_workload()
    _assert_same(slice_workload, again)


def test_archive_round_trip_keeps_every_column(small_cell: Workload) -> None:
    _assert_same(small_cell, from_arrays(*to_arrays(small_cell)))


def test_a_same_size_rewrite_with_the_old_mtime_misses_the_cache(
    own_cache: Path, tmp_path: Path
) -> None:
    """Size and mtime are not the key: `cp -p`, `rsync -t` and `tar` restore an old mtime."""
    path = tmp_path / "part-00000-of-00001.csv"
    good = "0,,3418314,0,,0,u,3,9,0.1,0.1,0.0,0\n0,,3418314,1,,0,u,3,9,0.1,0.1,0.0,0\n"
    path.write_text(good)
    first, _ = read_table("task_events", path)
    st = path.stat()
    path.write_text(good.replace("3418314,1", "3418399,1"))  # same size, different content
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    second, _ = read_table("task_events", path)
    assert list(first["job_id"]) == [3418314, 3418314]
    assert list(second["job_id"]) == [3418314, 3418399]
