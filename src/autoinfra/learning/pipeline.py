"""Train a scaling policy from a trace, end to end, and record where it came from.

This is what ``autoinfra train`` runs and what the experiment harness calls when it needs a
trained artifact: load the trace's workload, draw the slice of the cell to learn on
(``sample_cell``), keep only the **training window** (``split_windows``; the evaluation window is
never read), cut it into episode-long windows, train (tabular Q-learning or PPO) and write the
artifact with its provenance: the canonical command, seed, windows, trace file hashes, versions
and hyperparameters. No timestamp or absolute path goes into a Q-table artifact, so the same
command on the same trace reproduces it byte for byte.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from autoinfra import __version__
from autoinfra.core.errors import ConfigError
from autoinfra.learning.qlearning import (
    EpisodeStats,
    QLearningSettings,
    TrainReport,
    evaluate,
    train_qlearning,
)
from autoinfra.learning.registry import CLUSTER_ENV_ID, ENVIRONMENTS, SIM_WORLD_ID
from autoinfra.learning.scaling_env import ScalingEnvSettings, default_forecaster
from autoinfra.policies.scaling.qtable import QTablePolicy
from autoinfra.traces import (
    default_azure_path,
    default_trace_dir,
    load_workload,
    sample_cell,
    split_windows,
    window,
)
from autoinfra.traces.schema import TRACE_WINDOW_START_S
from autoinfra.traces.tables import Workload

Algo = Literal["qlearning", "ppo"]

# Bounds that keep a training run's memory and time finite whatever the trace or the options say.
# Episodes: the shipped table is trained with 60; 10,000 is hours of training already.
MAX_EPISODES = 10_000
# Episode windows cut from the training window, each a Workload held in memory: the whole 29-day
# trace in 30-minute episodes is 1,392 windows; a corrupted timestamp stretching the span (a task
# event at 9e18 us once grew ``experiment --quick`` to 24 GB) is refused here, not swapped to death.
MAX_EPISODE_WINDOWS = 2_000
MAX_EPISODE_S = 31 * 86_400.0


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Everything that determines a trained artifact (and nothing that does not)."""

    algo: Algo = "qlearning"
    episodes: int = 60
    seed: int = 0
    machines: int = 100  # machines in the slice drawn from the cell to learn on
    train_fraction: float = 0.5  # the first half of the trace trains, the second evaluates
    trace_dir: str | None = None  # None: the slice of the Google 2011 trace shipped in the package
    # trace seconds (start, end) read, with the history before start; None: the whole trace
    trace_span: tuple[float, float] | None = None
    # mid-life data's missing running tasks (traces.standins): "stand-in" or "none"
    silent_tasks: str = "stand-in"
    episode_s: float = 1800.0  # simulated seconds per episode
    decision_period_s: float = 15.0  # the scaling agent's period (ScalingEnvSettings)

    def __post_init__(self) -> None:
        if self.trace_span is not None:
            from autoinfra.traces import trace_span

            object.__setattr__(self, "trace_span", trace_span(self.trace_span))
        from autoinfra.traces.standins import SILENT_TASKS

        if self.silent_tasks not in SILENT_TASKS:
            raise ConfigError(
                f"silent_tasks is {self.silent_tasks!r}, expected one of {', '.join(SILENT_TASKS)}",
                field="silent_tasks",
            )
        if self.algo not in ("qlearning", "ppo"):
            raise ConfigError(f"algo is {self.algo!r}, expected 'qlearning' or 'ppo'", field="algo")
        if not 1 <= self.episodes <= MAX_EPISODES:
            raise ConfigError(
                f"episodes is {self.episodes}, expected 1..{MAX_EPISODES}", field="episodes"
            )
        if not 1 <= self.machines <= 100_000:
            raise ConfigError(
                f"machines is {self.machines}, expected 1..100000 (the cell has about 12,500)",
                field="machines",
            )
        if not 0.0 < self.train_fraction < 1.0:  # also refuses NaN
            raise ConfigError(
                f"train_fraction is {self.train_fraction}, expected in (0, 1)",
                field="train_fraction",
            )
        if not 0.0 < self.decision_period_s <= 3_600.0:
            raise ConfigError(
                f"decision_period_s is {self.decision_period_s}, expected in (0, 3600]",
                field="decision_period_s",
            )
        if not self.decision_period_s <= self.episode_s <= MAX_EPISODE_S:
            raise ConfigError(
                f"episode_s is {self.episode_s}, expected in [decision_period_s, "
                f"{MAX_EPISODE_S:g}]",
                field="episode_s",
            )

    def command(self) -> str:
        """The canonical command line that makes this artifact (``--out`` does not change it)."""
        parts = ["autoinfra train"]
        if self.trace_dir is not None:
            parts.append(f"--trace {self.trace_dir}")
        if self.trace_span is not None:
            parts.append(f"--trace-span {self.trace_span[0]:g}:{self.trace_span[1]:g}")
        if self.silent_tasks != "stand-in":
            parts.append(f"--silent-tasks {self.silent_tasks}")
        parts += [
            f"--algo {self.algo}",
            f"--episodes {self.episodes}",
            f"--seed {self.seed}",
            f"--machines {self.machines}",
            f"--train-fraction {self.train_fraction:g}",
            f"--episode-s {self.episode_s:g}",
            f"--decision-period-s {self.decision_period_s:g}",
        ]
        return " ".join(parts)

    def world_config(self) -> ScalingEnvSettings:
        return ScalingEnvSettings(
            decision_period_s=self.decision_period_s,
            tick_s=self.decision_period_s,
            episode_s=self.episode_s,
        )


