"""Running the app: the simulated service in its thread, uvicorn in the foreground.

Kept apart from the CLI so tests and the benchmark start the same server the command does. On
SIGTERM/SIGINT uvicorn returns and the simulation thread is stopped; after ``kill -9`` nothing
runs at all, and the state store and audit chain are what the next start continues from.
"""

from __future__ import annotations

import sys
from pathlib import Path

from autoinfra.api.app import create_app
from autoinfra.api.auth import Authorizer
from autoinfra.api.build import ServeOptions, build_sim_service
from autoinfra.api.simservice import ServiceSettings
from autoinfra.security.tokens import TokenStore, autoinfra_home

__all__ = ["serve_forever"]


def serve_forever(
    *,
    host: str,
    port: int,
    demo: bool,
    scenario: str,
    machines: int,
    hours: float,
    seed: int,
    speed: float,
    approval_ttl_s: float,
    approvers_required: int,
    state_dir: Path | None,
    audit_fsync: bool = False,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    import uvicorn

    state = state_dir or autoinfra_home() / "state"
    settings = ServiceSettings(
        speed=speed, approval_ttl_s=approval_ttl_s, approvers_required=approvers_required
    )
    opts = ServeOptions(
        state_dir=state,
        seed=seed,
        demo=demo,
        machines=machines,
        hours=hours,
        scenario=scenario,
        settings=settings,
        audit_fsync=audit_fsync,
    )
    service = build_sim_service(opts)
    tls = tls_cert is not None
    auth = Authorizer(TokenStore(), service.store, tls=tls)
    app = create_app(service, auth)
    service.start()
    scheme = "https" if tls else "http"
    print(
        f"autoinfra serve: {scheme}://{host}:{port}/ (state {state}, run {service.run_id})",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
            access_log=False,
        )
    finally:
        service.stop()
