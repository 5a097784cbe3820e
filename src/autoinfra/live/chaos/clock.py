"""A wall clock that the campaign can jump: the system clock plus an offset read from a file.

The campaign cannot move the machine's clock (every process on it would jump, the campaign's own
timing included), so each role reads its wall-clock time through this, and a "clock jump" trial
writes a new offset into the role's file. Leases and timeouts use ``time.monotonic`` and must not
care; timestamps in records and approval deadlines do see the jump.
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["JumpableClock"]


class JumpableClock:
    def __init__(self, offset_file: Path) -> None:
        self.offset_file = offset_file

    def offset_s(self) -> float:
        try:
            return float(self.offset_file.read_text() or 0.0)
        except (FileNotFoundError, ValueError):
            return 0.0

    def now_s(self) -> float:
        return time.time() + self.offset_s()

    def __call__(self) -> float:
        return self.now_s()
