"""Rewards for the scaling learners: named, versioned, with their weights stated.

A reward is what a learned policy ends up optimising, so it is data with an id (``slo-energy-v1``)
that every trained artifact records; changing a weight or a term means a new id, never an edit in
place, or old tables would silently mean something else.

Every term is per service and bounded, so one shared Q-table sees comparable rewards from
services of very different sizes (1 to 240 replicas in the shipped slice); absolute CPU made the
estimates of one state mix rewards two orders of magnitude apart, and in mid-utilisation states
the greedy choice came down to that noise.

``slo-energy-v1`` (per service, per decision period)::

    r = -(w_slo x slo_violation + w_energy x idle_footprint + w_action x |delta_replicas|)

- ``slo_violation`` in [0, 1]: share of the period's samples in which the service missed its SLO:
  less than 99 % of its demand was served (throttled, stranded, replicas not running or at their
  limit: the simulator's own rule, ``SimSettings.slo_served_share``) or its replicas ran above
  ``slo_utilisation`` of their CPU request. The latter is the latency proxy autoscalers use:
  queueing delay grows as 1 / (1 - utilisation), ten times the service time at 0.9.
- ``idle_footprint`` in [0, 1]: reserved CPU (running replicas x request) left unused, as a share
  of the most the service may reserve (max replicas x request), averaged over the period. The
  simulator's power model charges for used CPU only, so extra replicas cost no watts there; what
  they cost is capacity that must stay powered (a machine cannot be consolidated and switched off
  while it holds reservations). Every replica freed lowers the term, at any utilisation (a share
  of the *current* reservation would not: at 1 % utilisation 4 replicas and 3 are both "99 %
  idle").
- ``|delta_replicas|``: each replica started or stopped has a cost (cold starts, churn, and the
  human attention a busy autoscaler draws).

Weights (a stated choice, not fitted to any result): a service missing its SLO for a period costs
1; holding its whole maximum footprint idle for a period costs the same; one replica changed
costs 0.02, so a change must pay for itself within a few periods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class RewardSpec:
    """A versioned reward: the weights of its terms and the SLO threshold it judges by.

    ``Spec``, not ``Settings``: a registry spec whose id (``slo-energy-v1``) fixes its meaning
    for every artifact that records it; a change is a new id, never an edit of these values.
    """

    id: str
    w_slo: float  # per unit of SLO-violation share
    w_energy: float  # per unit of idle share of the service's maximum footprint, per period
    w_action: float  # per replica added or removed
    slo_utilisation: float  # replica utilisation (used / request) above which the SLO is missed
    slo_served_share: float  # a service served less than this share of its demand misses its SLO
    description: str


REWARDS: dict[str, RewardSpec] = {
    "slo-energy-v1": RewardSpec(
        id="slo-energy-v1",
        w_slo=1.0,
        w_energy=1.0,
        w_action=0.02,
        slo_utilisation=0.9,
        # the simulator's own SLO rule (SimSettings.slo_served_share), so both count the same misses
        slo_served_share=0.99,
        description=(
            "-(1.0 x SLO-violation share + 1.0 x idle reserved CPU as a share of max replicas x "
            "request + 0.02 x |replicas changed|) per service per decision period; SLO missed "
            "when under 99 % of demand is served or replica utilisation > 0.9"
        ),
    ),
}
DEFAULT_REWARD = "slo-energy-v1"


def get_reward(reward_id: str) -> RewardSpec:
    try:
        return REWARDS[reward_id]
    except KeyError:
        raise ConfigError(
            f"unknown reward {reward_id!r}; known: {sorted(REWARDS)}", field="reward"
        ) from None


@dataclass(frozen=True, slots=True, eq=False)
class ServiceSample:
    """What one observation says about each service, as arrays aligned on service index."""

    demand_cpu: F64  # CPU the service wanted (served + unserved)
    used_cpu: F64  # CPU it got
    reserved_cpu: F64  # running replicas x request per replica
    footprint_cpu: F64  # max replicas x request per replica: the most it may reserve


def sample_from_observation(
    observation: Observation, max_replicas: npt.ArrayLike | None = None
) -> ServiceSample:
    """Measure every service from what monitoring sees.

    Demand beyond what was served is only visible when the backend reports it
    (``observation.extra["service_cpu_demand"]``); without it, demand is taken as the CPU used,
    and the SLO is judged by replica utilisation and missing replicas alone. The maximum replicas
    come from ``max_replicas``, else ``observation.extra["service_max_replicas"]``, else the
    desired replicas (the footprint is then the current reservation).
    """
    used = observation.service_cpu_used.astype(np.float64)
    extra = observation.extra.get("service_cpu_demand")
    demand = used if extra is None else np.maximum(np.asarray(extra, dtype=np.float64), used)
    request = observation.service_cpu_request.astype(np.float64)
    top = (
        max_replicas if max_replicas is not None else observation.extra.get("service_max_replicas")
    )
    top = observation.service_replicas if top is None else top
    return ServiceSample(
        demand_cpu=demand,
        used_cpu=used,
        reserved_cpu=observation.service_running * request,
        footprint_cpu=np.maximum(np.asarray(top, dtype=np.float64), 1.0) * request,
    )


def violation(spec: RewardSpec, sample: ServiceSample) -> F64:
    """1.0 where the service misses its SLO in this sample, else 0.0 (services with no demand
    and nothing reserved are idle, not violating)."""
    unserved = sample.used_cpu < spec.slo_served_share * sample.demand_cpu
    hot = sample.used_cpu > spec.slo_utilisation * sample.reserved_cpu
    starved = (sample.reserved_cpu <= 0) & (sample.demand_cpu > 0)
    return (unserved | hot | starved).astype(np.float64)


def idle_footprint(sample: ServiceSample) -> F64:
    """Reserved CPU left unused, as a share of the service's maximum footprint (0..1)."""
    idle = np.maximum(sample.reserved_cpu - sample.used_cpu, 0.0)
    fp = sample.footprint_cpu
    return np.minimum(np.divide(idle, fp, out=np.zeros_like(idle), where=fp > 0), 1.0)


