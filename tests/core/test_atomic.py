"""The one atomic writer: whole files or nothing, modes from the first byte, leftovers found."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from autoinfra.core import atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(atomic.TEMP_SUFFIX))


def test_write_text_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "report.md"  # missing folders are made
    atomic.write_text(target, "first\n")
    atomic.write_text(target, "second\n")
    assert target.read_text(encoding="utf-8") == "second\n"
    assert _mode(target) == 0o644
    assert _leftovers(target.parent) == []


def test_failed_block_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError, match="writer broke"), atomic.atomic_path(target) as tmp:
        tmp.write_text("half of the new", encoding="utf-8")
        raise RuntimeError("writer broke")
    assert target.read_text(encoding="utf-8") == "old"
    assert _leftovers(tmp_path) == []


def test_private_mode_holds_while_the_temporary_is_written(tmp_path: Path) -> None:
    target = tmp_path / "queue.jsonl"
    with atomic.atomic_path(target, mode=0o600) as tmp:
        assert _mode(tmp) == 0o600  # before any byte: never readable by others
        tmp.write_bytes(b"secret\n")
    assert _mode(target) == 0o600


def test_suffix_is_kept_for_writers_that_insist_on_one(tmp_path: Path) -> None:
    with atomic.atomic_path(tmp_path / "model.zip", suffix=".zip") as tmp:
        assert tmp.name.startswith(".model.zip.") and tmp.suffix == ".zip"
        tmp.write_bytes(b"PK")
    assert (tmp_path / "model.zip").read_bytes() == b"PK"


def test_write_json_refuses_nan_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    with pytest.raises(ValueError, match="JSON"):
        atomic.write_json(target, {"x": float("nan")})
    assert not target.exists() and _leftovers(tmp_path) == []
    atomic.write_json(target, {"b": 1, "a": [1.5]}, indent=1, sort_keys=True)
    text = target.read_text(encoding="utf-8")
    assert text.endswith("}\n") and text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": [1.5], "b": 1}


def test_fsync_is_called_for_file_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    atomic.write_bytes(tmp_path / "a", b"1")
    assert synced == [False, True]  # the data, then the rename
    synced.clear()
    atomic.write_bytes(tmp_path / "b", b"1", fsync=False)
    assert synced == []
    atomic.write_bytes(tmp_path / "c", b"1", sync_dir=False)
    assert synced == [False]


def test_create_exclusive_never_overwrites(tmp_path: Path) -> None:
    key = tmp_path / "audit.key"
    assert atomic.create_exclusive(key, b"mine\n") is True
    assert _mode(key) == 0o600
    assert atomic.create_exclusive(key, b"theirs\n") is False
    assert key.read_bytes() == b"mine\n"
    assert _leftovers(tmp_path) == []


def test_remove_orphans_finds_only_this_files_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "audit.jsonl"
    mine = tmp_path / ".audit.jsonl.abc123.tmp"
    other = tmp_path / ".other.jsonl.abc123.tmp"
    mine.write_text("half")
    other.write_text("half")
    assert atomic.remove_orphans(target) == [mine]
    assert not mine.exists() and other.exists()
    assert atomic.remove_orphans(tmp_path / "missing" / "x") == []
