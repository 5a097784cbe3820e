"""The keyed audit chain: links, keys, reopening, torn-line recovery and the single writer."""

from __future__ import annotations

import dataclasses
import itertools
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.security import GENESIS, AuditKey, AuditLog, AuditRecovered, verify_file


def _fill(log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        log.append("step", actor=f"agent{i % 2}", at_s=5.0 * i, data={"i": i, "x": np.float32(0.5)})


def test_chain_links_and_verifies_in_memory() -> None:
    log = AuditLog()
    assert log.head == GENESIS and log.verify()
    _fill(log)
    recs = log.records
    assert recs[0].prev_mac == GENESIS
    assert all(b.prev_mac == a.mac for a, b in itertools.pairwise(recs))
    assert log.verify() and recs[0].data["x"] == 0.5  # NumPy scalars stored as plain JSON


def test_in_memory_tamper_and_drop_are_found() -> None:
    log = AuditLog()
    _fill(log)
    log._records[2] = dataclasses.replace(log._records[2], data={"i": 99})
    assert log.first_invalid() == 2 and not log.verify()
    other = AuditLog()
    _fill(other)
    del other._records[1]
    assert other.first_invalid() == 1


def test_the_mac_needs_the_key() -> None:
    a, b = AuditLog(key=b"k" * 32), AuditLog(key=b"j" * 32)
    ra = a.append("e", actor="x", at_s=1.0)
    rb = b.append("e", actor="x", at_s=1.0)
    assert ra.body() == rb.body() and ra.mac != rb.mac  # same content, different key


def test_a_log_on_disk_needs_a_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs its key"):
        AuditLog(tmp_path / "a.jsonl")


def test_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.key"
    key = AuditKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert AuditKey.load_or_create(path).secret == key.secret  # created once, then loaded
    assert "secret" not in repr(key) or key.secret.hex() not in repr(key)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="0600"):
        AuditKey.load(path)
    path.chmod(0o600)
    path.write_text("not hex\n")
    with pytest.raises(ConfigError, match="hex"):
        AuditKey.load(path)


def test_default_key_dir_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOINFRA_KEY_DIR", str(tmp_path / "k"))
    key = AuditKey.load_or_create(name="node7")
    assert (tmp_path / "k" / "node7.key").exists() and key.source.endswith("node7.key")
    other = AuditKey.load_or_create(name="node7", key_dir=tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "node7.key").exists() and other.secret != key.secret


def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    path, key = tmp_path / "audit.jsonl", AuditKey.generate()
    with AuditLog(path, key=key) as first:
        _fill(first, 3)
        head = first.head
    with AuditLog(path, key=key) as second:
        rec = second.append("later", actor="x", at_s=100.0)
        assert rec.prev_mac == head and rec.seq == 3 and second.verify()
    assert verify_file(path, key) is None


def test_a_key_file_path_works_as_the_key(tmp_path: Path) -> None:
    key_path = tmp_path / "audit.key"
    AuditKey.load_or_create(key_path)
    with AuditLog(tmp_path / "a.jsonl", key=key_path) as log:
        _fill(log, 2)
    assert verify_file(tmp_path / "a.jsonl", key_path) is None


def test_edits_behind_the_writers_back_fail_verify(tmp_path: Path) -> None:
    path, key = tmp_path / "audit.jsonl", AuditKey.generate()
    log = AuditLog(path, key=key, fsync=False)
    _fill(log)
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([*lines[:3], b""]))
    assert not log.verify() and log.first_invalid() is not None
    log.close()


def test_torn_last_line_is_cut_and_said(tmp_path: Path) -> None:
    path, key = tmp_path / "audit.jsonl", AuditKey.generate()
    with AuditLog(path, key=key) as log:
        _fill(log, 3)
    whole = path.read_bytes()
    with path.open("ab") as fh:
        fh.write(b'{"actor":"agent1","at_s":15.0,"da')  # the process died inside write()
    assert verify_file(path, key) is not None  # a reader sees the partial line
    with pytest.warns(AuditRecovered, match="torn last line"):
        log = AuditLog(path, key=key)
    assert len(log) == 4 and log.verify()
    rec = log.records[-1]
    assert rec.event == "recovered" and rec.data["torn_bytes"] == 33 and rec.data["after_seq"] == 2
    assert path.read_bytes().startswith(whole)
    log.append("after", actor="x", at_s=20.0)
    log.close()
    assert verify_file(path, key) is None


def test_a_lagging_head_is_caught_up(tmp_path: Path) -> None:
    path, key = tmp_path / "audit.jsonl", AuditKey.generate()
    with AuditLog(path, key=key) as log:
        _fill(log, 2)
    head = (tmp_path / "audit.jsonl.head").read_bytes()
    with AuditLog(path, key=key) as log:
        log.append("third", actor="x", at_s=9.0)
        log.append("fourth", actor="x", at_s=9.5)
    # as if the head replaces were lost in a power cut: the records past it are still keyed
    (tmp_path / "audit.jsonl.head").write_bytes(head)
    with pytest.warns(AuditRecovered, match="head lagged 2 record"):
        log = AuditLog(path, key=key)
    assert len(log) == 4 and log.verify()
    log.close()
    assert verify_file(path, key) is None


def test_orphan_head_temp_files_are_removed(tmp_path: Path) -> None:
    path, key = tmp_path / "audit.jsonl", AuditKey.generate()
    with AuditLog(path, key=key) as log:
        _fill(log, 1)
    orphan = tmp_path / ".audit.jsonl.head.abc123.tmp"
    orphan.write_text("{half")
    with AuditLog(path, key=key):
        assert not orphan.exists()


def test_a_second_writer_is_refused_in_process(tmp_path: Path) -> None:
    path, key = tmp_path / "audit.jsonl", AuditKey.generate()
    first = AuditLog(path, key=key)
    with pytest.raises(ConfigError, match="already open for writing"):
        AuditLog(path, key=key)
    first.append("still", actor="x", at_s=0.0)  # the refusal did not disturb the first writer
    first.close()
    with AuditLog(path, key=key) as again:  # closing frees the lock
        assert len(again) == 1


def test_a_second_writer_is_refused_across_processes(tmp_path: Path) -> None:
    path, key = tmp_path / "audit.jsonl", AuditKey.generate()
    first = AuditLog(path, key=key)
    code = (
        "import sys\n"
        "from autoinfra.core.errors import ConfigError\n"
        "from autoinfra.security import AuditLog\n"
        "try:\n"
        f"    AuditLog({str(path)!r}, key=bytes.fromhex({key.secret.hex()!r}))\n"
        "except ConfigError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "already open for writing" in done.stdout
    first.close()
