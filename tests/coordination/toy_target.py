"""A target cluster for failover tests: applies actions by appending to a file, shared by
processes, and records every attempt so a test can count duplicates."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any


class FileTarget:
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
        time.sleep(self.apply_delay_s)  # a window in which a kill leaves the action in flight
        self._append("applied.jsonl", {"rid": request_id, "by": self.who, "t": time.time()})

    def applied(self, request_id: str) -> bool | None:
        return any(r["rid"] == request_id for r in self.records("applied.jsonl"))

    def records(self, name: str) -> list[dict[str, Any]]:
        path = self.root / name
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
