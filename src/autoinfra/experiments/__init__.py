"""The evaluation: systems x fault scenarios x seeds on replayed Google traces, and the report.

``run_experiment(spec, out_dir)`` runs a study described by an ``ExperimentSpec`` (``build_spec``
validates options or a spec file) and writes ``report.html``, ``report.md``, ``summary.json``, the
figures and the raw tables. The baselines it compares the autonomous agents with live in
``baselines/`` (Kubernetes defaults, a human operator, a no-op control) and are registered in the
agents' system registry by ``systems.ensure_registered``. ``docs/evaluation.md`` describes the
study, every metric and every system.
"""

from autoinfra.experiments.harness import run_experiment
from autoinfra.experiments.spec import SCALES, ExperimentSpec, RunSpec, Scale, build_spec
from autoinfra.experiments.systems import ensure_registered

__all__ = [
    "SCALES",
    "ExperimentSpec",
    "RunSpec",
    "Scale",
    "build_spec",
    "ensure_registered",
    "run_experiment",
]
