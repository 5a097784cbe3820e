"""A* rerouting: search the plans of ``Reroute`` actions for a rack, with link costs from telemetry.

The network is a graph of racks, their uplinks and the aggregation layer (the spine): each rack
reaches the spine only through its own uplinks, and its egress is split over them by weights
(equal at start, as ECMP does). ``Reroute(rack, away_from_link)`` sets one uplink's weight to zero
and shares it equally over the rack's other uplinks (``Mutations.reroute`` in ``sim``). A rack's
tasks are slowed while any uplink that carries its traffic runs above capacity.

The rule in ``policies.healing`` reroutes a rack off each congested link it sees. When the other
uplinks are loaded too, that only moves the congestion (and a second finding moves it back). This
policy instead searches, per rack with a congested uplink, for the shortest plan of reroutes that
leaves every uplink carrying the rack's traffic at or below ``target_utilization``:

- **state**: the rack's uplink weights; **moves**: reroute away from one uplink that carries
  weight (moving zero weight changes nothing), or, from any split but the equal one, restore the
  equal split (``RestoreRoutes``); **step cost**: 1 per action.
- **link cost from telemetry**: predicted utilisation of uplink ``l`` under weights ``w`` is
  ``(E x w_l + B_l) / capacity``, with ``E`` the rack's egress (sum of its machines' observed
  egress) and ``B_l`` the link's background load, estimated from the observed utilisation and the
  weights the policy believes are in force: ``B_l = max(0, u_l x capacity - E x w_l)``.
- **heuristic** (admissible and consistent): the number of uplinks that carry weight and are
  predicted above target, capped at one more than that number under the equal split. A reroute
  away from link ``j`` lowers only ``j``'s load and raises the others', so each such uplink needs
  a reroute of its own; a plan that restores passes through the equal split, from which the
  shortest plan never restores again (it would come back to where it was).

**Back to the equal split.** A reroute is one-way: once the avoided link's fault has cleared,
the rack would otherwise keep all its traffic on the links it was moved to for good, with half
its uplink capacity or less (a rack of large machines then congests its one link with ordinary
traffic). So a rack this policy rerouted is restored, without any finding, once it has carried
the reroute for ``restore_after_s`` and the equal split is predicted at or below
``target_utilization`` on every uplink and no higher than the rack's peak now. The avoided link
carries only background, so its estimate is the measurement itself.

When no plan reaches the goal within ``max_reroutes`` (every uplink is loaded), the best state
found is the one with the least predicted slowdown of the rack (the highest utilisation among the
uplinks carrying weight); the policy proposes its first step only if that beats doing nothing by
``min_gain``. So it does not flap between two congested uplinks.

Belief about weights: equal at start and changed only by this policy's own successful reroutes
(the weights are not observable); a rack rerouted by someone else is mis-estimated, which the
background estimate partly absorbs. Other repair kinds are handled by ``HealingPolicy``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np

from autoinfra.core.actions import Reroute, RestoreRoutes
from autoinfra.core.errors import ConfigError
from autoinfra.core.incidents import IncidentKind
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Outcome, Proposal
from autoinfra.policies.healing import REPAIR_KINDS, HealingPolicy, HealingSettings

__all__ = [
    "AStarReroutePolicy",
    "Plan",
    "RackView",
    "RoutingSettings",
    "astar",
    "is_equal_split",
    "peak_utilization",
    "plan_reroutes",
]

S = TypeVar("S", bound=Hashable)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    # SimSettings.link_capacity_gbps x 1000; a backend that reports its uplinks' capacity
    # (``extra["link_capacity_mbps"]``, as ``sim.observe`` does) is believed instead
    link_capacity_mbps: float = 10_000.0
    target_utilization: float = 0.95  # goal: every uplink carrying traffic at or below this
    max_reroutes: int = 3  # plan depth bound
    max_expansions: int = 2_000  # search budget per rack and decision
    min_gain: float = 0.02  # a best-effort plan must lower the rack's peak utilisation this much
    settle_s: float = 30.0  # after a reroute of a rack, wait this long for telemetry to show it
    # a rerouted rack is restored to the equal split no sooner than this after its last reroute
    # (a fault that cleared is gone for good; this bounds a reroute-restore cycle, if the
    # background came back, to one per restore_after_s)
    restore_after_s: float = 120.0
    wait_timeout_s: float = 600.0  # a reroute whose outcome never came may be proposed again

    def __post_init__(self) -> None:
        for name in ("link_capacity_mbps", "target_utilization"):
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"expected a positive {name}, got {getattr(self, name)}", field=name
                )
        if self.max_reroutes < 1 or self.max_expansions < 1:
            raise ConfigError("max_reroutes and max_expansions must be >= 1", field="max_reroutes")


@dataclass(frozen=True, slots=True)
class SearchResult(Generic[T]):
    path: tuple[T, ...]  # states from start to the end state, inclusive
    cost: float
    expanded: int
    reached_goal: bool


def astar(
    start: S,
    neighbours: Callable[[S], Iterable[tuple[S, float]]],
    heuristic: Callable[[S], float],
    is_goal: Callable[[S], bool],
    *,
    max_expansions: int = 10_000,
    fallback: Callable[[S], float] | None = None,
) -> SearchResult[S]:
    """A* from ``start``; ``heuristic`` must not overestimate the cost to a goal.

    Returns the cheapest path to a goal. If none is found within ``max_expansions`` (or the
    space is exhausted), returns the path to the expanded state with the lowest ``fallback``
    score (ties: the cheaper path), or just ``start`` when no fallback is given.
    """
    tie = itertools.count()  # FIFO among equal f, so results do not depend on state ordering
    frontier: list[tuple[float, int, S]] = [(heuristic(start), next(tie), start)]
    g: dict[S, float] = {start: 0.0}
    parent: dict[S, S] = {}
    closed: set[S] = set()
    best, best_key = start, (fallback(start) if fallback else 0.0, 0.0)
    expanded = 0

    def path_to(s: S) -> tuple[S, ...]:
        out = [s]
        while out[-1] in parent:
            out.append(parent[out[-1]])
        return tuple(reversed(out))

    while frontier and expanded < max_expansions:
        _, _, s = heapq.heappop(frontier)
        if s in closed:
            continue
        if is_goal(s):
            return SearchResult(path_to(s), g[s], expanded, True)
        closed.add(s)
        expanded += 1
        if fallback is not None:
            key = (fallback(s), g[s])
            if key < best_key:
                best, best_key = s, key
        for nxt, step in neighbours(s):
            cost = g[s] + step
            if nxt in closed or cost >= g.get(nxt, float("inf")):
                continue
            g[nxt], parent[nxt] = cost, s
            heapq.heappush(frontier, (cost + heuristic(nxt), next(tie), nxt))
    return SearchResult(path_to(best), g[best], expanded, False)


def reported_capacity_mbps(obs: Observation, default: float) -> float:
    """The uplinks' capacity the backend reports (``extra["link_capacity_mbps"]``), else
    ``default``: a plan on a wrong capacity misjudges every link's background load."""
    got = obs.extra.get("link_capacity_mbps")
    if isinstance(got, int | float) and not isinstance(got, bool) and got > 0:
        return float(got)
    return default