@dataclass(frozen=True, slots=True)
class TrainResult:
    path: Path
    spec: TrainSettings
    train_window_s: tuple[float, float]
    evaluation_window_s: tuple[float, float]
    episodes: int
    transitions: int
    first_mean_reward: float
    last_mean_reward: float
    provenance: dict[str, Any]


def trace_files(trace_dir: str | None) -> dict[str, str]:
    """SHA-256 of every input file the workload is built from, keyed by a stable name."""
    root = Path(trace_dir) if trace_dir is not None else default_trace_dir()
    files = sorted(p for p in root.rglob("*.csv*") if p.is_file())
    out = {str(p.relative_to(root)): _sha256(p) for p in files}
    azure = default_azure_path()
    out[f"azure:{azure.name}"] = _sha256(azure)
    return out


# the code a trained table depends on: the world it learnt in and the learner itself
_CODE = ("core", "traces", "sim", "faults", "learning", "policies/scaling",
         "policies/forecast.py")  # fmt: skip


def code_fingerprint() -> str:
    """SHA-256 over the source files that determine a trained artifact.

    The same command reproduces an artifact byte for byte when this matches; a change to the
    simulator, the trace model or the forecaster may change what is learnt, and this says so.
    """
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for name in _CODE:
        target = root / name
        files = [target] if target.is_file() else sorted(target.rglob("*.py"))
        for f in files:
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def training_windows(
    spec: TrainSettings,
) -> tuple[list[Workload], tuple[float, float], tuple[float, float]]:
    """The episode windows cut from the training window of the slice, and both windows."""
    pieces, split = _episode_windows(spec, "train")
    train = (split.train.start_s, split.train.end_s)
    return pieces, train, (split.evaluation.start_s, split.evaluation.end_s)


