"""The campaign's processes: proposer, executor and learner, each ``python -m`` runnable.

- **proposer**: asks for an action every ``period_s`` in its durable approval queue, approves it
  (standing in for a person), writes ``approved`` to its audit chain, and hands it to the
  executors through etcd (``failover.approve``, idempotent). After a restart it hands off whatever
  was approved but not yet handed off, and audits whatever was approved but not yet audited.
- **executor**: a :class:`~autoinfra.coordination.failover.FailoverExecutor` over the journal
  target; audits each intent before submitting, and announces each outcome on NATS (JetStream)
  before recording it in etcd.
- **learner**: a durable JetStream consumer of outcomes, appending each request id it has not
  seen before to its own file (what the learning loop would feed on).

Each stops by itself after ``--seconds``, or when the campaign writes ``stop`` into ``home``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

from autoinfra.coordination.bus.subjects import subject
from autoinfra.coordination.etcd import CoordinationUnavailable, EtcdGateway
from autoinfra.coordination.failover import FailoverExecutor, approve
from autoinfra.coordination.lease import LeaderLease, LeaseSettings
from autoinfra.core.action_codec import encode_action
from autoinfra.core.actions import DrainMachine
from autoinfra.core.errors import AutoinfraError
from autoinfra.live.chaos.clock import JumpableClock
from autoinfra.live.chaos.target import JournalTarget
from autoinfra.oversight.approval import ApprovalItem, ApprovalQueue, RequestState
from autoinfra.security.audit import AuditLog
from autoinfra.security.audit_key import AuditKey

__all__ = ["ELECTION", "main"]

ELECTION = "/autoinfra/chaos/executor"
REGION, CELL = "chaos", "a"


def _stopping(home: Path, end: float) -> bool:
    return time.monotonic() > end or (home / "stop").exists()


class TelemetryGate:
    """The proposer asks for nothing while its monitoring is stale (safe mode, as in live runs).

    It exports how many requests it has asked for at ``/metrics`` (scraped by Prometheus every
    second) and reads the sample back through Prometheus' HTTP API: unreachable, or older than
    three scrape intervals, means the picture cannot be trusted and no new action is asked for.
    """

    def __init__(self, prometheus_url: str, metrics_port: int) -> None:
        from prometheus_client import CollectorRegistry, Gauge, start_http_server

        self.url = prometheus_url.rstrip("/")
        self.registry = CollectorRegistry()  # never the global one
        self.asked = Gauge("autoinfra_chaos_asked", "requests asked so far", registry=self.registry)
        self._server, self._thread = start_http_server(
            metrics_port, addr="127.0.0.1", registry=self.registry
        )
        self._next_check = 0.0
        self.fresh = False
        self.held_s = 0.0

    def check(self) -> bool:
        import httpx

        now = time.monotonic()
        if now < self._next_check:
            return self.fresh
        self._next_check = now + 0.5
        was = self.fresh
        try:
            answer = httpx.get(f"{self.url}/api/v1/query", params={"query": 'up{job="chaos"}'},
                               timeout=0.5).json()  # fmt: skip
            result = answer["data"]["result"]
            sample_s, up = (
                (float(result[0]["value"][0]), result[0]["value"][1]) if result else (0, "0")
            )
            self.fresh = up == "1" and time.time() - sample_s <= 3.0
        except Exception:  # unreachable, refused, garbled: all mean "not fresh"
            self.fresh = False
        if was != self.fresh:
            state = "fresh again: asking resumes" if self.fresh else "stale: safe mode, no asks"
            print(f"proposer: telemetry {state}", flush=True)
        return self.fresh

    def close(self) -> None:
        self._server.shutdown()


def proposer(
    home: Path, etcd_url: str, period_s: float, seconds: float, prometheus_url: str = "",
    metrics_port: int = 0,
) -> None:  # fmt: skip
    me = home / "proposer"
    me.mkdir(parents=True, exist_ok=True)
    telemetry = TelemetryGate(prometheus_url, metrics_port) if prometheus_url else None
    clock = JumpableClock(home / "clock-offset-proposer")
    # never compacted: the campaign reads the whole history back to count what was approved
    queue = ApprovalQueue(me / "approvals.jsonl", ttl_s=600.0, compact_dead_lines=None)
    audit = AuditLog(
        me / "audit.jsonl", key=AuditKey.load_or_create(home / "keys" / "proposer.key")
    )
    etcd = EtcdGateway(etcd_url, timeout_s=0.5)
    audited = {r.data.get("request_id") for r in audit.where("approved")}
    n = 0
    while f"chaos/{n:05d}" in queue:
        n += 1
    end = time.monotonic() + seconds
    next_at = time.monotonic()
    while not _stopping(home, end):
        # first finish what a kill interrupted: audit, then hand off (both idempotent)
        for req in queue.open_requests():
            rid = req.item.request_id
            if req.state not in (RequestState.APPROVED, RequestState.EXECUTING):
                continue
            if rid not in audited:
                audit.append("approved", actor="proposer", at_s=clock(), data={"request_id": rid})
                audited.add(rid)
            if req.state == RequestState.APPROVED:
                queue.begin_execution(rid, clock())
            try:
                approve(etcd, ELECTION, rid, encode_action(req.item.action))
            except CoordinationUnavailable:
                break  # etcd is down: the request stays begun and is handed off later
            queue.end_execution(rid, clock(), succeeded=True, detail="handed to the executors")
        trusted = telemetry is None or telemetry.check()
        if trusted and time.monotonic() >= next_at and not (home / "no-more").exists():
            rid = f"chaos/{n:05d}"
            item = ApprovalItem(rid, "proposer", DrainMachine(machine=n % 64), "campaign", 0.9,
                                clock())  # fmt: skip
            queue.ask(item)
            queue.answer(rid, approved=True, by="campaign-approver", why="chaos", at_s=clock())
            n += 1
            next_at = max(next_at + period_s, time.monotonic() - period_s)  # no burst after a hold
            if telemetry is not None:
                telemetry.asked.set(n)
        time.sleep(0.01)
    if telemetry is not None:
        telemetry.close()
    queue.close()
    audit.close()


def executor(home: Path, name: str, etcd_url: str, nats_url: str, seconds: float) -> None:
    from autoinfra.coordination.bus.nats import NatsBus

    me = home / name
    me.mkdir(parents=True, exist_ok=True)
    clock = JumpableClock(home / f"clock-offset-{name}")
    key = AuditKey.load_or_create(home / "keys" / f"{name}.key")
    audit = AuditLog(me / "audit.jsonl", key=key)
    lease = LeaderLease(EtcdGateway(etcd_url, timeout_s=0.5), ELECTION, name, LeaseSettings(2))
    bus: NatsBus | None = None
    outcome_subject = subject(REGION, CELL, "outcome")

    def on_intent(rid: str, holder: str, _: str) -> None:
        audit.append("intent", actor=name, at_s=clock(), data={"request_id": rid})

    def on_outcome(rid: str, status: str, detail: str) -> None:
        nonlocal bus
        if bus is None:
            bus = NatsBus(nats_url, name=name, timeout_s=1.0)
        body = json.dumps({"request_id": rid, "status": status, "by": name}).encode()
        bus.publish(outcome_subject, body, durable=True)
        audit.append(
            "outcome", actor=name, at_s=clock(), data={"request_id": rid, "status": status}
        )

    target = JournalTarget(home / "target", who=name, apply_delay_s=0.05)
    ex = FailoverExecutor(lease, target, max_per_step=5, on_intent=on_intent, on_outcome=on_outcome)
    end = time.monotonic() + seconds
    while not _stopping(home, end):
        with contextlib.suppress(AutoinfraError):  # an outage: the next step tries again
            ex.step()
        time.sleep(0.05)
    lease.resign()
    if bus is not None:
        bus.close()
    audit.close()


def learner(home: Path, nats_url: str, seconds: float) -> None:
    from autoinfra.coordination.bus.nats import BusUnavailable, NatsBus

    me = home / "learner"
    me.mkdir(parents=True, exist_ok=True)
    seen_path = me / "seen.jsonl"
    seen = set()
    if seen_path.exists():
        for line in seen_path.read_text().splitlines():
            try:
                seen.add(json.loads(line)["request_id"])
            except (json.JSONDecodeError, KeyError):
                continue  # torn by a kill: the message is redelivered (not yet acknowledged)
    end = time.monotonic() + seconds
    bus = None
    with open(seen_path, "a") as out:
        while not _stopping(home, end):
            try:
                if bus is None:
                    bus = NatsBus(nats_url, name="learner", timeout_s=1.0)
                    inbox = bus.subscribe(subject(REGION, CELL, "outcome"), durable_name="learner")
                for raw in inbox.drain(max_messages=100, timeout_s=0.2):
                    rid = json.loads(raw)["request_id"]
                    if rid not in seen:
                        seen.add(rid)
                        out.write(json.dumps({"request_id": rid, "t": time.time()}) + "\n")
                        out.flush()
            except BusUnavailable:
                time.sleep(0.2)
    if bus is not None:
        bus.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m autoinfra.live.chaos.roles")
    ap.add_argument("role", choices=["proposer", "executor", "learner"])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--name", default="executor-0")
    ap.add_argument("--etcd", default="")
    ap.add_argument("--nats", default="")
    ap.add_argument("--period-s", type=float, default=0.2)
    ap.add_argument("--prometheus", default="")
    ap.add_argument("--metrics-port", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=600.0)
    args = ap.parse_args(argv)
    if args.role == "proposer":
        proposer(args.home, args.etcd, args.period_s, args.seconds, args.prometheus,
                 args.metrics_port)  # fmt: skip
    elif args.role == "executor":
        executor(args.home, args.name, args.etcd, args.nats, args.seconds)
    else:
        learner(args.home, args.nats, args.seconds)


if __name__ == "__main__":
    main()
