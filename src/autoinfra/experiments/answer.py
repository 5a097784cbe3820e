"""The report's opening: the study's answer, metric by metric, before anything else.

A reader who stops after this section should know whether the agents beat each baseline, on what,
by how much and how sure the study is: for every metric the two systems' means, the paired
difference agents - baseline with its 95 % interval (``experiments.paired``), whether it holds,
and the paper's claim for the same comparison beside it, labelled as a claim. The figures come
from ``summary.json["paired"]``; nothing here computes a statistic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoinfra.experiments.paired import REFERENCE, label_of
from autoinfra.experiments.render import Block, Bullets, Heading, Paragraph, Table

# The paper's section 7 claims, per (metric, baseline): "rule-based system" is kubernetes-defaults,
# "manual intervention" is human. Quoted, never used by any computation.
PAPER_CLAIMS: dict[tuple[str, str], str] = {
    ("utilization_cpu", "kubernetes-defaults"): "85 % vs 68 % (+17 points)",
    ("utilization_cpu", "human"): "85 % vs 52 % (+33 points)",
    ("utilization_mem", "kubernetes-defaults"): "85 % vs 68 % (CPU and memory together)",
    ("utilization_mem", "human"): "85 % vs 52 % (CPU and memory together)",
    ("energy_kwh", "kubernetes-defaults"): "-35 %",
    ("energy_kwh", "human"): "-50 %",
    ("recovery_s", "kubernetes-defaults"): "12 s vs 45 s (any fault)",
    ("recovery_s", "human"): "12 s vs 90 s (any fault)",
}
VERDICTS = {
    "holds": "yes",
    "reversed": "no: the baseline is better",
    "unclear": "not shown (the interval contains 0)",
}


def _value(x: float | None, unit: str, factor: float, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    v = x * factor
    sign = "+" if signed else ""
    if unit == "%":
        return f"{v:{sign}.1f}" + (" pts" if signed else " %")
    if unit == "s":
        return f"{v:{sign}.0f} s"
    return f"{v:{sign}.3g} {unit}"


def _claim(key: str, baseline: str) -> str:
    metric = "recovery_s" if key.startswith("recovery_s.") else key
    return PAPER_CLAIMS.get((metric, baseline), "-")


def answer_rows(paired: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
    rows: list[tuple[str, ...]] = []
    for baseline, metrics in paired.get("baselines", {}).items():
        for key, e in metrics.items():
            label, unit, factor = label_of(key)
            diff = _value(e.get("mean_difference"), unit, factor, signed=True)
            ci = e.get("ci95")
            interval = (
                f"[{_value(ci[0], unit, factor, True)}, {_value(ci[1], unit, factor, True)}]"
                if ci
                else "no interval"
            )
            rel = e.get("relative_difference")
            rel_text = ""
            if rel is not None and unit != "%":
                rel_text = f" ({rel:+.0%})" if abs(rel) >= 0.01 else f" ({rel:+.1%})"
            rows.append(
                (
                    label,
                    baseline,
                    f"{e['better']} is better",
                    _value(e.get("reference_mean"), unit, factor),
                    _value(e.get("baseline_mean"), unit, factor),
                    f"{diff}{rel_text} {interval}",
                    str(e.get("n", 0)),
                    VERDICTS.get(str(e.get("verdict")), str(e.get("verdict"))),
                    _beyond(e, unit, factor),
                    _claim(key, baseline),
                )
            )
    return tuple(rows)


def _beyond(e: Mapping[str, Any], unit: str, factor: float) -> str:
    """Whether the margin is larger than the spread of either system's values across seeds."""
    beyond = e.get("beyond_spread")
    if beyond is None:
        return "n/a"
    spread = max(float(e.get("reference_sd") or 0.0), float(e.get("baseline_sd") or 0.0))
    return f"{'yes' if beyond else 'no'} (sd {_value(spread, unit, factor).replace(' %', ' pts')})"


def _tally(metrics: Mapping[str, Any]) -> str:
    groups: dict[str, list[str]] = {"holds": [], "reversed": [], "unclear": []}
    for key, e in metrics.items():
        groups.setdefault(str(e.get("verdict")), []).append(label_of(key)[0])
    parts = []
    if groups["holds"]:
        parts.append("better on " + ", ".join(groups["holds"]))
    if groups["reversed"]:
        parts.append("worse on " + ", ".join(groups["reversed"]))
    if groups["unclear"]:
        parts.append("not shown to differ on " + ", ".join(groups["unclear"]))
    rest = [k for k in groups if k not in ("holds", "reversed", "unclear") and groups[k]]
    if rest and not parts:
        return "not compared: " + "; ".join(rest) + " (more seeds give intervals: --seeds 5)"
    for k in rest:
        parts.append(f"without an interval ({k}) on " + ", ".join(groups[k]))
    return "; ".join(parts) or "nothing measured"


def _verdict_line(metrics: Mapping[str, Any]) -> str:
    tally = _tally(metrics)
    return (
        tally if tally.startswith(("not compared", "nothing")) else f"the {REFERENCE} are {tally}"
    )


def answer_blocks(summary: Mapping[str, Any]) -> list[Block]:
    """The opening section of the report: the verdict per baseline and the table behind it."""
    paired = summary.get("paired") or {}
    blocks: list[Block] = [Heading("Answer")]
    baselines = paired.get("baselines") or {}
    if not baselines:
        blocks.append(Paragraph(paired.get("note", "No paired comparison in this study.")))
        return blocks
    seeds = len(summary["spec"]["seeds"])
    burn_in = summary["spec"].get("burn_in_s", 0.0)
    blocks.append(
        Paragraph(
            f"Do the `{REFERENCE}` beat each baseline? Measured over {seeds} seed(s), each its own "
            f"evaluated window, usage draw, slice and faults, shared by every system; every run "
            f"replays {burn_in:.0f} s of the trace before its window as a burn-in, not measured. "
            "Method: "
            f"{paired['method']}"
        )
    )
    blocks.append(Bullets(tuple(f"vs `{b}`: {_verdict_line(m)}." for b, m in baselines.items())))
    blocks.append(
        Table(
            (
                "metric",
                "baseline",
                "direction",
                REFERENCE,
                "baseline value",
                f"{REFERENCE} - baseline [95 % CI]",
                "seeds",
                "holds?",
                "beyond the seeds' spread?",
                "paper claims",
            ),
            answer_rows(paired),
            "means over seeds; recovery counts an unrecovered fault as recovering at the "
            "window's end (a lower bound); beyond the seeds' spread: the margin is larger than "
            "the standard deviation over seeds of either system's values (a stricter test than "
            "the interval); the paper's figures are claims, not measurements",
        )
    )
    return blocks
