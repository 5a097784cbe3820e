"""The simulator's time: the current instant, the heap of timed events, and a stale-rates flag.

One ``Timeline`` is shared by the ``Simulator`` (which moves time and runs due events) and its
``Mutations`` (which schedule boots and must see the current instant). Keeping these three in one
small object is what lets the mutations live outside the simulator class without reaching into
its private attributes. Events are ordered by (time, sequence number), so two events due at the
same instant run in the order they were scheduled: a run is reproducible.
"""

from __future__ import annotations

import heapq


class Timeline:
    """``now_s`` (simulated seconds since the workload's start) and the timed events ahead."""

    def __init__(self) -> None:
        self.now_s = 0.0
        # rates, totals and fault recovery need recomputing before the next look at the state
        self.stale = True
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = 0

    def schedule(self, t_s: float, kind: str, payload: int) -> None:
        """Run event ``kind`` with ``payload`` (a machine slot, fault id ...) at ``t_s``."""
        heapq.heappush(self._heap, (t_s, self._seq, kind, payload))
        self._seq += 1

    def pop_due(self) -> tuple[str, int] | None:
        """The next event due by ``now_s``, removed from the heap; None when none is due."""
        if self._heap and self._heap[0][0] <= self.now_s + 1e-9:
            _, _, kind, payload = heapq.heappop(self._heap)
            return kind, payload
        return None

    def next_s(self) -> float:
        """When the next timed event is due (inf: none is scheduled)."""
        return self._heap[0][0] if self._heap else float("inf")
