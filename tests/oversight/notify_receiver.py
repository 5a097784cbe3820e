"""A tiny HTTP receiver on 127.0.0.1 for the notification tests: records every request it gets
and answers with the next status of a script (then 200), like a flaky webhook endpoint would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 200
    delay_s: float = 0.0
    got: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        deadline = threading.Event()
        timer = threading.Timer(timeout_s, deadline.set)
        timer.start()
        try:
            while len(self.requests) < count and not deadline.is_set():
                self.got.wait(0.05)
                self.got.clear()
        finally:
            timer.cancel()
        assert len(self.requests) >= count, f"got {len(self.requests)} requests, wanted {count}"
        return self.requests


def serve_receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = state["r"]
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if rec.delay_s:
                threading.Event().wait(rec.delay_s)
            status = rec.statuses.pop(0) if rec.statuses else 200
            rec.requests.append(Received(self.path, dict(self.headers.items()), body))
            rec.got.set()
            payload = b'{"status":"success"}' if status < 300 else b'{"status":"error"}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left, which is what a timeout test wants

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    state["r"] = Receiver(url=f"http://{host}:{port}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state["r"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