@overload
def combine(spec: RewardSpec, slo: F64, idle: F64, delta_replicas: I64) -> F64: ...


@overload
def combine(spec: RewardSpec, slo: float, idle: float, delta_replicas: int) -> float: ...


def combine(
    spec: RewardSpec, slo: F64 | float, idle: F64 | float, delta_replicas: I64 | int
) -> F64 | float:
    """The reward formula, written once: ``-(w_slo x slo + w_energy x idle + w_action x |delta|)``.

    Per service: ``slo`` the violation share, ``idle`` the idle footprint share (each a mean over
    a period offline, one sample online) and ``delta_replicas`` the replicas started or stopped.
    Arrays (every service) or plain numbers (one service: ``ClusterEnv``), the same arithmetic.
    """
    if not isinstance(delta_replicas, np.ndarray):  # one service: plain floats, no array calls
        return -(
            spec.w_slo * slo + spec.w_energy * idle + spec.w_action * float(abs(delta_replicas))
        )
    return -(
        spec.w_slo * slo
        + spec.w_energy * idle
        + spec.w_action * np.abs(delta_replicas).astype(np.float64)
    )


@dataclass(slots=True)
class PeriodMeter:
    """Accumulates the samples of one decision period, then gives each service its reward."""

    spec: RewardSpec
    _violation: F64 | None = None
    _idle: F64 | None = None
    _n: int = 0

    def add(self, sample: ServiceSample) -> None:
        v, i = violation(self.spec, sample), idle_footprint(sample)
        if self._violation is None or self._idle is None or self._violation.shape != v.shape:
            self._violation, self._idle, self._n = v, i, 1
            return
        self._violation = self._violation + v
        self._idle = self._idle + i
        self._n += 1

    def terms(self, n_services: int) -> tuple[F64, F64]:
        """Mean violation share and mean idle footprint share over the period's samples."""
        if self._violation is None or self._idle is None or self._n == 0:
            return np.zeros(n_services), np.zeros(n_services)
        return self._violation / self._n, self._idle / self._n

    def reward(self, delta_replicas: I64) -> F64:
        """Reward of each service for the period, then start a new period."""
        slo, idle = self.terms(delta_replicas.shape[0])
        self._violation, self._idle, self._n = None, None, 0
        return combine(self.spec, slo, idle, delta_replicas)
