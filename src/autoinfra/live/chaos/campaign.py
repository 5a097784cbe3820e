"""Run the reliability campaign and count what was lost, duplicated, or slow to come back.

Trials come one after another at random moments (seeded): most kill one autoinfra process with
SIGKILL, in turn (proposer, executor-0, executor-1, learner, ...) and start it again; others stop
NATS, etcd or Prometheus with SIGKILL for a random outage and start it again on the same port
(NATS and etcd on the same data); others jump one process's wall clock by up to an hour either
way. The proposer asks for nothing while Prometheus cannot show it fresh telemetry of itself.
Then the proposer stops asking, the campaign waits (bounded) for the system to settle, and counts:

- **approvals lost**: approved in the proposer's queue but never handed to the executors;
- **actions lost**: handed to the executors but never applied with a recorded outcome;
- **actions duplicated**: applied more than once by the target (its own journal says);
- **outcomes lost**: applied but never delivered to the learner over the bus;
- **audit records lost**: an audit chain that fails verification on a fresh open, or an applied
  action without its ``approved`` and ``intent`` records;
- **time to resume**: after each trial (after an outage: after the server is back), the time
  until the target applies its next action.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autoinfra.coordination.etcd import EtcdGateway
from autoinfra.coordination.local_servers import EtcdServer, NatsServer, free_port
from autoinfra.core.atomic import write_text
from autoinfra.core.errors import ConfigError
from autoinfra.live.chaos.roles import ELECTION
from autoinfra.live.chaos.target import JournalTarget
from autoinfra.live.servers import ManagedServer, start_prometheus
from autoinfra.security.audit import verify_file
from autoinfra.security.audit_key import AuditKey

__all__ = ["CampaignSettings", "run_campaign"]

ROLES = ("proposer", "executor-0", "executor-1", "learner")


@dataclass(frozen=True, slots=True)
class CampaignSettings:
    trials: int = 50
    seed: int = 0
    # between trials, drawn uniformly; a restarted process needs about 2 s to import and reopen
    # its files on a loaded 2-core machine, so shorter gaps test a system that never runs
    gap_s: tuple[float, float] = (2.0, 5.0)
    outage_s: tuple[float, float] = (0.5, 3.0)  # how long NATS or etcd stays down
    period_s: float = 0.2  # the proposer asks for an action this often
    settle_s: float = 60.0  # at most this long to settle at the end
    share_server_outages: float = 0.2  # of trials
    share_clock_jumps: float = 0.1

    def __post_init__(self) -> None:
        if not 1 <= self.trials <= 10_000:
            raise ConfigError(f"trials must be in 1..10000, got {self.trials}", field="trials")
        if self.share_server_outages + self.share_clock_jumps > 1:
            raise ConfigError("outage and clock-jump shares add up to more than 1", field="share")


@dataclass
class Deployment:
    home: Path
    nats: NatsServer
    etcd: EtcdServer
    seconds: float
    metrics_port: int
    prometheus: ManagedServer
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, role: str) -> None:
        kind = role.split("-")[0]
        args = [sys.executable, "-m", "autoinfra.live.chaos.roles", kind,
                "--home", str(self.home), "--name", role, "--etcd", self.etcd.url,
                "--nats", self.nats.url, "--seconds", str(self.seconds),
                "--prometheus", self.prometheus.url,
                "--metrics-port", str(self.metrics_port)]  # fmt: skip
        log = open(self.home / f"{role}.log", "ab")  # noqa: SIM115 (the child owns it)
        self.procs[role] = subprocess.Popen(args, stdout=log, stderr=log, env=_child_env())
        log.close()

    def kill(self, role: str) -> None:
        proc = self.procs[role]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        write_text(self.home / "stop", "stop")
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _child_env() -> dict[str, str]:
    import autoinfra

    src = str(Path(autoinfra.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def run_campaign(
    home: Path, settings: CampaignSettings, progress: Callable[[int, str], None] | None = None
) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    for leftover in ("stop", "no-more"):
        (home / leftover).unlink(missing_ok=True)
    rng = np.random.default_rng(settings.seed)
    nats, etcd = NatsServer(home / "nats"), EtcdServer(home / "etcd")
    nats.start()
    etcd.start()
    metrics_port = free_port()
    prometheus = start_prometheus([f"127.0.0.1:{metrics_port}"], job="chaos")
    budget_s = settings.trials * (settings.gap_s[1] + settings.outage_s[1]) + settings.settle_s + 60
    dep = Deployment(home, nats, etcd, budget_s, metrics_port, prometheus)
    trials: list[dict[str, Any]] = []
    try:
        for role in ROLES:
            dep.spawn(role)
        time.sleep(2.0)  # the first actions flow before the first fault
        kills = 0
        for k in range(settings.trials):
            time.sleep(float(rng.uniform(*settings.gap_s)))
            draw = float(rng.random())
            at = time.time()
            if draw < settings.share_server_outages:
                name = ("nats", "etcd", "prometheus")[int(rng.integers(3))]
                down_s = float(rng.uniform(*settings.outage_s))
                if name == "prometheus":
                    port = dep.prometheus.port
                    dep.prometheus.process.kill()
                    dep.prometheus.stop()
                    time.sleep(down_s)
                    dep.prometheus = start_prometheus([f"127.0.0.1:{metrics_port}"], job="chaos",
                                                      port=port)  # fmt: skip
                else:
                    server = nats if name == "nats" else etcd
                    assert server.proc is not None
                    server.proc.kill()
                    server.proc.wait(10)
                    time.sleep(down_s)
                    server.start()
                what = f"{name} outage of {down_s:.1f} s"
                at = time.time()  # time to resume counts from the server's return
            elif draw < settings.share_server_outages + settings.share_clock_jumps:
                role = ROLES[int(rng.integers(len(ROLES)))]
                jump = float(rng.uniform(-3600, 3600))
                # whole or not at all: the role reads it while running
                write_text(home / f"clock-offset-{role}", f"{jump:.3f}")
                what = f"clock of {role} jumped {jump:+.0f} s"
            else:
                role = ROLES[kills % len(ROLES)]  # every process in turn
                kills += 1
                dep.kill(role)
                dep.spawn(role)
                what = f"kill -9 {role}"
            trials.append({"trial": k, "at": at, "what": what})
            if progress is not None:
                progress(k + 1, what)
        write_text(home / "no-more", "no more asks")
        settled = _settle(home, etcd.url, settings.settle_s)
    finally:
        dep.stop_all()
        dep.prometheus.stop()
        nats.stop()
        etcd.stop()
    return _count(home, trials, settled)


def _handed_off(etcd_url: str) -> tuple[set[str], set[str]]:
    with EtcdGateway(etcd_url) as gw:
        approved = {kv.key.split("/approved/", 1)[1] for kv in gw.prefix(f"{ELECTION}/approved/")}
        outcomes = {kv.key.split("/outcome/", 1)[1] for kv in gw.prefix(f"{ELECTION}/outcome/")}
    return approved, outcomes


def _settle(home: Path, etcd_url: str, settle_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        approved, outcomes = _handed_off(etcd_url)
        seen = _learned(home)
        if approved and approved <= outcomes and outcomes <= seen:
            return {"settled": True, "approved": approved, "outcomes": outcomes}
        time.sleep(0.5)
    approved, outcomes = _handed_off(etcd_url)
    return {"settled": False, "approved": approved, "outcomes": outcomes}


def _learned(home: Path) -> set[str]:
    path = home / "learner" / "seen.jsonl"
    if not path.exists():
        return set()
    out = set()
    for line in path.read_text().splitlines():
        try:
            out.add(json.loads(line)["request_id"])
        except (json.JSONDecodeError, KeyError):
            continue
    return out


def _approved_in_queue(home: Path) -> set[str]:
    out = set()
    path = home / "proposer" / "approvals.jsonl"
    for line in path.read_text().splitlines()[1:] if path.exists() else []:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "answered" and event.get("approved") is True:
            out.add(event["request_id"])
    return out


def _count(home: Path, trials: list[dict[str, Any]], settled: dict[str, Any]) -> dict[str, Any]:
    target = JournalTarget(home / "target")
    applied_log = target.records("applied.jsonl")
    applied = collections.Counter(r["rid"] for r in applied_log)
    handed, outcomes = settled["approved"], settled["outcomes"]
    queue_approved = _approved_in_queue(home)
    audit_problems: list[str] = []
    audited: dict[str, set[str]] = collections.defaultdict(set)
    for role in ("proposer", "executor-0", "executor-1"):
        path = home / role / "audit.jsonl"
        if not path.exists():
            continue
        problem = verify_file(path, AuditKey.load(home / "keys" / f"{role}.key"))
        if problem is not None:
            audit_problems.append(f"{role}: record {problem[0]}: {problem[1]}")
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            rid = (record.get("data") or {}).get("request_id")
            if rid:
                audited[rid].add(record.get("event", ""))
    missing_audit = sorted(r for r in applied if not {"approved", "intent"} <= audited[r])
    times = sorted(r["t"] for r in applied_log)
    resume = []
    for trial in trials:
        later = [t for t in times if t > trial["at"]]
        resume.append(round(later[0] - trial["at"], 3) if later else None)
    resumed = [r for r in resume if r is not None]
    return {
        "trials": len(trials),
        "kills": sum(1 for t in trials if t["what"].startswith("kill")),
        "server_outages": sum(1 for t in trials if "outage" in t["what"]),
        "clock_jumps": sum(1 for t in trials if "clock" in t["what"]),
        "settled": settled["settled"],
        "requests_approved": len(queue_approved),
        "approvals_lost": len(queue_approved - handed),
        "actions_lost": len(handed - set(applied)) + len(set(applied) - outcomes),
        "actions_duplicated": sum(1 for c in applied.values() if c > 1),
        "outcomes_lost": len(set(applied) - _learned(home)),
        "audit_records_lost": len(missing_audit) + len(audit_problems),
        "audit_problems": audit_problems[:10],
        "resume_s_max": max(resumed, default=None),
        "resume_s_p50": round(float(np.median(resumed)), 3) if resumed else None,
        "trial_log": [{**t, "resume_s": r} for t, r in zip(trials, resume, strict=True)],
    }
