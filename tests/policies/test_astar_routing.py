"""A* rerouting: the search is optimal, the plans reach the goal, and the policy does not flap."""

from __future__ import annotations

import dataclasses
import heapq
import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.core.actions import Reroute, RestoreRoutes
from autoinfra.core.proposal import Finding, Outcome
from autoinfra.policies.healing import HealingPolicy
from autoinfra.policies.registry import make_policy
from autoinfra.policies.routing import (
    AStarReroutePolicy,
    RackView,
    RoutingSettings,
    astar,
    plan_reroutes,
    rack_view,
)
from tests.experiments.observations import make_observation


def _dijkstra(edges: dict[int, list[tuple[int, float]]], start: int, goal: int) -> float:
    dist = {start: 0.0}
    heap = [(0.0, start)]
    while heap:
        d, u = heapq.heappop(heap)
        if u == goal:
            return d
        if d > dist[u]:
            continue
        for v, w in edges.get(u, []):
            if d + w < dist.get(v, float("inf")):
                dist[v] = d + w
                heapq.heappush(heap, (d + w, v))
    return float("inf")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(3, 9).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(1, 9)),
                min_size=1,
                max_size=25,
            ),
        )
    )
)
def test_astar_matches_dijkstra_with_zero_and_exact_heuristics(graph: tuple) -> None:
    n, raw = graph
    edges: dict[int, list[tuple[int, float]]] = {}
    for u, v, w in raw:
        edges.setdefault(u, []).append((v, float(w)))
    goal = n - 1
    want = _dijkstra(edges, 0, goal)
    # exact remaining distance is the strongest admissible heuristic; zero the weakest
    exact = {u: _dijkstra(edges, u, goal) for u in range(n)}
    for h in (lambda s: 0.0, lambda s: exact[s] if exact[s] < float("inf") else 0.0):
        res = astar(0, lambda s: edges.get(s, []), h, lambda s: s == goal)
        if want == float("inf"):
            assert not res.reached_goal
        else:
            assert res.reached_goal and res.path[0] == 0 and res.path[-1] == goal
            assert res.cost == want
            cost = sum(
                min(w for v, w in edges[a] if v == b) for a, b in itertools.pairwise(res.path)
            )
            assert cost == want


def _apply(view: RackView, plan: tuple[int, ...]) -> tuple[float, ...]:
    w = list(view.weights)
    for link in plan:
        j = view.links.index(link)
        share = w[j] / (len(w) - 1)
        w = [0.0 if i == j else x + share for i, x in enumerate(w)]
    return tuple(w)


def _ok(view: RackView, w: tuple[float, ...], s: RoutingSettings) -> bool:
    u = view.utilization(w, s.link_capacity_mbps)
    return all(ui <= s.target_utilization for ui, wi in zip(u, w, strict=True) if wi > 0)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(2, 4).flatmap(lambda k: st.lists(st.floats(0.0, 1.2), min_size=k, max_size=k)),
    st.floats(500.0, 8000.0),
)
def test_plans_are_shortest_and_reach_the_goal(bg_share: list[float], egress: float) -> None:
    s = RoutingSettings()
    k = len(bg_share)
    view = RackView(0, tuple(range(k)), (1.0 / k,) * k, tuple(b * 1e4 for b in bg_share), egress)
    plan = plan_reroutes(view, s)
    # brute force every sequence of up to max_reroutes moves: the shortest that reaches the goal
    shortest = None
    for depth in range(s.max_reroutes + 1):
        for seq in itertools.product(range(k), repeat=depth):
            w = _apply(view, seq)
            if _ok(view, w, s):
                shortest = depth
                break
        if shortest is not None:
            break
    assert plan.reached_goal == (shortest is not None)
    if plan.reached_goal:
        assert len(plan.links) == shortest
        assert _ok(view, _apply(view, plan.links), s)
    else:  # best effort never predicts a higher peak than doing nothing
        assert plan.peak_after <= plan.peak_before + 1e-9


def _congested(t: float, link: int) -> Finding:
    return Finding("network_congestion", f"link:{link}", 0.8, t, {"rack": 0})


def _obs(util: list[float], t: float = 0.0):  # type: ignore[no-untyped-def]
    # 4 machines x 1000 Mbit/s in rack 0: the rack's egress is 4000 over two 10 Gbit/s uplinks
    return make_observation(
        n_links=len(util), time_s=t, egress_mbps=[1000.0] * 4, link_utilization=util
    )


def test_background_is_estimated_from_utilisation_and_egress() -> None:
    view = rack_view(_obs([1.1, 0.3]), 0, {}, 10_000.0)
    assert view.egress_mbps == 4000.0 and view.weights == (0.5, 0.5)
    assert np.allclose(view.background_mbps, (9000.0, 1000.0))