@dataclass(frozen=True, slots=True)
class RackView:
    """One rack's uplinks as the search sees them: believed weights and estimated background."""

    rack: int
    links: tuple[int, ...]  # link indices
    weights: tuple[float, ...]
    background_mbps: tuple[float, ...]
    egress_mbps: float

    def utilization(self, weights: Sequence[float], capacity_mbps: float) -> list[float]:
        return [
            (self.egress_mbps * w + b) / capacity_mbps
            for w, b in zip(weights, self.background_mbps, strict=True)
        ]


def rack_view(
    obs: Observation, rack: int, weights: dict[int, float], capacity_mbps: float
) -> RackView:
    links = tuple(int(x) for x in np.flatnonzero(obs.link_rack == rack))
    egress = float(obs.egress_mbps[obs.rack == rack].astype(np.float64).sum())
    w = tuple(weights.get(link, 1.0 / len(links)) for link in links)
    bg = tuple(
        max(0.0, float(obs.link_utilization[link]) * capacity_mbps - egress * wl)
        for link, wl in zip(links, w, strict=True)
    )
    return RackView(rack, links, w, bg, egress)


def _rerouted(weights: tuple[float, ...], j: int) -> tuple[float, ...]:
    share = weights[j] / (len(weights) - 1)
    return tuple(0.0 if i == j else round(w + share, 12) for i, w in enumerate(weights))


def _equal(n: int) -> tuple[float, ...]:
    return tuple(round(1.0 / n, 12) for _ in range(n))


def is_equal_split(weights: Sequence[float]) -> bool:
    """Whether a rack's uplink weights are the equal split (ECMP's; no reroute in force)."""
    n = len(weights)
    return n > 0 and all(abs(w - 1.0 / n) <= 1e-9 for w in weights)


RESTORE: None = None  # a plan step that restores the equal split (``RestoreRoutes``)


