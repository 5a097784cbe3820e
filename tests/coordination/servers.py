"""Start real nats-server and etcd processes on free 127.0.0.1 ports for a test, and stop them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout_s} s")


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
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
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


@contextmanager
def nats_server(tmp: Path) -> Iterator[NatsServer]:
    if shutil.which("nats-server") is None and not Path("/usr/sbin/nats-server").exists():
        pytest.skip("nats-server is not installed (make test installs it)")
    server = NatsServer(tmp / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
        binary = shutil.which("etcd") or "/usr/bin/etcd"
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
        import httpx

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if httpx.post(f"{self.url}/v3/lease/grant", json={"TTL": 1}).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"etcd on {self.url} never became ready")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


@contextmanager
def etcd_server(tmp: Path, extra_client_hosts: tuple[str, ...] = ()) -> Iterator[EtcdServer]:
    if shutil.which("etcd") is None and not Path("/usr/bin/etcd").exists():
        pytest.skip("etcd is not installed (make test installs etcd-server)")
    server = EtcdServer(tmp / "etcd", extra_client_hosts)
    server.start()
    try:
        yield server
    finally:
        server.stop()
