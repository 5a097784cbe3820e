"""A small client for etcd's v3 JSON gateway: leases, ranges and transactions.

etcd serves its v3 API as JSON over HTTP (the grpc-gateway at ``/v3/...``) besides gRPC. We use
that through httpx rather than a Python gRPC client: the maintained Python etcd clients lag etcd
and protobuf releases, while the gateway is part of every etcd since 3.3 and needs nothing but
HTTP. Keys and values travel base64-encoded; numbers that are int64 arrive as strings.

Only what leader election and fencing need is here: ``grant``, ``keepalive``, ``revoke``,
``get``, ``put`` and ``txn`` with compares on a key's ``create_revision``.
Every call has a timeout; a server that does not answer is :class:`CoordinationUnavailable`
naming the URL, never a hang.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from autoinfra.core.errors import AutoinfraError

__all__ = ["CoordinationUnavailable", "EtcdGateway", "KeyValue"]


class CoordinationUnavailable(AutoinfraError):
    """etcd did not answer, or answered with an error (the message names the URL and call)."""


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int


class EtcdGateway:
    """etcd's v3 API at ``url`` (for example ``http://127.0.0.1:2379``)."""

    def __init__(self, url: str, *, timeout_s: float = 2.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EtcdGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(f"/v3/{path}", json=body)
        except httpx.HTTPError as exc:
            raise CoordinationUnavailable(
                f"etcd at {self.url} did not answer {path}: {exc or type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise CoordinationUnavailable(
                f"etcd at {self.url} refused {path}: HTTP {response.status_code} "
                f"{response.text[:200]}"
            )
        data: dict[str, Any] = response.json()
        return data

    def grant(self, ttl_s: int) -> int:
        return int(self._call("lease/grant", {"TTL": ttl_s})["ID"])

    def keepalive(self, lease_id: int) -> int:
        """Renew the lease; returns its TTL in seconds (0 when it has already expired)."""
        result = self._call("lease/keepalive", {"ID": str(lease_id)}).get("result", {})
        return int(result.get("TTL", 0))

    def revoke(self, lease_id: int) -> None:
        self._call("lease/revoke", {"ID": str(lease_id)})

    def get(self, key: str) -> KeyValue | None:
        kvs = self._call("kv/range", {"key": _b64(key)}).get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    def prefix(self, prefix: str) -> list[KeyValue]:
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        body = {"key": _b64(prefix), "range_end": _b64(end)}
        return [_kv(kv) for kv in self._call("kv/range", body).get("kvs", [])]

    def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        return int(self._call("kv/put", body)["header"]["revision"])

    def put_if_absent(self, key: str, value: bytes, *, lease: int = 0) -> int | None:
        """Create ``key`` only if it does not exist; the revision of the write, or None."""
        compare = {"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        put: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            put["lease"] = str(lease)
        answer = self._call("kv/txn", {"compare": [compare], "success": [{"request_put": put}]})
        return int(answer["header"]["revision"]) if answer.get("succeeded") else None

    def put_if_revision(
        self, guard_key: str, create_revision: int, puts: list[tuple[str, bytes]]
    ) -> bool:
        """Write ``puts`` only while ``guard_key`` still has ``create_revision`` (fencing)."""
        compare = {
            "key": _b64(guard_key),
            "target": "CREATE",
            "result": "EQUAL",
            "create_revision": str(create_revision),
        }
        success = [{"request_put": {"key": _b64(k), "value": _b64(v)}} for k, v in puts]
        answer = self._call("kv/txn", {"compare": [compare], "success": success})
        return bool(answer.get("succeeded"))


def _kv(raw: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(raw["key"]).decode(),
        value=base64.b64decode(raw.get("value", "")),
        create_revision=int(raw.get("create_revision", 0)),
        mod_revision=int(raw.get("mod_revision", 0)),
        lease=int(raw.get("lease", 0)),
    )
