"""The autonomous system the experiments compare: five agents, the arbiter, the gate, the audit log.

``build_autonomous(sim, *, seed, params=None) -> System`` is the factory registered as
``system.agents-v1`` (typed ``agents``). Its policies are built through the policy registry; a
Q-table trained for the study is given at build time (``qtable_path``), never swapped in after.

It wires one shared sensor (with a metric store) to the security, healing, scaling, energy and
right-sizing agents (scaling plans each service's target in one step within the gate's remaining
budget, ``policies.scaling.plan``; energy plans consolidation on usage growth over a boot,
``policies.consolidation_plan``), a priority arbiter, a gate whose approval queue is answered by
an approver (in experiments no person is present: by default every escalated request is approved
``approval_delay_s`` after it was asked, a stated stand-in for an on-call human; pass ``approver``
for a human-delay model), a simulated actuator with a stated API latency, and an in-memory audit
log (or a file, when a path is given).

``params`` are validated: an unknown key or a bad value is a ``ConfigError`` naming it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict

from autoinfra.actuators.backend import actuator_for
from autoinfra.agents.autonomous import (
    QTABLE_ID,
    QTABLE_MODULE,
    TARGET_ID,
    EnergyAgent,
    HealingAgent,
    ScalingAgent,
    SecurityAgent,
    qtable_available,
)
from autoinfra.agents.base import Agent
from autoinfra.agents.rightsizing import RightSizingAgent
from autoinfra.agents.runtime import Runtime
from autoinfra.agents.system import System
from autoinfra.coordination.arbiter import ArbiterSettings, PriorityArbiter
from autoinfra.core.cluster import cluster_parts
from autoinfra.core.documents import with_overrides
from autoinfra.core.errors import ConfigError
from autoinfra.core.protocols import Policy
from autoinfra.oversight.approval import (
    DEFAULT_TTL_S,
    ApprovalQueue,
    Approver,
    AutoApproveAfter,
)
from autoinfra.oversight.gate import Gate, GateSettings
from autoinfra.policies.registry import POLICIES
from autoinfra.policies.scaling.artifacts import PPO_POLICY_ID as PPO_ID
from autoinfra.security.audit import AuditKey, AuditLog
from autoinfra.telemetry.sensor import SimSensor
from autoinfra.telemetry.store import MetricStore
from autoinfra.telemetry.trust import TrustMonitor, TrustSettings

__all__ = ["PRESET_ID", "AutonomousSettings", "build_autonomous"]

PRESET_ID = "agents-v1"


@dataclass(frozen=True, slots=True)
class AutonomousSettings:
    # unknown keys refused; an approver is any object with ``respond`` (checked by isinstance)
    __pydantic_config__ = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    scaling_policy: Literal["auto", "qtable", "target"] = "auto"  # auto: qtable if installed
    # the Q-table file the scaling agent decides with, trained on the study's training window
    # (experiments.training); None: the shipped table. Unused when scaling_policy is "target".
    qtable_path: str | None = None
    # plan each service's target in one step within the gate's budget (policies.scaling.plan);
    # False: the policy's own small steps, as before issue 9
    scaling_plan: bool = True
    # the Q-table's target is at most the forecast rule's (ForecastTargets as an upper envelope,
    # policies.scaling.plan.QTableTargets): more frugal, never less; False: the table unbounded
    scaling_envelope: bool = True
    # consolidation planned on usage growth over a boot, savings against disruption
    # (policies.consolidation_plan); False: the reservation-forecast FFD policy as before
    consolidation_plan: bool = True
    # a PPO actor (``autoinfra train --algo ppo``) to decide with instead of the Q-table
    ppo_path: str | None = None
    api_latency_s: float = 1.5  # see actuators.simulated
    approval_delay_s: float = 60.0  # the default approver's answer time for escalations
    approver: Approver | None = None  # overrides approval_delay_s (e.g. a human-delay model)
    escalate_risk: float = 0.7
    max_machines_per_window: int = 50
    max_actions_per_agent: int = 60
    min_headroom_share: float = 0.10
    arbiter_hold_s: float = 120.0
    agents: tuple[str, ...] = ("security", "healing", "scaling", "energy", "rightsizing")
    predictive_drain: bool = False  # drain machines a failure predictor puts at risk
    failure_train_window_s: tuple[float, float] | None = None  # trace seconds, before the run
    trace_dir: str | None = None
    audit_path: str | None = None
    # the audit chain's HMAC key file (created 0600 if missing); default: <AUTOINFRA_KEY_DIR or
    # ~/.config/autoinfra/keys>/<audit file name>.key, outside the log's directory on purpose
    audit_key_path: str | None = None
    approval_queue_path: str | None = None
    approval_ttl_s: float = DEFAULT_TTL_S  # unanswered escalations are denied after this
    # non-production work placed against reservations (usage estimate + margin), as Borg does
    # (Verma et al., EuroSys 2015, 5.5); production stays placed by requests. See SimSettings.
    placement: Literal["requests", "reservations"] = "reservations"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any] | None) -> AutonomousSettings:
        """The defaults overridden by ``params``, validated by pydantic (unknown keys refused)."""
        return with_overrides(cls(), dict(params or {}), source=PRESET_ID)

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(
                f"expected {expected}, got {getattr(self, name)!r}", source=PRESET_ID, field=name
            )

        if self.scaling_policy not in ("auto", "qtable", "target"):
            raise bad("scaling_policy", "'auto', 'qtable' or 'target'")
        if not isinstance(self.scaling_plan, bool):
            raise bad("scaling_plan", "true or false")
        if not isinstance(self.consolidation_plan, bool):
            raise bad("consolidation_plan", "true or false")
        if self.ppo_path is not None and (
            self.qtable_path is not None or self.scaling_policy == "target"
        ):
            raise bad("ppo_path", "no qtable_path and no scaling_policy 'target' beside it")
        if self.api_latency_s < 0:
            raise bad("api_latency_s", "seconds >= 0")
        if self.approval_delay_s < 0:
            raise bad("approval_delay_s", "seconds >= 0")
        ttl = self.approval_ttl_s
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
            raise bad("approval_ttl_s", "a finite number of seconds > 0")
        if not 0 < self.escalate_risk <= 1.01:
            raise bad("escalate_risk", "a risk in (0, 1] (above 1: never escalate)")
        allowed = {"security", "healing", "scaling", "energy", "rightsizing"}
        if not set(self.agents) <= allowed or len(set(self.agents)) != len(self.agents):
            raise bad("agents", f"distinct names from {sorted(allowed)}")
        if self.placement not in ("requests", "reservations"):
            raise bad("placement", "'requests' or 'reservations'")
        if self.predictive_drain and self.failure_train_window_s is None:
            raise bad("failure_train_window_s", "a (start_s, end_s) trace window before the run")

    def resolved(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["approver"] = type(self.approver).__name__ if self.approver is not None else None
        return out


def _scaling_policy(p: AutonomousSettings) -> Policy | None:
    if p.ppo_path is not None:
        ppo: Policy = POLICIES.make(PPO_ID, path=p.ppo_path)
        return ppo
    if p.scaling_policy == "target":
        policy: Policy = POLICIES.make(TARGET_ID)
        return policy
    if p.scaling_policy == "qtable" and not qtable_available():
        raise ConfigError(
            f"scaling_policy 'qtable' needs {QTABLE_MODULE}, which is not installed",
            source=PRESET_ID,
            field="scaling_policy",
        )
    return None  # ScalingAgent picks the Q-table (or says it fell back)


def _planned_scaling(p: AutonomousSettings, gate: Gate) -> Policy | None:
    """The one-step planner over the chosen target source, asking ``gate`` for its budget."""
    if not p.scaling_plan or p.ppo_path is not None:
        # a PPO actor decides its own steps, as it was trained to (no planner over it)
        return _scaling_policy(p)
    from autoinfra.policies.scaling.plan import ForecastTargets, QTableTargets, ScalingPlanner

    chosen = _scaling_policy(p)
    source: ForecastTargets | QTableTargets
    if chosen is None and qtable_available():
        # the study's table (qtable_path) or the shipped one, through the policy registry
        envelope = ForecastTargets() if p.scaling_envelope else None
        source = QTableTargets(POLICIES.make(QTABLE_ID, path=p.qtable_path), envelope=envelope)
    else:
        source = ForecastTargets()
    return ScalingPlanner(source, budget=lambda: gate.remaining_budget("scaling"))


def _energy_agent(sim: Any, sensor: SimSensor, p: AutonomousSettings, gate: Gate) -> EnergyAgent:
    """The energy agent; planned consolidation sized by the cluster's own boot delay."""
    if not p.consolidation_plan:
        return EnergyAgent(sensor)
    from autoinfra.policies.consolidation_plan import (
        PlannedConsolidationPolicy,
        PlannedConsolidationSettings,
    )
    from autoinfra.policies.forecast import HoltSettings

    boot_s = float(getattr(getattr(sim, "config", None), "boot_delay_s", 180.0))
    settings = PlannedConsolidationSettings(boot_delay_s=boot_s, decision_period_s=60.0)
    return EnergyAgent(
        sensor,
        forecast=HoltSettings(horizon_s=settings.horizon_s, per_service=False),
        period_s=settings.decision_period_s,
        policy=PlannedConsolidationPolicy(settings, budget=lambda: gate.remaining_budget("energy")),
    )


