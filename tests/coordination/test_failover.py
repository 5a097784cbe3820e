"""Leases, fencing and failover of execution, against a real etcd and real processes."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoinfra.coordination.etcd import CoordinationUnavailable, EtcdGateway
from autoinfra.coordination.failover import FailoverExecutor, approve
from autoinfra.coordination.lease import LeaderLease, LeaseSettings
from autoinfra.core.errors import ConfigError
from autoinfra.live.chaos.target import JournalTarget
from tests.coordination.servers import EtcdServer, etcd_server, free_port

ROOT = Path(__file__).resolve().parents[2]
ELECTION = "/autoinfra/test/executor"


_OPEN: list[EtcdGateway] = []


@pytest.fixture(autouse=True)
def _close_gateways() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _gateway(url: str, timeout_s: float = 5.0) -> EtcdGateway:
    # the test's own observer waits out a loaded machine; the executors keep their 0.5 s
    gw = EtcdGateway(url, timeout_s=timeout_s)
    _OPEN.append(gw)
    return gw


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    with etcd_server(tmp_path) as server:
        yield server


def _lease(url: str, holder: str) -> LeaderLease:
    return LeaderLease(_gateway(url), ELECTION, holder, LeaseSettings(ttl_s=2))


def test_lease_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="ttl_s"):
        LeaseSettings(ttl_s=0)
    with pytest.raises(ConfigError, match="margin_s"):
        LeaseSettings(ttl_s=2, margin_s=2.0)


def test_one_leader_at_a_time_and_a_deposed_leader_is_fenced(etcd: EtcdServer) -> None:
    a, b = _lease(etcd.url, "a"), _lease(etcd.url, "b")
    assert a.try_acquire() and not b.try_acquire()
    token = a.revision
    assert a.fenced_put([(f"{ELECTION}/probe", b"a")])
    # a stops renewing (a pause, a partition): its lease expires at etcd and b takes over
    deadline = time.monotonic() + 6
    while not b.try_acquire():
        assert time.monotonic() < deadline, "standby never took over"
        time.sleep(0.1)
    assert not a.is_leader()  # its own clock told it before etcd did
    a.revision, a._deadline = token, time.monotonic() + 10  # a stale leader that believes it leads
    assert not a.fenced_put([(f"{ELECTION}/probe", b"stale")])  # the fence holds
    assert a.revision == 0
    assert _gateway(etcd.url).get(f"{ELECTION}/probe").value == b"a"


def test_unreachable_etcd_is_one_clear_error_and_no_leadership() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CoordinationUnavailable, match=f"etcd at {url} did not answer"):
        _gateway(url, timeout_s=0.3).grant(2)
    assert not _lease(url, "a").try_acquire()


def test_standby_finishes_what_a_dead_leader_left_in_flight(
    etcd: EtcdServer, tmp_path: Path
) -> None:
    target = JournalTarget(tmp_path / "target")
    gw = _gateway(etcd.url)
    for i in range(6):
        approve(gw, ELECTION, f"healing/{i:02d}", {"kind": "drain_machine", "machine": i})
    assert not approve(gw, ELECTION, "healing/00", {"kind": "drain_machine", "machine": 0})
    a = FailoverExecutor(_lease(etcd.url, "a"), target, max_per_step=2)
    b = FailoverExecutor(_lease(etcd.url, "b"), target, max_per_step=10)
    assert a.step().executed == ["healing/00", "healing/01"]
    # a dies after recording an intent and applying, before its outcome: the worst moment
    a.lease.fenced_put([(f"{ELECTION}/intent/healing/02", b"{}")])
    target.apply("healing/02", {})
    assert not b.step().leader
    deadline = time.monotonic() + 6
    report = b.step()
    while not report.leader:
        assert time.monotonic() < deadline
        time.sleep(0.1)
        report = b.step()
    assert report.reconciled == ["healing/02"]
    assert report.executed == ["healing/03", "healing/04", "healing/05"]
    applied = collections.Counter(r["rid"] for r in target.records("applied.jsonl"))
    assert set(applied) == {f"healing/{i:02d}" for i in range(6)}
    assert max(applied.values()) == 1
    assert {o["status"] for o in b.outcomes().values()} == {"succeeded"}


def _spawn(
    etcd_url: str, holder: str, target: Path, seconds: float = 40.0
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.coordination.executor_proc", "--etcd", etcd_url,
         "--election", ELECTION, "--holder", holder, "--target", str(target),
         "--seconds", str(seconds)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _leader(gw: EtcdGateway) -> str | None:
    kv = gw.get(f"{ELECTION}/leader")
    return kv.value.decode() if kv else None


@pytest.mark.slow
def test_kill_9_of_the_leader_mid_run_loses_nothing_and_repeats_nothing(
    etcd: EtcdServer, tmp_path: Path
) -> None:
    gw = _gateway(etcd.url)
    target = JournalTarget(tmp_path / "target")
    procs = {name: _spawn(etcd.url, name, tmp_path / "target") for name in ("x", "y", "z")}
    try:
        n = 0
        for _kill in range(2):
            for _ in range(10):
                approve(gw, ELECTION, f"energy/{n:03d}", {"kind": "set_machine_power", "n": n})
                n += 1
            deadline = time.monotonic() + 10
            while (leader := _leader(gw)) is None or not target.records("attempts.jsonl"):
                assert time.monotonic() < deadline, "no leader started executing"
                time.sleep(0.05)
            killed_at = time.monotonic()
            procs[leader].send_signal(signal.SIGKILL)  # mid-run: actions are in flight
            procs[leader].wait(5)
            while _leader(gw) in (None, leader):
                assert time.monotonic() - killed_at < 10, "no standby took over"
                time.sleep(0.05)
        deadline = time.monotonic() + 20
        while len(FailoverExecutor(_lease(etcd.url, "probe"), target).outcomes()) < n:
            assert time.monotonic() < deadline, "approved actions were lost"
            time.sleep(0.1)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
    applied = collections.Counter(r["rid"] for r in target.records("applied.jsonl"))
    assert len(applied) == n and max(applied.values()) == 1, applied
    # a standby took over within 10 s each time (asserted in the loop above); how fast is the
    # benchmark's to say (bench/coordination.py): on a loaded 2-core machine a 2 s lease took
    # 2.4-8.0 s here


def _netns_available() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["ip", "netns", "add", "ai-probe"], capture_output=True)
    subprocess.run(["ip", "netns", "del", "ai-probe"], capture_output=True)
    return probe.returncode == 0


@pytest.fixture
def partitioned_host() -> Iterator[tuple[str, str, str]]:
    """A network namespace joined to this host by a veth pair: (netns, host-side ip, link)."""
    if not _netns_available():
        pytest.skip("network namespaces need root and iproute2 here")
    ns, link, peer = (
        f"ai-lead-{os.getpid()}",
        f"vai{os.getpid() % 10000}a",
        f"vai{os.getpid() % 10000}b",
    )
    host_ip, ns_ip = "10.213.7.1", "10.213.7.2"  # our own test hosts, inside this machine only
    cmds = [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", link, "type", "veth", "peer", "name", peer],
        ["ip", "link", "set", peer, "netns", ns],
        ["ip", "addr", "add", f"{host_ip}/30", "dev", link],
        ["ip", "link", "set", link, "up"],
        ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", peer],
        ["ip", "netns", "exec", ns, "ip", "link", "set", peer, "up"],
        ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for cmd in cmds:
            subprocess.run(cmd, check=True, capture_output=True)
        yield ns, host_ip, link
    finally:
        subprocess.run(["ip", "link", "del", link], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.mark.slow
def test_a_leader_cut_off_from_etcd_stops_acting(
    partitioned_host: tuple[str, str, str], tmp_path: Path
) -> None:
    ns, host_ip, link = partitioned_host
    with etcd_server(tmp_path, extra_client_hosts=(host_ip,)) as etcd:
        gw = _gateway(etcd.url)
        target = JournalTarget(tmp_path / "target")
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
        leader = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.coordination.executor_proc",
             "--etcd", etcd.url_on(host_ip), "--election", ELECTION, "--holder", "cut",
             "--target", str(tmp_path / "target"), "--seconds", "25"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        standby: subprocess.Popen[bytes] | None = None
        try:
            deadline = time.monotonic() + 10
            while _leader(gw) != "cut":
                assert time.monotonic() < deadline, "the namespaced executor never led"
                time.sleep(0.05)
            standby = _spawn(etcd.url, "standby", tmp_path / "target", seconds=25)
            subprocess.run(["ip", "link", "set", link, "down"], check=True)  # the partition
            cut_at = time.time()
            for i in range(10):
                approve(gw, ELECTION, f"scaling/{i:02d}", {"kind": "scale_service", "i": i})
            deadline = time.monotonic() + 15
            while len([r for r in target.records("applied.jsonl")]) < 10:
                assert time.monotonic() < deadline, "the standby did not take over"
                time.sleep(0.1)
            subprocess.run(["ip", "link", "set", link, "up"], check=True)  # heal: still fenced
            time.sleep(1.0)
        finally:
            for proc in (leader, standby):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
        attempts = target.records("attempts.jsonl")
        assert not [a for a in attempts if a["by"] == "cut" and a["t"] > cut_at]
        applied = collections.Counter(r["rid"] for r in target.records("applied.jsonl"))
        assert max(applied.values()) == 1 and len(applied) == 10