def _episode_windows(spec: TrainSettings, which: str) -> tuple[list[Workload], Any]:
    start, end = spec.trace_span if spec.trace_span is not None else (None, None)
    full = load_workload(
        spec.trace_dir, start_s=start, end_s=end, seed=spec.seed, silent_tasks=spec.silent_tasks
    )
    split = split_windows(full.end_s - full.start_s, spec.train_fraction)
    part = split.train if which == "train" else split.evaluation
    cell = sample_cell(full, spec.machines, spec.seed)
    chosen = window(cell, part.start_s, part.end_s)
    span_s = chosen.end_s - chosen.start_s
    if not span_s / spec.episode_s <= MAX_EPISODE_WINDOWS:  # NaN too
        raise ConfigError(
            f"the {which} window ({span_s:.0f} s) cuts into more than {MAX_EPISODE_WINDOWS} "
            f"episodes of {spec.episode_s:g} s; use a longer --episode-s or a shorter trace",
            field="episode_s",
        )
    n = max(1, int(span_s // spec.episode_s))
    pieces = [window(chosen, k * spec.episode_s, min((k + 1) * spec.episode_s, chosen.end_s))
              for k in range(n)]  # fmt: skip
    pieces = [w for w in pieces if len(w.services) > 0]
    if not pieces:
        raise ConfigError(
            f"the {which} window of a {spec.machines}-machine slice holds no service to scale; "
            "draw a larger slice (--machines)",
            field="machines",
        )
    return pieces, split


def score_on_evaluation_window(
    spec: TrainSettings, policy: QTablePolicy, *, episodes: int = 4
) -> dict[str, float]:
    """Mean reward per service-period of the trained table's greedy choices and of doing nothing,
    on the evaluation window of the same slice. Read for scoring only, after training."""
    pieces, _ = _episode_windows(spec, "evaluation")
    world = ENVIRONMENTS.make(
        SIM_WORLD_ID, workloads=pieces, config=spec.world_config(), forecaster=default_forecaster
    )
    seed = spec.seed + 1  # other episodes than any the trainer drew
    return {
        "trained": evaluate(world, policy, episodes=episodes, seed=seed),
        "do_nothing": evaluate(world, QTablePolicy.zeros(), episodes=episodes, seed=seed),
    }


def train_scaling_policy(
    spec: TrainSettings,
    out: str | Path,
    *,
    on_episode: Callable[[EpisodeStats], None] | None = None,
    on_ppo_progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train per ``spec`` and write the artifact to ``out``; see the module docstring."""
    pieces, train_w, eval_w = training_windows(spec)
    config = spec.world_config()
    provenance: dict[str, Any] = {
        "command": spec.command(),
        "spec": asdict(spec),
        "seed": spec.seed,
        "windows": {
            "train_s": list(train_w),
            "evaluation_s": list(eval_w),
            "train_fraction": spec.train_fraction,
            "times": "seconds from the start of the loaded trace window",
            # where that window starts in the trace, so a study on another span can compare
            "trace_offset_s": float(pieces[0].meta.get("trace_offset_s", TRACE_WINDOW_START_S)),
            "episode_windows": len(pieces),
        },
        "trace": {
            "dir": spec.trace_dir or "shipped:google-2011",
            "files_sha256": trace_files(spec.trace_dir),
        },
        "world": asdict(config),
        "forecaster": "forecast.holt-v1",
        "code_sha256": code_fingerprint(),
        "versions": {
            "autoinfra": __version__,
            "numpy": np.__version__,
            "python": ".".join(platform.python_version_tuple()[:2]),
        },
    }
    world = ENVIRONMENTS.make(
        SIM_WORLD_ID, workloads=pieces, config=config, forecaster=default_forecaster
    )
    if spec.algo == "ppo":
        return _train_ppo(spec, out, pieces, config, provenance, train_w, eval_w, on_ppo_progress)
    qconfig = QLearningSettings()
    provenance["hyperparameters"] = asdict(qconfig)
    policy, report = train_qlearning(
        world, episodes=spec.episodes, seed=spec.seed, config=qconfig, on_episode=on_episode
    )
    provenance["training"] = _report_summary(report)
    policy.provenance = provenance
    path = policy.save(out)
    return TrainResult(
        path=path,
        spec=spec,
        train_window_s=train_w,
        evaluation_window_s=eval_w,
        episodes=len(report.episodes),
        transitions=report.transitions,
        first_mean_reward=report.episodes[0].mean_reward,
        last_mean_reward=report.episodes[-1].mean_reward,
        provenance=provenance,
    )


def _report_summary(report: TrainReport) -> dict[str, Any]:
    rewards = [round(e.mean_reward, 6) for e in report.episodes]
    return {"episodes": len(rewards), "transitions": report.transitions,
            "mean_reward_per_episode": rewards}  # fmt: skip


def _train_ppo(
    spec: TrainSettings,
    out: str | Path,
    pieces: list[Workload],
    config: ScalingEnvSettings,
    provenance: dict[str, Any],
    train_w: tuple[float, float],
    eval_w: tuple[float, float],
    on_progress: Callable[[int], None] | None,
) -> TrainResult:
    from autoinfra.learning.ppo import PPOSettings, train_ppo

    env = ENVIRONMENTS.make(
        CLUSTER_ENV_ID, workloads=pieces, config=config, forecaster=default_forecaster
    )
    ppo = PPOSettings(total_timesteps=spec.episodes * config.steps_per_episode)
    provenance["hyperparameters"] = {**asdict(ppo), "net_arch": list(ppo.net_arch)}
    path = train_ppo(env, out, seed=spec.seed, config=ppo, provenance=provenance,
                     on_progress=on_progress)  # fmt: skip
    return TrainResult(
        path=path,
        spec=spec,
        train_window_s=train_w,
        evaluation_window_s=eval_w,
        episodes=spec.episodes,
        transitions=ppo.total_timesteps,
        first_mean_reward=float("nan"),
        last_mean_reward=float("nan"),
        provenance=provenance,
    )
