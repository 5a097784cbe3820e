"""Fixtures of the API tests: a small simulated service, tokens of every role, a client.

``api`` builds a fresh service per test (about a second): a 40-machine synthetic cell with the
demo's fault storm, its gate waiting for people. ``api.run(n)`` steps it in the test's own thread
(no background thread, so tests are deterministic). ``api.tokens[role]`` is a Bearer token per
role; ``api.h(role)`` the header dict. ``tls_files`` makes a self-signed pair for 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from autoinfra.api.app import create_app
from autoinfra.api.auth import Authorizer
from autoinfra.api.build import ServeOptions, build_sim_service
from autoinfra.api.simservice import ServiceSettings, SimClusterService
from autoinfra.security.tokens import ApiRole, TokenStore

ROLES = [r.value for r in ApiRole]


@dataclass
class Api:
    service: SimClusterService
    app: Any
    client: TestClient
    store: TokenStore
    auth: Authorizer
    tokens: dict[str, str] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def vote(
        self,
        who: str,
        item: dict[str, Any],
        verb: str = "approve",
        reason: str = "checked the what-if",
        digest: str | None = None,
    ) -> Any:
        rid = quote(item["request_id"], safe="")
        body = {"digest": digest or item["digest"], "reason": reason}
        return self.client.post(f"/api/v1/approvals/{rid}/{verb}", headers=self.h(who), json=body)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.service.step()

    def pending(self, who: str = "viewer") -> list[dict[str, Any]]:
        r = self.client.get("/api/v1/approvals", headers=self.h(who))
        assert r.status_code == 200, r.text
        return list(r.json())

    def wait_pending(self, n: int = 1, max_steps: int = 600) -> list[dict[str, Any]]:
        for _ in range(max_steps):
            items = self.pending()
            if len(items) >= n:
                return items
            self.service.step()
        raise AssertionError(f"fewer than {n} pending approvals after {max_steps} steps")


def make_api(tmp: Path, settings: ServiceSettings | None = None, **kw: Any) -> Api:
    opts = ServeOptions(
        state_dir=tmp / "state", hours=2.0, settings=settings or ServiceSettings(), **kw
    )
    service = build_sim_service(opts)
    store = TokenStore(tmp / "tokens.db")
    auth = Authorizer(store, service.store)
    app = create_app(service, auth, max_body_bytes=16384)
    api = Api(service, app, TestClient(app), store, auth)
    for role in ROLES:
        api.tokens[role], _ = store.create(role, name=f"{role}-1")
    api.tokens["approver2"], _ = store.create("approver", name="approver-2")
    return api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    a = make_api(tmp_path)
    yield a
    a.client.close()
    a.service.store.close()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
