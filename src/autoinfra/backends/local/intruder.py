"""The intruder of the local fleet: a hidden process with unusual egress, bounded in rate and time.

Run (by ``procs.child_argv("intruder")``, started by a machine's supervisor so it lives in that
machine's process group) as ``intruder.py --source 127.0.11.1 --sink PORT --mbps 400 --deadline T``.
It binds the machine's own loopback source address (``egress.machine_source_addr``) and streams
60 KB UDP datagrams to the egress sink on 127.0.0.1 at the given rate (capped at 800 Mbit/s) until
its deadline or its parent's death. Large datagrams keep the syscalls, and so the CPU this costs
the shared machine, few. Nothing leaves the host: the sink is on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import time

if __package__:
    from autoinfra.backends.local.procs import set_parent_death_signal
else:  # run by path (procs.child_argv): the standard library only, for a fast start
    from procs import set_parent_death_signal  # type: ignore[import-not-found,no-redef]

_MAX_MBPS = 800.0
_DATAGRAM = 60_000


def intrude(source: str, sink_port: int, mbps: float, deadline: float, parent: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    payload = b"\x5a" * _DATAGRAM
    rate = min(_MAX_MBPS, max(0.0, mbps)) * 1e6 / 8  # bytes/s
    gap_s = _DATAGRAM / rate if rate > 0 else 1.0
    next_t = time.monotonic()
    while time.time() < deadline and os.getppid() == parent:
        with contextlib.suppress(OSError):
            sock.sendto(payload, ("127.0.0.1", sink_port))
        next_t += gap_s
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:  # fell far behind (the machine is throttled): do not burst to catch up
            next_t = time.monotonic()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="autoinfra-local-intruder")
    ap.add_argument("--source", required=True)
    ap.add_argument("--sink", type=int, required=True)
    ap.add_argument("--mbps", type=float, default=400.0)
    ap.add_argument("--deadline", type=float, required=True)
    args = ap.parse_args(argv)
    parent = os.getppid()
    set_parent_death_signal()
    intrude(args.source, args.sink, args.mbps, args.deadline, parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