def _failure_policy(sim: Any, p: AutonomousSettings, seed: int) -> Policy:
    from autoinfra.policies.failure import FailureDrainPolicy, FailurePredictor, machine_history

    assert p.failure_train_window_s is not None
    workload = getattr(sim, "workload", None)
    offset = float(getattr(workload, "meta", {}).get("trace_offset_s", 0.0)) if workload else 0.0
    start, end = p.failure_train_window_s
    if end > offset:
        raise ConfigError(
            f"failure predictor trained on trace seconds [{start}, {end}] overlaps the run, which "
            f"starts at trace second {offset}; train on an earlier window",
            source=PRESET_ID,
            field="failure_train_window_s",
        )
    history = machine_history(p.trace_dir)
    predictor = FailurePredictor(seed=seed).fit(history, start, end)
    return FailureDrainPolicy(predictor, history, trace_offset_s=offset)


def _audit_log(p: AutonomousSettings) -> AuditLog:
    if not p.audit_path:
        return AuditLog()  # in memory, with a random key: experiments
    path = Path(p.audit_path)
    key = AuditKey.load_or_create(p.audit_key_path, name=path.name)
    return AuditLog(path, key=key)


def build_autonomous(sim: Any, *, seed: int, params: Mapping[str, Any] | None = None) -> System:
    """The ``agents-v1`` system on ``sim``: a simulator, or any ``core.cluster.Backend``."""
    p = AutonomousSettings.from_mapping(params)
    reader, _, clock = cluster_parts(sim)
    store = MetricStore()
    sensor = SimSensor(reader, store=store)
    extra = [_failure_policy(sim, p, seed)] if p.predictive_drain else []
    gate = Gate(
        GateSettings(
            escalate_risk=p.escalate_risk,
            max_machines_per_window=p.max_machines_per_window,
            max_actions_per_agent=p.max_actions_per_agent,
            min_headroom_share=p.min_headroom_share,
        ),
        clock=clock,
        sensor=sensor,
        queue=ApprovalQueue(p.approval_queue_path, ttl_s=p.approval_ttl_s),
        approver=p.approver or AutoApproveAfter(p.approval_delay_s),
    )
    makers: dict[str, Any] = {
        "security": lambda: SecurityAgent(sensor),
        "healing": lambda: HealingAgent(sensor, extra_policies=extra),
        "scaling": lambda: ScalingAgent(
            sensor, policy=_planned_scaling(p, gate), qtable_path=p.qtable_path
        ),
        "energy": lambda: _energy_agent(sim, sensor, p, gate),
        "rightsizing": lambda: RightSizingAgent(
            sensor, budget=lambda: gate.remaining_budget("rightsizing")
        ),
    }
    agents: list[Agent] = [makers[name]() for name in p.agents]
    runtime = Runtime(
        agents,
        clock=clock,
        actuator=actuator_for(sim, latency_s=p.api_latency_s),
        arbiter=PriorityArbiter(
            ArbiterSettings(hold_s=p.arbiter_hold_s), clock=clock, sensor=sensor
        ),
        gate=gate,
        audit=_audit_log(p),
        # untrusted telemetry puts the runtime in safe mode; CPU requested above capacity is
        # this system's own overcommit when it places by reservations
        trust=TrustMonitor(
            sensor, TrustSettings(cpu_overcommit=p.placement == "reservations")
        ),
    )
    set_placement = getattr(sim, "set_placement", None)  # a simulator; a live cluster has its own
    if set_placement is not None:
        set_placement(p.placement, by=PRESET_ID)
        runtime.audit.append(
            "placement_set", actor=PRESET_ID, at_s=clock.now_s(), data={"placement": p.placement}
        )
    lines = [f"{a.agent_id} (every {a.period_s:g} s, priority {a.priority}): {a.description}"
             for a in agents]  # fmt: skip
    description = (
        f"{PRESET_ID}: autonomous agents with a priority arbiter, a risk gate (escalations "
        f"answered by {type(gate.approver).__name__}) and a hash-chained audit log; "
        f"non-production work placed by {p.placement}. "
        + "; ".join(lines)
    )
    if p.qtable_path is not None and any(QTABLE_ID in a.description for a in agents):
        description += f" Q-table: {Path(p.qtable_path).name} (trained on the training window)."
    if p.ppo_path is not None and "scaling" in p.agents:
        description += f" PPO actor: {Path(p.ppo_path).name} (trained on an earlier window)."
    return System(
        PRESET_ID,
        runtime,
        params=p.resolved() | {"seed": seed},
        description=description,
        metrics=store,
    )
