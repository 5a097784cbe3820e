"""Fixtures of the browser tests: the real server as a subprocess, tokens, Debian's Chromium.

``served`` runs ``autoinfra serve --demo`` on a free 127.0.0.1 port with its own
``AUTOINFRA_HOME`` and state directory, after creating tokens with ``autoinfra token create`` (the
token is the last line of its output, as documented). The server is stopped by its PID in the
finaliser. ``chromium`` is Playwright driving ``/usr/bin/chromium`` with a fresh user-data-dir per
context; ``playwright install`` is never run, so a machine without Debian's Chromium skips.

Screenshots go to ``$AUTOINFRA_SCREENSHOTS`` (default ``out/screenshots``), kept as CI artefacts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
REPO = Path(__file__).resolve().parents[2]

if not Path(CHROMIUM).exists():  # pragma: no cover - CI installs it (scripts/install-servers.sh)
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOINFRA_NOTIFY_")}
    env["AUTOINFRA_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cli(home: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "autoinfra.cli", *args], env=_env(home),
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


@dataclass
class Served:
    base: str
    tokens: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path
    shots: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base, timeout=10.0)

    def get(self, path: str, who: str = "viewer") -> Any:
        r = self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[who]}"})
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("home")
    tokens = {role: _cli(home, "token", "create", "--role", role, "--name", name)
              for role, name in (("approver", "alice"), ("viewer", "victor"),
                                 ("operator", "olga"))}  # fmt: skip
    port = _free_port()
    log = home / "server.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autoinfra.cli", "serve", "--demo", "--host", "127.0.0.1",
             "--port", str(port), "--hours", "2", "--speed", "20", "--approvers-required", "2",
             "--state-dir", str(home / "state")],
            env=_env(home), stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/api/v1/health", timeout=1.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError(f"server not ready in 60 s: {log.read_text()[-2000:]}")
    shots = Path(os.environ.get("AUTOINFRA_SCREENSHOTS", REPO / "out" / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    s = Served(base, tokens, proc, log, shots)
    try:
        yield s
    finally:
        s.client.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    pw = sync_api.sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


@pytest.fixture
def new_page(playwright: Any, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Pages in fresh Chromium profiles (each call: a new user-data-dir, no shared cookies)."""
    contexts: list[Any] = []

    def make() -> Any:
        profile = tmp_path / f"profile-{len(contexts)}"
        ctx = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 900},
        )  # fmt: skip
        contexts.append(ctx)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.set_default_timeout(20_000)
        return page

    yield make
    for ctx in contexts:
        ctx.close()
