"""kill -9 of the server, again and again, mid-write: no committed vote lost, nothing run twice.

Each round starts ``autoinfra serve --demo`` on the same state directory, votes on whatever is
pending from a second thread, and kills the server with SIGKILL at a random moment of that
stream. Votes whose HTTP response arrived were committed; after the rounds every one of them must
be in the database. The demo replays the same seeded world after every restart, so the same
escalations come back with the same request ids: a decision taken in an earlier life is handed
to the new runtime, and the execution ledger must keep each approved request from reaching the
backend a second time (the ``executed`` audit event marks each hand-over).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from autoinfra.security.tokens import TokenStore
from tests.api.serving import Served

ROUNDS = int(os.environ.get("AUTOINFRA_KILL_ROUNDS", "10"))


def _vote_stream(
    server: Served, tokens: list[str], acked: list[tuple[str, str]], stop: threading.Event
) -> None:
    names = ["ann", "bob"]
    try:
        with server.client() as c:
            while not stop.is_set():
                items = c.get("/api/v1/approvals", headers={"Authorization": f"Bearer {tokens[0]}"})
                for item in items.json():
                    for name, token in zip(names, tokens, strict=True):
                        rid = quote(item["request_id"], safe="")
                        r = c.post(
                            f"/api/v1/approvals/{rid}/approve",
                            headers={"Authorization": f"Bearer {token}"},
                            json={"digest": item["digest"], "reason": "approved in test"},
                        )
                        if r.status_code == 200:
                            acked.append((item["request_id"], name))
    except (httpx.TransportError, json.JSONDecodeError, ValueError):
        return  # the server was killed under us


@pytest.mark.slow
@pytest.mark.timeout(300)  # ten server starts; each is a few seconds on a loaded 2-core box
def test_kill_minus_nine_loses_nothing_and_runs_nothing_twice(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.db")
    tokens = [store.create("approver", name=n)[0] for n in ("ann", "bob")]
    store.close()
    rng = random.Random(7)
    state = tmp_path / "state"
    acked: list[tuple[str, str]] = []
    args = ["--demo", "--hours", "2", "--speed", "400", "--state-dir", str(state)]
    for _ in range(ROUNDS):
        server = Served(tmp_path, args)
        try:
            server.wait_ready()
            stop = threading.Event()
            voter = threading.Thread(target=_vote_stream, args=(server, tokens, acked, stop))
            voter.start()
            time.sleep(rng.uniform(0.3, 1.5))
            server.kill9()  # mid-stream: votes, decisions, executions, audit appends in flight
            stop.set()
            voter.join(timeout=15)
        finally:
            server.stop()
    # one clean life at the end lets decisions from the last kill be handed over
    server = Served(tmp_path, args)
    try:
        server.wait_ready()
        time.sleep(1.5)
        with server.client() as c:
            verdict = c.get(
                "/api/v1/audit/verify", headers={"Authorization": f"Bearer {tokens[0]}"}
            ).json()
    finally:
        server.stop()
    assert verdict["valid"] is True, verdict

    db = sqlite3.connect(state / "api.db")
    votes = set(db.execute("SELECT request_id, subject FROM votes").fetchall())
    assert acked, "no vote was acknowledged in any round"
    assert set(acked) <= votes, set(acked) - votes  # every acknowledged vote survived
    decided = {r[0] for r in db.execute("SELECT request_id FROM decisions WHERE approved = 1")}
    executed_rows = [r[0] for r in db.execute("SELECT request_id FROM executions")]
    assert decided and executed_rows

    handed_over: Counter[str] = Counter()
    refusals = 0
    lives = set()
    for line in (state / "audit.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["event"] == "executed":
            handed_over[rec["data"]["request_id"]] += 1
            lives.add(rec["data"]["run_id"])
        if "executed before" in json.dumps(rec["data"]):
            refusals += 1
    assert set(handed_over) <= set(executed_rows) | decided
    twice = {rid: n for rid, n in handed_over.items() if n > 1}
    assert not twice, twice  # no approved action reached the backend twice
    assert set(executed_rows) <= decided | {r for r in executed_rows if r.startswith("revert:")}
    # request ids are random and namespaced by agent (issue 7), so the world replayed after a
    # restart asks again under new ids: those need a new approval and are new requests. What
    # must never happen is one request id reaching the backend twice (asserted above); an id the
    # ledger saw again was refused, and that is in the audit chain (``refusals``)
    assert len(lives) >= 1, f"no execution recorded; {refusals} refusals"
