"""The study's inputs: the trace, its training and evaluation windows, each seed's slice.

Loaded once in the parent process, so every run of a seed replays exactly the same slice of the
same window (systems and scenarios differ, the world does not), and so the report can name the
trace files (with their hashes), the windows and how the slice was drawn.

- The trace's span is split by ``autoinfra.traces.split_windows`` into a training window (its start)
  and an evaluation window (the rest); learned parts are trained on the first only.
- Each run replays the first ``scale.window_s`` seconds of the evaluation window (or all of it
  when shorter), cut with ``autoinfra.traces.window``.
- The cluster is ``autoinfra.traces.sample_cell(evaluated, machines, seed)``: ``machines`` drawn
  uniformly from the cell with the run's seed, each task kept with probability machines / cell.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    evaluated: tuple[float, float]  # the part of the evaluation window each run replays
    slices: dict[int, Workload]  # seed -> the cluster slice the runs of that seed replay
    cell_machines: int

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


def _input_hashes(trace_dir: Path) -> dict[str, str]:
    """SHA-256 of the trace files and of the Azure series the usage model draws shapes from."""
    from autoinfra.traces.paths import default_azure_path

    files = file_hashes(trace_files(trace_dir), root=trace_dir)
    azure = default_azure_path()
    if azure.is_file():
        files.update({f"azure:{azure.name}": digest for digest in file_hashes([azure]).values()})
    return files


def load_inputs(spec: ExperimentSpec) -> StudyInputs:
    """Load the trace, split its windows and draw every seed's slice."""
    from autoinfra.traces import load_workload, sample_cell, split_windows, window
    from autoinfra.traces.paths import default_trace_dir

    trace_dir = Path(spec.trace_dir) if spec.trace_dir is not None else default_trace_dir()
    if not trace_dir.is_dir():
        raise ConfigError(f"not a directory: {trace_dir}", field="trace")
    # the usage model learns from measurements inside the training window only
    full = load_workload(trace_dir, seed=0, usage_fit_share=spec.train_fraction)
    span = full.end_s - full.start_s
    split = split_windows(span, spec.train_fraction)
    e0, e1 = float(split.evaluation.start_s), float(split.evaluation.end_s)
    end = min(e1, e0 + spec.scale.window_s)
    if end - e0 < 60.0:
        raise ConfigError(
            f"the evaluation window [{e0:.0f}, {e1:.0f}) s is too short to run in",
            field="train_fraction",
        )
    evaluated = window(full, full.start_s + e0, full.start_s + end)
    cell = int(np.unique(full.machines.machine_id).shape[0])
    slices: dict[int, Workload] = {}
    for seed in spec.seeds:
        machines = spec.scale.machines
        if machines is None or machines >= cell:
            slices[seed] = evaluated
        else:
            slices[seed] = sample_cell(evaluated, machines, seed)
    return StudyInputs(
        trace_dir=trace_dir,
        files=_input_hashes(trace_dir),
        full=full,
        train=(float(split.train.start_s), float(split.train.end_s)),
        evaluation=(e0, e1),
        evaluated=(e0, end),
        slices=slices,
        cell_machines=cell,
    )
