"""Independent learners (scaling + energy) vs the single-agent Q-table (catalogue row ``marl``).

Training and evaluation cells come from the two halves of the shipped Google 2011 slice
(``split_windows``: the evaluation half is never seen in training). Each cell carries the tasks of
a ``LOAD_SHARE x MACHINES`` sample on ``MACHINES`` machines (a sampled cell is fully requested and
leaves an energy agent nothing to do). With the same seed and episode budget:

- **single**: the scaling Q-table trained alone (``learning.qlearning.train_qlearning``) in the
  training cell; evaluated with every machine left on (the single-agent system) and, as the
  deployed combination, with ``consolidation.ffd-v1`` deciding energy;
- **independent**: the scaling table and an energy Q-learner trained together
  (``learning.marl.train_independent``), each on its own reward share.

Evaluation: one run of ``EVAL_S`` of the evaluation cell per system, greedy choices, proposals
applied at once; the forecaster is Holt's in training and evaluation. Figures from the simulator:
mean CPU utilisation of powered machines, IT energy (kWh), SLO violation rate (share of services
violating, averaged over ticks), plus machine changes made by the energy side.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

MACHINES = 60
LOAD_SHARE = 0.6
EPISODES = 20
EPISODE_S = 1800.0
EVAL_S = 3600.0
PERIOD_S = 15.0


def _cells(seed: int) -> tuple[Any, Any]:
    from autoinfra.traces import load_workload, sample_cell, split_windows, window

    wl = load_workload(None, seed=seed)
    split = split_windows(wl.end_s - wl.start_s, 0.5)
    out = []
    for w in (split.train, split.evaluation):
        part = window(wl, w.start_s, w.end_s)
        tasks = sample_cell(part, int(MACHINES * LOAD_SHARE), seed)
        machines = sample_cell(part, MACHINES, seed)
        out.append(dataclasses.replace(tasks, machines=machines.machines))
    return out[0], out[1]


def _evaluate(cell: Any, scaling: Any, energy: Any, seed: int) -> dict[str, float]:
    """Run the evaluation cell; ``energy`` is None, a ConsolidationPolicy or an EnergyQLearner."""
    from autoinfra.core.actions import DrainMachine, ScaleService, SetMachinePower
    from autoinfra.core.errors import SimulationError
    from autoinfra.learning.marl import EnergyQLearner, EnergySettings, apply_energy_action
    from autoinfra.learning.marl import energy_state as e_state
    from autoinfra.learning.scaling_env import default_forecaster
    from autoinfra.policies.scaling.space import ReplicaBounds
    from autoinfra.sim import SimSettings, Simulator

    scaling.bounds = ReplicaBounds(np.asarray(cell.services.max_replicas).tolist())
    sim = Simulator(
        cell, SimSettings(tick_s=PERIOD_S, until_s=EVAL_S, record_every_s=PERIOD_S), seed=seed
    )
    fc = default_forecaster()
    changes = 0
    while not sim.done:
        sim.step()
        obs = sim.observe()
        findings = fc.analyze(obs)
        proposals = list(scaling.decide(obs, findings))
        if isinstance(energy, EnergyQLearner):
            changes += apply_energy_action(sim, obs, energy.greedy(e_state(obs)), EnergySettings())
        elif energy is not None:
            proposals += energy.decide(obs, findings)
        for p in proposals:
            a = p.action
            try:
                if isinstance(a, ScaleService):
                    s = a.service
                    sim.writer.set_service_replicas(
                        s, int(obs.service_replicas[s]) + a.delta_replicas, "b"
                    )
                elif isinstance(a, SetMachinePower):
                    (sim.power_on if a.on else sim.power_off)(a.machine, "bench")
                    changes += 1
                elif isinstance(a, DrainMachine):
                    sim.writer.drain(a.machine, "bench")
                    changes += 1
            except SimulationError:
                continue
    summary = sim.results().summary
    return {
        "mean_cpu_util": round(float(summary["mean_cpu_util"]), 4),
        "energy_kwh": round(float(summary["energy_kwh"]), 3),
        "slo_violation_rate": round(float(summary["slo_violation_rate"]), 4),
        "energy_changes": changes,
    }


def compare_marl(seed: int = 0) -> dict[str, Any]:
    from autoinfra.learning.marl import MultiAgentEnv, train_independent
    from autoinfra.learning.qlearning import train_qlearning
    from autoinfra.learning.scaling_env import ScalingEnvSettings, SimScalingEnv, default_forecaster
    from autoinfra.policies.consolidation import ConsolidationPolicy

    train, evaluation = _cells(seed)
    cfg = ScalingEnvSettings(episode_s=EPISODE_S, decision_period_s=PERIOD_S, tick_s=PERIOD_S)
    single, _ = train_qlearning(
        SimScalingEnv(train, cfg, forecaster=default_forecaster), episodes=EPISODES, seed=seed
    )
    scaling, energy, report = train_independent(
        MultiAgentEnv(train, cfg, forecaster=default_forecaster), episodes=EPISODES, seed=seed
    )
    alone = _evaluate(evaluation, single, None, seed)
    with_ffd = _evaluate(evaluation, single, ConsolidationPolicy(), seed)
    marl = _evaluate(evaluation, scaling, energy, seed)
    better = (
        marl["energy_kwh"] < with_ffd["energy_kwh"]
        and marl["slo_violation_rate"] <= with_ffd["slo_violation_rate"]
        and marl["mean_cpu_util"] >= with_ffd["mean_cpu_util"]
    )
    return {
        "default": {"system": "scaling.qtable (single agent), all machines on", **alone},
        "default_with_ffd": {"system": "scaling.qtable + consolidation.ffd-v1", **with_ffd},
        "candidate": {"system": "independent Q-learners: scaling + energy", **marl},
        "training": {
            "episodes": EPISODES,
            "episode_s": EPISODE_S,
            "energy_reward_first_last": [
                round(report.energy_reward[0], 4),
                round(report.energy_reward[-1], 4),
            ],
            "scaling_reward_first_last": [
                round(report.scaling_reward[0], 4),
                round(report.scaling_reward[-1], 4),
            ],
            "energy_greedy_by_state": [energy.greedy(s) for s in range(energy.q.shape[0])],
        },
        "machines": MACHINES,
        "verdict": "better than the deployed pair on all three" if better else "default stays",
    }
