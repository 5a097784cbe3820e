"""``autoinfra train``: train the scaling policy on the training window of a trace.

Registered by ``cli/main.py``. The options map one to one onto ``learning.pipeline.TrainSettings``;
the evaluation window of the trace (``split_windows``) is never read. The artifact records the
canonical command that made it, which is also what ``src/autoinfra/data/models/README.md`` quotes
for the shipped table. Heavy imports (simulator, traces, torch) happen inside the command so
``autoinfra --help`` stays instant.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer

from autoinfra.cli.errors import one_line_errors


@one_line_errors
def train(
    trace: Path | None = typer.Option(
        None, "--trace", help="A Google 2011 trace folder (default: the shipped slice)."
    ),
    algo: str = typer.Option("qlearning", "--algo", help="qlearning | ppo (needs the rl extra)."),
    episodes: int = typer.Option(60, "--episodes", help="Training episodes.", min=1),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Artifact to write (JSON for qlearning; a .zip plus a .json sidecar for ppo). "
        "Default: out/models/qtable.json or out/models/ppo.zip.",
    ),
    machines: int = typer.Option(
        100, "--machines", help="Machines in the slice drawn from the cell to learn on.", min=1
    ),
    train_fraction: float = typer.Option(
        0.5, "--train-fraction", help="Share of the trace, from its start, that trains."
    ),
    episode_s: float = typer.Option(
        1800.0, "--episode-s", help="Simulated seconds per episode.", min=1.0
    ),
    decision_period_s: float = typer.Option(
        15.0,
        "--decision-period-s",
        help="Simulated seconds between decisions (the scaling agent's period).",
        min=1.0,
    ),
    evaluate: bool = typer.Option(
        False,
        "--evaluate",
        help="After training, score the table against doing nothing on the evaluation window "
        "(read for scoring only; the artifact does not change).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train the scaling policy on the trace's training window and save a versioned artifact."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from autoinfra.learning.pipeline import (
        TrainSettings,
        score_on_evaluation_window,
        train_scaling_policy,
    )
    from autoinfra.policies.scaling.qtable import QTablePolicy

    if algo not in ("qlearning", "ppo"):
        raise typer.BadParameter(f"--algo must be qlearning or ppo, got {algo!r}")
    if out is None:
        out = Path("out/models/qtable.json" if algo == "qlearning" else "out/models/ppo.zip")
    spec = TrainSettings(
        algo=algo,  # type: ignore[arg-type]  # checked just above
        episodes=episodes,
        seed=seed,
        machines=machines,
        train_fraction=train_fraction,
        trace_dir=str(trace) if trace is not None else None,
        episode_s=episode_s,
        decision_period_s=decision_period_s,
    )
    console = Console(stderr=True)
    steps = episodes * max(1, int(spec.episode_s // spec.decision_period_s))
    total = episodes if algo == "qlearning" else steps
    bar = Progress(
        TextColumn("[bold]train[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
        transient=True,
    )
    with bar:
        task = bar.add_task(f"{algo} on the training window", total=total)
        result = train_scaling_policy(
            spec,
            out,
            on_episode=lambda stats: bar.update(
                task,
                advance=1,
                description=f"episode {stats.episode + 1}: mean reward {stats.mean_reward:.3f}",
            ),
            on_ppo_progress=lambda n: bar.update(task, completed=min(n, total)),
        )
    table = Table(title="autoinfra train", show_header=False)
    table.add_row("artifact", str(result.path))
    table.add_row("command", result.provenance["command"])
    table.add_row("train window (s)", "{:g} .. {:g}".format(*result.train_window_s))
    table.add_row(
        "evaluation window (s)",
        "{:g} .. {:g} (never trained on)".format(*result.evaluation_window_s),
    )
    table.add_row("episodes", str(result.episodes))
    table.add_row("transitions", str(result.transitions))
    if not math.isnan(result.first_mean_reward):
        table.add_row(
            "mean reward, first -> last episode",
            f"{result.first_mean_reward:.4f} -> {result.last_mean_reward:.4f}",
        )
    table.add_row("reward", "slo-energy-v1")
    if evaluate and algo == "qlearning":
        scores = score_on_evaluation_window(spec, QTablePolicy.load(result.path))
        table.add_row(
            "evaluation window: mean reward",
            f"trained {scores['trained']:.4f} vs do-nothing {scores['do_nothing']:.4f}",
        )
    Console().print(table)
