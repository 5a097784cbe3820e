"""``autoinfra token``: create, list and revoke the API's tokens.

Registered by ``cli/main.py``. ``create`` prints the token once, alone on its last line (so
``TOKEN=$(autoinfra token create --role viewer | tail -1)`` works); only its salted hash is kept,
in ``$AUTOINFRA_HOME/tokens.db``.
"""

from __future__ import annotations

import datetime as dt

import typer

from autoinfra.cli.errors import one_line_errors

app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@app.command("create")
@one_line_errors
def create(
    role: str = typer.Option(..., "--role", help="viewer | operator | approver | admin"),
    name: str | None = typer.Option(None, "--name", help="Who holds it (the audit's actor)."),
    ttl_days: float = typer.Option(90.0, "--ttl-days", help="Days until it expires.", min=0.001),
) -> None:
    """Create a token; it is printed once, alone on the last line."""
    from autoinfra.security.tokens import TokenStore

    store = TokenStore()
    token, info = store.create(role, name=name, ttl_days=ttl_days)
    typer.echo(
        f"created token {info.token_id} for {info.name} (role {info.role.value}), "
        f"expires {_when(info.expires_s)}; it is shown only now:"
    )
    typer.echo(token)


@app.command("list")
@one_line_errors
def list_tokens() -> None:
    """List tokens (ids, names, roles, expiry, revocation; never secrets)."""
    import time

    from autoinfra.security.tokens import TokenStore

    now = time.time()
    for t in TokenStore().list():
        state = "revoked" if t.revoked_s else ("active" if t.active(now) else "expired")
        typer.echo(
            f"{t.token_id}  {t.name:<20} {t.role.value:<9} {state:<8} expires {_when(t.expires_s)}"
        )


@app.command("revoke")
@one_line_errors
def revoke(token_id: str = typer.Argument(..., help="The token's id (from `token list`).")) -> None:
    """Revoke a token at once (a running server refuses it from the next request)."""
    from autoinfra.security.tokens import TokenStore

    info = TokenStore().revoke(token_id)
    typer.echo(f"revoked {info.token_id} ({info.name})")
