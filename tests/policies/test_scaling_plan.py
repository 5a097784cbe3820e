"""The one-step scaling planner: targets in one step, ranked, within the budget, never doubled."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np

from autoinfra.core.actions import ScaleService
from autoinfra.core.budget import GateBudget
from autoinfra.core.clock import SimClock
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Decision, Outcome, Proposal
from autoinfra.oversight.gate import Gate, GateSettings
from autoinfra.policies.scaling.encoding import ENCODINGS
from autoinfra.policies.scaling.plan import (
    ForecastTargets,
    QTableTargets,
    ScalingPlanner,
    ScalingPlanSettings,
)
from autoinfra.policies.scaling.qtable import QTablePolicy
from autoinfra.policies.scaling.space import ACTIONS
from tests.oversight.observations import ScriptedSensor, make_obs


def _services(
    used: list[float], replicas: list[int], *, request: float = 0.01, t: float = 0.0
) -> Observation:
    n = len(used)
    base = make_obs(t, [1.0] * 4, [True] * 4, [0.1] * 4, 0.0, n_services=n)
    return dataclasses.replace(
        base,
        service_replicas=np.asarray(replicas, dtype=np.int32),
        service_running=np.asarray(replicas, dtype=np.int32),
        service_cpu_request=np.full(n, request, dtype=np.float32),
        service_cpu_used=np.asarray(used, dtype=np.float32),
        service_min_replicas=np.ones(n, dtype=np.int32),
        extra={
            "service_cpu_demand": np.asarray(used, dtype=np.float64),
            "service_max_replicas": np.full(n, 1000, dtype=np.int64),
        },
    )


def _budget(left: int, cap: int = 100, used: dict[str, int] | None = None) -> GateBudget:
    return GateBudget(
        agent="scaling",
        at_s=0.0,
        window_s=600.0,
        actions_cap=cap,
        actions_left=left,
        per_target_limit=10,
        per_target_used=MappingProxyType(dict(used or {})),
    )


def test_forecast_target_is_reached_in_one_step() -> None:
    # 10 replicas of 0.01 CPU using 0.135: the HPA rule wants ceil(0.135 / 0.007) = 20 replicas
    planner = ScalingPlanner(ForecastTargets(), budget=lambda: _budget(50))
    (p,) = planner.decide(_services([0.135], [10]), [])
    assert p.action == ScaleService(service=0, delta_replicas=9)  # capped below escalation
    assert p.justification.inputs["target"] == 20
    assert "larger steps need a human" in p.justification.reason
    # without the risk cap (no gate to ask) the whole step goes at once
    free = ScalingPlanner(ForecastTargets())
    (q,) = free.decide(_services([0.135], [10]), [])
    assert q.action == ScaleService(service=0, delta_replicas=10)


def test_plan_stays_within_the_remaining_budget_and_ranks_by_benefit() -> None:
    used = [0.02, 0.30, 0.10, 0.05, 0.2]  # all over 70 % of 2 replicas x 0.01
    planner = ScalingPlanner(ForecastTargets(), budget=lambda: _budget(2))
    out = planner.decide(_services(used, [2] * 5), [])
    assert len(out) == 2
    # the two services whose new replicas serve the most demand: 1 (0.30) and 4 (0.2)
    assert {p.action.service for p in out} == {1, 4}  # type: ignore[attr-defined]
    assert planner.last_plan == {"wanted": 5, "planned": 2, "over_budget": 3}


def test_spent_target_budget_and_down_reserve_are_respected() -> None:
    used = [0.30, 0.001, 0.001]  # 0 wants up; 1 and 2 want down
    spent = {"service:0": 10}
    planner = ScalingPlanner(ForecastTargets(), budget=lambda: _budget(60, cap=100, used=spent))
    out = planner.decide(_services(used, [4, 4, 4]), [])
    assert all(p.action.service != 0 for p in out)  # type: ignore[attr-defined]
    assert len(out) == 2  # 60 left > half of 100 reserved for scale-ups
    tight = ScalingPlanner(ForecastTargets(), budget=lambda: _budget(50, cap=100))
    assert tight.decide(_services([0.001, 0.001], [4, 4]), []) == []  # only the reserve is left


def test_one_proposal_in_flight_per_service_until_its_outcome() -> None:
    planner = ScalingPlanner(ForecastTargets(), budget=lambda: _budget(50))
    (p,) = planner.decide(_services([0.135], [10]), [])
    assert planner.decide(_services([0.2], [10], t=15.0), []) == []  # still unanswered
    planner.observe_outcomes([Outcome("r", True, 16.0)], [p])
    assert len(planner.decide(_services([0.2], [10], t=30.0), [])) == 1


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    planner = ScalingPlanner(ForecastTargets(), settings=ScalingPlanSettings())
    assert planner.decide(_services([0.14], [20]), []) == []  # at target
    # load falls: the highest target of the last 300 s (20) still holds
    assert planner.decide(_services([0.02], [20], t=100.0), []) == []
    (down,) = planner.decide(_services([0.02], [20], t=401.0), [])
    assert down.action.delta_replicas < 0  # type: ignore[attr-defined]


def test_qtable_rollout_plans_past_the_tables_two_replica_step() -> None:
    enc = ENCODINGS["scale-state-v1"]
    q = np.zeros((enc.n_states, len(ACTIONS)))
    visits = np.full_like(q, 200, dtype=np.int64)
    util_bin_of_state = np.arange(enc.n_states) // 18
    q[util_bin_of_state >= 4, ACTIONS.index(2)] = 1.0  # >= 0.9 utilised: add two
    planner = ScalingPlanner(QTableTargets(QTablePolicy(q, visits)))
    # 4 replicas of 0.01 fully used by a demand of 0.08: the table's +2 repeats while the
    # utilisation it leaves is still >= 0.9: 4 -> 6 (1.0) -> 8 (1.0) -> 10 (0.8): stop
    (p,) = planner.decide(_services([0.08], [4]), [])
    assert p.justification.inputs["target"] == 10
    assert p.action == ScaleService(service=0, delta_replicas=6)


def test_the_forecast_envelope_bounds_the_table_by_the_rule_on_demand() -> None:
    enc = ENCODINGS["scale-state-v1"]
    visits = np.full((enc.n_states, len(ACTIONS)), 200, dtype=np.int64)

    def table(action: int) -> QTablePolicy:  # a table that always picks ``action``
        q = np.zeros((enc.n_states, len(ACTIONS)))
        q[:, ACTIONS.index(action)] = 1.0
        return QTablePolicy(q, visits)

    # 0.08 on 4 replicas of 0.01 needs ceil(0.08 / 0.007) = 12; 0.01 needs 2; 0.02 needs 3
    obs = _services([0.08, 0.01, 0.02], [4, 4, 4])
    rule = ForecastTargets().targets(obs, [])
    assert rule.target.tolist() == [12, 2, 3]
    envelope = ForecastTargets()
    # an extrapolating table that always grows: unbounded it passes every need
    free = QTableTargets(table(2)).targets(obs, [])
    assert all(t > n for t, n in zip(free.target.tolist(), [12, 4, 4], strict=True))
    grow = QTableTargets(table(2), envelope=envelope).targets(obs, [])
    assert grow.target.tolist() == [12, 2, 3]  # growth only as far as demand asks; cuts kept
    assert "within the forecast envelope" in grow.reason[0]
    # a table that holds may refuse growth (more frugal than the rule), not keep idle replicas
    hold = QTableTargets(table(0), envelope=envelope).targets(obs, [])
    assert hold.target.tolist() == [4, 2, 3]
    # a table that sheds to the minimum is the more frugal everywhere
    shed = QTableTargets(table(-1), envelope=envelope).targets(obs, [])
    assert shed.target.tolist() == [1, 1, 1]


def test_gate_budget_counts_reservations_and_the_planner_is_never_refused() -> None:
    clock = SimClock()
    obs = _services([0.3] * 12, [2] * 12)
    gate = Gate(
        GateSettings(max_actions_per_agent=5, max_actions_share=0.0), clock=clock,
        sensor=ScriptedSensor(obs),
    )  # fmt: skip
    before = gate.remaining_budget("scaling")
    assert (before.actions_cap, before.actions_left) == (5, 5)
    planner = ScalingPlanner(ForecastTargets(), budget=lambda: gate.remaining_budget("scaling"))
    verdicts = []
    for i, p in enumerate(planner.decide(obs, [])):
        p = dataclasses.replace(p, agent="scaling", request_id=f"scaling/{i}")
        verdicts.append(gate.review(p).decision)
    assert len(verdicts) == 5 and Decision.REJECT not in verdicts
    after = gate.remaining_budget("scaling")
    assert after.actions_left == 0
    assert sum(after.per_target_used.values()) == 5
    # a proposal past the budget is what the gate refuses: the planner makes none
    extra = Proposal(ScaleService(service=11, delta_replicas=1), "scaling", 50,
                     planner_reason(), 0.9, request_id="scaling/x")  # fmt: skip
    assert gate.review(extra).decision == Decision.REJECT
    assert planner.decide(dataclasses.replace(obs, time_s=15.0), []) == []


def planner_reason():  # type: ignore[no-untyped-def]
    from autoinfra.core.proposal import Justification

    return Justification("test", {}, "")


def test_max_step_share_follows_the_risk_model() -> None:
    b = _budget(10)
    # base 0.1 + 0.6 x size + 0.5 x (1 - 0.9) < 0.7  =>  size < 0.9167
    assert 0.91 < b.max_step_share(0.9) < 0.9167
    assert b.max_step_share(0.0) < 0.17
    assert dataclasses.replace(b, escalate_risk=0.1).max_step_share(1.0) == 0.0
