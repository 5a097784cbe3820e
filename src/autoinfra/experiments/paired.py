"""The study's answer: agents minus each baseline, paired by seed, with a 95 % confidence interval.

Every seed fixes the world (the evaluated window, the usage draw, the machines and tasks drawn, the
fault draw), and every system of a seed replays that same world. So the comparison is *paired*:
for each seed the difference ``agents - baseline`` of a metric, then the mean of those differences
and a two-sided 95 % Student-t interval over seeds (``mean ± t(0.975, n-1) · sd / sqrt(n)``). The
pairing removes the spread that comes from the world (one window is busier than another) and keeps
only how the systems differ on the same world; a t interval (not a bootstrap) because a study has a
handful of seeds, too few for resampling to say anything a t interval would not.

A claim *holds* when the whole interval lies on the agents' side of 0: above it for a metric where
higher is better (utilisation), below it where lower is better (energy, SLO violations, recovery);
it is *reversed* when the whole interval lies on the baseline's side, and *unclear* otherwise.
With one seed there is no interval and nothing holds or fails: the entry says so.

Beside the interval, each entry says whether the mean difference is *beyond the spread across
seeds*: larger, on the agents' side, than the standard deviation over seeds of either system's own
values (``reference_sd``, ``baseline_sd``). That is a stricter test than the interval: the seeds'
windows differ (one is busier than another), and this asks for a margin larger than what changing
the window alone changes, not only one the pairing can resolve.

A seed's value of a metric is the mean over that seed's scenarios, as in ``metrics.aggregate``.
Recovery per fault kind uses the censored lower bound (an unrecovered fault counts as recovering at
the window's end), so a system that never recovers cannot look faster by having no recovery time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

REFERENCE = "agents"
METHOD = (
    "paired by seed (same window, usage draw, slice and faults for every system); per seed the "
    "difference agents - baseline of the seed's value (mean over its scenarios); mean of the "
    "differences with a two-sided 95 % Student-t confidence interval over seeds. Holds: the "
    "interval excludes 0 on the agents' side."
)

Better = Literal["higher", "lower"]


@dataclass(frozen=True, slots=True)
class PairedMetric:
    """One metric the answer compares: where it lives in a run's metrics and which way is better."""

    key: str  # name in summary.json's paired results
    label: str
    better: Better
    unit: str
    factor: float = 1.0  # shown as value x factor (fractions as %)


SCALARS: tuple[PairedMetric, ...] = (
    PairedMetric("utilization_cpu", "CPU utilisation", "higher", "%", 100.0),
    PairedMetric("utilization_mem", "memory utilisation", "higher", "%", 100.0),
    PairedMetric("energy_kwh_per_task", "energy per completed task", "lower", "kWh"),
    PairedMetric("energy_kwh", "energy", "lower", "kWh"),
    PairedMetric("slo_violation_rate", "SLO violations", "lower", "%", 100.0),
)
RECOVERY_FIELD = "recovery_lower_bound_s"

# Two-sided 95 % quantiles of Student's t, t(0.975, df), for the degrees of freedom a study can
# have (at most 99: MAX_SEEDS is 100). Between entries the next smaller df is used, which widens
# the interval slightly (conservative). Values: any statistics table (e.g. NIST/SEMATECH e-Handbook
# of Statistical Methods, section 1.3.6.7.2); tests check them against SciPy.
_T975: tuple[tuple[int, float], ...] = (
    (1, 12.706),
    (2, 4.303),
    (3, 3.182),
    (4, 2.776),
    (5, 2.571),
    (6, 2.447),
    (7, 2.365),
    (8, 2.306),
    (9, 2.262),
    (10, 2.228),
    (11, 2.201),
    (12, 2.179),
    (13, 2.160),
    (14, 2.145),
    (15, 2.131),
    (16, 2.120),
    (17, 2.110),
    (18, 2.101),
    (19, 2.093),
    (20, 2.086),
    (21, 2.080),
    (22, 2.074),
    (23, 2.069),
    (24, 2.064),
    (25, 2.060),
    (26, 2.056),
    (27, 2.052),
    (28, 2.048),
    (29, 2.045),
    (30, 2.042),
    (40, 2.021),
    (60, 2.000),
    (120, 1.980),
)


