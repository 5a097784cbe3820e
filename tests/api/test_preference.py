"""Operator verdicts reach the learning loop: a kind rejected again and again becomes rarer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autoinfra.api.preference import PreferenceFilter, VerdictPreferences, state_bucket
from autoinfra.core.actions import ScaleService, SetMachinePower
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Proposal
from tests.api.conftest import Api


class _Always:
    """Proposes one scale-up and one power-on every decision."""

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        j = Justification("test")
        return [
            Proposal(ScaleService(service=0, delta_replicas=1), "scaling", 50, j),
            Proposal(SetMachinePower(machine=0, on=True), "energy", 20, j),
        ]


def _kept(f: PreferenceFilter, obs: Observation, kind: str, n: int = 400) -> int:
    return sum(p.action.kind == kind for _ in range(n) for p in f.decide(obs, []))


def test_rejected_kind_becomes_rarer_after_the_next_update(api: Api) -> None:
    obs = api.service.sim.observe()
    prefs = VerdictPreferences(seed=3)
    f = PreferenceFilter(_Always(), prefs)
    base_scale = _kept(f, obs, "scale_service")
    base_power = _kept(f, obs, "set_machine_power")
    assert base_scale == base_power == 400
    state = state_bucket(obs)
    for _ in range(4):
        prefs.reward(state, "scale_service", -1.0)
    assert prefs.keep_probability(state, "scale_service") == 1.0  # not folded in yet
    after = _kept(f, obs, "scale_service")
    assert after < 0.75 * base_scale
    assert _kept(f, obs, "set_machine_power") == base_power  # only the rejected kind
    other = "high" if state != "high" else "low"
    assert prefs.keep_probability(other, "scale_service") == 1.0  # only in that state


def test_rejections_through_the_api_make_the_scaler_propose_less(api: Api) -> None:
    rejected = 0
    for _ in range(6):
        items = [i for i in api.wait_pending() if i["action"]["kind"] == "scale_service"]
        for item in items:
            r = api.vote("approver", item, verb="reject", reason="do not scale this service")
            assert r.status_code == 200
            rejected += 1
        api.run(3)
    assert rejected >= 3
    scaler = next(a for a in api.service.runtime.agents if a.agent_id == "scaling")
    assert isinstance(scaler.policy, PreferenceFilter)
    state = state_bucket(api.service.sim.observe())
    q = dict(((r["state"], r["kind"]), r["q"]) for r in api.service.prefs.table())
    assert q[(state, "scale_service")] < 0
    dropped_before = scaler.policy.dropped
    api.run(200)
    assert scaler.policy.dropped > dropped_before
    table = api.client.get("/api/v1/learning/preferences", headers=api.h("viewer")).json()
    assert any(r["kind"] == "scale_service" and r["keep"] < 1.0 for r in table)
    assert np.isfinite([r["q"] for r in table]).all()
