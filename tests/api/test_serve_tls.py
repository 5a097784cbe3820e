"""``autoinfra serve`` under uvicorn over HTTPS with a self-signed pair: the whole path, live."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from autoinfra.security.tokens import TokenStore
from tests.api.serving import Served


@pytest.fixture
def served(tmp_path: Path, tls_files: tuple[Path, Path]) -> Iterator[tuple[Served, TokenStore]]:
    cert, key = tls_files
    tokens = TokenStore(tmp_path / "tokens.db")
    server = Served(
        tmp_path,
        [
            "--demo",
            "--hours",
            "2",
            "--speed",
            "100",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        tls_cert=cert,
    )
    try:
        server.wait_ready()
        yield server, tokens
    finally:
        server.stop()
        tokens.close()


def test_https_demo_approve_executes_once(served: tuple[Served, TokenStore]) -> None:
    server, tokens = served
    viewer, _ = tokens.create("viewer", name="vera")
    approver, _ = tokens.create("approver", name="alice")
    with server.client() as c:
        assert c.get("/api/v1/cluster/status").status_code == 401
        v = {"Authorization": f"Bearer {viewer}"}
        status = c.get("/api/v1/cluster/status", headers=v)
        assert status.status_code == 200 and status.json()["mode"] == "simulated"
        assert "strict-transport-security" in status.headers
        login = c.post("/api/v1/session", json={"token": viewer})
        assert all("Secure" in h for h in login.headers.get_list("set-cookie"))
        deadline = time.monotonic() + 30
        items: list[dict[str, object]] = []
        while not items and time.monotonic() < deadline:
            items = c.get("/api/v1/approvals", headers=v).json()
            time.sleep(0.2)
        assert items, "no escalation within 30 s of the demo"
        item = next((i for i in items if i["approvers_required"] == 1), items[0])
        rid = quote(str(item["request_id"]), safe="")
        a = {"Authorization": f"Bearer {approver}"}
        refused = c.post(
            f"/api/v1/approvals/{rid}/approve",
            headers=v,
            json={"digest": item["digest"], "reason": "viewer tries"},
        )
        assert refused.status_code == 403
        r = c.post(
            f"/api/v1/approvals/{rid}/approve",
            headers=a,
            json={"digest": item["digest"], "reason": "what-if looks fine"},
        )
        assert r.status_code == 200, r.text
        executed: list[dict[str, object]] = []
        while time.monotonic() < deadline + 15 and not executed:
            page = c.get("/api/v1/audit?offset=0&limit=1000", headers=v).json()
            entries = page["entries"]
            for off in range(1000, page["total"], 1000):
                entries += c.get(f"/api/v1/audit?offset={off}&limit=1000", headers=v).json()[
                    "entries"
                ]
            executed = [
                e
                for e in entries
                if e["event"] == "executed" and e["data"]["request_id"] == item["request_id"]
            ]
            time.sleep(0.2)
        if item["approvers_required"] == 1:
            assert len(executed) == 1
        assert c.get("/api/v1/audit/verify", headers=v).json()["valid"] is True
