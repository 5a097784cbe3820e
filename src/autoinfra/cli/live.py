"""``autoinfra live``: the agents on the wall clock against a backend, with a real Prometheus and
Alertmanager, each system in turn, and a report in the experiment's schema.

SIGINT and SIGTERM stop the run cleanly (in-flight actions finished or marked, audit and queue
flushed, every process and server it started stopped) and the report is still written, saying the
run was stopped. Bad input (an unknown backend or system, a Prometheus that does not answer, a
PromQL error, a port in use) is one line on stderr and exit code 2, with nothing left running.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from autoinfra.cli.errors import one_line_errors


@one_line_errors
def live(
    backend: str = typer.Option("sim", "--backend", help="sim | local | kubernetes."),
    duration: float = typer.Option(60.0, "--duration", min=1.0, help="Wall seconds per system."),
    faults: str = typer.Option("none", "--faults", help="Fault scenario (file or built-in name)."),
    systems: str = typer.Option(
        "agents,kubernetes-defaults,noop", "--systems", help="Comma-separated systems, in turn."
    ),
    mode: str = typer.Option(
        "act", "--mode", help="act | shadow (agents propose beside the baseline, never executed)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Record actions, execute none."),
    speed: float = typer.Option(1.0, "--speed", help="sim: simulated seconds per wall second."),
    machines: int | None = typer.Option(
        None, "--machines", min=2, help="Cluster size (default: the backend's; sim 40, local 4)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    prometheus: str | None = typer.Option(
        None, "--prometheus", help="Use this Prometheus (it must scrape --exporter-port)."
    ),
    alertmanager: str | None = typer.Option(None, "--alertmanager", help="Use this Alertmanager."),
    exporter_port: int = typer.Option(0, "--exporter-port", help="Port of /metrics (0: free)."),
    scrape_interval: float = typer.Option(1.0, "--scrape-interval", help="Seconds (own server)."),
    fault_lead: float = typer.Option(
        45.0,
        "--fault-lead",
        help="Wall seconds from the start to the first fault (after the detectors' 30 s warm-up).",
    ),
    backend_opt: list[str] = typer.Option(
        [], "--backend-opt", help="KEY=VALUE passed to the backend (repeat), e.g. kubeconfig=PATH."
    ),
    out: Path = typer.Option(Path("out/live"), "--out", file_okay=False, help="Report folder."),
) -> None:
    """Run the agents (and the baselines) live against a backend and report TTD/TTM/TTR."""
    from autoinfra.live.report import write_live_report
    from autoinfra.live.runner import LiveRunner, LiveSettings

    settings = LiveSettings(
        backend=backend,
        duration_s=duration,
        faults=faults,
        systems=tuple(s.strip() for s in systems.split(",") if s.strip()),
        mode=mode,  # type: ignore[arg-type]  # checked by LiveSettings.check
        dry_run=dry_run,
        speed=speed,
        seed=seed,
        machines=machines,
        prometheus_url=prometheus,
        alertmanager_url=alertmanager,
        exporter_port=exporter_port,
        scrape_interval_s=scrape_interval,
        fault_lead_s=fault_lead,
        out_dir=out,
        backend_options=_options(backend_opt),
    )
    runner = LiveRunner(settings)
    runner.install_signal_handlers()
    runs = runner.run()
    summary = write_live_report(
        out,
        settings,
        runs,
        prometheus=runner.prometheus_url,
        alertmanager=runner.alertmanager_url,
        webhook=runner.webhook.url if runner.webhook else "",
    )
    console = Console()
    for name in summary["spec"]["systems"]:
        rec = summary["systems"][name]["recovery_s"]
        parts = [
            f"{k}: detect {_s(v['detect_s'])} mitigate {_s(v['mitigate_s'])} recover "
            f"{_s(v['recovery_s'])} ({v['recovered']}/{v['faults']})"
            for k, v in rec.items()
        ]
        audit = "verified" if summary["live"][name]["audit_chain_verified"] else "BROKEN"
        console.print(
            f"{name}: " + ("; ".join(parts) or "no faults") + f"; audit {audit}",
            highlight=False,
            soft_wrap=True,
        )
    if runner.stop_reason:
        console.print(f"stopped early: {runner.stop_reason}", highlight=False)
    console.print(
        f"report: {out / 'report.md'}; summary: {out / 'summary.json'}",
        highlight=False,
        soft_wrap=True,
    )


def _options(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs; a value that reads as JSON (a number, true, null) is taken as such."""
    import json

    from autoinfra.core.errors import ConfigError

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected KEY=VALUE, got {pair!r}", field="backend-opt")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def _s(stat: dict[str, float | None]) -> str:
    mean = stat.get("mean")
    return "n/a" if mean is None else f"{mean:.0f} s"
