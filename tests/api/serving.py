"""A real ``autoinfra serve`` in a subprocess, for the tests that need uvicorn and signals.

Loopback only, a free port, readiness by polling ``/api/v1/health``, stopped by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, home: Path, args: list[str], *, tls_cert: Path | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.tls_cert = tls_cert
        scheme = "https" if tls_cert else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        env = {**os.environ, "AUTOINFRA_HOME": str(home), "PYTHONPATH": str(SRC)}
        self.log = (home / f"serve-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autoinfra.cli", "serve", "--port", str(self.port), *args],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def client(self) -> httpx.Client:
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(self.tls_cert)) if self.tls_cert else True
        )
        return httpx.Client(base_url=self.base, verify=verify, timeout=10.0)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self.client() as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"serve exited {self.proc.returncode}: {self.output()}")
                try:
                    if c.get("/api/v1/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise AssertionError(f"serve not ready in {timeout_s} s: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.home / f"serve-{self.port}.log").read_text(errors="replace")[-3000:]

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()
        if not self.log.closed:
            self.log.close()
