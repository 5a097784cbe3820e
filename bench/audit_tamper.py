"""Probe: how much tampering with an audit log on disk a fresh open detects.

    .venv/bin/python bench/audit_tamper.py [--random-edits 1000] [--seed 0] [--json out/x.json]

Writes a small keyed log (the runtime's kind of records), applies each named tampering (an edited
field, a same-length rewrite, a deleted, duplicated or reordered line, a cut tail, the whole log and
head replaced by a validly chained pair under another key, the head edited or deleted, a record
re-hashed the way an unkeyed chain would be) and ``--random-edits`` seeded random byte edits of the
log or its head, then opens the log afresh as the runtime would. Detected means the open refused
it (ConfigError). A torn last line, which is not tampering, must instead be recovered. Prints the
detection rate with the machine it ran on.

The tamperings are importable (``TAMPERS``) so the test suite checks the very same cases.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from autoinfra.core.errors import ConfigError
from autoinfra.security import AuditKey, AuditLog, AuditRecovered
from machine import machine_info
from output import write_json

N_RECORDS = 8
Tamper = Callable[[Path, Path], None]  # (log path, head path) -> edits them in place


def write_log(path: Path, key: AuditKey, n: int = N_RECORDS) -> None:
    with AuditLog(path, key=key, fsync=False) as log:
        for i in range(n):
            log.append("proposed", actor=f"agent{i % 3}", at_s=5.0 * i,
                       data={"request_id": f"r{i}", "action": {"kind": "drain_machine",
                                                               "machine": i}})  # fmt: skip


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _put(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def _edit_record(path: Path, index: int, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    lines = _lines(path)
    raw = json.loads(lines[index])
    change(raw)
    lines[index] = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
    _put(path, lines)


def _edit_field(log: Path, head: Path) -> None:
    _edit_record(log, 3, lambda r: r["data"].update(request_id="forged"))


def _same_length(log: Path, head: Path) -> None:
    _edit_record(log, 4, lambda r: r.update(actor="agent9"))  # agent1 -> agent9: same bytes count


def _rehash_unkeyed(log: Path, head: Path) -> None:
    # what defeats an unkeyed chain: edit, then recompute the digest over the body
    def change(r: dict) -> None:  # type: ignore[type-arg]
        r["actor"] = "mallory"
        body = {k: v for k, v in r.items() if k != "mac"}
        r["mac"] = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()

    _edit_record(log, 2, change)


def _delete_line(log: Path, head: Path) -> None:
    lines = _lines(log)
    del lines[4]
    _put(log, lines)


def _duplicate_line(log: Path, head: Path) -> None:
    lines = _lines(log)
    lines.insert(5, lines[4])
    _put(log, lines)


def _reorder(log: Path, head: Path) -> None:
    lines = _lines(log)
    lines[2], lines[3] = lines[3], lines[2]
    _put(log, lines)


def _truncate_tail(log: Path, head: Path) -> None:
    _put(log, _lines(log)[:-2])


def _replace_whole_other_key(log: Path, head: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / log.name
        write_log(other, AuditKey.generate())
        log.write_bytes(other.read_bytes())
        head.write_bytes(Path(str(other) + ".head").read_bytes())


def _replace_log_other_key(log: Path, head: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / log.name
        write_log(other, AuditKey.generate())
        log.write_bytes(other.read_bytes())


def _edit_head_count(log: Path, head: Path) -> None:
    raw = json.loads(head.read_bytes())
    raw["count"] -= 2
    head.write_bytes(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode() + b"\n")


def _truncate_and_forge_head(log: Path, head: Path) -> None:
    # cut two records and point the head at the new last one: needs the key to MAC the head
    lines = _lines(log)[:-2]
    _put(log, lines)
    raw = json.loads(head.read_bytes())
    raw["count"], raw["mac"] = len(lines), json.loads(lines[-1])["mac"]
    head.write_bytes(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode() + b"\n")


def _delete_head(log: Path, head: Path) -> None:
    head.unlink()


TAMPERS: dict[str, Tamper] = {
    "edit a field": _edit_field,
    "same-length rewrite": _same_length,
    "edit and re-hash without the key": _rehash_unkeyed,
    "delete a line": _delete_line,
    "duplicate a line": _duplicate_line,
    "reorder two lines": _reorder,
    "truncate the tail": _truncate_tail,
    "replace log and head with another key's chain": _replace_whole_other_key,
    "replace the log with another key's chain": _replace_log_other_key,
    "edit the head's count": _edit_head_count,
    "truncate and forge the head": _truncate_and_forge_head,
    "delete the head": _delete_head,
}


def random_byte_edit(rng: np.random.Generator) -> Tamper:
    """Replace 1-3 random bytes of the log (or, one time in four, of the head) with other bytes."""
    in_head = bool(rng.random() < 0.25)
    picks = [
        (float(rng.random()), int(rng.integers(1, 256))) for _ in range(int(rng.integers(1, 4)))
    ]

    def tamper(log: Path, head: Path) -> None:
        target = head if in_head else log
        data = bytearray(target.read_bytes())
        for where, delta in picks:
            i = int(where * len(data))
            data[i] = (data[i] + delta) % 256  # delta in 1..255: the byte always changes
        target.write_bytes(bytes(data))

    return tamper


def detected(tamper: Tamper, workdir: Path) -> bool:
    """Write a fresh log, tamper with it, open it again: True if the open refused it."""
    key = AuditKey.generate()
    log = workdir / "audit.jsonl"
    for leftover in workdir.iterdir():
        leftover.unlink()
    write_log(log, key)
    tamper(log, Path(str(log) + ".head"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AuditRecovered)
            AuditLog(log, key=key, fsync=False).close()
    except ConfigError:
        return True
    return False


def torn_line_recovered(workdir: Path) -> bool:
    key = AuditKey.generate()
    log = workdir / "torn.jsonl"
    write_log(log, key)
    with log.open("ab") as fh:
        fh.write(b'{"actor":"agent2","at_s":40.0,"da')
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with AuditLog(log, key=key, fsync=False) as reopened:
            ok = reopened.verify() and reopened.records[-1].event == "recovered"
    return ok and any(issubclass(w.category, AuditRecovered) for w in seen)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--random-edits", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        work.mkdir()
        false_alarm = detected(lambda log, head: None, work)  # the control: an untouched log
        named = {name: detected(t, work) for name, t in TAMPERS.items()}
        random_hits = sum(detected(random_byte_edit(rng), work) for _ in range(args.random_edits))
        torn_ok = torn_line_recovered(Path(tmp))
    result = {
        "named": named,
        "named_rate": sum(named.values()) / len(named),
        "random_edits": args.random_edits,
        "random_rate": random_hits / args.random_edits if args.random_edits else None,
        "torn_line_recovered": torn_ok,
        "untouched_log_refused": false_alarm,
        "seed": args.seed,
        "machine": machine_info(),
    }
    for name, ok in named.items():
        print(f"{'detected' if ok else 'MISSED  '}  {name}")
    print(f"named tamperings detected on a fresh open: {sum(named.values())}/{len(named)} "
          f"({result['named_rate']:.1%})")  # fmt: skip
    if args.random_edits:
        print(f"random byte edits detected: {random_hits}/{args.random_edits} "
              f"({result['random_rate']:.1%}), seed {args.seed}")  # fmt: skip
    print(f"torn last line recovered (warning + record): {torn_ok}")
    print(f"untouched log refused (a false alarm): {false_alarm}")
    print(f"machine: {result['machine']}")
    if args.json is not None:
        write_json(args.json, result)
    return 0 if all(named.values()) and torn_ok and not false_alarm else 1


if __name__ == "__main__":
    sys.exit(main())
