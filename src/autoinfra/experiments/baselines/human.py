"""``human``: an on-call operator with Prometheus alerts, a pager, a playbook and coarse reviews.

How the operator works, step by step (every delay drawn from ``human_model.HumanSettings`` with a
generator seeded by the run's seed):

1. **Alerts.** Every ``rule_evaluation_s`` the alert rules are evaluated on what monitoring sees
   (the ``Observation``): a node's heartbeat older than a scrape interval, CPU used above 90 % of a
   machine, an uplink above capacity, egress far out of line with CPU. A condition must hold for
   the rule's ``for:`` before the alert fires; Alertmanager notifies ``group_wait_s`` later. The
   notification is when this system *detects* the problem (its finding goes to the fault timeline).
2. **Acknowledgement** after a drawn delay (slower at night), then **diagnosis and fix**: one
   responder works one incident at a time; the rest wait. The diagnosis looks again at the machine
   or link: if the problem is gone, or the CPU is the tasks' own (no process unaccounted for), the
   incident is closed with no action; otherwise the playbook's mitigation is proposed: a lost node
   has its tasks evicted (rescheduled), a hog is killed, a congested uplink's rack rerouted, an
   intruded machine isolated.
3. **Capacity reviews** every few hours: services are sized by rule of thumb with a generous
   margin (the slack people leave when they set limits by hand), OFF machines are powered on when
   work is pending or fewer than ``spare_machines`` machines' worth of capacity is free; the
   operator never powers machines off.

The operator's identity allows the playbook's actions and the reviews' (evict, kill, reroute,
isolate, scale, power), not drains: a person's account is scoped like any agent's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoinfra.actuators import SimulatedActuator
from autoinfra.agents import Agent, Runtime, System
from autoinfra.core.actions import (
    Action,
    EvictTasks,
    IsolateMachine,
    KillProcess,
    Reroute,
    ScaleService,
    SetMachinePower,
)
from autoinfra.core.errors import ConfigError
from autoinfra.core.incidents import IncidentKind
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Finding, Justification, Proposal
from autoinfra.experiments.baselines.human_model import HumanSettings
from autoinfra.security.identity import Identity, Role
from autoinfra.telemetry import SimSensor

# plain ints: comparing arrays with enum members goes through Enum's slow attribute path
_BOOTING = int(MachineState.BOOTING)
_DRAINING = int(MachineState.DRAINING)
_OFF = int(MachineState.OFF)
_ON = int(MachineState.ON)

NAME = "human"
# alert -> (finding kind, what the target is)
_ALERT_KINDS: dict[str, tuple[str, str]] = {
    "NodeDown": (IncidentKind.NODE_FAILURE, "machine"),
    "NodeCPUSaturated": (IncidentKind.CPU_HOG, "machine"),
    "UplinkSaturated": (IncidentKind.NETWORK_CONGESTION, "link"),
    "EgressAnomaly": (IncidentKind.INTRUSION, "machine"),
}
# share of a machine's capacity in use that its tasks' requests do not account for, above which
# the operator (looking at `top`) sees a process that is not a task: a judgement call, stated
UNEXPLAINED_CPU_SHARE = 0.25


@dataclass(slots=True)
class Incident:
    alert: str
    index: int  # machine slot or link index
    notified_s: float
    acked_s: float
    fix_s: float  # when diagnosis and the fix are done and the action is proposed
    night: bool


class HumanOperator:
    """Detector (alerts) and Policy (playbook fixes, capacity reviews) of the operator model."""

    def __init__(
        self,
        settings: HumanSettings,
        *,
        seed: int,
        max_replicas: np.ndarray | None = None,
    ) -> None:
        self.settings = settings
        self.rng = np.random.default_rng([seed, 0x4855])  # "HU": a stream of its own
        self.start_hour = settings.start_hour_of_day.sample(self.rng)
        self.max_replicas = max_replicas
        self.rules = {a.name: a for a in settings.alerts}
        unknown = sorted(set(self.rules) - set(_ALERT_KINDS))
        if unknown:
            raise ConfigError(
                f"no playbook for alert {unknown[0]!r}; known: {sorted(_ALERT_KINDS)}",
                field=f"system_params.{NAME}.alerts",
            )
        self._last_eval_s = -math.inf
        self._pending: dict[tuple[str, int], float] = {}  # condition true since
        self._firing: set[tuple[str, int]] = set()
        self._to_notify: list[tuple[float, str, int]] = []
        self._queue: list[Incident] = []
        self._busy_until_s = [0.0] * max(1, settings.responders)
        self._next_review_s: float | None = None
        self.incidents: list[Incident] = []  # every incident, for reports and tests
        self.reviews: list[float] = []

    # -- alerts (Detector) ---------------------------------------------------------------------
    def analyze(self, observation: Observation) -> list[Finding]:
        now = observation.time_s
        s = self.settings
        if now - self._last_eval_s >= s.rule_evaluation_s - 1e-9:
            self._last_eval_s = now
            self._evaluate(observation, now)
        findings: list[Finding] = []
        due = [n for n in self._to_notify if n[0] <= now + 1e-9]
        self._to_notify = [n for n in self._to_notify if n[0] > now + 1e-9]
        for notified_s, alert, index in due:
            kind, what = _ALERT_KINDS[alert]
            findings.append(
                Finding(kind, f"{what}:{index}", 1.0, now, {"alert": alert, "paged_s": notified_s})
            )
            self._page(alert, index, notified_s)
        return findings

    def _evaluate(self, obs: Observation, now: float) -> None:
        for name, rule in self.rules.items():
            active = set(np.flatnonzero(self._condition(name, rule.threshold, obs)).tolist())
            for key in list(self._pending):
                if key[0] == name and key[1] not in active:
                    del self._pending[key]
                    self._firing.discard(key)  # resolved: a new occurrence pages again
            for index in sorted(active):
                key = (name, int(index))
                since = self._pending.setdefault(key, now)
                if key not in self._firing and now - since >= rule.for_s - 1e-9:
                    self._firing.add(key)
                    self._to_notify.append((now + self.settings.group_wait_s, name, int(index)))

    @staticmethod
    def _condition(name: str, threshold: float, obs: Observation) -> np.ndarray:
        state = obs.machine_state
        on = (state == _ON) | (state == _DRAINING)
        if name == "NodeDown":
            return np.asarray(on & (obs.heartbeat_age_s > threshold))
        if name == "NodeCPUSaturated":
            cap = np.maximum(obs.cpu_capacity, 1e-9)
            return np.asarray(on & (obs.cpu_used / cap > threshold))
        if name == "UplinkSaturated":
            return np.asarray(obs.link_utilization > threshold)
        # EgressAnomaly: egress per unit of CPU used, against the cluster's median
        used = np.maximum(obs.cpu_used, 1e-6)
        ratio = obs.egress_mbps / used
        live = on & (obs.egress_mbps > 0)
        median = float(np.median(ratio[live])) if live.any() else 0.0
        return np.asarray(live & (ratio > threshold * median) if median > 0 else live & False)

    def _page(self, alert: str, index: int, notified_s: float) -> None:
        s = self.settings
        night = s.is_night(notified_s, self.start_hour)
        ack = s.ack_delay.sample(self.rng)
        if night:
            ack *= s.night_ack_factor.sample(self.rng)
        acked = notified_s + ack
        # the first free responder takes it once acknowledged; the others are busy until then
        r = int(np.argmin(self._busy_until_s))
        start = max(acked, self._busy_until_s[r])
        fix = start + s.diagnose_and_fix.sample(self.rng)
        self._busy_until_s[r] = fix
        incident = Incident(alert, index, notified_s, acked, fix, night)
        self._queue.append(incident)
        self.incidents.append(incident)

    # -- playbook and reviews (Policy) ---------------------------------------------------------
    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        now = observation.time_s
        out: list[Proposal] = []
        done = [i for i in self._queue if i.fix_s <= now + 1e-9]
        self._queue = [i for i in self._queue if i.fix_s > now + 1e-9]
        for incident in done:
            action = self._playbook(incident, observation)
            if action is not None:
                why = (
                    f"{incident.alert} on {incident.index}: paged {incident.notified_s:.0f} s, "
                    f"acked {incident.acked_s:.0f} s"
                )
                out.append(self._proposal(action, why))
        if self._next_review_s is None:
            self._next_review_s = now + self.rng.uniform(0.0, 1.0) * self._interval()
        if now >= self._next_review_s:
            self.reviews.append(now)
            self._next_review_s = now + self._interval()
            out.extend(self._review(observation))
        return out

    def _interval(self) -> float:
        return self.settings.review_interval_s.sample(self.rng)

    def _playbook(self, incident: Incident, obs: Observation) -> Action | None:
        i = incident.index
        rule = self.rules[incident.alert]
        still = bool(self._condition(incident.alert, rule.threshold, obs)[i])
        if not still:
            return None  # gone by the time someone looked: closed as transient
        if incident.alert == "NodeDown":
            return EvictTasks(machine=i)
        if incident.alert == "NodeCPUSaturated":
            unexplained = float(obs.cpu_used[i] - obs.cpu_requested[i]) / max(
                float(obs.cpu_capacity[i]), 1e-9
            )
            return KillProcess(machine=i) if unexplained > UNEXPLAINED_CPU_SHARE else None
        if incident.alert == "UplinkSaturated":
            return Reroute(rack=int(obs.link_rack[i]), away_from_link=i)
        return IsolateMachine(machine=i)

    def _review(self, obs: Observation) -> list[Proposal]:
        s = self.settings
        out: list[Proposal] = []
        slack = s.slack.sample(self.rng)
        for k in range(int(obs.service_replicas.shape[0])):
            request = float(obs.service_cpu_request[k])
            if request <= 0 or obs.service_running[k] <= 0:
                continue
            want = math.ceil(float(obs.service_cpu_used[k]) / (request * (1.0 - slack)))
            low = int(obs.service_min_replicas[k])
            high = int(self.max_replicas[k]) if self.max_replicas is not None else max(want, low)
            want = max(low, min(high, want))
            current = int(obs.service_replicas[k])
            if want != current:
                action = ScaleService(service=k, delta_replicas=want - current)
                out.append(self._proposal(action, f"capacity review: size for {slack:.0%} slack"))
        state = obs.machine_state
        on = (state == _ON) | (state == _BOOTING)
        free = float((obs.cpu_capacity - obs.cpu_requested)[on].clip(min=0).sum())
        mean_cap = float(obs.cpu_capacity[on].mean()) if on.any() else 0.0
        short = obs.pending_cpu + s.spare_machines * mean_cap - free
        for m in np.flatnonzero(state == _OFF).tolist():
            if short <= 0:
                break
            power_on = SetMachinePower(machine=int(m), on=True)
            out.append(self._proposal(power_on, "capacity review: pending work / N+2 spares"))
            short -= float(obs.cpu_capacity[m])
        return out

    def _proposal(self, action: Action, reason: str) -> Proposal:
        return Proposal(action, NAME, 0, Justification(reason=reason))


# what the playbook and the capacity reviews propose, and on what: nothing more
OPERATOR_KINDS = frozenset(
    {"evict_tasks", "kill_process", "reroute", "isolate_machine", "scale_service",
     "set_machine_power"}
)  # fmt: skip
OPERATOR_TARGETS = ("machine:*", "service:*", "rack:*")


def build(sim: Any, *, seed: int, params: Mapping[str, Any] | None = None) -> System:
    """The human-operator system on ``sim``; every delay is drawn with ``seed``."""
    settings = HumanSettings().with_params(dict(params or {}), source=f"system_params.{NAME}")
    workload = getattr(sim, "workload", None)
    max_replicas = (
        np.asarray(workload.services.max_replicas, dtype=np.int32) if workload is not None else None
    )
    operator = HumanOperator(settings, seed=seed, max_replicas=max_replicas)
    tick_s = float(getattr(getattr(sim, "config", None), "tick_s", 5.0))
    agent = Agent(
        "human-operator",
        sensor=SimSensor(sim),
        detectors=[operator],
        policy=operator,
        period_s=tick_s,  # looks every tick; the rules themselves run every rule_evaluation_s
        priority=100,
        identity=Identity.scoped("human-operator", Role.OPERATOR, OPERATOR_KINDS, OPERATOR_TARGETS),
        description=settings.describe(),
    )
    runtime = Runtime([agent], clock=sim.clock, actuator=SimulatedActuator(sim))
    return System(NAME, runtime, dict(params or {}), settings.describe())
