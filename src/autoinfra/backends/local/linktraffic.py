"""Rack traffic over the uplinks of the local network lab: a bounded UDP sender and its sink.

Run inside a network namespace (``ip netns exec``):

- ``linktraffic.py send --targets A,B,.. --mbps 6,6,.. --deadline T`` sends UDP datagrams to
  each target at its rate (token bucket per link, datagrams of ``--size`` bytes) and prints
  ``{"offered": [bytes...], "t": epoch_s}`` twice a second: the bytes it tried to send per link
  since the start. stdin takes ``{"mbps": [..]}`` to change the rates (that is how traffic is
  rerouted from one uplink to another).
- ``linktraffic.py sink --bind A,B,.. --deadline T`` counts the bytes that arrived per address
  and prints ``{"received": [bytes...]}`` the same way.

Both stop at ``--deadline`` or with their parent. Rates are capped at 200 Mbit/s per link so a
typo cannot flood the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import socket
import sys
import time

if __package__:
    from autoinfra.backends.local.procs import set_parent_death_signal
else:  # run by path (procs.child_argv): the standard library only, for a fast start
    from procs import set_parent_death_signal  # type: ignore[import-not-found,no-redef]

PORT = 9_477
_MAX_MBPS = 200.0
_REPORT_S = 0.5


def _say(msg: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def send(targets: list[str], mbps: list[float], size: int, deadline: float, parent: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    payload = b"\0" * size
    rates = [min(_MAX_MBPS, max(0.0, r)) * 1e6 / 8 for r in mbps]  # bytes/s
    offered = [0] * len(targets)
    credit = [0.0] * len(targets)
    last = time.monotonic()
    next_report = last
    fd = sys.stdin.fileno()
    while time.time() < deadline and os.getppid() == parent:
        ready, _, _ = select.select([fd], [], [], 0.005)
        if ready:
            line = sys.stdin.readline()
            if not line:
                return
            with contextlib.suppress(ValueError, KeyError, TypeError):
                wanted = json.loads(line)["mbps"]
                rates = [min(_MAX_MBPS, max(0.0, float(r))) * 1e6 / 8 for r in wanted]
        now = time.monotonic()
        dt, last = now - last, now
        for j, addr in enumerate(targets):
            credit[j] = min(credit[j] + rates[j] * dt, 4.0 * size + rates[j] * 0.05)
            while credit[j] >= size:
                credit[j] -= size
                offered[j] += size
                # a full queue is the congestion itself: the bytes were offered all the same
                with contextlib.suppress(OSError):
                    sock.sendto(payload, (addr, PORT))
        if now >= next_report:
            _say({"offered": offered, "t": time.time()})
            next_report = now + _REPORT_S


def sink(binds: list[str], deadline: float, parent: int) -> None:
    socks = []
    for addr in binds:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((addr, PORT))
        s.setblocking(False)
        socks.append(s)
    received = [0] * len(binds)
    buf = bytearray(65536)
    next_report = time.monotonic()
    _say({"received": received, "t": time.time()})
    while time.time() < deadline and os.getppid() == parent:
        ready, _, _ = select.select(socks, [], [], 0.1)
        for s in ready:
            j = socks.index(s)
            try:
                while True:
                    received[j] += s.recv_into(buf)
            except BlockingIOError:
                pass
        if time.monotonic() >= next_report:
            _say({"received": received, "t": time.time()})
            next_report = time.monotonic() + _REPORT_S


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="autoinfra-local-linktraffic")
    ap.add_argument("role", choices=["send", "sink"])
    ap.add_argument("--targets", default="")
    ap.add_argument("--bind", default="")
    ap.add_argument("--mbps", default="")
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--deadline", type=float, required=True)
    args = ap.parse_args(argv)
    parent = os.getppid()
    set_parent_death_signal()
    if args.role == "send":
        targets = args.targets.split(",")
        send(targets, [float(x) for x in args.mbps.split(",")], args.size, args.deadline, parent)
    else:
        sink(args.bind.split(","), args.deadline, parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
