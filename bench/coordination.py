"""Coordination across processes: bus round trip, quorum decision latency, failover time.

    python bench/coordination.py --json bench/results/coordination.json [--exchanges 2000]
        [--ballots 200] [--kills 20]

Starts its own nats-server (JetStream) and etcd on free 127.0.0.1 ports and stops them.

- **Round trip**: a finding published by one process, answered by a proposal from a second
  process (both signed, both validated on receipt), timed at the first: p50 and p99.
  Goal: p99 <= 10 ms.
- **Quorum**: a ballot published; n voter identities in a second process each sign and publish
  a vote; the collector verifies and tallies until the quorum decides. n = 4, 7, 10.
  Goal: the quorum of 7 within 50 ms.
- **Failover**: two executor processes; the leader is killed with SIGKILL, and the time until
  the standby holds the lease is measured, ``--kills`` times. Goal: <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from machine import machine_info
from output import write_json

ROOT = Path(__file__).resolve().parents[1]
REGION, CELL = "bench", "a"


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1000.0
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def peer(url: str, voters: int) -> None:
    """The second process: answers findings with proposals and ballots with n signed votes."""
    from autoinfra.coordination.bus.messages import ProposalBody, VoteBody, seal
    from autoinfra.coordination.bus.nats import NatsBus
    from autoinfra.coordination.quorum import Ballot, cast
    from autoinfra.security.signing import AgentKey

    keys = [AgentKey.generate(f"voter-{i}") for i in range(voters)]
    scaler = AgentKey.generate("scaling")
    # publish our public keys so the collector can verify (a keyring exchange, done once)
    bus = NatsBus(url, name="peer")
    inbox = bus.subscribe(f"autoinfra.{REGION}.{CELL}.finding")
    ballots = bus.subscribe("bench.ballot")  # the bench's own control subject
    directory = {k.name: k.public_bytes().hex() for k in [*keys, scaler]}
    bus.publish("bench.keys", json.dumps(directory).encode())
    end = time.monotonic() + 300  # stops by itself
    while time.monotonic() < end:
        for raw in inbox.drain(timeout_s=0.001):
            request = json.loads(raw)
            if request.get("stop"):
                bus.close()
                return
            body = ProposalBody(
                request_id=request["id"], action={"kind": "scale_service"}, reason="", confidence=1
            )
            answer = seal(scaler, "proposal/v1", body, region=REGION, cell=CELL, sent_at_s=0.0)
            bus.publish(f"autoinfra.{REGION}.{CELL}.proposal", answer.to_bytes())
        for raw in ballots.drain():
            b = json.loads(raw)
            ballot = Ballot(b["ballot_id"], b["digest"], 1e18)
            for key in keys[: b["n"]]:
                vote = cast(key, ballot, True)
                body = VoteBody(
                    ballot_id=vote.ballot_id,
                    digest=vote.digest,
                    approve=vote.approve,
                    signature=vote.signature.hex(),
                )
                env = seal(key, "vote/v1", body, region=REGION, cell=CELL, sent_at_s=0.0)
                bus.publish(f"autoinfra.{REGION}.{CELL}.vote", env.to_bytes())
    bus.close()


def run(exchanges: int, ballots: int, kills: int) -> dict[str, Any]:
    from autoinfra.coordination.bus.messages import FindingBody, open_envelope, seal
    from autoinfra.coordination.bus.nats import NatsBus
    from autoinfra.coordination.local_servers import EtcdServer, NatsServer
    from autoinfra.coordination.quorum import Ballot, Quorum, Tally, Vote, action_digest
    from autoinfra.security.signing import AgentKey, Keyring

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        nats = NatsServer(Path(tmp) / "nats")
        nats.start()
        try:
            bus = NatsBus(nats.url, name="bench")
            keys_sub = bus.subscribe("bench.keys")
            env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT / 'bench'}"}
            proc = subprocess.Popen(
                [sys.executable, __file__, "--peer", nats.url, "--voters", "10"], env=env
            )
            directory = json.loads(keys_sub.drain(timeout_s=30)[0])
            ring = Keyring()
            for name, public in directory.items():
                ring.add(name, bytes.fromhex(public))
            sensor = AgentKey.generate("sensor")
            answers = bus.subscribe(f"autoinfra.{REGION}.{CELL}.proposal")
            votes = bus.subscribe(f"autoinfra.{REGION}.{CELL}.vote")
            finding = FindingBody(kind="cpu_hog", target="machine:1", severity=0.5, at_s=0.0)
            rtt: list[float] = []
            for i in range(exchanges + 50):
                sealed = seal(sensor, "finding/v1", finding, region=REGION, cell=CELL, sent_at_s=0)
                request = json.dumps({"id": f"r{i}", "finding": sealed.model_dump_json()}).encode()
                t0 = time.perf_counter()
                bus.publish(f"autoinfra.{REGION}.{CELL}.finding", request)
                got = answers.drain(max_messages=1, timeout_s=5)
                open_envelope(got[0], ring)  # validated on receipt, as the runtime does
                if i >= 50:  # warm-up excluded
                    rtt.append(time.perf_counter() - t0)
            out["round_trip"] = _percentiles(rtt)

            quorum_out: dict[str, Any] = {}
            for n in (4, 7, 10):
                voters = frozenset(f"voter-{i}" for i in range(n))
                lat: list[float] = []
                for b in range(ballots):
                    digest = action_digest({"kind": "drain_machine", "machine": b, "n": n})
                    ballot = Ballot(f"b{n}-{b}", digest, 1e18)
                    tally = Tally(ballot, Quorum(voters), ring)
                    t0 = time.perf_counter()
                    msg = {"ballot_id": ballot.ballot_id, "digest": digest, "n": n}
                    bus.publish("bench.ballot", json.dumps(msg).encode())
                    while tally.result().value == "pending":
                        for raw in votes.drain(timeout_s=5):
                            envelope, body = open_envelope(raw, ring)
                            vote = Vote(
                                body.ballot_id,  # type: ignore[attr-defined]
                                body.digest,  # type: ignore[attr-defined]
                                envelope.sender,
                                body.approve,  # type: ignore[attr-defined]
                                bytes.fromhex(body.signature),  # type: ignore[attr-defined]
                            )
                            if vote.ballot_id == ballot.ballot_id:
                                tally.add(vote)
                    lat.append(time.perf_counter() - t0)
                    votes.drain()  # late votes of this ballot
                quorum_out[str(n)] = _percentiles(lat)
            out["quorum"] = quorum_out
            bus.publish(f"autoinfra.{REGION}.{CELL}.finding", json.dumps({"stop": 1}).encode())
            proc.wait(10)
            bus.close()
        finally:
            nats.stop()

        etcd = EtcdServer(Path(tmp) / "etcd")
        etcd.start()
        try:
            out["failover"] = failover(etcd.url, Path(tmp), kills)
        finally:
            etcd.stop()
    return out


def failover(url: str, tmp: Path, kills: int) -> dict[str, Any]:
    from autoinfra.coordination.etcd import EtcdGateway

    election = "/autoinfra/bench/executor"
    gw = EtcdGateway(url)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}

    def spawn(name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.coordination.executor_proc", "--etcd", url,
             "--election", election, "--holder", name, "--target", str(tmp / "target"),
             "--seconds", "600"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def leader() -> str | None:
        kv = gw.get(f"{election}/leader")
        return kv.value.decode() if kv else None

    procs = {name: spawn(name) for name in ("e0", "e1")}
    times: list[float] = []
    serial = 2
    try:
        for _ in range(kills):
            deadline = time.monotonic() + 15
            while (current := leader()) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("no executor took the lease")
                time.sleep(0.02)
            t0 = time.monotonic()
            procs[current].send_signal(signal.SIGKILL)
            procs[current].wait(5)
            procs[f"e{serial}"] = spawn(f"e{serial}")  # a fresh standby for the next round
            serial += 1
            while leader() in (None, current):
                time.sleep(0.02)
            times.append(time.monotonic() - t0)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(5)
        gw.close()
    arr = np.asarray(times)
    return {
        "kills": len(times),
        "lease_ttl_s": 2,
        "mean_s": round(float(arr.mean()), 3),
        "p50_s": round(float(np.percentile(arr, 50)), 3),
        "max_s": round(float(arr.max()), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--exchanges", type=int, default=2000)
    ap.add_argument("--ballots", type=int, default=200)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--peer", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--voters", type=int, default=10, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        peer(args.peer, args.voters)
        return
    result = {"machine": machine_info(), **run(args.exchanges, args.ballots, args.kills)}
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