@dataclass(frozen=True, slots=True)
class Plan:
    # each step: reroute away from this link (a link index), or RESTORE the equal split
    steps: tuple[int | None, ...]
    peak_before: float  # highest predicted utilisation among uplinks carrying traffic
    peak_after: float
    reached_goal: bool
    expanded: int

    @property
    def links(self) -> tuple[int, ...]:
        """The reroutes of the plan, in order (link indices)."""
        return tuple(x for x in self.steps if x is not None)


def peak_utilization(view: RackView, weights: Sequence[float], capacity_mbps: float) -> float:
    """The highest predicted utilisation among the uplinks that carry the rack's traffic."""
    u = view.utilization(weights, capacity_mbps)
    return max((ui for ui, wi in zip(u, weights, strict=True) if wi > 0), default=0.0)


def plan_reroutes(view: RackView, settings: RoutingSettings) -> Plan:
    """The shortest plan of reroutes and restores that brings the rack's loaded uplinks to
    target (A*)."""
    cap, target = settings.link_capacity_mbps, settings.target_utilization
    n = len(view.links)
    equal = _equal(n) if n else ()

    def peak(state: tuple[tuple[float, ...], int]) -> float:
        return peak_utilization(view, state[0], cap)

    def over_w(w: tuple[float, ...]) -> int:
        u = view.utilization(w, cap)
        return sum(1 for ui, wi in zip(u, w, strict=True) if wi > 0 and ui > target)

    over_equal = over_w(equal) if n else 0

    def heuristic(state: tuple[tuple[float, ...], int]) -> float:
        w = state[0]
        if is_equal_split(w):
            return float(over_w(w))
        return float(min(over_w(w), 1 + over_equal))

    def neighbours(
        state: tuple[tuple[float, ...], int],
    ) -> list[tuple[tuple[tuple[float, ...], int], float]]:
        w, depth = state
        if depth >= settings.max_reroutes or n < 2:
            return []
        out = [((_rerouted(w, j), depth + 1), 1.0) for j in range(n) if w[j] > 0]
        if not is_equal_split(w):
            out.append(((equal, depth + 1), 1.0))
        return out

    start = (view.weights, 0)
    res = astar(
        start,
        neighbours,
        heuristic,
        lambda s: over_w(s[0]) == 0,
        max_expansions=settings.max_expansions,
        fallback=peak,
    )
    steps: list[int | None] = []
    for a, b in itertools.pairwise(res.path):
        if is_equal_split(b[0]):
            steps.append(RESTORE)  # a reroute always leaves one link at zero: never equal
        else:
            steps.append(next(view.links[j] for j in range(n) if a[0][j] > 0 and b[0][j] == 0))
    return Plan(tuple(steps), peak(start), peak(res.path[-1]), res.reached_goal, res.expanded)


@dataclass(slots=True)
class _RackState:
    pending_since_s: float | None = None
    last_reroute_s: float = -float("inf")
    plans: int = 0


