"""The figures the synthetic generator is calibrated on, measured on the shipped Google slice.

``compute_calibration()`` builds the slice's workload (:func:`load_workload`) and measures, per
machine of the cell at the window start: batch tasks running or waiting at the start, arriving
jobs per second, tasks per job, services and their replicas; per priority band: shares, requests,
scheduling classes, durations and how tasks end; the machines' capacities and platforms; and the
usage ratios of :mod:`autoinfra.traces.usage`.

Durations come from a window of about 5.6 hours, so many are censored (the task was still
running when the window closed). They are estimated with the Kaplan-Meier product-limit
estimator (Kaplan and Meier, JASA 1958), which counts a censored task as "at least this long";
the probability mass the window cannot resolve is kept as ``tail_share`` (the task outlives what
the slice can show), not spread over invented values.

The result is shipped as ``calibration.json`` next to this module so ``generate_cell`` needs no
trace at run time. Regenerate it after changing the workload model with::

    python -m autoinfra.traces.calibration            # rewrites the shipped calibration.json
    python -m autoinfra.traces.calibration --out x.json
    autoinfra trace calibrate [--out x.json]          # the same from the command line
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.core.atomic import write_text
from autoinfra.traces.archive import jsonable
from autoinfra.traces.calibration_file import dumps_figures as _dumps
from autoinfra.traces.calibration_file import shipped_calibration_path
from autoinfra.traces.tables import TaskEnd, Workload
from autoinfra.traces.usage import BAND_NAMES, MIN_BAND_SAMPLES, priority_band

CALIBRATION_VERSION = 1
_PROBS = np.linspace(0.0, 1.0, 201)
F64 = npt.NDArray[np.float64]


def km_table(durations: F64, observed: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """Kaplan-Meier quantiles: ``values`` at cumulative ``probs`` up to ``1 - tail_share``."""
    if durations.size == 0:
        return {"probs": [0.0, 1.0], "values": [0.0, 0.0], "tail_share": 0.0, "samples": 0}
    order = np.argsort(durations, kind="stable")
    d, o = durations[order], observed[order]
    at_risk = d.shape[0] - np.arange(d.shape[0], dtype=np.float64)
    survival = np.cumprod(np.where(o, 1.0 - 1.0 / at_risk, 1.0))
    cdf = 1.0 - survival
    top = float(cdf[-1])
    probs = _PROBS * top
    idx = np.minimum(np.searchsorted(cdf, probs, side="left"), d.shape[0] - 1)
    return {
        "probs": probs.tolist(),
        "values": d[idx].tolist(),
        "tail_share": 1.0 - top,
        "samples": int(d.shape[0]),
    }


def _quantiles(values: F64) -> list[float]:
    return np.quantile(values, _PROBS).tolist() if values.size else [0.0] * _PROBS.shape[0]


def _shares(values: npt.NDArray[np.int64], levels: range) -> list[float]:
    counts = np.array([(values == v).sum() for v in levels], dtype=np.float64)
    return (
        (counts / counts.sum()).tolist() if counts.sum() > 0 else [1.0 / len(levels)] * len(levels)
    )


def _per_band(band: npt.NDArray[np.int8], subset: npt.NDArray[np.bool_], fn: Any) -> dict[str, Any]:
    """``fn(mask)`` per band within ``subset``; a band with too few rows uses the whole subset
    (and says so)."""
    out: dict[str, Any] = {}
    for b, name in enumerate(BAND_NAMES):
        mask = subset & (band == b)
        pooled = int(mask.sum()) < MIN_BAND_SAMPLES
        out[name] = fn(subset if pooled else mask) | {"pooled": pooled}
    return out


def _counts(values: npt.NDArray[np.int64]) -> dict[str, list[int]]:
    """An exact empirical distribution of integers: distinct values and how often each occurs."""
    vals, counts = np.unique(values, return_counts=True)
    return {"values": vals.tolist(), "counts": counts.tolist()}


def calibration_from_workload(w: Workload) -> dict[str, Any]:
    """The synthetic cell's figures, measured on a loaded trace workload."""
    t, s = w.tasks, w.services
    machines_at_start = w.machines.time_s == 0.0
    n_machines = max(int(machines_at_start.sum()), 1)
    length_s = w.end_s - w.start_s
    batch = t.service < 0
    at_start = batch & (t.submit_s <= 0.0)
    band = priority_band(t.priority)
    observed = t.end != TaskEnd.CENSORED
    # a new job: one whose first batch row arrives inside the window (not one already there)
    first_seen = np.full(w.job_ids.shape[0], np.inf)
    np.minimum.at(first_seen, t.job[batch], t.submit_s[batch])
    new_job_rows = batch & (first_seen[t.job] > 0.0)
    _, first_row, job_sizes = np.unique(t.job[new_job_rows], return_index=True, return_counts=True)
    job_band = band[np.flatnonzero(new_job_rows)[first_row]]

    def requests(mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
        return {
            "cpu": _quantiles(t.cpu_request[mask].astype(np.float64)),
            "mem": _quantiles(t.mem_request[mask].astype(np.float64)),
            "sched_class_shares": _shares(t.sched_class[mask].astype(np.int64), range(4)),
            "priority_shares": _shares(t.priority[mask].astype(np.int64), range(12)),
            "rows": int(mask.sum()),
        }

    def durations(mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
        ends = t.end[mask & observed]
        shares = [
            float((ends == e).mean()) if ends.size else 1.0 / 3
            for e in (TaskEnd.FINISH, TaskEnd.FAIL, TaskEnd.KILL)
        ]
        table = km_table(t.duration_s[mask].astype(np.float64), observed[mask])
        return table | {"end_shares_finish_fail_kill": shares}

    def arrivals(mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
        # a pooled band takes the sizes of all new jobs, as its other figures take all rows
        jobs_in = np.isin(job_band, np.unique(band[mask]))
        return {
            "tasks_per_job": _counts(job_sizes[jobs_in].astype(np.int64)),
            "requests": requests(mask),
            "durations": durations(mask),
        }

    machine_types: dict[tuple[int, float, float], int] = {}
    m = w.machines
    for p, c, mm in zip(
        m.platform[machines_at_start],
        m.cpu[machines_at_start],
        m.mem[machines_at_start],
        strict=True,
    ):
        key = (int(p), round(float(c), 6), round(float(mm), 6))
        machine_types[key] = machine_types.get(key, 0) + 1
    svc_band = priority_band(s.priority)
    svc_rows_sched = t.sched_class[t.service >= 0].astype(np.int64)
    return jsonable(
        {
            "version": CALIBRATION_VERSION,
            "source": f"{w.source.split(':', 1)[0]} trace window "
            f"{w.meta.get('window_trace_s', [w.start_s, w.end_s])} (trace seconds)",
            "window_s": length_s,
            "machines_at_start": n_machines,
            "machine_types": [
                {"platform": m.platforms[p], "cpu": c, "mem": mm, "share": n / n_machines}
                for (p, c, mm), n in sorted(machine_types.items())
            ],
            "batch_at_start": {
                "per_machine": int(at_start.sum()) / n_machines,
                "band_shares": _shares(band[at_start].astype(np.int64), range(3)),
                "tasks_per_job": _counts(np.unique(t.job[at_start], return_counts=True)[1]),
                "requests": _per_band(band, at_start, requests),
                "remaining": _per_band(band, at_start, durations),
            },
            "arrivals": {
                "rows_per_machine_s": int(new_job_rows.sum()) / n_machines / length_s,
                "jobs_per_machine_s": [
                    int((job_band == b).sum()) / n_machines / length_s
                    for b in range(len(BAND_NAMES))
                ],
                "by_band": _per_band(band, new_job_rows, arrivals),
            },
            "services": {
                "per_machine": len(s) / n_machines,
                "replicas": _counts(s.initial_replicas.astype(np.int64)),
                "band_shares": _shares(svc_band.astype(np.int64), range(3)),
                "sched_class_shares": _shares(svc_rows_sched, range(4)),
                "requests": _per_band(
                    svc_band,
                    np.ones(len(s), dtype=np.bool_),
                    lambda mk: {
                        "cpu": _quantiles(s.cpu_request[mk].astype(np.float64)),
                        "mem": _quantiles(s.mem_request[mk].astype(np.float64)),
                        "priority_shares": _shares(s.priority[mk].astype(np.int64), range(12)),
                    },
                ),
            },
            "usage": {
                k: w.usage.calibration[k] for k in ("ratio_source", "ratio_stats", "ratio_tables")
            },
        }
    )


def compute_calibration(
    trace_dir: str | Path | None = None, *, lenient: bool = False
) -> dict[str, Any]:
    """Measure the calibration on a trace (the shipped slice by default)."""
    # imported here: building a workload is only needed to regenerate the file
    from autoinfra.traces.workload import load_workload

    return calibration_from_workload(load_workload(trace_dir, lenient=lenient, seed=0))


def write_calibration(out: str | Path | None = None, trace_dir: str | Path | None = None) -> Path:
    """Compute the calibration and write it atomically (default: the shipped file)."""
    target = Path(out) if out is not None else shipped_calibration_path()
    data = compute_calibration(trace_dir)
    return write_text(target, _dumps(data))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate the synthetic cell's calibration.")
    parser.add_argument("--out", default=None, help="where to write (default: the shipped file)")
    parser.add_argument("--trace", default=None, help="trace folder (default: the shipped slice)")
    args = parser.parse_args(argv)
    print(write_calibration(args.out, args.trace))


if __name__ == "__main__":
    main()
