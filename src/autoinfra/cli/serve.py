"""``autoinfra serve``: the operator's API (and dashboard) over a running simulated cluster.

Registered by ``cli/main.py``. The app is served by uvicorn (the ``api`` extra), imported inside
the command so ``autoinfra --help`` stays instant. ``--demo`` needs nothing else: a simulated cell
with a fault storm every 15 minutes whose risky actions wait for a person. State (the SQLite
database, the audit chain) lives in ``--state-dir`` (default ``$AUTOINFRA_HOME/state``); tokens
in ``$AUTOINFRA_HOME/tokens.db`` (create them with ``autoinfra token create``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from autoinfra.cli.errors import one_line_errors


@one_line_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback default)."),
    port: int = typer.Option(8000, "--port", help="Port to bind.", min=0, max=65535),
    demo: bool = typer.Option(
        False, "--demo", help="A simulated slice with a fault storm; nothing to configure."
    ),
    scenario: str = typer.Option(
        "storm", "--scenario", help="Fault scenario without --demo (a built-in name or a file)."
    ),
    machines: int = typer.Option(40, "--machines", help="Machines of the simulated cell.", min=2),
    hours: float = typer.Option(24.0, "--hours", help="Simulated hours of workload.", min=0.5),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    speed: float = typer.Option(
        20.0, "--speed", help="Simulated seconds per wall second.", min=0.1
    ),
    approval_ttl_s: float = typer.Option(
        900.0, "--approval-ttl-s", help="Wall seconds before an unanswered request is denied."
    ),
    approvers_required: int = typer.Option(
        2, "--approvers-required", help="Distinct approvers for high-risk actions.", min=1
    ),
    state_dir: Path | None = typer.Option(
        None, "--state-dir", help="Where the database and audit chain live."
    ),
    audit_fsync: bool = typer.Option(
        False, "--audit-fsync", help="fsync each audit record (power-loss safe; slower ticks)."
    ),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate (HTTPS)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key (HTTPS)."),
) -> None:
    """Serve the operator API over a simulated cluster whose agents run in the background."""
    from autoinfra.core.errors import ConfigError

    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together", field="tls")
    for p in (tls_cert, tls_key):
        if p is not None and not p.is_file():
            raise ConfigError(f"no such file {p}", field="tls")
    from autoinfra.api.server import serve_forever

    serve_forever(
        host=host,
        port=port,
        demo=demo,
        scenario=scenario,
        machines=machines,
        hours=hours,
        seed=seed,
        speed=speed,
        approval_ttl_s=approval_ttl_s,
        approvers_required=approvers_required,
        state_dir=state_dir,
        audit_fsync=audit_fsync,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