def t975(df: int) -> float:
    """t(0.975, df) from the table, rounding df down to the nearest entry."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    value = _T975[0][1]
    for entry_df, quantile in _T975:
        if entry_df > df:
            break
        value = quantile
    return value


def paired_difference(
    reference: Mapping[int, float], baseline: Mapping[int, float], better: Better
) -> dict[str, Any]:
    """Mean of ``reference - baseline`` over the seeds both have a value for, with its 95 % CI."""
    seeds = sorted(
        s
        for s in set(reference) & set(baseline)
        if math.isfinite(reference[s]) and math.isfinite(baseline[s])
    )
    diffs = np.asarray([reference[s] - baseline[s] for s in seeds], dtype=np.float64)
    ref = np.asarray([reference[s] for s in seeds], dtype=np.float64)
    base = np.asarray([baseline[s] for s in seeds], dtype=np.float64)
    out: dict[str, Any] = {
        "better": better,
        "n": len(seeds),
        "seeds": seeds,
        "differences": diffs.tolist(),
        "reference_mean": float(ref.mean()) if seeds else None,
        "baseline_mean": float(base.mean()) if seeds else None,
        "mean_difference": float(diffs.mean()) if seeds else None,
        "relative_difference": None,
        "sd": None,
        "reference_sd": None,
        "baseline_sd": None,
        "beyond_spread": None,
        "ci95": None,
        "holds": None,
        "verdict": "one seed: no interval" if len(seeds) == 1 else "no seeds with a value",
    }
    if seeds and base.mean() != 0:
        out["relative_difference"] = float(diffs.mean() / abs(base.mean()))
    if len(seeds) < 2:
        return out
    sd = float(diffs.std(ddof=1))
    half = t975(len(seeds) - 1) * sd / math.sqrt(len(seeds))
    lo, hi = float(diffs.mean()) - half, float(diffs.mean()) + half
    out["sd"] = sd
    spread = max(float(ref.std(ddof=1)), float(base.std(ddof=1)))
    out["reference_sd"], out["baseline_sd"] = float(ref.std(ddof=1)), float(base.std(ddof=1))
    margin = float(diffs.mean()) if better == "higher" else -float(diffs.mean())
    out["beyond_spread"] = bool(margin > spread)
    out["ci95"] = [lo, hi]
    favours = lo > 0 if better == "higher" else hi < 0
    against = hi < 0 if better == "higher" else lo > 0
    out["holds"] = bool(favours)
    out["verdict"] = "holds" if favours else ("reversed" if against else "unclear")
    return out


def seed_values(runs: Sequence[Mapping[str, Any]], system: str, key: str) -> dict[int, float]:
    """Per seed, the mean over its scenarios of a scalar metric, or ``recovery_s.<kind>``."""
    kind = key.split(".", 1)[1] if key.startswith("recovery_s.") else None
    by_seed: dict[int, list[float]] = {}
    for run in runs:
        if run["system"] != system:
            continue
        metrics = run["metrics"]
        if kind is None:
            value = metrics.get(key)
        else:
            entry = metrics.get("faults", {}).get(kind)
            if entry is None:
                continue  # this scenario has no fault of the kind
            value = entry.get(RECOVERY_FIELD, entry.get("recovery_s"))
        if value is None or not math.isfinite(float(value)):
            continue
        by_seed.setdefault(int(run["seed"]), []).append(float(value))
    return {seed: float(np.mean(values)) for seed, values in by_seed.items()}


def fault_kinds(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted({k for run in runs for k in run["metrics"].get("faults", {})})


def paired_results(runs: Sequence[Mapping[str, Any]], systems: Sequence[str]) -> dict[str, Any]:
    """``summary.json["paired"]``: for each baseline, each metric's paired difference and CI."""
    out: dict[str, Any] = {"reference": REFERENCE, "method": METHOD, "baselines": {}}
    if REFERENCE not in systems:
        out["note"] = f"no {REFERENCE!r} system in this study: nothing to pair"
        return out
    metrics: list[tuple[str, Better]] = [(m.key, m.better) for m in SCALARS]
    metrics += [(f"recovery_s.{kind}", "lower") for kind in fault_kinds(runs)]
    for baseline in systems:
        if baseline == REFERENCE:
            continue
        entry: dict[str, Any] = {}
        for key, better in metrics:
            entry[key] = paired_difference(
                seed_values(runs, REFERENCE, key),
                seed_values(runs, baseline, key),
                better,
            )
        out["baselines"][baseline] = entry
    return out


def label_of(key: str) -> tuple[str, str, float]:
    """(label, unit, factor) of a key of :func:`paired_results`."""
    for m in SCALARS:
        if m.key == key:
            return m.label, m.unit, m.factor
    if key.startswith("recovery_s."):
        return f"recovery from {key.split('.', 1)[1]}", "s", 1.0
    return key, "", 1.0
