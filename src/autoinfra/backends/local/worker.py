"""One replica of a local service: a tiny HTTP server doing a bounded amount of CPU work a request.

Run as ``python -m autoinfra.backends.local.worker --work-ms 2 --deadline 1700000000``. It binds
127.0.0.1 on a free port, prints ``{"port": N}`` as its first stdout line (the supervisor reads it),
then serves ``GET /`` (burns about ``work_ms`` of CPU, answers 200) and ``GET /health``. It exits
at the absolute ``--deadline`` (epoch seconds) or when its parent dies, whichever comes first, so a
lost replica can never run on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if __package__:
    from autoinfra.backends.local.procs import set_parent_death_signal
else:  # run by path (procs.child_argv): the standard library only, for a fast start
    from procs import set_parent_death_signal  # type: ignore[import-not-found,no-redef]


def burn_cpu(work_ms: float) -> int:
    """Hash until ``work_ms`` of thread CPU time has been used; returns the rounds done."""
    end = time.thread_time() + work_ms / 1000.0
    block = b"autoinfra" * 64
    rounds = 0
    while time.thread_time() < end:
        block = hashlib.sha256(block).digest() * 18
        rounds += 1
    return rounds


def _handler(work_ms: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            health = self.path.startswith("/health")
            body = b"ok\n" if health else f"{burn_cpu(work_ms)}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    return Handler


def _watch(deadline: float, parent: int, server: ThreadingHTTPServer) -> None:
    while time.time() < deadline and os.getppid() == parent:
        time.sleep(0.2)
    server.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="autoinfra-local-worker")
    ap.add_argument("--work-ms", type=float, default=2.0)
    ap.add_argument("--deadline", type=float, required=True, help="absolute epoch seconds")
    args = ap.parse_args(argv)
    parent = os.getppid()
    set_parent_death_signal()
    if os.getppid() != parent:  # the parent died before prctl took effect
        return 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(min(args.work_ms, 50.0)))
    server.daemon_threads = True
    sys.stdout.write(json.dumps({"port": server.server_address[1]}) + "\n")
    sys.stdout.flush()
    threading.Thread(target=_watch, args=(args.deadline, parent, server), daemon=True).start()
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
