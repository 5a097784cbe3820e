"""The audit chain detects edits, drops and reorderings, in memory and on disk."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.security import GENESIS, AuditLog


def _fill(log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        log.append("step", actor=f"agent{i % 2}", at_s=5.0 * i, data={"i": i, "x": np.float32(0.5)})


def test_chain_links_and_verifies() -> None:
    log = AuditLog()
    assert log.head == GENESIS and log.verify()
    _fill(log)
    recs = log.records
    assert recs[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(recs))
    assert log.verify() and recs[0].data["x"] == 0.5  # NumPy scalars stored as plain JSON


def test_in_memory_tamper_is_found() -> None:
    log = AuditLog()
    _fill(log)
    log._records[2] = dataclasses.replace(log._records[2], data={"i": 99})
    assert log.first_invalid() == 2 and not log.verify()


def test_in_memory_drop_is_found() -> None:
    log = AuditLog()
    _fill(log)
    del log._records[1]
    assert log.first_invalid() == 1


def test_file_edit_is_found_and_reopen_refuses(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    _fill(log)
    assert log.verify()
    lines = path.read_text().splitlines()
    rec = json.loads(lines[3])
    rec["actor"] = "mallory"
    lines[3] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    assert log.first_invalid() == 3
    log.close()
    with pytest.raises(ConfigError, match="broken at record 3"):
        AuditLog(path)


def test_file_truncation_is_found(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, fsync=False)
    _fill(log)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    assert not log.verify()


def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first = AuditLog(path)
    _fill(first, 3)
    head = first.head
    first.close()
    second = AuditLog(path)
    rec = second.append("later", actor="x", at_s=100.0)
    assert rec.prev_hash == head and rec.seq == 3 and second.verify()
    second.close()
