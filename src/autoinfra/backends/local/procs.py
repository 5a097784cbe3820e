"""Every process the local backend starts, tracked so that none outlives it.

A live fleet is a tree of real processes (a supervisor per machine, replicas, hogs, intruders,
link traffic). Three independent nets catch them, because any one can fail:

1. ``ProcessTable.kill_all`` kills every process group we created (``killpg`` SIGKILL) and reaps
   them; ``LocalCluster.stop`` calls it, and so do an ``atexit`` hook and SIGTERM/SIGINT handlers
   installed by :func:`install_exit_handlers`.
2. Each child asks the kernel to SIGKILL it when its parent dies (``prctl(PR_SET_PDEATHSIG)``), so
   a ``kill -9`` of the controller (where no Python handler runs) still takes the fleet down.
3. Every child carries an absolute deadline and exits by itself when it passes.

Children are started from long-lived threads only: PDEATHSIG fires when the *thread* that forked
the child exits, not the process, so forking from a short-lived worker thread would kill the child
early.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

__all__ = ["ProcessTable", "child_argv", "install_exit_handlers", "set_parent_death_signal"]

_PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the deadline and kill_all still apply
        pass


def child_argv(module: str) -> list[str]:
    """The command line of one of the fleet's own programs (``worker``, ``supervisor``, ...).

    They are run by path with ``-S -E`` (no site-packages, no PYTHONPATH): they use the standard
    library only, and skipping the package imports (numpy through ``autoinfra.core``) makes a
    replica start in ~30 ms instead of ~200 ms, which is most of a scale-up's latency.
    """
    return [sys.executable, "-S", "-E", str(Path(__file__).with_name(f"{module}.py"))]


def _child_setup() -> None:
    # runs in the child between fork and exec: a new session (so a machine is a process group
    # we can signal as one) and death with the parent
    os.setsid()
    set_parent_death_signal()


class ProcessTable:
    """The process groups one backend owns, and the Popen objects to reap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._groups: set[int] = set()

    def spawn(
        self,
        argv: Sequence[str],
        *,
        new_group: bool = True,
        stdin: int | None = subprocess.DEVNULL,
        stdout: int | None = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv``; with ``new_group`` it leads its own process group (a machine)."""
        proc = subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            preexec_fn=_child_setup if new_group else set_parent_death_signal,
            close_fds=True,
        )
        with self._lock:
            self._procs.append(proc)
            if new_group:
                self._groups.add(proc.pid)
        return proc

    def kill_group(self, pgid: int, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def reap(self) -> None:
        """Collect exited children so no zombie is left (cheap, non-blocking)."""
        with self._lock:
            alive = []
            for p in self._procs:
                if p.poll() is None:
                    alive.append(p)
                else:
                    _close(p)
            self._procs = alive

    def kill_all(self, timeout_s: float = 5.0) -> None:
        """SIGKILL every group and process we started, then wait for each."""
        with self._lock:
            groups, procs = set(self._groups), list(self._procs)
            self._groups.clear()
            self._procs = []
        for g in groups:
            self.kill_group(g)
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=timeout_s)
            _close(p)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs if p.poll() is None]


def _close(p: subprocess.Popen[bytes]) -> None:
    for stream in (p.stdin, p.stdout, p.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


_tables: list[ProcessTable] = []
_installed = False


def install_exit_handlers(table: ProcessTable) -> None:
    """Kill ``table``'s processes at interpreter exit and on SIGTERM/SIGINT (main thread only)."""
    global _installed
    _tables.append(table)
    if _installed:
        return
    _installed = True
    atexit.register(_kill_every_table)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: FrameType | None, previous: object = previous) -> None:
            _kill_every_table()
            if callable(previous):
                previous(signum, frame)
            elif signum == signal.SIGINT:
                raise KeyboardInterrupt
            else:
                raise SystemExit(128 + signum)

        signal.signal(sig, handler)


def _kill_every_table() -> None:
    for t in list(_tables):
        t.kill_all()


def forget(table: ProcessTable) -> None:
    """Drop a stopped table from the exit hooks."""
    with contextlib.suppress(ValueError):
        _tables.remove(table)
