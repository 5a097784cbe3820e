"""The human operator's parameters: distributions, each calibrated on a published figure.

The ``human`` baseline (``baselines/human.py``) is an on-call operator who learns of problems
through alerts, acknowledges after a delay, diagnoses, then acts, and reviews capacity now and
then. How fast, how often and how generously are the parameters below. Each is a distribution
(never a single number: people vary), cited beside its declaration, configurable through the
system's ``params``, and drawn from a generator seeded with the run's seed. Where no published
figure exists the field says "assumption" and gives the range we consider plausible; the report
prints all of them.

The calibration chain for how long an incident takes, from page to mitigation:

- PagerDuty, State of Digital Operations 2021: the average incident takes 126 min to resolve;
  mean time to acknowledge at large companies is under 4 min, down from about 6 min (secondary
  source for the MTTA figure).
- Google SRE book, ch. 1: a playbook gives roughly a 3x better MTTR than improvising, so an
  operator with a playbook for each of our alerts resolves in about 126 / 3 = 42 min.
- DORA, State of DevOps 2021: elite teams restore service in under 1 h (secondary for the tiers),
  which bounds the playbook figure from above.
- Of the 42 min, alerting takes the rule's ``for:`` plus Alertmanager's group wait (5.5-10.5 min
  below) and acknowledgement about 4 min, leaving about 30 min to diagnose and carry out the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autoinfra.core.documents import UNKNOWN_KEYS_REFUSED, with_overrides


@dataclass(frozen=True, slots=True)
class LogNormalDelay:
    """A right-skewed delay with a given mean (seconds); ``sigma`` is the log-space spread."""

    __pydantic_config__ = UNKNOWN_KEYS_REFUSED  # a misspelt key in params is an error

    mean_s: float
    sigma: float
    source: str
    cited_range_s: tuple[float, float]  # the published range the mean must fall in

    @property
    def median_s(self) -> float:
        return self.mean_s / math.exp(self.sigma**2 / 2.0)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.lognormal(math.log(self.median_s), self.sigma))


@dataclass(frozen=True, slots=True)
class UniformRange:
    """A quantity drawn uniformly from [low, high]."""

    __pydantic_config__ = UNKNOWN_KEYS_REFUSED  # a misspelt key in params is an error

    low: float
    high: float
    source: str
    cited_range: tuple[float, float]

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2.0

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A Prometheus alerting rule: ``expr`` must hold for ``for_s`` before the alert fires."""

    __pydantic_config__ = UNKNOWN_KEYS_REFUSED  # a misspelt key in params is an error

    name: str
    for_s: float
    threshold: float
    source: str


def _default_alerts() -> tuple[AlertRule, ...]:
    # `for:` durations from the Prometheus documentation's alerting-rules example (InstanceDown:
    # `up == 0` for 5m; APIHighRequestLatency for 10m); thresholds are common choices, stated.
    return (
        AlertRule(
            "NodeDown",
            300.0,
            60.0,
            "Prometheus docs example InstanceDown, for: 5m; "
            "threshold: heartbeat older than one 1 min scrape interval",
        ),
        AlertRule(
            "NodeCPUSaturated",
            600.0,
            0.9,
            "Prometheus docs example, for: 10m; threshold: CPU used above 90 % of capacity",
        ),
        AlertRule(
            "UplinkSaturated",
            300.0,
            1.0,
            "for: 5m as InstanceDown; threshold: offered load above link capacity",
        ),
        AlertRule(
            "EgressAnomaly",
            300.0,
            3.0,
            "for: 5m as InstanceDown; threshold: egress per CPU used 3x the cluster median",
        ),
    )


