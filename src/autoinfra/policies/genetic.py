"""A genetic search for which machines to drain, beside first-fit decreasing's greedy choice.

``ConsolidationPolicy`` picks drains greedily: lightest machine first, stopping at the first one
whose load no longer fits (FFD) into the room of the machines that stay. That misses sets where a
heavier machine does not fit but the next ones would, and it ignores how many tasks each drain
moves. This module searches the subsets instead:

- **chromosome**: one bit per drain candidate (the same candidates the greedy sees);
- **feasible**: at most ``max_drains`` bits, drained capacity within the budget the policy allows,
  and first-fit decreasing places every drained machine's requested CPU and memory into the room
  (up to ``1 - bin_headroom_share``) of the machines that stay, candidates left on included: the
  same test the greedy applies, so a plan is never riskier than one the greedy could make;
- **fitness**: machines drained minus ``move_weight`` x tasks moved (so a drained machine is worth
  more than any realistic number of moves, and among plans freeing as many machines the one that
  moves fewer tasks wins);
- **search**: tournament selection, uniform crossover, bit-flip mutation, a repair step that
  drops the heaviest drained machine until the plan is feasible, and elitism. The population is
  seeded with the greedy's plan, so the result is never worse than it on this fitness.

Seeded (``GeneticSettings.seed``; one generator per policy, so a run is reproducible) and bounded
by ``generations`` and ``time_budget_s`` per decision. Everything else (when to consolidate, idle
power-off, dwell, power-on) is ``ConsolidationPolicy``'s, unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.policies.consolidation import (
    ConsolidationPolicy,
    ConsolidationSettings,
    first_fit_decreasing,
)

__all__ = ["DrainProblem", "GeneticConsolidationPolicy", "GeneticSettings", "genetic_drains"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class GeneticSettings:
    population: int = 24
    generations: int = 30
    time_budget_s: float = 0.2  # wall clock per decision; the search stops at whichever is first
    crossover_rate: float = 0.9
    mutation_rate: float = 0.0  # per bit; 0 means 1 / number of candidates
    tournament: int = 3
    elite: int = 2
    move_weight: float = 0.01  # fitness per task moved, in machines drained
    seed: int = 0

    def __post_init__(self) -> None:
        if self.population < 2 or self.generations < 0 or self.elite >= self.population:
            raise ConfigError(
                f"expected population >= 2, generations >= 0, elite < population; got "
                f"{self.population}, {self.generations}, {self.elite}",
                field="population",
            )
        if self.time_budget_s <= 0 or not 0 <= self.mutation_rate <= 1:
            raise ConfigError(
                "expected time_budget_s > 0 and 0 <= mutation_rate <= 1", field="time_budget_s"
            )


@dataclass(frozen=True, slots=True)
class DrainProblem:
    """Drain candidates, and the room of every machine that may receive load, in machine order
    (first-fit depends on the order of the bins, so it is the greedy's order)."""

    cpu: F64  # requested CPU of each candidate
    mem: F64
    capacity: F64  # CPU capacity of each candidate (counts against the budget)
    tasks: I64  # tasks each candidate would move
    room_cpu: F64  # free room of each machine that stays unless drained (candidates included)
    room_mem: F64
    position: I64  # each candidate's index into room_cpu / room_mem
    budget_cpu: float
    max_drains: int

    @property
    def n(self) -> int:
        return int(self.cpu.shape[0])

    def feasible(self, x: Bool) -> bool:
        if not x.any():
            return True  # doing nothing is always allowed (even with no budget left)
        if int(x.sum()) > self.max_drains or float(self.capacity[x].sum()) > self.budget_cpu:
            return False
        stay = np.ones(self.room_cpu.shape[0], dtype=bool)
        stay[self.position[x]] = False
        return (
            first_fit_decreasing(self.cpu[x], self.mem[x], self.room_cpu[stay], self.room_mem[stay])
            is not None
        )

    def fitness(self, x: Bool, move_weight: float) -> float:
        return float(x.sum()) - move_weight * float(self.tasks[x].sum())


def _repair(p: DrainProblem, x: Bool) -> Bool:
    """Drop the heaviest drained machine until the plan is feasible (the empty plan is)."""
    x = x.copy()
    while not p.feasible(x):
        on = np.flatnonzero(x)
        x[on[np.argmax(p.cpu[on])]] = False
    return x


def genetic_drains(
    p: DrainProblem, settings: GeneticSettings, rng: np.random.Generator, seeds: list[Bool]
) -> tuple[Bool, dict[str, float]]:
    """The best feasible drain set found, and search figures (generations, evaluations, s)."""
    s, n = settings, p.n
    t0 = time.perf_counter()
    if n == 0:
        return np.zeros(0, dtype=bool), {"generations": 0, "evaluations": 0, "elapsed_s": 0.0}
    rate = s.mutation_rate or 1.0 / n
    # a random individual drains about max_drains / 2 candidates: dense ones are mostly repaired
    p_on = min(1.0, max(1, p.max_drains) / (2.0 * n))
    pop = [_repair(p, x) for x in seeds]
    while len(pop) < s.population:
        pop.append(_repair(p, rng.random(n) < p_on))
    fit = np.array([p.fitness(x, s.move_weight) for x in pop])
    evaluations, gen = len(pop), 0
    while gen < s.generations and time.perf_counter() - t0 < s.time_budget_s:
        gen += 1
        order = np.argsort(-fit, kind="stable")
        nxt = [pop[i] for i in order[: s.elite]]
        while len(nxt) < s.population:
            a, b = (pop[_tournament(fit, s.tournament, rng)] for _ in range(2))
            child = np.where(rng.random(n) < 0.5, a, b) if rng.random() < s.crossover_rate else a
            child = child ^ (rng.random(n) < rate)
            nxt.append(_repair(p, child))
        pop = nxt
        fit = np.array([p.fitness(x, s.move_weight) for x in pop])
        evaluations += len(pop) - s.elite
    best = int(np.argmax(fit))
    figures = {
        "generations": float(gen),
        "evaluations": float(evaluations),
        "elapsed_s": time.perf_counter() - t0,
        "fitness": float(fit[best]),
    }
    return pop[best], figures


def _tournament(fit: F64, k: int, rng: np.random.Generator) -> int:
    idx = rng.integers(0, fit.shape[0], size=k)
    return int(idx[np.argmax(fit[idx])])


class GeneticConsolidationPolicy(ConsolidationPolicy):
    """``ConsolidationPolicy`` with the drain set chosen by the genetic search."""

    policy_id = "consolidation.genetic-v1"
    drain_planner = "genetic search"

    def __init__(
        self, settings: ConsolidationSettings | None = None, genetic: GeneticSettings | None = None
    ) -> None:
        super().__init__(settings)
        self.genetic = genetic or GeneticSettings()
        self._rng = np.random.default_rng(self.genetic.seed)
        self.last_search: dict[str, float] = {}

    def _choose_drains(
        self, obs: Observation, candidates: I64, stay_base: Bool, budget: float
    ) -> list[int]:
        greedy = super()._choose_drains(obs, candidates, stay_base, budget)
        if candidates.size == 0:
            return greedy
        room = 1.0 - self.settings.bin_headroom_share
        cap = obs.cpu_capacity.astype(np.float64)
        req_cpu = obs.cpu_requested.astype(np.float64)
        req_mem = obs.mem_requested.astype(np.float64)
        free_cpu = np.maximum(0.0, cap * room - req_cpu)
        free_mem = np.maximum(0.0, obs.mem_capacity.astype(np.float64) * room - req_mem)
        stay = np.flatnonzero(stay_base)
        problem = DrainProblem(
            cpu=req_cpu[candidates],
            mem=req_mem[candidates],
            capacity=cap[candidates],
            tasks=obs.tasks_running[candidates].astype(np.int64),
            room_cpu=free_cpu[stay],
            room_mem=free_mem[stay],
            position=np.searchsorted(stay, candidates).astype(np.int64),
            budget_cpu=budget,
            max_drains=self.settings.max_drains,
        )
        seed = np.isin(candidates, np.asarray(greedy, dtype=np.int64))
        best, self.last_search = genetic_drains(problem, self.genetic, self._rng, [seed])
        return [int(m) for m in candidates[best]]