class AStarReroutePolicy:
    """Healing with A*-planned reroutes (and restores); other repairs as ``HealingPolicy``."""

    policy_id = "healing.astar-v1"

    def __init__(
        self, settings: RoutingSettings | None = None, healing: HealingSettings | None = None
    ) -> None:
        self.settings = settings or RoutingSettings()
        self._base = HealingPolicy(healing, kinds=REPAIR_KINDS - {IncidentKind.NETWORK_CONGESTION})
        self.weights: dict[int, float] = {}  # believed uplink weights, by link index
        self._racks: dict[int, _RackState] = {}
        self._links_of: dict[int, tuple[int, ...]] = {}

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        s, now = self.settings, observation.time_s
        out = self._base.decide(observation, findings)
        congested = [
            f for f in findings if f.kind == IncidentKind.NETWORK_CONGESTION and "rack" in f.detail
        ]
        capacity = reported_capacity_mbps(observation, s.link_capacity_mbps)
        planning = replace(s, link_capacity_mbps=capacity)
        hot = sorted({int(f.detail["rack"]) for f in congested})
        for rack in hot:
            st = self._racks.setdefault(rack, _RackState())
            if not self._may_act(st, now):
                continue
            view = rack_view(observation, rack, self.weights, capacity)
            self._links_of[rack] = view.links
            plan = plan_reroutes(view, planning)
            if not plan.steps or (
                not plan.reached_goal and plan.peak_before - plan.peak_after < s.min_gain
            ):
                continue
            rack_findings = tuple(f for f in congested if int(f.detail["rack"]) == rack)
            out.append(self._propose(st, rack, plan, now, rack_findings))
        for rack in sorted(set(self._racks) - set(hot)):
            restore = self._restore(observation, rack, capacity, now)
            if restore is not None:
                out.append(restore)
        return out

    def _may_act(self, st: _RackState, now: float) -> bool:
        s = self.settings
        if st.pending_since_s is not None and now - st.pending_since_s < s.wait_timeout_s:
            return False
        return now - st.last_reroute_s >= s.settle_s

    def _propose(
        self,
        st: _RackState,
        rack: int,
        plan: Plan,
        now: float,
        findings: tuple[Finding, ...],
    ) -> Proposal:
        st.pending_since_s, st.plans = now, st.plans + 1
        first = plan.steps[0]
        shown = ["equal split" if x is RESTORE else x for x in plan.steps]
        reason = (
            f"A* plan for rack {rack}: {shown} "
            f"(peak {plan.peak_before:.2f} -> {plan.peak_after:.2f}, "
            f"{'goal' if plan.reached_goal else 'best effort'})"
        )
        inputs = {
            "plan": shown,
            "peak_before": round(plan.peak_before, 4),
            "peak_after": round(plan.peak_after, 4),
            "reached_goal": plan.reached_goal,
            "expanded": plan.expanded,
        }
        action: Reroute | RestoreRoutes = (
            RestoreRoutes(rack=rack)
            if first is RESTORE
            else Reroute(rack=rack, away_from_link=first)
        )
        severity = max((f.severity for f in findings), default=0.0)
        return Proposal(
            action,
            "",
            0,
            Justification(reason, inputs, "the rack's traffic leaves its congested uplinks"),
            0.5 + 0.5 * max(0.0, min(1.0, severity)),
            findings=findings,
        )

    def _restore(
        self, obs: Observation, rack: int, capacity: float, now: float
    ) -> Proposal | None:
        """The equal split back for a rack this policy rerouted, once it fits (module docs)."""
        s = self.settings
        st = self._racks[rack]
        rerouted = any(x in self.weights for x in self._links_of.get(rack, ()))
        if not rerouted or not self._may_act(st, now):
            return None  # a restore empties the rack's believed weights (observe_outcomes)
        if now - st.last_reroute_s < s.restore_after_s:
            return None
        view = rack_view(obs, rack, self.weights, capacity)
        if len(view.links) < 2 or is_equal_split(view.weights):
            return None
        now_peak = peak_utilization(view, view.weights, capacity)
        equal_peak = peak_utilization(view, _equal(len(view.links)), capacity)
        if equal_peak > s.target_utilization or equal_peak > now_peak + 1e-9:
            return None
        st.pending_since_s, st.plans = now, st.plans + 1
        reason = (
            f"rack {rack} rerouted {now - st.last_reroute_s:.0f} s ago; the equal split is "
            f"predicted at {equal_peak:.2f} (now {now_peak:.2f}): every uplink carries it again"
        )
        inputs = {
            "peak_before": round(now_peak, 4),
            "peak_after": round(equal_peak, 4),
            "weights": [round(w, 4) for w in view.weights],
        }
        return Proposal(
            RestoreRoutes(rack=rack),
            "",
            0,
            Justification(reason, inputs, "the rack's traffic is spread over all its uplinks"),
            0.8,
        )

    def observe_outcomes(self, outcomes: Sequence[Outcome], proposals: Sequence[Proposal]) -> None:
        rest: list[tuple[Outcome, Proposal]] = []
        for outcome, proposal in zip(outcomes, proposals, strict=True):
            action = proposal.action
            if not isinstance(action, Reroute | RestoreRoutes) or action.rack not in self._racks:
                rest.append((outcome, proposal))
                continue
            st = self._racks[action.rack]
            st.pending_since_s = None
            if not outcome.succeeded:
                continue
            st.last_reroute_s = outcome.at_s
            if isinstance(action, Reroute):
                self._apply(action.rack, action.away_from_link)
            else:
                for x in self._links_of.get(action.rack, ()):
                    self.weights.pop(x, None)  # believed equal again
        if rest:
            self._base.observe_outcomes([o for o, _ in rest], [p for _, p in rest])

    def _apply(self, rack: int, link: int) -> None:
        """Mirror the backend's reroute in the belief (the same rule as ``Mutations.reroute``)."""
        links = self._links_of.get(rack, ())
        if link not in links or len(links) < 2:
            return
        w = tuple(self.weights.get(x, 1.0 / len(links)) for x in links)
        for x, wx in zip(links, _rerouted(w, links.index(link)), strict=True):
            self.weights[x] = wx
