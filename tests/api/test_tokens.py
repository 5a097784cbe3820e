"""Tokens: shown once, stored only as salted hashes, with expiry and revocation; the CLI."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoinfra.cli.main import typer_app
from autoinfra.core.errors import ConfigError, PermissionDenied
from autoinfra.security.tokens import ApiRole, TokenStore
from tests.api.conftest import Api


def test_only_salted_hashes_are_stored(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "t.db")
    a, info = store.create("approver", name="alice")
    b, _ = store.create("approver", name="bob")
    secret = a.split("_", 2)[2]
    raw = (tmp_path / "t.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("t.db-*")
    )
    assert secret.encode() not in raw and a.encode() not in raw
    rows = sqlite3.connect(tmp_path / "t.db").execute("SELECT salt, hash FROM tokens").fetchall()
    assert len({r[0] for r in rows}) == 2 and len({r[1] for r in rows}) == 2  # salted: distinct
    assert store.verify(a).role == ApiRole.APPROVER and store.verify(b).name == "bob"
    assert (tmp_path / "t.db").stat().st_mode & 0o077 == 0
    assert info.expires_s is not None and info.expires_s > time.time() + 80 * 86400


def test_expiry_revocation_and_bad_input(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "t.db")
    short, _ = store.create("viewer", ttl_days=1e-5)
    time.sleep(1.0)
    with pytest.raises(PermissionDenied, match="expired"):
        store.verify(short)
    tok, info = store.create("viewer")
    store.revoke(info.token_id)
    with pytest.raises(PermissionDenied, match="revoked"):
        store.verify(tok)
    with pytest.raises(ConfigError, match="already revoked"):
        store.revoke(info.token_id)
    with pytest.raises(ConfigError, match="unknown role"):
        store.create("root")
    with pytest.raises(ConfigError, match="no token"):
        store.revoke("00000000")


def test_revocation_acts_on_the_next_request(api: Api) -> None:
    h = api.h("viewer")
    assert api.client.get("/api/v1/cluster/status", headers=h).status_code == 200
    token_id = api.tokens["viewer"].split("_")[1]
    r = api.client.post(f"/api/v1/tokens/{token_id}/revoke", headers=api.h("admin"))
    assert r.status_code == 200
    r = api.client.get("/api/v1/cluster/status", headers=h)
    assert r.status_code == 401 and "revoked" in r.json()["error"]


def test_cli_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOINFRA_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    out = runner.invoke(
        typer_app, ["token", "create", "--role", "approver", "--name", "carol", "--ttl-days", "7"]
    )
    assert out.exit_code == 0, out.output
    token = out.output.strip().splitlines()[-1]
    assert token.startswith("ai_") and " " not in token
    info = TokenStore(tmp_path / "home" / "tokens.db").verify(token)
    assert info.name == "carol" and info.role == ApiRole.APPROVER
    listed = runner.invoke(typer_app, ["token", "list"])
    assert "carol" in listed.output and "active" in listed.output
    assert token.split("_", 2)[2] not in listed.output
    gone = runner.invoke(typer_app, ["token", "revoke", info.token_id])
    assert gone.exit_code == 0 and "revoked" in gone.output
    assert "revoked" in runner.invoke(typer_app, ["token", "list"]).output
    bad = runner.invoke(typer_app, ["token", "create", "--role", "root"])
    assert bad.exit_code != 0
