"""The study's inputs: the trace, its training and evaluation windows, each seed's slice.

Loaded once in the parent process, so every run of a seed replays exactly the same slice of the
same window (systems and scenarios differ, the world does not: the comparison is paired), and so
the report can name the trace files (with their hashes), the windows and how each slice was drawn.

- The trace's span is split by ``autoinfra.traces.split_windows`` into a training window (its start)
  and an evaluation window (the rest); learned parts are trained on the first only.
- The evaluation window is cut into as many disjoint *measured* windows of ``window_s`` as fit
  (:func:`run_windows`); seed ``s`` replays window ``s mod n``, so seeds vary the hour evaluated,
  not only the machines drawn. A window shorter than one is measured whole, shortened.
- Each run starts ``burn_in_s`` before its measured window (a lead-in): the cluster reaches its
  operating point on the trace that precedes the window, as a cluster that was running all
  along has, and the measured windows still tile the evaluation window. The first window's
  lead-in replays the end of the training window; it is never measured, and the learned parts
  are judged only where they were not trained.
- Each seed draws its own usage (``load_workload(seed=s)``: per-task ratios and shapes), its own
  machines and tasks (``sample_cell(evaluated, machines, s)``: ``machines`` drawn uniformly, each
  task kept with probability machines / cell) and, in the simulator, its own fault draw.
- The first ``burn_in_s`` of every run (its lead-in) are replayed but not measured
  (``experiments.run``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autoinfra.core.errors import ConfigError
from autoinfra.experiments.artifacts import file_hashes
from autoinfra.experiments.spec import PAPER_CORES, PAPER_MEM_GB, ExperimentSpec
from autoinfra.traces.tables import Workload


@dataclass(frozen=True, slots=True)
class StudyInputs:
    """Everything the runs share, computed once."""

    trace_dir: Path
    files: dict[str, str]  # relative path -> SHA-256
    full: Workload  # the whole trace window as loaded
    train: tuple[float, float]
    evaluation: tuple[float, float]
    evaluated: tuple[float, float]  # the span of the evaluation window the runs measure
    slices: dict[int, Workload]  # seed -> the cluster slice the runs of that seed replay
    cell_machines: int  # machines of the loaded trace window (see cell_size)
    # seed -> the [start, end) seconds its runs replay (lead-in included), and the windows in all
    seed_windows: dict[int, tuple[float, float]] = field(default_factory=dict)
    windows: tuple[tuple[float, float], ...] = ()
    burn_in_s: float = 0.0

    def warnings(self) -> list[str]:
        """What about the inputs limits the study's meaning (a trace read from mid-life, a usage
        table that fits nothing)."""
        from autoinfra.traces.workload import input_warnings

        return input_warnings(self.full)

    def slice_info(self) -> dict[str, Any]:
        seed = min(self.slices)
        w = self.slices[seed]
        machines = len(np.unique(w.machines.machine_id))
        slicing = w.meta.get("slicing", {"rule": "the whole cell (no sampling)"})
        rule = slicing.get("rule", str(slicing)) if isinstance(slicing, dict) else str(slicing)
        return {
            "machines": machines,
            "cell_machines": self.cell_machines,
            "tasks": int(np.mean([len(s.tasks) for s in self.slices.values()])),
            "services": int(np.mean([len(s.services) for s in self.slices.values()])),
            "slicing": f"drawn per seed with autoinfra.traces.sample_cell: {rule}",
            "paper_mapping": paper_mapping(w),
        }


def paper_mapping(workload: Workload) -> str:
    """How the slice's normalised capacities map onto the paper's 64 cores and 256 GB."""
    m = workload.machines
    first = np.unique(m.machine_id, return_index=True)[1]
    cpu = float(m.cpu[first].sum())
    mem = float(m.mem[first].sum())
    if cpu <= 0 or mem <= 0:
        return "no capacity in the slice"
    return (
        f"the slice's machines sum to {cpu:.2f} normalised CPU and {mem:.2f} normalised memory "
        f"(1.0 = the cell's largest machine); mapped onto the paper's cluster of {PAPER_CORES} "
        f"cores and {PAPER_MEM_GB} GB (section 6.4.1), one CPU unit is "
        f"{PAPER_CORES / cpu:.1f} cores and one memory unit {PAPER_MEM_GB / mem:.1f} GB. The "
        "simulation itself runs in normalised units; the mapping only reads the results."
    )


def trace_files(trace_dir: Path) -> list[Path]:
    return sorted(p for p in trace_dir.rglob("*") if p.is_file() and ".csv" in p.name)


def _input_hashes(trace_dir: Path, stand_ins: bool = False) -> dict[str, str]:
    """SHA-256 of the trace files, of the Azure series the usage model draws shapes from and,
    when the workload has stand-ins for silent tasks, of the file they are drawn from."""
    from autoinfra.traces.paths import default_azure_path
    from autoinfra.traces.standins import shipped_standins_path

    files = file_hashes(trace_files(trace_dir), root=trace_dir)
    azure = default_azure_path()
    if azure.is_file():
        files.update({f"azure:{azure.name}": digest for digest in file_hashes([azure]).values()})
    if stand_ins:
        path = shipped_standins_path()
        files.update({f"standins:{path.name}": d for d in file_hashes([path]).values()})
    return files


def cell_size(workload: Workload) -> int:
    """The cell's size as the study uses it: the machines of the loaded trace window.

    Three counts of the shipped trace are easy to confuse, so each has one name: 12,583 machines
    appear in its ``machine_events`` over all 29 days (``trace info``: machines), 12,477 are in the
    cell at the loaded window's start (``machines_at_start``), and 12,495 are in the cell at some
    time within the loaded window: the machines a slice is drawn from, so the cell's size here.
    """
    return int(np.unique(workload.machines.machine_id).shape[0])


def run_windows(
    evaluation: tuple[float, float], window_s: float, burn_in_s: float = 0.0
) -> tuple[tuple[float, float], ...]:
    """The runs' ``[start, end)``: each ``burn_in_s`` of lead-in, then ``window_s`` measured.

    The measured parts are disjoint and tile the evaluation window from its start, as many as
    fit; the lead-in of each replays the trace just before it (never before the trace window's
    start: the first measured part then starts ``burn_in_s`` in). When not even one measured
    window fits, the whole rest of the evaluation window is measured (shorter than asked).
    """
    e0, e1 = evaluation
    m0 = max(e0, burn_in_s)
    n = math.floor((e1 - m0) / window_s) if window_s > 0 else 0
    if n < 1:
        return ((m0 - burn_in_s, e1),)
    return tuple((m0 + k * window_s - burn_in_s, m0 + (k + 1) * window_s) for k in range(n))


def load_inputs(spec: ExperimentSpec) -> StudyInputs:
    """Load the trace, split its windows and draw every seed's slice."""
    from autoinfra.traces import load_workload, sample_cell, split_windows, window
    from autoinfra.traces.paths import default_trace_dir

    trace_dir = Path(spec.trace_dir) if spec.trace_dir is not None else default_trace_dir()
    if not trace_dir.is_dir():
        raise ConfigError(f"not a directory: {trace_dir}", field="trace")

    def draw(seed: int) -> Workload:
        # the one place a seed's workload is loaded: every seed's usage draw is built alike, and
        # the usage model learns from measurements inside the training window only
        start, end = spec.trace_span if spec.trace_span is not None else (None, None)
        return load_workload(
            trace_dir,
            start_s=start,
            end_s=end,
            seed=seed,
            usage_fit_share=spec.train_fraction,
            silent_tasks=spec.silent_tasks,
        )

    try:
        full = draw(0)
    except ConfigError as exc:
        if spec.trace_span is None or exc.field not in ("start_s", "end_s"):
            raise
        # the loader names its own arguments; the user typed --trace-span
        raise ConfigError(exc.message, field="trace_span") from None
    span = full.end_s - full.start_s
    split = split_windows(span, spec.train_fraction)
    e0, e1 = float(split.evaluation.start_s), float(split.evaluation.end_s)
    windows = run_windows((e0, e1), spec.scale.window_s, spec.burn_in_s)
    if windows[0][1] - windows[0][0] - spec.burn_in_s < 60.0:
        if spec.burn_in_s > e0:  # the lead-in pushes measuring past the evaluation window
            raise ConfigError(
                f"a burn-in of {spec.burn_in_s:.0f} s leaves under 60 s to measure: measuring "
                f"starts after it, and the evaluation window ends at {e1:.0f} s; expected at "
                f"most {max(0.0, e1 - 60.0):.0f} s",
                field="burn_in_s",
            )
        raise ConfigError(
            f"the evaluation window [{e0:.0f}, {e1:.0f}) s is too short to measure 60 s in",
            field="train_fraction",
        )
    cell = cell_size(full)
    machines = spec.scale.machines
    if machines is not None and machines > cell:
        raise ConfigError(
            f"{machines} machines asked for, but the cell of this trace window has {cell}; "
            f"expected 1..{cell}",
            field="machines",
        )
    slices: dict[int, Workload] = {}
    seed_windows: dict[int, tuple[float, float]] = {}
    for seed in spec.seeds:
        # each seed its own usage draw (ratios and shapes) and its own window of the evaluation
        # part; load_workload caches each seed's build, so a second study reads it back
        drawn = full if seed == 0 else draw(seed)
        start, end = windows[seed % len(windows)]
        seed_windows[seed] = (start, end)
        evaluated = window(drawn, drawn.start_s + start, drawn.start_s + end)
        if machines is None or machines >= cell:
            slices[seed] = evaluated
        else:
            slices[seed] = sample_cell(evaluated, machines, seed)
    used = sorted(set(seed_windows.values()))
    return StudyInputs(
        trace_dir=trace_dir,
        files=_input_hashes(trace_dir, stand_ins="stand_ins" in full.meta.get("history", {})),
        full=full,
        train=(float(split.train.start_s), float(split.train.end_s)),
        evaluation=(e0, e1),
        evaluated=(used[0][0] + spec.burn_in_s, used[-1][1]),
        slices=slices,
        cell_machines=cell,
        seed_windows=seed_windows,
        windows=windows,
        burn_in_s=spec.burn_in_s,
    )
