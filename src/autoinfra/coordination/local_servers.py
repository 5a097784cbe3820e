"""Real nats-server and etcd processes on free 127.0.0.1 ports, started and stopped by PID.

The tests, the benchmarks and ``autoinfra chaos-test`` need the same servers started the same
way: a free loopback port, a private data directory, readiness checked by a real request (a TCP
accept is not readiness: etcd listens before it has elected itself), and a stop that escalates
from SIGTERM to SIGKILL. Nothing here listens beyond 127.0.0.1 unless a caller names an address
of its own test host (a network namespace it made).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

from autoinfra.core.errors import AutoinfraError

__all__ = ["EtcdServer", "NatsServer", "ServerFailed", "available", "free_port"]


class ServerFailed(AutoinfraError):
    """A server binary is missing, exited early, or never became ready (the message says)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerFailed(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerFailed(f"nothing listened on 127.0.0.1:{port} within {timeout_s} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class NatsServer:
    def __init__(self, store: Path, port: int | None = None) -> None:
        self.store = store
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = _binary("nats-server", "/usr/sbin/nats-server", "nats-server")
        self.proc = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.proc)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


class EtcdServer:
    def __init__(self, data: Path, extra_client_hosts: tuple[str, ...] = ()) -> None:
        self.data = data
        self.port = free_port()
        self.peer_port = free_port()
        self.hosts = ("127.0.0.1", *extra_client_hosts)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_on(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        binary = _binary("etcd", "/usr/bin/etcd", "etcd-server")
        clients = ",".join(f"http://{h}:{self.port}" for h in self.hosts)
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.proc = subprocess.Popen(
            [
                binary,
                "--name=test",
                f"--data-dir={self.data}",
                f"--listen-client-urls={clients}",
                f"--advertise-client-urls={self.url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=test={peer}",
                "--log-level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.proc)
        # listening is not serving: wait until it has elected itself and grants leases
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if httpx.post(f"{self.url}/v3/lease/grant", json={"TTL": 1}).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise ServerFailed(f"etcd on {self.url} never became ready")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


def _binary(name: str, debian_path: str, package: str) -> str:
    found = shutil.which(name) or (debian_path if Path(debian_path).exists() else None)
    if found is None:
        raise ServerFailed(f"{name} is not installed; apt-get install {package} (make test does)")
    return found


def available(name: str) -> bool:
    """Whether the server binary ``nats-server`` or ``etcd`` is installed."""
    paths = {"nats-server": "/usr/sbin/nats-server", "etcd": "/usr/bin/etcd"}
    return shutil.which(name) is not None or Path(paths[name]).exists()
