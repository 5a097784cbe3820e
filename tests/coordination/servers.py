"""Real nats-server and etcd for a test: started on free ports, stopped after (or skipped
with the reason when the binary is missing outside CI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from autoinfra.coordination.local_servers import EtcdServer, NatsServer, available, free_port

__all__ = ["EtcdServer", "NatsServer", "etcd_server", "free_port", "nats_server"]


@contextmanager
def nats_server(tmp: Path) -> Iterator[NatsServer]:
    if not available("nats-server"):
        pytest.skip("nats-server is not installed (make test installs it)")
    server = NatsServer(tmp / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def etcd_server(tmp: Path, extra_client_hosts: tuple[str, ...] = ()) -> Iterator[EtcdServer]:
    if not available("etcd"):
        pytest.skip("etcd is not installed (make test installs etcd-server)")
    server = EtcdServer(tmp / "etcd", extra_client_hosts)
    server.start()
    try:
        yield server
    finally:
        server.stop()
