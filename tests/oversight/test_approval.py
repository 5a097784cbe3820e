"""The durable approval queue: append-only log, strict answers, time to live, one writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autoinfra.core.actions import DrainMachine, IsolateMachine, ScaleService
from autoinfra.core.errors import ConfigError
from autoinfra.oversight import (
    DEFAULT_TTL_S,
    ApprovalItem,
    ApprovalLogRecovered,
    ApprovalQueue,
    RequestState,
)


def _item(rid: str, at_s: float = 10.0, machine: int = 4) -> ApprovalItem:
    return ApprovalItem(rid, "security", IsolateMachine(machine=machine), "egress", 0.8, at_s, "q")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_queue_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "approvals.jsonl"
    q = ApprovalQueue(path)
    q.ask(_item("r1"))
    q.ask(ApprovalItem("r2", "scaling", ScaleService(service=1, delta_replicas=5), "load", 0.9, 11))
    q.answer("r2", approved=False, by="alice", why="too big", at_s=20.0)
    assert [a.request_id for a in q.take_answers()] == ["r2"]
    q.close()
    again = ApprovalQueue(path)
    (item,) = again.pending()
    assert item.action == IsolateMachine(machine=4) and item.expected_effect == "q"
    assert item.expires_at_s == 10.0 + DEFAULT_TTL_S
    # the denial was never carried through (settled), so it is handed out again after a restart
    (answer,) = again.take_answers()
    assert answer.by == "alice" and not answer.approved
    again.settle("r2", 21.0, status="rejected", why="too big")
    again.close()
    third = ApprovalQueue(path)
    assert third.take_answers() == [] and third.state_of("r2") == "done"
    assert [i.request_id for i in third.pending()] == ["r1"]
    third.close()
    assert not list(tmp_path.glob(".approvals.jsonl.*"))  # no temporary files left behind


def test_every_change_is_one_appended_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    with ApprovalQueue(path, fsync=False) as q:
        sizes = [path.stat().st_size]
        before = path.read_bytes()
        for k in range(3):
            q.ask(_item(f"r{k}", machine=k))
            sizes.append(path.stat().st_size)
        q.ask(_item("r0"))  # asking twice is asking once: nothing written
        assert path.stat().st_size == sizes[-1]
        assert path.read_bytes().startswith(before)  # appended, never rewritten
        q.answer("r1", approved=True, by="bob", why="fine", at_s=12.0)
        assert q.begin_execution("r1", 13.0) and not q.begin_execution("r1", 13.0)
        q.end_execution("r1", 14.0, succeeded=True)
    events = [e.get("event") for e in _lines(path)]
    assert events == [None, "asked", "asked", "asked", "answered", "executed", "executed"]
    assert sorted(sizes) == sizes and len(set(sizes)) == len(sizes)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e.update(approved="false"), r"line 3: field 'approved'.*valid boolean"),
        (lambda e: e.update(approved=1), r"line 3: field 'approved'"),
        (lambda e: e.update(aproved=True), r"line 3: field 'aproved': Extra inputs"),
        (lambda e: e.pop("by"), r"line 3: field 'by': Field required"),
        (lambda e: e.update(request_id="nobody"), r"line 3.*answered event for request 'nobody'"),
    ],
)
def test_answers_on_disk_are_parsed_strictly(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "q.jsonl"
    with ApprovalQueue(path) as q:
        q.ask(_item("r1"))
        q.answer("r1", approved=False, by="alice", why="no", at_s=11.0)
    lines = path.read_text().splitlines()
    event = json.loads(lines[2])
    edit(event)
    lines[2] = json.dumps(event)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=message) as err:
        ApprovalQueue(path)
    assert "q.jsonl" in str(err.value)


def test_actions_on_disk_are_decoded_strictly(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    with ApprovalQueue(path) as q:
        q.ask(ApprovalItem("r1", "healing", DrainMachine(machine=3), "why", 0.9, 1.0))
    text = path.read_text().replace('"machine":3', '"machine":"3"')
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"q\.jsonl: line 2.*drain_machine\.machine must be"):
        ApprovalQueue(path)


def test_old_or_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"version": 1, "pending": [], "answers": []}, indent=1))
    with pytest.raises(ConfigError, match=r"q\.json.*line 1: not an approval log"):
        ApprovalQueue(path)
    path.write_text("{not json\n")
    with pytest.raises(ConfigError, match=r"q\.json"):
        ApprovalQueue(path)


@pytest.mark.parametrize("value", ["false", "true", 0, 1, None, np.bool_(True)])
def test_answer_needs_a_real_bool(value: object) -> None:
    q = ApprovalQueue()
    q.ask(_item("r1"))
    with pytest.raises(ConfigError, match="approved must be true or false"):
        q.answer("r1", approved=value, by="x", why="", at_s=11.0)  # type: ignore[arg-type]
    assert len(q) == 1  # nothing recorded


def test_unknown_request_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no pending approval request 'nope'"):
        ApprovalQueue().answer("nope", approved=True, by="x", why="", at_s=0)


def test_requests_expire_to_deny(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    q = ApprovalQueue(path, ttl_s=100.0)
    q.ask(_item("r1", at_s=0.0))
    q.ask(_item("r2", at_s=50.0, machine=5))
    assert q.expire(99.0) == []
    (gone,) = q.expire(100.0)
    assert gone.request_id == "r1" and not gone.approved and gone.by == "queue"
    assert "no answer within 100 s" in gone.why
    late = q.answer("r2", approved=True, by="alice", why="sorry, late", at_s=150.0)
    assert not late.approved and late.by == "queue"  # a late yes is not applied
    assert [a.request_id for a in q.take_answers()] == ["r1", "r2"]
    assert len(q) == 0
    q.close()
    assert [e["event"] for e in _lines(path)[1:]] == ["asked", "asked", "expired", "expired"]
    again = ApprovalQueue(path)  # the deadline is on disk: a new ttl does not move it
    assert {r.state for r in again.open_requests()} == {RequestState.DENIED}
    again.close()


@pytest.mark.parametrize("ttl", [0.0, -1.0, float("nan"), float("inf"), True])
def test_ttl_is_validated(ttl: float) -> None:
    with pytest.raises(ConfigError, match="ttl_s"):
        ApprovalQueue(ttl_s=ttl)


def test_execution_is_begun_once_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    with ApprovalQueue(path) as q:
        q.ask(_item("r1"))
        assert not q.begin_execution("r1", 11.0)  # not approved yet
        q.answer("r1", approved=True, by="alice", why="go", at_s=12.0)
        assert q.begin_execution("r1", 13.0)
    with ApprovalQueue(path) as q:
        (req,) = q.open_requests()
        assert req.state == RequestState.EXECUTING and req.answer is not None
        assert q.take_answers() == []  # begun: its approval is not handed out again
        assert not q.begin_execution("r1", 20.0)
        q.end_execution("r1", 21.0, succeeded=None, detail="outcome unknown")
    with ApprovalQueue(path) as q:
        assert q.open_requests() == [] and q.state_of("r1") == "done"
        q.ask(_item("r1"))  # a finished request id asked again is not a new request
        assert len(q) == 0


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    first = ApprovalQueue(path)
    with pytest.raises(ConfigError, match="already open for writing"):
        ApprovalQueue(path)
    code = (
        "import sys\n"
        "from autoinfra.core.errors import ConfigError\n"
        "from autoinfra.oversight import ApprovalQueue\n"
        "try:\n"
        f"    ApprovalQueue({str(path)!r})\n"
        "except ConfigError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 3 and "already open for writing" in done.stdout, done.stderr
    first.close()
    ApprovalQueue(path).close()  # free again once closed


def test_orphans_are_removed_and_a_torn_line_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    with ApprovalQueue(path) as q:
        q.ask(_item("r1"))
    orphan = tmp_path / ".q.jsonl.x1y2.tmp"
    orphan.write_text("half a compaction")
    whole = path.read_bytes()
    with path.open("ab") as fh:
        fh.write(b'{"request_id":"r1","at_s":12.0,"event":"answ')  # died inside write()
    with pytest.warns(ApprovalLogRecovered, match="torn last line"):
        q = ApprovalQueue(path)
    assert not orphan.exists() and path.read_bytes() == whole
    assert [i.request_id for i in q.pending()] == ["r1"]
    q.answer("r1", approved=True, by="alice", why="ok", at_s=13.0)
    q.close()
    assert _lines(path)[-1]["event"] == "answered"


def test_compaction_keeps_open_requests_only(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    q = ApprovalQueue(path, fsync=False, compact_dead_lines=None)
    for k in range(50):
        q.ask(_item(f"r{k}", machine=k))
        q.answer(f"r{k}", approved=k % 2 == 0, by="a", why="", at_s=11.0)
        if k % 2 == 0:
            q.begin_execution(f"r{k}", 12.0)
            q.end_execution(f"r{k}", 13.0, succeeded=True)
        else:
            q.settle(f"r{k}", 12.0, status="rejected", why="no")
    q.ask(_item("open1", machine=100))
    q.ask(_item("open2", machine=101))
    q.answer("open2", approved=True, by="a", why="", at_s=11.0)
    big = path.stat().st_size
    q.compact()
    assert path.stat().st_size < big / 10
    q.ask(_item("open3", machine=102))  # appends to the new file
    q.close()
    again = ApprovalQueue(path)
    states = {r.item.request_id: r.state for r in again.open_requests()}
    assert states == {"open1": "pending", "open2": "approved", "open3": "pending"}
    again.close()
    assert not list(tmp_path.glob(".q.jsonl.*"))


def test_compaction_runs_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    with ApprovalQueue(path, fsync=False, compact_dead_lines=30) as q:
        for k in range(40):
            q.ask(_item(f"r{k}", machine=k))
            q.answer(f"r{k}", approved=False, by="a", why="", at_s=11.0)
            q.settle(f"r{k}", 12.0, status="rejected", why="no")
        assert len(path.read_text().splitlines()) < 40


def test_in_memory_queue_keeps_the_same_rules() -> None:
    q = ApprovalQueue(ttl_s=10.0)
    q.ask(_item("r1", at_s=0.0))
    q.answer("r1", approved=True, by="a", why="", at_s=1.0)
    assert q.begin_execution("r1", 2.0) and not q.begin_execution("r1", 2.0)
    with pytest.raises(ConfigError, match="answered event for request 'r1'"):
        q._commit(  # an event out of order is refused, in memory as on disk
            __import__("autoinfra.oversight.approval_events", fromlist=["Answered"]).Answered(
                request_id="r1", at_s=3.0, approved=True, by="a", why=""
            )
        )
