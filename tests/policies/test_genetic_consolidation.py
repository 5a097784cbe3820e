"""Genetic drain search: feasible plans only, never worse than the greedy, seeded and bounded."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.core.actions import DrainMachine
from autoinfra.core.errors import ConfigError
from autoinfra.policies.consolidation import ConsolidationPolicy, ConsolidationSettings
from autoinfra.policies.genetic import (
    DrainProblem,
    GeneticConsolidationPolicy,
    GeneticSettings,
    genetic_drains,
)
from autoinfra.policies.registry import make_policy
from tests.experiments.observations import make_observation


def _problem(
    cpu: list[float], room: list[float], tasks: list[int], max_drains: int
) -> DrainProblem:
    n = len(cpu)
    return DrainProblem(
        cpu=np.array(cpu),
        mem=np.zeros(n),
        capacity=np.ones(n),
        tasks=np.array(tasks, dtype=np.int64),
        room_cpu=np.array(room),
        room_mem=np.ones(len(room)),
        position=np.arange(n, dtype=np.int64),  # the candidates are the first machines
        budget_cpu=float(n),
        max_drains=max_drains,
    )


def test_finds_the_set_the_greedy_stops_short_of() -> None:
    # seeded with machine 0 alone; 0.1 + 0.3 + 0.3 fit the one room of 0.75 together
    p = _problem([0.1, 0.6, 0.3, 0.3], [0.0, 0.0, 0.0, 0.0, 0.75], [1, 1, 1, 1], 4)
    greedy = np.array([True, False, False, False])
    best, fig = genetic_drains(
        p, GeneticSettings(seed=1, generations=40), np.random.default_rng(1), [greedy]
    )
    assert p.feasible(best)
    assert best.tolist() == [True, False, True, True]
    assert fig["generations"] <= 40


def test_prefers_fewer_moves_among_plans_freeing_as_many_machines() -> None:
    p = _problem([0.2, 0.2], [0.0, 0.0, 0.25], [30, 2], 1)
    best, _ = genetic_drains(
        p, GeneticSettings(seed=0), np.random.default_rng(0), [np.array([True, False])]
    )
    assert best.tolist() == [False, True]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 0.5), min_size=1, max_size=8),
    st.lists(st.floats(0.0, 0.6), min_size=1, max_size=4),
    st.integers(0, 2**31 - 1),
)
def test_result_is_feasible_and_at_least_as_fit_as_its_seed(
    cpu: list[float], extra_room: list[float], seed: int
) -> None:
    n = len(cpu)
    p = _problem(cpu, [0.1] * n + extra_room, list(range(1, n + 1)), 3)
    greedy = np.zeros(n, dtype=bool)
    gs = GeneticSettings(seed=seed, generations=5, population=8)
    best, _ = genetic_drains(p, gs, np.random.default_rng(seed), [greedy])
    assert p.feasible(best)
    assert int(best.sum()) <= 3
    assert p.fitness(best, gs.move_weight) >= p.fitness(greedy, gs.move_weight)
    again, _ = genetic_drains(p, gs, np.random.default_rng(seed), [greedy])
    assert again.tolist() == best.tolist()  # seeded: the same plan


def _light_cell():  # type: ignore[no-untyped-def]
    # 6 machines of 1 CPU: 4 lightly requested, 2 with room; plenty of free capacity overall
    return make_observation(
        n_machines=6,
        cpu_capacity=[1.0] * 6,
        mem_capacity=[1.0] * 6,
        cpu_requested=[0.15, 0.2, 0.1, 0.25, 0.3, 0.3],
        mem_requested=[0.1] * 6,
        tasks_running=[3, 1, 4, 2, 3, 3],
    )


def test_policy_drains_at_least_what_ffd_drains_on_the_same_observation() -> None:
    cs = ConsolidationSettings(max_drains=5)
    obs = _light_cell()
    ffd = [p.action for p in ConsolidationPolicy(cs).decide(obs, [])]
    ga_pol = GeneticConsolidationPolicy(cs, GeneticSettings(seed=3))
    drains = [p for p in ga_pol.decide(obs, []) if isinstance(p.action, DrainMachine)]
    assert len(drains) >= len([a for a in ffd if isinstance(a, DrainMachine)]) > 0
    assert ga_pol.last_search["generations"] >= 1
    assert "genetic search" in drains[0].justification.reason


def test_beats_the_greedy_where_a_light_machine_does_not_fit_by_memory() -> None:
    # machine 0 is the lightest by CPU but its memory fits nowhere: the greedy stops there;
    # machines 1 and 2 together fit into machine 3's room (CPU 0.6, memory 0.3)
    obs = make_observation(
        n_machines=4,
        cpu_capacity=[1.0] * 4,
        mem_capacity=[1.0] * 4,
        cpu_requested=[0.1, 0.2, 0.3, 0.3],
        mem_requested=[0.9, 0.1, 0.1, 0.6],
    )
    cand, stay = np.array([0, 1, 2], dtype=np.int64), np.ones(4, dtype=bool)
    assert ConsolidationPolicy()._choose_drains(obs, cand, stay, 10.0) == []
    got = GeneticConsolidationPolicy(genetic=GeneticSettings(seed=5))._choose_drains(
        obs, cand, stay, 10.0
    )
    assert sorted(got) == [1, 2]


def test_bad_settings_are_refused_and_policy_is_registered() -> None:
    for bad in ({"population": 1}, {"elite": 30}, {"time_budget_s": 0.0}):
        try:
            GeneticSettings(**bad)
        except ConfigError:
            continue
        raise AssertionError(f"{bad} accepted")
    assert isinstance(make_policy("consolidation.genetic-v1"), GeneticConsolidationPolicy)