@dataclass(frozen=True, slots=True)
class HumanSettings:
    """Everything the operator model draws from; override fields through the system's params."""

    __pydantic_config__ = UNKNOWN_KEYS_REFUSED  # a misspelt key in params is an error

    # Prometheus global defaults: scrape_interval and evaluation_interval are 1m.
    rule_evaluation_s: float = 60.0
    # Alertmanager default route: group_wait 30s before the first notification of a group.
    group_wait_s: float = 30.0
    alerts: tuple[AlertRule, ...] = field(default_factory=_default_alerts)
    # PagerDuty 2021: MTTA under 4 min at large companies (from about 6 min); right-skewed.
    ack_delay: LogNormalDelay = LogNormalDelay(
        240.0,
        0.8,
        "PagerDuty State of Digital Operations 2021 (secondary): MTTA < 4 min, was about 6 min",
        (0.0, 360.0),
    )
    # SRE book ch. 1 (playbook 3x better) x PagerDuty 126 min, minus alerting and ack (see above);
    # DORA 2021 elite restore < 1 h bounds it.
    diagnose_and_fix: LogNormalDelay = LogNormalDelay(
        1800.0,
        0.7,
        "PagerDuty 2021 126 min / 3 (SRE book ch. 1 playbook) minus alerting and "
        "ack; DORA 2021 elite restore < 1 h",
        (600.0, 3600.0),
    )
    # Assumption (no published figure): a page at night wakes the operator, who acknowledges
    # slower; the factor multiplies the acknowledgement delay.
    night_ack_factor: UniformRange = UniformRange(
        1.5, 3.0, "assumption: waking up, finding the laptop", (1.0, 4.0)
    )
    night_start_h: float = 22.0  # local hours counted as night: [22:00, 07:00)
    night_end_h: float = 7.0
    # Hour of day at simulated time 0, drawn per run: incidents come at any hour, so some runs see
    # the night-time operator (an assumption; the trace's own local time is not used). A number
    # in params fixes it.
    start_hour_of_day: UniformRange = UniformRange(
        0.0, 24.0, "assumption: a run starts at any hour of the day", (0.0, 24.0)
    )
    # Capacity reviews: SRE book, on-call shifts of 8-12 h; the operator looks at capacity a few
    # times per shift (assumption): every 2-4 h, first review at a random phase.
    review_interval_s: UniformRange = UniformRange(
        7200.0,
        14400.0,
        "assumption: a few reviews per 8-12 h shift (SRE book ch. 11 shifts)",
        (3600.0, 43200.0),
    )
    # Rzadca et al., EuroSys 2020 (Autopilot): limits set by hand have 46 % slack (23 % under
    # Autopilot). The operator sizes services so that 1 - slack of the requests is used.
    slack: UniformRange = UniformRange(
        0.40, 0.52, "Autopilot (EuroSys 2020): manual limits 46 % slack", (0.23, 0.6)
    )
    # Spare machines kept powered: N+2 (Google SRE book, capacity planning) - never powers off.
    spare_machines: int = 2
    # PagerDuty 2021: 1.2 responders per incident on average; one operator works one incident
    # at a time, the others wait in the queue.
    responders: int = 1

    def with_params(
        self, params: dict[str, Any] | None, *, source: str = "params"
    ) -> HumanSettings:
        """A copy with fields overridden by name, validated by pydantic (unknown names refused).

        A nested mapping overrides only the keys it names (``ack_delay: {mean_s: 120}``); a
        number given for a range fixes it (``start_hour_of_day: 3`` always starts at 03:00).
        """
        if not params:
            return self
        overrides = dict(params)
        for key, value in params.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and isinstance(getattr(self, key, None), UniformRange):
                fixed = f"fixed by params to {value}"
                overrides[key] = {"low": value, "high": value, "source": fixed}
        return with_overrides(self, overrides, source=source)

    def is_night(self, time_s: float, start_hour: float) -> bool:
        """Whether ``time_s`` after a start at ``start_hour`` (local) falls in the night hours."""
        hour = (start_hour + time_s / 3600.0) % 24.0
        if self.night_start_h > self.night_end_h:
            return hour >= self.night_start_h or hour < self.night_end_h
        return self.night_start_h <= hour < self.night_end_h

    def describe(self) -> str:
        return (
            f"on-call operator ({self.responders} responder): alerts evaluated every "
            f"{self.rule_evaluation_s:.0f} s, "
            + ", ".join(f"{a.name} for {a.for_s / 60:.0f} min" for a in self.alerts)
            + f"; group wait {self.group_wait_s:.0f} s; acknowledgement lognormal mean "
            f"{self.ack_delay.mean_s / 60:.1f} min (x{self.night_ack_factor.low}-"
            f"{self.night_ack_factor.high} at night, runs starting at an hour drawn in "
            f"[{self.start_hour_of_day.low:g}, {self.start_hour_of_day.high:g}) h); "
            "diagnose and fix lognormal mean "
            f"{self.diagnose_and_fix.mean_s / 60:.0f} min; capacity review every "
            f"{self.review_interval_s.low / 3600:.0f}-{self.review_interval_s.high / 3600:.0f} h "
            f"sizing services with {self.slack.low:.0%}-{self.slack.high:.0%} slack, "
            f"{self.spare_machines} spare machines kept on, never powers off"
        )