def test_reroutes_off_a_hot_link_when_the_other_has_room() -> None:
    pol = AStarReroutePolicy()
    out = pol.decide(_obs([1.1, 0.3]), [_congested(0, 0)])
    assert [p.action for p in out] == [Reroute(rack=0, away_from_link=0)]
    assert out[0].justification.inputs["reached_goal"] is True
    pol.observe_outcomes([Outcome("r", True, 0.0)], out)
    assert pol.weights == {0: 0.0, 1: 1.0}


def test_does_not_move_congestion_onto_a_loaded_link_where_the_rule_does() -> None:
    obs = _obs([1.1, 0.9])  # moving the rack onto link 1 would put it at 1.1: no better
    assert HealingPolicy().decide(obs, [_congested(0, 0)])  # the rule reroutes anyway
    assert AStarReroutePolicy().decide(obs, [_congested(0, 0)]) == []


def test_plans_on_the_capacity_the_backend_reports() -> None:
    # link 1 at 0.7: on 10 Gbit/s uplinks its background is 5000 and the rack's 4000 fits
    # (0.9); on the 5 Gbit/s the backend reports, it is 1500 and the rack would make it 1.1
    obs = _obs([1.1, 0.7])
    assert [p.action for p in AStarReroutePolicy().decide(obs, [_congested(0, 0)])] == [
        Reroute(rack=0, away_from_link=0)
    ]
    reported = dataclasses.replace(obs, extra={**obs.extra, "link_capacity_mbps": 5000.0})
    assert AStarReroutePolicy().decide(reported, [_congested(0, 0)]) == []
    for junk in (True, -1.0, "5000"):  # not a capacity: the setting is kept
        bad = dataclasses.replace(obs, extra={**obs.extra, "link_capacity_mbps": junk})
        assert AStarReroutePolicy().decide(bad, [_congested(0, 0)])


def test_waits_for_the_outcome_and_settles_before_replanning() -> None:
    pol = AStarReroutePolicy(RoutingSettings(settle_s=30.0))
    first = pol.decide(_obs([1.1, 0.3]), [_congested(0, 0)])
    assert [p.action for p in first] == [Reroute(rack=0, away_from_link=0)]
    assert pol.decide(_obs([1.1, 0.3], 10.0), [_congested(10, 0)]) == []  # outcome pending
    pol.observe_outcomes([Outcome("r", True, 10.0)], first)
    # link 1 now carries the whole rack and congests: with weights (0, 1) believed, link 0's
    # background is 5000 and moving back puts it at 0.9, under target
    assert pol.decide(_obs([0.5, 1.2], 20.0), [_congested(20, 1)]) == []  # settling
    nxt = pol.decide(_obs([0.5, 1.2], 45.0), [_congested(45, 1)])
    assert [p.action for p in nxt] == [Reroute(rack=0, away_from_link=1)]
    assert nxt[0].justification.inputs["peak_after"] == 0.9


def test_registered() -> None:
    assert isinstance(make_policy("healing.astar-v1"), AStarReroutePolicy)


def test_a_rerouted_rack_gets_its_equal_split_back_once_the_avoided_link_is_clear() -> None:
    pol = AStarReroutePolicy(RoutingSettings(settle_s=30.0, restore_after_s=120.0))
    first = pol.decide(_obs([1.1, 0.3]), [_congested(0, 0)])
    pol.observe_outcomes([Outcome("r", True, 0.0)], first)
    assert pol.weights == {0: 0.0, 1: 1.0}
    # the rack's 4000 now on link 1 (0.4 + its background 0.1); link 0 still carries 0.9 of
    # background: the equal split would put it at 1.1, so the reroute stays
    assert pol.decide(_obs([0.9, 0.5], 200.0), []) == []
    # the fault cleared (link 0 at 0.0), but not restore_after_s since the reroute yet
    assert pol.decide(_obs([0.0, 0.5], 100.0), []) == []
    out = pol.decide(_obs([0.0, 0.5], 200.0), [])
    assert [p.action for p in out] == [RestoreRoutes(rack=0)]
    assert out[0].justification.inputs["peak_after"] == 0.3  # 0.2 + 0.1 on link 1
    pol.observe_outcomes([Outcome("r", True, 200.0)], out)
    assert pol.weights == {}  # believed equal again
    assert pol.decide(_obs([0.2, 0.3], 400.0), []) == []  # nothing more to restore


def test_a_plan_from_a_rerouted_split_may_restore_it() -> None:
    # weights (0, 1) believed; link 1 congested by background, link 0 clear: one step fixes it
    view = RackView(0, (0, 1), (0.0, 1.0), (0.0, 8000.0), 4000.0)
    plan = plan_reroutes(view, RoutingSettings())
    assert plan.reached_goal and len(plan.steps) == 1
    assert plan.peak_after <= 0.95 and plan.peak_before == 1.2
