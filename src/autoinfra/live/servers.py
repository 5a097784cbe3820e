"""The servers a live run starts for itself: Prometheus and Alertmanager, on free loopback ports.

Each is a child process in its own session (so a signal to our process group does not reach it
before we stop it in order), with a generated config and a temporary data folder, started and
then awaited on its readiness endpoint (``/-/ready``). ``stop()`` sends SIGTERM to its PID, waits,
then SIGKILL, and removes the folder: nothing is left running or on disk.

A binary that is missing, a port in use, or a server that does not become ready is a
``ConfigError`` naming the thing, after whatever was started is stopped again.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from autoinfra.core.atomic import write_text
from autoinfra.core.errors import ConfigError

__all__ = [
    "ALERTMANAGER_BIN",
    "PROMETHEUS_BIN",
    "ManagedServer",
    "free_port",
    "start_alertmanager",
    "start_prometheus",
]

PROMETHEUS_BIN = "/usr/bin/prometheus"
ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager"


def free_port() -> int:
    """A port free on 127.0.0.1 now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_port(port: int, what: str) -> None:
    """Refuse a port that is in use, naming it and who wanted it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ConfigError(
                f"port 127.0.0.1:{port} for {what} is in use ({exc.strerror}); "
                "expected a free port",
                field=f"{what}_port",
            ) from exc


@dataclass
class ManagedServer:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait(timeout=timeout_s)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-400:] if self.log_path.exists() else ""
        self.stop()
        raise ConfigError(
            f"{self.name} on 127.0.0.1:{self.port} did not become ready within "
            f"{timeout_s:g} s; its log ends: {tail.strip()[-200:]!r}",
            field=self.name,
        )


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when our process dies, even by SIGKILL (Linux
    PR_SET_PDEATHSIG), so a kill -9 of ``autoinfra live`` leaves no server behind."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _launch(
    name: str, argv: list[str], port: int, data_dir: Path, timeout_s: float
) -> ManagedServer:
    if shutil.which(argv[0]) is None:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise ConfigError(
            f"{name} binary {argv[0]} not found; install the Debian package "
            f"(scripts/install-servers.sh)",
            field=name,
        )
    log_path = data_dir / f"{name}.log"
    log = log_path.open("wb")
    try:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    finally:
        log.close()
    server = ManagedServer(name, proc, port, data_dir, log_path)
    server.wait_ready(timeout_s)
    return server


def start_prometheus(
    targets: list[str],
    *,
    scrape_interval_s: float = 1.0,
    port: int = 0,
    job: str = "autoinfra",
    timeout_s: float = 20.0,
    remote_write: tuple[str, str] | None = None,
) -> ManagedServer:
    """Prometheus scraping ``targets`` (``host:port``) every ``scrape_interval_s``.

    ``remote_write`` is ``(url, bearer token)`` of a ``telemetry.remote_write`` receiver: the
    job's ``autoinfra_*`` series and its ``up`` are pushed there as they are scraped, without the
    ``instance`` and ``job`` labels (one target), in batches sent at least every 0.5 s.
    """
    port = port or free_port()
    check_port(port, "prometheus")
    data_dir = Path(tempfile.mkdtemp(prefix="autoinfra-prometheus-"))
    interval = f"{max(1, round(scrape_interval_s * 1000))}ms"
    config = (
        f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
        f"scrape_configs:\n  - job_name: {job}\n    scrape_interval: {interval}\n"
        f"    scrape_timeout: {interval}\n    static_configs:\n"
        f"      - targets: [{', '.join(repr(t) for t in targets)}]\n"
    )
    if remote_write is not None:
        url, token = remote_write
        config += (
            f"remote_write:\n  - url: '{url}'\n    authorization:\n"
            f"      credentials: '{token}'\n    write_relabel_configs:\n"
            f"      - source_labels: [job]\n        regex: '{job}'\n        action: keep\n"
            "      - source_labels: [__name__]\n        regex: 'autoinfra_.*|up'\n"
            "        action: keep\n      - regex: 'instance|job'\n        action: labeldrop\n"
            # one scrape of a cell is ~160,000 samples: few large batches, sent promptly
            "    queue_config:\n      min_shards: 1\n      max_shards: 2\n"
            "      max_samples_per_send: 20000\n      capacity: 60000\n"
            "      batch_send_deadline: 500ms\n    metadata_config:\n      send: false\n"
        )
    write_text(data_dir / "prometheus.yml", config, mode=0o600)  # it may hold the receiver's token
    argv = [
        PROMETHEUS_BIN,
        f"--config.file={data_dir / 'prometheus.yml'}",
        f"--storage.tsdb.path={data_dir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    return _launch("prometheus", argv, port, data_dir, timeout_s)


def start_alertmanager(
    *,
    webhook_url: str | None = None,
    webhook_token: str | None = None,
    port: int = 0,
    timeout_s: float = 20.0,
) -> ManagedServer:
    """Alertmanager (clustering off) routing every alert to ``webhook_url`` when given, with
    ``webhook_token`` as its bearer credentials (the receiver refuses requests without it)."""
    port = port or free_port()
    check_port(port, "alertmanager")
    data_dir = Path(tempfile.mkdtemp(prefix="autoinfra-alertmanager-"))
    receiver = "  - name: autoinfra\n"
    if webhook_url:
        receiver += (
            f"    webhook_configs:\n      - url: '{webhook_url}'\n        send_resolved: true\n"
        )
        if webhook_token:
            receiver += (
                "        http_config:\n          authorization:\n            type: Bearer\n"
                f"            credentials: '{webhook_token}'\n"
            )
    config = (
        "route:\n  receiver: autoinfra\n  group_by: ['alertname', 'target']\n"
        "  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n"
        f"receivers:\n{receiver}"
    )
    path = data_dir / "alertmanager.yml"
    write_text(path, config, mode=0o600)  # it may hold the webhook's token
    argv = [
        ALERTMANAGER_BIN,
        f"--config.file={data_dir / 'alertmanager.yml'}",
        f"--storage.path={data_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    return _launch("alertmanager", argv, port, data_dir, timeout_s)
