"""How one audit record and the chain's head look on disk, and how a chain is checked.

A record is one line of canonical JSON (sorted keys, no spaces) whose ``mac`` is the HMAC-SHA256,
under the log's key, of the canonical JSON of everything else in it, ``prev_mac`` included: so a
record cannot be changed, dropped, reordered or invented without the key. A line is accepted only
if it *is* the canonical form of what it parses to, so two spellings of one value (``1.0`` and
``1e0``, an escaped letter) cannot slip an edit past a check that compares parsed values.

The head (how many records there are and the last one's MAC, itself MAC'd) lives in a file of
its own, replaced atomically after every append. Cutting records off the end of the log, or
replacing the log with an older copy, leaves a valid chain that no longer reaches the head.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoinfra.core.errors import ConfigError
from autoinfra.security.audit_key import AuditKey

__all__ = [
    "GENESIS",
    "AuditRecord",
    "Head",
    "canonical",
    "check_chain",
    "parse_line",
    "read_head",
    "seal",
]

GENESIS = "0" * 64  # the "previous MAC" of the first record
_HEAD_FORMAT = "autoinfra-audit-head/1"


def _jsonable(value: Any) -> Any:
    """JSON fallback for NumPy scalars, enums, sets and dataclass-like objects in record data."""
    if hasattr(value, "item"):  # NumPy scalar
        return value.item()
    if hasattr(value, "tolist"):  # NumPy array
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def canonical(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=_jsonable)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One step: who (``actor``) did what (``event``) when (``at_s``, clock seconds)."""

    seq: int
    at_s: float
    actor: str
    event: str
    data: dict[str, Any]
    prev_mac: str
    mac: str

    def body(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at_s": self.at_s,
            "actor": self.actor,
            "event": self.event,
            "data": self.data,
            "prev_mac": self.prev_mac,
        }

    def expected_mac(self, key: AuditKey) -> str:
        return key.mac(canonical(self.body()).encode())

    def to_json(self) -> str:
        return canonical({**self.body(), "mac": self.mac})


def seal(
    key: AuditKey,
    *,
    seq: int,
    at_s: float,
    actor: str,
    event: str,
    data: Mapping[str, Any] | None,
    prev_mac: str,
) -> AuditRecord:
    """A new record, MAC'd. ``data`` is round-tripped through JSON first, so the record held in
    memory is exactly what is stored and checked later (NumPy scalars become plain numbers)."""
    clean = json.loads(canonical(dict(data or {})))
    unsigned = AuditRecord(seq, float(at_s), str(actor), str(event), clean, prev_mac, "")
    return AuditRecord(seq, float(at_s), str(actor), str(event), clean, prev_mac,
                       unsigned.expected_mac(key))  # fmt: skip


_FIELDS = {"seq": int, "at_s": float, "actor": str, "event": str, "data": dict, "prev_mac": str,
           "mac": str}  # fmt: skip


def parse_line(line: bytes, *, lineno: int, source: str) -> AuditRecord:
    """One stored line to a record; a ConfigError naming the file and line if it is not one."""

    def bad(why: str) -> ConfigError:
        return ConfigError(f"line {lineno}: not an audit record ({why})", source=source)

    try:
        raw = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(str(exc)) from None
    if not isinstance(raw, dict) or set(raw) != set(_FIELDS):
        raise bad(f"expected exactly the fields {sorted(_FIELDS)}")
    for name, kind in _FIELDS.items():
        value = raw[name]
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise bad(f"field {name!r} must be {kind.__name__}, got {value!r}")
    record = AuditRecord(raw["seq"], float(raw["at_s"]), raw["actor"], raw["event"], raw["data"],
                         raw["prev_mac"], raw["mac"])  # fmt: skip
    if record.to_json().encode() != line:
        raise bad("not in canonical form: the line was rewritten")
    return record


def check_chain(
    records: list[AuditRecord], key: AuditKey, *, start: int = 0, prev_mac: str = GENESIS
) -> tuple[int, str] | None:
    """(index, why) of the first record that breaks the chain, or None when every link holds."""
    prev = prev_mac
    for i, record in enumerate(records[start:], start=start):
        if record.seq != i:
            return i, f"record {i} has sequence number {record.seq} (dropped or reordered)"
        if record.prev_mac != prev:
            return i, f"record {i} does not link to record {i - 1} (dropped or reordered)"
        if record.expected_mac(key) != record.mac:
            return i, f"record {i} has a wrong MAC (edited, or written under another key)"
        prev = record.mac
    return None


@dataclass(frozen=True, slots=True)
class Head:
    """How many records the chain has and the last one's MAC, with a MAC of its own."""

    count: int
    mac: str
    key_id: str

    def _message(self) -> bytes:
        return f"{_HEAD_FORMAT}|{self.count}|{self.mac}|{self.key_id}".encode()

    def to_bytes(self, key: AuditKey) -> bytes:
        body = {"format": _HEAD_FORMAT, "count": self.count, "mac": self.mac,
                "key_id": self.key_id, "head_mac": key.mac(self._message())}  # fmt: skip
        return (canonical(body) + "\n").encode()


def read_head(path: Path, key: AuditKey) -> Head:
    """The head stored at ``path``, checked against ``key``; a ConfigError saying what is wrong."""
    source = str(path)
    try:
        data = path.read_bytes()
        raw = json.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            "audit head file is missing (deleted, or the log predates keyed chains: start a new "
            "log); the chain cannot be trusted",
            source=source,
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"audit head file is not JSON ({exc})", source=source) from None
    fields = {"format", "count", "mac", "key_id", "head_mac"}
    if not isinstance(raw, dict) or set(raw) != fields or raw["format"] != _HEAD_FORMAT:
        raise ConfigError(f"audit head file must hold {sorted(fields)}", source=source)
    count = raw["count"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ConfigError(f"audit head count must be an int >= 0, got {count!r}", source=source)
    if not all(isinstance(raw[k], str) for k in ("mac", "key_id", "head_mac")):
        raise ConfigError("audit head mac, key_id and head_mac must be strings", source=source)
    if raw["key_id"] != key.key_id:
        raise ConfigError(
            f"audit log was written under another key (key id {raw['key_id']}, this key is "
            f"{key.key_id})",
            source=source,
        )
    head = Head(count, raw["mac"], raw["key_id"])
    if key.mac(head._message()) != raw["head_mac"]:
        raise ConfigError("audit head file has a wrong MAC (edited)", source=source)
    if data != head.to_bytes(key):  # as for records: one spelling only, so no edit slips past
        raise ConfigError("audit head file is not in canonical form (edited)", source=source)
    return head
