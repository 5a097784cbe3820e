"""The controller's handle on one local machine: its supervisor, heartbeats and processes.

``Machine.boot`` starts the supervisor as a new process group under the machine's CPU limit and a
reader thread that records its heartbeats and command answers. Commands wait for their answer a
bounded time. ``members`` lists every process of the group from ``/proc`` (not from what we
started), so processes that no replica accounts for, a hog or an intruder, are seen like a node
agent would see them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from autoinfra.backends.local.limits import MachineGroup
from autoinfra.backends.local.procs import ProcessTable, child_argv
from autoinfra.core.errors import ActionError

__all__ = ["Machine", "Replica"]

_ACK_TIMEOUT_S = 8.0


@dataclass(slots=True)
class Replica:
    service: int
    key: str
    machine: int
    pid: int = 0
    port: int = 0


@dataclass(slots=True)
class _Answers:
    cond: threading.Condition = field(default_factory=threading.Condition)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)


class Machine:
    """One machine slot: ``boot`` it, command it, ``kill`` it."""

    def __init__(
        self, slot: int, group: MachineGroup, procs: ProcessTable, deadline: float, hb_s: float
    ) -> None:
        self.slot = slot
        self.group = group
        self.procs = procs
        self.deadline = deadline
        self.hb_s = hb_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_heartbeat = time.monotonic()
        self.booted_at = 0.0
        self.replicas: dict[str, Replica] = {}
        self.cordoned = False
        self.isolated = False
        self.draining = False  # drained or isolated: DRAINING until uncordoned
        self.powered = False  # the control plane's intent: False after power-off
        self._answers = _Answers()
        self._write_lock = threading.Lock()

    # -- life ------------------------------------------------------------------------------------
    def boot(self) -> None:
        argv = [
            *child_argv("supervisor"),
            "--machine", str(self.slot), "--deadline", f"{self.deadline:.3f}",
            "--heartbeat-s", str(self.hb_s),
        ]  # fmt: skip
        proc = self.procs.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        # the supervisor starts nothing before its first command, so every child lands in the group
        self.group.add(proc.pid)
        self.proc = proc
        self.powered = True
        self.isolated = False
        self.draining = False
        self.cordoned = False
        self.replicas.clear()
        self.booted_at = time.monotonic()
        self.last_heartbeat = 0.0  # booting until the first heartbeat
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if "hb" in msg:
                if proc is self.proc:
                    self.last_heartbeat = time.monotonic()
                continue
            key = msg.get("ack") or msg.get("nack")
            if key:
                with self._answers.cond:
                    self._answers.replies[str(key)] = msg
                    self._answers.cond.notify_all()

    @property
    def pgid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    @property
    def alive(self) -> bool:
        """Whether the supervisor process exists (the truth, for tests and the actuator's poll)."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def booting(self) -> bool:
        return self.alive and self.last_heartbeat == 0.0

    def heartbeat_age_s(self) -> float:
        ref = self.last_heartbeat or self.booted_at
        return max(0.0, time.monotonic() - ref)

    def kill(self) -> None:
        """A node failure: SIGKILL the whole group at once (the machine is lost, not stopped)."""
        if self.proc is not None:
            self.procs.kill_group(self.proc.pid, signal.SIGKILL)

    def shutdown(self) -> None:
        """A clean power-off: the supervisor stops its children and exits."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._send({"op": "exit"})
        try:
            self.proc.wait(timeout=3.0)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait(timeout=3.0)
        self.powered = False
        self.replicas.clear()

    # -- commands --------------------------------------------------------------------------------
    def _send(self, cmd: dict[str, Any]) -> None:
        if self.proc is None or self.proc.stdin is None:
            raise ActionError(f"machine:{self.slot} has no supervisor")
        with self._write_lock:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()

    def command(self, cmd: dict[str, Any], timeout_s: float = _ACK_TIMEOUT_S) -> dict[str, Any]:
        """Send a command naming ``key`` and wait for its answer; ActionError when none comes."""
        key = str(cmd["key"])
        with self._answers.cond:
            self._answers.replies.pop(key, None)
        try:
            self._send(cmd)
        except (OSError, ValueError) as exc:
            raise ActionError(f"machine:{self.slot} does not answer: {exc}") from exc
        end = time.monotonic() + timeout_s
        with self._answers.cond:
            while key not in self._answers.replies:
                left = end - time.monotonic()
                if left <= 0 or not self.alive:
                    raise ActionError(f"machine:{self.slot} gave no answer to {cmd['op']} {key}")
                self._answers.cond.wait(min(left, 0.2))
            reply = self._answers.replies.pop(key)
        if "nack" in reply:
            raise ActionError(f"machine:{self.slot} refused {key}: {reply.get('error')}")
        return reply

    def start_child(self, key: str, argv: list[str], *, port: bool = False) -> dict[str, Any]:
        return self.command({"op": "start", "key": key, "argv": argv, "port": port})

    def stop_child(self, key: str) -> None:
        self.command({"op": "stop", "key": key})

    # -- what a node agent sees ------------------------------------------------------------------
    def members(self) -> list[psutil.Process]:
        """Every live process of the machine's group (from /proc), supervisor included."""
        pgid = self.pgid
        if not pgid or not self.alive:
            return []
        out = []
        for pid in psutil.pids():
            try:
                if os.getpgid(pid) == pgid:
                    p = psutil.Process(pid)
                    if p.status() != psutil.STATUS_ZOMBIE:
                        out.append(p)
            except (ProcessLookupError, psutil.Error):
                continue
        return out

    def unaccounted(self) -> list[psutil.Process]:
        """Processes of the group that are neither the supervisor nor a known replica."""
        known = {r.pid for r in self.replicas.values()} | {self.pgid}
        return [p for p in self.members() if p.pid not in known]

    def signal_members(self, sig: int, *, skip_supervisor: bool = True) -> int:
        n = 0
        for p in self.members():
            if skip_supervisor and p.pid == self.pgid:
                continue
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)
                n += 1
        return n
