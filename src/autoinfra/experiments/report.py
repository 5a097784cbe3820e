"""The report: what was asked, how it was measured, what came out, beside what the paper claims.

Built as blocks from ``summary.json``'s content (so the report shows exactly the numbers in the
summary) and rendered to ``report.md`` and ``report.html``. A reader should understand the result
without opening anything else: the question, the setup (systems, workload model, slice, windows,
seeds, versions), results with their spread, the figures, the paper's claims labelled as claims,
and the caveats that limit what the numbers mean.

The paper's figures appear only here, as text beside the measured ones; nothing upstream reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autoinfra.agents.registry import SYSTEMS
from autoinfra.core.atomic import write_text
from autoinfra.core.registry import Registry
from autoinfra.experiments.answer import answer_blocks
from autoinfra.experiments.plots import PLOTS
from autoinfra.experiments.render import (
    Block,
    Bullets,
    Figure,
    Heading,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)
from autoinfra.experiments.systems import ensure_registered
from autoinfra.faults.registry import SCENARIOS

QUESTION = (
    "Do autonomous agents run a compute cluster better than Kubernetes with its documented "
    "defaults and than a human operator, on CPU and memory utilisation, fault recovery time and "
    "energy, when replaying real Google cluster traces with injected faults? The paper "
    "(Building Autonomous AI Agents based AI Infrastructure, sections 6-7) says yes, by wide "
    "margins; this report measures it."
)
# The paper's section 7 figures, quoted as claims. Systems map: the paper's "autonomous AI agent"
# -> agents, "rule-based system" -> kubernetes-defaults, "manual intervention" -> human.
CLAIMS: tuple[tuple[str, str, dict[str, str]], ...] = (
    (
        "utilization_cpu",
        "average CPU and memory utilisation",
        {"agents": "85 %", "kubernetes-defaults": "68 %", "human": "52 %"},
    ),
    (
        "recovery_s",
        "fault recovery time",
        {"agents": "12 s", "kubernetes-defaults": "45 s", "human": "90 s"},
    ),
    (
        "energy_kwh",
        "energy vs agents",
        {
            "agents": "-35 % vs rule-based, -50 % vs manual",
            "kubernetes-defaults": "(baseline)",
            "human": "(baseline)",
        },
    ),
)


def _num(stat: Mapping[str, Any] | None, fmt: str = "{:.4g}", factor: float = 1.0) -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    mean, std = stat["mean"] * factor, (stat["std"] or 0.0) * factor
    lo, hi = stat["min"] * factor, stat["max"] * factor
    # the spread needs two significant digits, not the mean's four
    if fmt != "{:.4g}":
        spread = fmt.format(std)
    else:
        spread = f"{std:.0f}" if abs(std) >= 100 else f"{std:.2g}"
    return f"{fmt.format(mean)} ± {spread} [{fmt.format(lo)}, {fmt.format(hi)}] n={stat['n']}"


def _pct(stat: Mapping[str, Any] | None) -> str:
    return _num(stat, "{:.1f}", 100.0)


def _results_table(summary: Mapping[str, Any], systems: Sequence[str]) -> Table:
    rows = []
    for s in systems:
        m = summary["systems"][s]
        rows.append(
            (
                s,
                _pct(m["utilization_cpu"]),
                _pct(m["utilization_mem"]),
                _num(m["energy_kwh"]),
                _num(m["energy_kwh_per_task"], "{:.3g}"),
                _pct(m["slo_violation_rate"]),
                _num(m["scheduling_delay_p95_s"]),
                _num(m["actions"], "{:.0f}"),
                _num(m["false_alarms"], "{:.0f}"),
            )
        )
    return Table(
        (
            "system",
            "CPU util %",
            "memory util %",
            "energy kWh",
            "kWh per task",
            "SLO violation %",
            "sched. delay p95 s",
            "actions",
            "false alarms",
        ),
        tuple(rows),
        "mean ± std [min, max] across seeds (each seed averaged over the fault scenarios)",
    )


def _overcommit_table(summary: Mapping[str, Any], systems: Sequence[str]) -> Table:
    """What placing work against reservations costs: throttling and memory kills per system."""
    rows = []
    for s in systems:
        m = summary["systems"][s]
        rows.append(
            (
                s,
                _num(m.get("cpu_throttled_share"), "{:.3f}", 100.0),
                _num(m.get("throttled_machine_s"), "{:.0f}"),
                _num(m.get("memory_kills"), "{:.0f}"),
                _num(m["evictions"], "{:.0f}"),
            )
        )
    return Table(
        ("system", "CPU demand throttled %", "throttled machine-s", "memory kills", "evictions"),
        tuple(rows),
        "the price of overcommit; mean ± std [min, max] across seeds",
    )


def _fault_table(summary: Mapping[str, Any], systems: Sequence[str]) -> Table:
    rows = []
    for s in systems:
        for kind, e in sorted(summary["systems"][s]["recovery_s"].items()):
            rows.append(
                (
                    s,
                    kind,
                    f"{e['detected']}/{e['faults']}",
                    _num(e["detect_s"]),
                    f"{e['mitigated']}/{e['faults']}",
                    _num(e["mitigate_s"]),
                    f"{e['recovered']}/{e['faults']} ({e.get('self_cleared', 0)} by itself"
                    + (f", {e['no_effect']} no effect)" if e.get("no_effect") else ")"),
                    _num(e["recovery_s"]),
                    _num(e["recovery_lower_bound_s"]),
                )
            )
    return Table(
        (
            "system",
            "fault",
            "detected",
            "detect s",
            "mitigated",
            "mitigate s",
            "recovered",
            "recover s",
            "recover s (lower bound)",
        ),
        tuple(rows),
        "seconds after injection, over the faults that got there; mitigated counts actions aimed "
        "at a detected fault only; by itself: recovered with nobody fixing it (expired, or the "
        "world healed); no effect: found nothing to harm, left out; the lower bound counts an "
        "unrecovered fault as recovering at the window's end",
    )


def _claims_table(summary: Mapping[str, Any], systems: Sequence[str]) -> Table:
    rows = []
    agents = summary["systems"].get("agents")
    for metric, label, claims in CLAIMS:
        for s in systems:
            if s not in claims:
                continue
            m = summary["systems"][s]
            if metric == "utilization_cpu":
                measured = (
                    f"CPU {_pct(m['utilization_cpu'])} %; memory {_pct(m['utilization_mem'])} %"
                )
            elif metric == "recovery_s":
                parts = [
                    f"{k}: {_num(e['recovery_s'])} s ({e['recovered']}/{e['faults']} recovered)"
                    for k, e in sorted(m["recovery_s"].items())
                ]
                measured = "; ".join(parts) or "no faults injected"
            else:
                measured = f"{_num(m['energy_kwh'])} kWh"
                if agents is not None and s != "agents" and agents["energy_kwh"]["mean"]:
                    ratio = agents["energy_kwh"]["mean"] / m["energy_kwh"]["mean"] - 1.0
                    measured += f" (agents {ratio:+.1%} vs this system)"
            rows.append((label, s, claims[s], measured))
    return Table(
        ("metric", "system", "paper claims", "measured here"),
        tuple(rows),
        "the paper's figures are claims to test, never targets in the code",
    )


def _seed_windows(win: Mapping[str, Any]) -> str:
    per_seed = win.get("per_seed") or {}
    lead = float(win.get("burn_in_s", 0.0))
    if not per_seed:
        return f"the runs measure {win['evaluated'][0]:.0f}-{win['evaluated'][1]:.0f}."
    parts = [f"seed {s}: {w[0] + lead:.0f}-{w[1]:.0f}" for s, w in per_seed.items()]
    return "the runs of " + ", ".join(parts) + "."


def _registry_id(registry: Registry[Any], name: str) -> str:
    """`` (`<id>`)`` when ``name`` is a registered alias: the report names the versioned thing."""
    if name not in registry:
        return ""  # a scenario file given by path, or a system registered by a plugin elsewhere
    found = registry.resolve(name)
    return "" if found == name else f" (`{found}`)"


def _span_text(span: Any) -> str:
    if not span:
        return ""
    start, end = float(span[0]), float(span[1])
    return (
        f"; the study reads trace seconds {start:,.0f}-{end:,.0f} (the trace window; every "
        "time below counts from its start, trace second = time + "
        f"{start:,.0f})"
    )


def _input_warnings(summary: Mapping[str, Any]) -> list[Block]:
    """What about the inputs limits every figure of the report, before the figures."""
    warnings = summary.get("inputs", {}).get("warnings") or []
    if not warnings:
        return []
    return [Heading("Warning: the inputs", 3), Bullets(tuple(str(w) for w in warnings))]


def _measurement_warnings(summary: Mapping[str, Any]) -> list[Block]:
    """Systems still on their way from the cold start when measuring began (``steadiness``)."""
    warnings = (summary.get("measurement") or {}).get("warnings") or []
    if not warnings:
        return []
    return [Heading("Warning: the measurement", 3), Bullets(tuple(str(w) for w in warnings))]


def build_blocks(summary: Mapping[str, Any], plots: Mapping[str, Path]) -> list[Block]:
    ensure_registered()  # the baselines' ids, for the systems section
    spec = summary["spec"]
    systems = list(spec["systems"])
    slice_ = summary["slice"]
    win = summary["windows"]
    blocks: list[Block] = [
        Heading("autoinfra experiment report", 1),
        Paragraph(QUESTION),
        *_input_warnings(summary),
        *_measurement_warnings(summary),
        *answer_blocks(summary),
        *(
            [
                Figure(
                    plots["paired"].name,
                    "agents minus each baseline per seed (grey), the mean "
                    "and its 95 % interval; green side: agents better",
                )
            ]
            if "paired" in plots
            else []
        ),
        Heading("Setup"),
        Bullets(
            (
                f"Trace: {summary['inputs']['trace_dir']}; {len(summary['inputs']['files'])} input "
                "files (trace parts and the Azure usage series), SHA-256 of each in summary.json"
                + _span_text(spec.get("trace_span"))
                + ".",
                f"Scale `{spec['scale']['name']}`: {spec['scale']['description']}. Slice: "
                f"{slice_['machines']} machines of the cell's {slice_['cell_machines']:,} (the "
                "machines in it at any time of the loaded trace window), "
                f"{slice_['tasks']} task instances, {slice_['services']} services in the "
                f"evaluated window; {slice_['slicing']}.",
                f"Capacity mapping: {slice_['paper_mapping']}",
                f"Windows (seconds from the trace window's start): training "
                f"{win['train'][0]:.0f}-{win['train'][1]:.0f}, evaluation "
                f"{win['evaluation'][0]:.0f}-{win['evaluation'][1]:.0f}, cut into "
                f"{len(win.get('run_windows', [])) or 1} disjoint measured windows; "
                + _seed_windows(win)
                + f" Each run starts {win.get('burn_in_s', 0.0):.0f} s before its measured "
                "window: a burn-in (lead-in) that replays the trace before it, so that every "
                "system starts measuring at its operating point rather than from the cold "
                "start (all machines on); it is never measured, the first window's replays the "
                "end of the training window, and no fault strikes before its end (a scenario "
                "that would is moved later, all its faults by the same amount). Measured and "
                "training windows never overlap.",
                f"Learned parts: {summary['training']['description']}",
                f"Fault scenarios: {', '.join(spec['faults'])}; seeds: "
                f"{', '.join(str(s) for s in spec['seeds'])}; simulator tick {spec['tick_s']} s, "
                f"recorded every {spec['record_every_s']} s.",
                "Versions: " + ", ".join(f"{k} {v}" for k, v in summary["versions"].items()),
            )
        ),
        Heading("Systems", 3),
        Bullets(
            tuple(
                f"`{s}`{_registry_id(SYSTEMS, s)}: {summary['systems'][s]['description']}"
                for s in systems
            )
        ),
        Heading("Fault scenarios", 3),
        Bullets(
            tuple(
                f"`{k}`{_registry_id(SCENARIOS, k)}: {v}" for k, v in summary["scenarios"].items()
            )
        ),
        Heading("Workload model", 3),
        Paragraph(summary["workload_model"]["description"]),
        Heading("Results"),
        _results_table(summary, systems),
        _overcommit_table(summary, systems),
        _fault_table(summary, systems),
        Heading("The paper's claims beside the measurements"),
        _claims_table(summary, systems),
        Heading("Figures"),
    ]
    captions = {
        "paired": "the answer: agents minus each baseline per seed, mean and 95 % interval",
        "utilization": "CPU and memory used / capacity of powered machines, and the machines "
        "in service, over time per scenario; burn-in shaded, fault injections dashed",
        "recovery": "every fault's time to detect, mitigate and recover (log axis); triangles: "
        "not by the window's end, crosses: cleared by itself",
        "energy": "facility energy and energy per finished task per system (whiskers: min-max)",
        "service": "scheduling delay (p95) and SLO violations per system (whiskers: min-max)",
    }
    for key in PLOTS:
        if key in plots and key != "paired":  # the answer's figure opens the report
            blocks.append(Figure(plots[key].name, captions[key]))
    blocks += [
        Heading("Metrics, exactly"),
        Bullets(tuple(summary["metric_definitions"])),
        Heading("Caveats"),
        Bullets(tuple(summary["caveats"])),
        Heading("Files"),
        Paragraph(
            "`summary.json` (every figure above with its spread, seeds, versions, inputs), "
            "`runs.parquet` (one row per run), `ticks.parquet` (per recorded tick), "
            "`events.parquet` (every action on the world), `faults.parquet` (fault timelines), "
            "`actions.parquet` (every proposal's lifecycle), `tasks.parquet` (per task), and the "
            "PNG figures."
        ),
    ]
    return blocks


def write_report(out_dir: Path, summary: Mapping[str, Any], plots: Mapping[str, Path]) -> None:
    blocks = build_blocks(summary, plots)
    write_text(out_dir / "report.md", to_markdown(blocks))
    write_text(
        out_dir / "report.html",
        to_html(blocks, base_dir=out_dir, title="autoinfra experiment report"),
    )
