"""The supervisor of one local "machine": what a kubelet is to a node, in ~150 lines.

Run as ``python -m autoinfra.backends.local.supervisor --machine 0 --deadline T``. It is the leader
of the machine's process group (the controller starts it with ``setsid``), so everything it starts
shares the group and dies with a ``killpg``. It speaks JSON lines:

- stdin, commands from the controller: ``{"op": "start", "key": "s0r1", "argv": [...]}`` starts a
  child in the group (a replica, a CPU hog, an intruder) and answers with its pid and, for
  replicas, the port the child printed; ``{"op": "stop", "key": ...}`` stops one child;
  ``{"op": "exit"}`` stops everything and exits.
- stdout, reports: ``{"hb": seq, "t": epoch_s, "children": n}`` every ``--heartbeat-s`` (the
  machine's heartbeat: when the group is killed they stop and the controller sees the age grow),
  and ``{"ack": key, "pid": ..., "port": ...}`` or ``{"nack": key, "error": ...}`` per command.

It exits when stdin closes (the controller went away), at ``--deadline``, or with its parent
(a SIGTERM from the kernel's parent-death signal); on the way out it SIGKILLs its whole process
group, so no grandchild (stress-ng forks its workers) outlives the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

if __package__:
    from autoinfra.backends.local.procs import set_parent_death_signal
else:  # run by path (procs.child_argv): the standard library only, for a fast start
    from procs import set_parent_death_signal  # type: ignore[import-not-found,no-redef]

_PORT_WAIT_S = 5.0


def _say(msg: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def _read_port(proc: subprocess.Popen[bytes]) -> int | None:
    """The first stdout line of a replica is ``{"port": N}``; wait for it a bounded time."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], _PORT_WAIT_S)
    if not ready:
        return None
    line = proc.stdout.readline()
    try:
        return int(json.loads(line)["port"])
    except (ValueError, KeyError, TypeError):
        return None


class Supervisor:
    def __init__(self, machine: int, deadline: float, heartbeat_s: float) -> None:
        self.machine = machine
        self.deadline = deadline
        self.heartbeat_s = heartbeat_s
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.seq = 0

    def start(self, key: str, argv: list[str], wants_port: bool) -> None:
        self.stop(key)  # a key names one child: starting it again replaces it
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if wants_port else subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                # a child dies with the supervisor even if it is SIGKILLed alone
                preexec_fn=set_parent_death_signal,
            )
        except OSError as exc:
            _say({"nack": key, "error": f"cannot start {argv[0]}: {exc}"})
            return
        port = _read_port(proc) if wants_port else None
        if wants_port and port is None:
            proc.kill()
            proc.wait()
            _say({"nack": key, "error": "replica did not report its port"})
            return
        self.children[key] = proc
        _say({"ack": key, "pid": proc.pid, "port": port})

    def stop(self, key: str) -> None:
        proc = self.children.pop(key, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def reap(self) -> None:
        for key, proc in list(self.children.items()):
            if proc.poll() is not None:
                if proc.stdout is not None:
                    proc.stdout.close()
                del self.children[key]
                _say({"exited": key, "pid": proc.pid, "rc": proc.returncode})

    def handle(self, line: str) -> bool:
        """One command; False means exit."""
        try:
            cmd = json.loads(line)
        except ValueError:
            return True
        op = cmd.get("op")
        if op == "start":
            self.start(str(cmd["key"]), [str(a) for a in cmd["argv"]], bool(cmd.get("port")))
        elif op == "stop":
            self.stop(str(cmd["key"]))
            _say({"ack": str(cmd["key"]), "stopped": True})
        elif op == "exit":
            return False
        return True

    def run(self) -> None:
        next_hb = 0.0
        buf = b""
        fd = sys.stdin.fileno()
        while time.time() < self.deadline:
            now = time.monotonic()
            if now >= next_hb:
                self.seq += 1
                _say({"hb": self.seq, "t": time.time(), "children": len(self.children)})
                next_hb = now + self.heartbeat_s
            ready, _, _ = select.select([fd], [], [], max(0.0, next_hb - time.monotonic()))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return  # the controller closed our stdin: it is gone
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not self.handle(line.decode()):
                        return
            self.reap()

    def shutdown(self) -> None:
        for key in list(self.children):
            self.stop(key)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="autoinfra-local-supervisor")
    ap.add_argument("--machine", type=int, required=True)
    ap.add_argument("--deadline", type=float, required=True, help="absolute epoch seconds")
    ap.add_argument("--heartbeat-s", type=float, default=0.5)
    args = ap.parse_args(argv)
    parent = os.getppid()
    # SIGTERM, not SIGKILL, when the controller dies: the handler takes the whole group down,
    # children that do not watch their parent (stress-ng's workers) included
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:
        return 1
    sup = Supervisor(args.machine, args.deadline, args.heartbeat_s)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    try:
        sup.run()
    finally:
        sup.shutdown()
        # anything left in the machine's group (a grandchild) goes with it; so does this process
        os.killpg(os.getpgrp(), signal.SIGKILL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
