"""``autoinfra train``: train the scaling policy on the training window of a trace.

Registered by ``cli/main.py``. The options map one to one onto ``learning.pipeline.TrainSettings``;
the evaluation window of the trace (``split_windows``) is never read. The artifact records the
canonical command that made it, which is also what ``src/autoinfra/data/models/README.md`` quotes
for the shipped table. Heavy imports (simulator, traces, torch) happen inside the command so
``autoinfra --help`` stays instant.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import typer

from autoinfra.cli.errors import one_line_errors
from autoinfra.cli.notices import SILENT_TASKS_HELP


class PlainProgress:
    """Progress as plain lines, for output that is not a terminal: ``train: 3/60 ... (12 s)``."""

    def __init__(self, console: Any, total: int, algo: str) -> None:
        self.console = console
        self.total = total
        self.started = time.monotonic()
        # Q-learning: a line an episode; PPO reports steps, so a line per tenth of them
        self.every = 1 if algo == "qlearning" else max(1, total // 10)
        self.next = self.every

    def at(self, done: int, text: str) -> None:
        if done < self.next and done < self.total:
            return
        self.next = (done // self.every + 1) * self.every
        elapsed = time.monotonic() - self.started
        line = f"train: {done}/{self.total} {text} ({elapsed:.0f} s)"
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


@one_line_errors
def train(
    trace: Path | None = typer.Option(
        None, "--trace", help="A Google 2011 trace folder (default: the shipped slice)."
    ),
    trace_span: str | None = typer.Option(
        None,
        "--trace-span",
        help="START:END in trace seconds: the stretch of the trace to train on (its first "
        "--train-fraction) and keep for evaluation. Default: the whole trace.",
    ),
    silent_tasks: str = typer.Option(
        "stand-in",
        "--silent-tasks",
        help=SILENT_TASKS_HELP,
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
    """Train the scaling policy on the trace's training window and save a versioned artifact.

    With the defaults: 5 min 23 s measured (a shared 2-core machine at load average 8-15).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from autoinfra.learning.pipeline import (
        TrainSettings,
        score_on_evaluation_window,
        train_scaling_policy,
    )
    from autoinfra.policies.scaling.qtable import QTablePolicy
    from autoinfra.traces import trace_span as trace_span_of

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
        trace_span=trace_span_of(trace_span) if trace_span is not None else None,
        silent_tasks=silent_tasks,
        episode_s=episode_s,
        decision_period_s=decision_period_s,
    )
    console = Console(stderr=True)
    if trace is not None:
        from autoinfra.cli.notices import warn_inputs
        from autoinfra.traces import load_workload

        # the pipeline loads the same build (span, seed, files): this reads it from the cache
        start, end = spec.trace_span if spec.trace_span is not None else (None, None)
        built = load_workload(
            trace, start_s=start, end_s=end, seed=seed, silent_tasks=spec.silent_tasks
        )
        warn_inputs(console, built)
    steps = episodes * max(1, int(spec.episode_s // spec.decision_period_s))
    total = episodes if algo == "qlearning" else steps
    # a bar only redraws on a terminal; piped into a file or a CI log it would print nothing for
    # the whole run, so there progress is plain lines (each episode, or each tenth of PPO's steps)
    plain = PlainProgress(console, total, algo) if progress and not console.is_terminal else None
    bar = Progress(
        TextColumn("[bold]train[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not progress or plain is not None,
        transient=True,
    )

    def on_episode(stats: Any) -> None:
        text = f"episode {stats.episode + 1}: mean reward {stats.mean_reward:.3f}"
        bar.update(task, advance=1, description=text)
        if plain is not None:
            plain.at(stats.episode + 1, text)

    def on_ppo(n: int) -> None:
        bar.update(task, completed=min(n, total))
        if plain is not None:
            plain.at(min(n, total), "steps")

    with bar:
        task = bar.add_task(f"{algo} on the training window", total=total)
        result = train_scaling_policy(spec, out, on_episode=on_episode, on_ppo_progress=on_ppo)
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
