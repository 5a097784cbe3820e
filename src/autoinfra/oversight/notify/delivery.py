"""Delivery: take due rows from the outbox, send them with a timeout, retry with backoff, give up.

What is retried: connection errors, timeouts, HTTP 429 and 5xx (the receiver may be back soon).
What is not: any other 4xx (the request itself is wrong; sending it again cannot help) and a row
whose channel is no longer configured. A row is retried at most ``max_attempts`` times in all,
waiting ``backoff_base_s * 2**(attempt-1)`` (capped at ``backoff_max_s``) between attempts, with a
seeded jitter of up to a quarter of the wait, so many failed rows do not all come back at the same
instant. A dead row keeps its last error for the operator to see.

:class:`Dispatcher` can run in a daemon thread (``start``/``stop``) that sleeps until the next row
is due or until ``wake()`` is called by whoever enqueues; ``run_once`` is the same work, on demand.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from autoinfra.core.errors import AutoinfraError
from autoinfra.oversight.notify.channel import Channel
from autoinfra.oversight.notify.outbox import Outbox, OutboxRow

__all__ = ["Dispatcher", "RetryPolicy"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0
    timeout_s: float = 5.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Wait after the ``attempt``-th failure (1-based), jitter included."""
        base = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return base * (1.0 + 0.25 * rng.random())


def _retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


class Dispatcher:
    """Sends what the outbox holds through the configured channels."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        *,
        policy: RetryPolicy | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        client: httpx.Client | None = None,
        idle_poll_s: float = 30.0,
    ) -> None:
        self.outbox = outbox
        self.channels = dict(channels)
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self._rng = random.Random(seed)
        # redirects are not followed: a webhook that moved is a configuration error to fix
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout_s), follow_redirects=False
        )
        self._idle_poll_s = idle_poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()  # run_once from a test and the thread never overlap

    # -- one pass --------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Attempt every due row once; returns how many were delivered."""
        delivered = 0
        with self._send_lock:
            for row in self.outbox.due(now_s=self.clock()):
                if self._attempt(row):
                    delivered += 1
        return delivered

    def _attempt(self, row: OutboxRow) -> bool:
        channel = self.channels.get(row.channel)
        now = self.clock()
        if channel is None:
            self.outbox.mark_failed(
                row.id,
                error=f"channel {row.channel!r} is not configured",
                now_s=now,
                retry_at_s=None,
            )
            return False
        try:
            request = channel.prepare(row.payload, now_s=now)
        except (AutoinfraError, KeyError, TypeError, ValueError) as exc:
            self.outbox.mark_failed(
                row.id, error=f"cannot prepare: {exc}", now_s=now, retry_at_s=None
            )
            return False
        try:
            response = self._client.post(request.url, content=request.body, headers=request.headers)
        except httpx.HTTPError as exc:
            self._retry_or_die(row, f"{type(exc).__name__}: {exc}")
            return False
        if 200 <= response.status_code < 300:
            self.outbox.mark_delivered(row.id, now_s=self.clock())
            return True
        error = f"HTTP {response.status_code}: {response.text[:200]}"
        if _retryable_status(response.status_code):
            self._retry_or_die(row, error)
        else:
            self.outbox.mark_failed(row.id, error=error, now_s=self.clock(), retry_at_s=None)
        return False

    def _retry_or_die(self, row: OutboxRow, error: str) -> None:
        attempt = row.attempts + 1
        now = self.clock()
        if attempt >= self.policy.max_attempts:
            _log.warning(
                "notification %s/%s given up after %d attempts: %s",
                row.channel,
                row.event_id,
                attempt,
                error,
            )
            self.outbox.mark_failed(row.id, error=error, now_s=now, retry_at_s=None)
        else:
            retry_at = now + self.policy.delay_s(attempt, self._rng)
            self.outbox.mark_failed(row.id, error=error, now_s=now, retry_at_s=retry_at)

    # -- background thread -----------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="notify-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the loop must outlive one bad pass; the row stays pending
                _log.exception("notification dispatch pass failed")
            next_due = self.outbox.next_due_s()
            wait_s = self._idle_poll_s if next_due is None else next_due - self.clock()
            self._wake.wait(max(0.0, min(wait_s, self._idle_poll_s)))
            self._wake.clear()
