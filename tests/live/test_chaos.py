"""The reliability campaign: a short run finds nothing lost, and its counting can find losses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoinfra.coordination.local_servers import available
from autoinfra.core.errors import ConfigError
from autoinfra.live.chaos.campaign import CampaignSettings, _count, run_campaign
from autoinfra.live.chaos.target import JournalTarget
from autoinfra.security.audit import AuditLog
from autoinfra.security.audit_key import AuditKey


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="trials"):
        CampaignSettings(trials=0)


def test_the_count_sees_duplicates_losses_and_missing_audit(tmp_path: Path) -> None:
    target = JournalTarget(tmp_path / "target")
    for rid in ("r1", "r2", "r2"):  # r2 applied twice
        target.apply(rid, {})
    key = AuditKey.load_or_create(tmp_path / "keys" / "proposer.key")
    with AuditLog(tmp_path / "proposer" / "audit.jsonl", key=key) as audit:
        audit.append("approved", actor="proposer", at_s=0, data={"request_id": "r1"})
    (tmp_path / "learner").mkdir()
    (tmp_path / "learner" / "seen.jsonl").write_text(json.dumps({"request_id": "r1"}) + "\n")
    settled = {"settled": True, "approved": {"r1", "r2", "r3"}, "outcomes": {"r1", "r2"}}
    report = _count(tmp_path, [{"trial": 0, "at": 0.0, "what": "kill -9 proposer"}], settled)
    assert report["actions_duplicated"] == 1  # r2
    assert report["actions_lost"] == 1  # r3 handed off, never applied
    assert report["outcomes_lost"] == 1  # r2 never reached the learner
    assert report["audit_records_lost"] == 2  # no intent records for r1, r2; r2 not approved


@pytest.mark.slow
@pytest.mark.skipif(
    not (available("nats-server") and available("etcd")), reason="needs nats-server and etcd"
)
def test_a_short_campaign_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    settings = CampaignSettings(trials=8, seed=3, gap_s=(1.5, 3.0), outage_s=(0.5, 1.5))
    report = run_campaign(tmp_path / "run", settings)
    assert report["settled"], report
    assert report["requests_approved"] > 0
    for key in ("approvals_lost", "actions_lost", "actions_duplicated", "outcomes_lost",
                "audit_records_lost"):  # fmt: skip
        assert report[key] == 0, (key, report)
    assert report["kills"] >= 4
