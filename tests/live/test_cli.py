"""``autoinfra live`` as a process: SIGTERM stops it cleanly, bad input is one line and exit 2,
and in every case no process it started outlives it (found by an environment mark they inherit)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from autoinfra.live.servers import ALERTMANAGER_BIN, PROMETHEUS_BIN, free_port

pytestmark = pytest.mark.skipif(
    not (os.path.exists(PROMETHEUS_BIN) and os.path.exists(ALERTMANAGER_BIN)),
    reason="prometheus / alertmanager not installed",
)
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _spawn(args: list[str], mark: str) -> subprocess.Popen[str]:
    env = os.environ | {"PYTHONPATH": SRC, "AUTOINFRA_TEST_MARK": mark}
    return subprocess.Popen(
        [sys.executable, "-m", "autoinfra.cli", "live", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _marked(mark: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("AUTOINFRA_TEST_MARK") == mark:
                found.append(proc)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return [p for p in found if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_and_leaves_nothing_running(tmp_path: Path, sig: int) -> None:
    mark = uuid.uuid4().hex
    out = tmp_path / "out"
    proc = _spawn(
        [
            "--backend",
            "sim",
            "--duration",
            "60",
            "--faults",
            "storm",
            "--speed",
            "10",
            "--systems",
            "agents,noop",
            "--fault-lead",
            "1",
            "--machines",
            "30",
            "--out",
            str(out),
        ],
        mark,
    )
    try:
        audit = out / "agents" / "audit.jsonl"
        deadline = time.monotonic() + 60
        while not (audit.exists() and audit.stat().st_size > 0):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.2)
        children = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "prometheus" in names and "alertmanager" in names, names
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert f"stopped early: {signal.Signals(sig).name}" in stdout
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [] and _marked(mark) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["spec"]["systems"] == ["agents"]  # noop never started
    live = summary["live"]["agents"]
    assert live["stopped_by_signal"] and live["audit_chain_verified"]
    statuses = live["actions_by_status"]
    assert "submitted" not in statuses and "approved" not in statuses, statuses  # none in flight


def _bad(args: list[str]) -> tuple[int, str, str]:
    mark = uuid.uuid4().hex
    proc = _spawn(args, mark)
    stdout, stderr = proc.communicate(timeout=60)
    assert _marked(mark) == [], "something it started is still running"
    return proc.returncode, stdout, stderr


def test_prometheus_that_does_not_answer(tmp_path: Path) -> None:
    port = free_port()
    code, _, err = _bad(["--prometheus", f"http://127.0.0.1:{port}", "--out", str(tmp_path)])
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and f"Prometheus at http://127.0.0.1:{port} does not answer" in err


def test_exporter_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = _bad(["--exporter-port", str(port), "--out", str(tmp_path)])
    assert code == 2 and f"port 127.0.0.1:{port} for /metrics" in err and "in use" in err, err


def test_unknown_backend_and_system(tmp_path: Path) -> None:
    code, _, err = _bad(["--backend", "mainframe", "--out", str(tmp_path)])
    assert code == 2 and "unknown backend 'mainframe'" in err
    code, _, err = _bad(["--systems", "agents,skynet", "--out", str(tmp_path)])
    assert code == 2 and "skynet" in err
    code, _, err = _bad(["--backend-opt", "nonsense", "--out", str(tmp_path)])
    assert code == 2 and "expected KEY=VALUE, got 'nonsense'" in err


def test_promql_error_from_the_given_prometheus(tmp_path: Path) -> None:
    """A server that refuses our PromQL (as Prometheus does with 400 bad_data) is one line."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Refuse(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"status":"error","errorType":"bad_data","error":"parse error at char 1"}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        code, _, err = _bad(["--prometheus", url, "--out", str(tmp_path)])
    finally:
        server.shutdown()
        server.server_close()
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, err
    assert f"Prometheus at {url} refused query '1'" in err and "parse error" in err


@pytest.mark.timeout(300)  # a live run, a kill, the servers' clean shutdown and a second run
def test_kill_9_leaves_no_server_and_a_restart_reconciles(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    out = tmp_path / "out"
    args = [
        "--backend",
        "sim",
        "--duration",
        "60",
        "--faults",
        "node-failure",
        "--speed",
        "10",
        "--systems",
        "agents",
        "--fault-lead",
        "1",
        "--machines",
        "30",
        "--out",
        str(out),
    ]
    proc = _spawn(args, mark)
    audit = out / "agents" / "audit.jsonl"
    deadline = time.monotonic() + 60
    while not (audit.exists() and audit.stat().st_size > 0):
        assert proc.poll() is None and time.monotonic() < deadline, "never got going"
        time.sleep(0.2)
    proc.kill()
    proc.communicate(timeout=30)
    # SIGTERM from the kernel lets Prometheus flush its head block, which on a loaded 2-core
    # machine took 15.1-15.2 s twice: the bound is how long a clean shutdown may take, not a pace
    deadline = time.monotonic() + 60
    while _marked(mark):  # the servers die with their parent (PR_SET_PDEATHSIG)
        assert time.monotonic() < deadline, [p.cmdline() for p in _marked(mark)]
        time.sleep(0.2)
    # what a kill mid-apply leaves: an "applying" line with nothing after it
    with (out / "agents" / "journal.jsonl").open("a") as fh:
        fh.write(
            json.dumps(
                {
                    "request_id": "healing-x-0",
                    "step": "applying",
                    "kind": "drain_machine",
                    "target": "machine:1",
                }
            )
            + "\n"
        )
    # the kill may itself have cut a real action mid-apply: those must be reconciled too
    last: dict[str, str] = {}
    for line in (out / "agents" / "journal.jsonl").read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line
        last[str(row["request_id"])] = str(row.get("step"))
    in_flight = sorted(rid for rid, step in last.items() if step == "applying")
    assert "healing-x-0" in in_flight
    args[args.index("60")] = "4"
    again = _spawn(args, uuid.uuid4().hex)
    _, err = again.communicate(timeout=90)
    assert again.returncode == 0, err
    summary = json.loads((out / "summary.json").read_text())
    live = summary["live"]["agents"]
    assert sorted(r["request_id"] for r in live["reconciled_from_previous_run"]) == in_flight
    assert live["audit_chain_verified"]  # the chain continued across the kill
    assert list((out / "agents").glob("journal.before-*.jsonl"))
