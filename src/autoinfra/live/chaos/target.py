"""The campaign's stand-in cluster: a journal on disk that counts every attempt and application.

A real cluster cannot tell us how many times an executor tried an action; this one can, which is
the point of the campaign. Appends are whole lines under ``flock`` with fsync, so a process killed
mid-call leaves either the line or nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["JournalTarget"]


class JournalTarget:
    def __init__(self, root: Path, *, who: str = "", apply_delay_s: float = 0.0) -> None:
        self.root = root
        self.who = who
        self.apply_delay_s = apply_delay_s
        root.mkdir(parents=True, exist_ok=True)

    def _append(self, name: str, record: dict[str, Any]) -> None:
        with open(self.root / name, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def apply(self, request_id: str, action: dict[str, Any]) -> None:
        self._append("attempts.jsonl", {"rid": request_id, "by": self.who, "t": time.time()})
        time.sleep(self.apply_delay_s)  # the window in which a kill leaves the action in flight
        self._append("applied.jsonl", {"rid": request_id, "by": self.who, "t": time.time()})

    def applied(self, request_id: str) -> bool | None:
        return any(r["rid"] == request_id for r in self.records("applied.jsonl"))

    def records(self, name: str) -> list[dict[str, Any]]:
        path = self.root / name
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a kill mid-write: it was never complete
        return out
