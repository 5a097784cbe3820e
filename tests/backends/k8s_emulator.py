"""A Kubernetes API server for the tests: kmock's emulator, taught what our backend relies on.

kmock (PyPI) is an *emulator*: an in-memory object store behind Kubernetes-shaped URLs that
merges patches into JSON. It runs no controllers, no scheduler, no admission. On top of it this
module adds, each the way the real API server behaves:

- ``dryRun=All`` on a write: the request is answered and nothing is stored;
- ``POST pods/<p>/eviction``: refused with 429 when a PodDisruptionBudget of the namespace
  selects the pod and allows no disruption, otherwise the pod is deleted (201); on a node that is
  not Ready the pod is only marked deleted (no kubelet confirms) until a zero-grace DELETE;
- ``deployments/<d>/scale``: GET answers an ``autoscaling/v1`` Scale; PATCH sets
  ``spec.replicas`` of the deployment;
- scripted errors: ``deny`` maps ``(method, path prefix)`` to a status (403 to test RBAC);
- every request body is validated against the Kubernetes OpenAPI schemas (kubernetes-validate,
  strict: unknown fields fail); failures are kept in ``invalid`` for the test to assert empty.
  Patch bodies are validated as the kind they patch, after dropping ``null`` (a strategic merge
  patch's "delete this key", which the schema of the full object cannot express).

``EmulatedCluster`` runs it on a free 127.0.0.1 port in a thread with its own event loop (the
official client is synchronous) and seeds a small cluster: nodes, a deployment per service with
its pods, optionally a PDB.
"""

from __future__ import annotations

import asyncio
import copy
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp.web
import attrs
import jsonschema
import kmock
import kubernetes_validate
from kubernetes_validate.utils import latest_version, schema_contents
from referencing import Registry, Resource

defs_resource = Resource.from_contents

NS = "default"
PODS, NODES, DEPLOYS, PDBS = (
    "v1/pods",
    "v1/nodes",
    "apps/v1/deployments",
    "policy/v1/poddisruptionbudgets",
)

# (plural, subresource) -> (apiVersion, kind) of the body sent there
_BODY_KIND = {
    ("deployments", "scale"): ("autoscaling/v1", "Scale"),
    ("deployments", None): ("apps/v1", "Deployment"),
    ("nodes", None): ("v1", "Node"),
    ("pods", "eviction"): ("policy/v1", "Eviction"),
    ("pods", None): ("v1", "Pod"),
}


def _drop_nulls(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _drop_nulls(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_drop_nulls(v) for v in x]
    return x


def _patch_errors(body: dict[str, Any]) -> list[str]:
    """Errors of a patch body against the strict schema of the kind it patches, ``required``
    aside (a patch names only what it changes): types, enums, unknown fields all count."""
    version = latest_version()
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", body["apiVersion"])
    base = f"kubernetes-json-schema/v{version}-local-strict"
    schema = schema_contents(f"{base}/{body['kind'].lower()}-{api}.json", version)
    defs = schema_contents(f"{base}/_definitions.json", version)
    registry = defs_resource(defs) @ (defs_resource(schema) @ Registry())
    lenient = jsonschema.validators.extend(
        jsonschema.Draft202012Validator, validators={"required": lambda *_: iter(())}
    )
    return [e.message for e in lenient(schema, registry=registry).iter_errors(body)]


def _verb(request: kmock.Request) -> str:
    return str(getattr(request.method, "value", request.method)).upper()


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Status", "metadata": {},
                                      "status": "Failure" if code >= 400 else "Success",
                                      "code": code, "reason": reason, "message": message},
                                     status=code)  # fmt: skip


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    deny: dict[tuple[str, str], int] = attrs.field(factory=dict)
    invalid: list[str] = attrs.field(factory=list)
    bodies: list[tuple[str, str, Any]] = attrs.field(factory=list)

    def _validate(self, request: kmock.Request) -> None:
        if request.data is None or request.resource is None or _verb(request) == "GET":
            return
        kind = _BODY_KIND.get((request.resource.plural, request.subresource))
        path = str(request.url.path)
        self.bodies.append((_verb(request), path, request.data))
        if kind is None:
            self.invalid.append(f"{_verb(request)} {path}: no schema known for this body")
            return
        body = {"apiVersion": kind[0], "kind": kind[1], **_drop_nulls(request.data)}
        if _verb(request) == "PATCH":
            self.invalid += [f"PATCH {path}: {e}" for e in _patch_errors(body)]
            return
        try:
            kubernetes_validate.validate(body, latest_version(), strict=True)
        except kubernetes_validate.ValidationError as exc:
            self.invalid.append(f"{_verb(request)} {path}: {str(exc).splitlines()[0]}")

    def _node_lost(self, pod: dict[str, Any]) -> bool:
        """Whether the pod's node is not Ready: then only a zero-grace delete removes the pod,
        as on a real cluster, where the kubelet must confirm a graceful deletion."""
        name = pod.get("spec", {}).get("nodeName")
        key = (kmock.resource(NODES), None, name)
        if not name or key not in self.objects or self.objects[key].deleted:
            return False
        conds = self.objects[key].get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") != "True" for c in conds)

    def _pdb_blocks(self, pod: dict[str, Any]) -> bool:
        labels = pod.get("metadata", {}).get("labels", {}) or {}
        for (res, ns, _name), obj in list(self.objects.items()):
            if str(res) != str(kmock.resource(PDBS)) or ns != NS or obj.deleted:
                continue
            sel = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
            allowed = int(obj.get("status", {}).get("disruptionsAllowed", 0))
            if all(labels.get(k) == v for k, v in sel.items()) and allowed <= 0:
                return True
        return False

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        path = str(request.url.path)
        verb = _verb(request)
        for (method, prefix), code in self.deny.items():
            if verb == method.upper() and path.startswith(prefix):
                return _status(code, "Forbidden", f"{method} {path} is forbidden")
        if path == "/version/":  # the official client asks with a slash kmock does not route
            return aiohttp.web.json_response({
                "major": "1", "minor": "30", "gitVersion": "v1.30.0-kmock", "gitCommit": "0",
                "gitTreeState": "clean", "buildDate": "2024-04-17T00:00:00Z",
                "goVersion": "go1.22", "compiler": "gc", "platform": "linux/amd64",
            })  # fmt: skip
        self._validate(request)
        res = request.resource
        dry = request.params.get("dryRun") == "All"
        if res is not None and res.plural == "pods" and request.subresource == "eviction":
            key: Any = (kmock.resource(PODS), request.namespace, request.name)
            if key not in self.objects or self.objects[key].deleted:
                return _status(404, "NotFound", f"pods {request.name} not found")
            if self._pdb_blocks(dict(self.objects[key].raw)):
                return _status(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                )
            if not dry:
                if self._node_lost(dict(self.objects[key].raw)):  # no kubelet to confirm
                    stamp = datetime.now(UTC).isoformat()
                    self.objects[key].patch({"metadata": {"deletionTimestamp": stamp}})
                else:
                    self.objects[key].delete()
            return _status(201, "Created", "evicted")
        if (res is not None and res.plural == "pods" and _verb(request) == "DELETE"
                and request.params.get("gracePeriodSeconds") != "0"):  # fmt: skip
            key = (kmock.resource(PODS), request.namespace, request.name)
            if key in self.objects and self._node_lost(dict(self.objects[key].raw)) and not dry:
                stamp = datetime.now(UTC).isoformat()
                self.objects[key].patch({"metadata": {"deletionTimestamp": stamp}})
                return aiohttp.web.json_response(self.objects[key].raw)
        if res is not None and res.plural == "deployments" and request.subresource == "scale":
            key = (kmock.resource(DEPLOYS), request.namespace, request.name)
            if key not in self.objects or self.objects[key].deleted:
                return _status(404, "NotFound", f"deployments {request.name} not found")
            dep = self.objects[key]
            if verb == "PATCH" and not dry:
                dep.patch({"spec": {"replicas": int(request.data["spec"]["replicas"])}})
            replicas = dep.raw["spec"]["replicas"]
            if verb == "PATCH" and dry:
                replicas = int(request.data["spec"]["replicas"])
            return aiohttp.web.json_response({
                "apiVersion": "autoscaling/v1", "kind": "Scale",
                "metadata": {"name": request.name, "namespace": request.namespace},
                "spec": {"replicas": replicas}, "status": {"replicas": replicas},
            })  # fmt: skip
        if dry and verb in ("PATCH", "POST", "PUT", "DELETE"):
            key = (res, request.namespace, request.name)
            obj = self.objects[key].raw if key in self.objects else {}
            return aiohttp.web.json_response(obj)  # validated, answered, nothing stored
        return await super()._handle(request)


def node(name: str, zone: str = "z0", cpu: str = "4", ready: bool = True) -> dict[str, Any]:
    beat = datetime.now(UTC) - (timedelta(0) if ready else timedelta(seconds=120))
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
        "spec": {},
        "status": {"allocatable": {"cpu": cpu, "memory": "8Gi"},
                   "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown",
                                   "lastHeartbeatTime": beat.isoformat()}]},
    }  # fmt: skip


def pod(
    name: str, node_name: str, app: str, owned: bool = True, cpu: str = "250m"
) -> dict[str, Any]:
    owners = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-rs",
               "uid": f"uid-{app}", "controller": True}] if owned else []  # fmt: skip
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": app},
                     "ownerReferences": owners},
        "spec": {"nodeName": node_name,
                 "containers": [{"name": "main", "image": "busybox",
                                 "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]},
        "status": {"phase": "Running"},
    }  # fmt: skip


def deployment(app: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app, "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}},
                              "spec": {"containers": [{"name": "main", "image": "busybox",
                                       "resources": {"requests": {"cpu": "250m",
                                                                  "memory": "64Mi"}}}]}}},
        "status": {"replicas": replicas, "readyReplicas": replicas},
    }  # fmt: skip


class EmulatedCluster:
    """kmock on a thread; ``seed`` a cluster; ``url`` for the client."""

    def __init__(self) -> None:
        self.emulator = Emulator()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: kmock.Server | None = None

    def start(self) -> None:
        self._thread.start()

        async def up() -> None:
            await self.emulator.__aenter__()
            self._server = kmock.Server(self.emulator)
            await self._server.__aenter__()

        asyncio.run_coroutine_threadsafe(up(), self.loop).result(timeout=10)

    def stop(self) -> None:
        async def down() -> None:
            if self._server is not None:
                await self._server.__aexit__(None, None, None)
            await self.emulator.__aexit__(None, None, None)

        asyncio.run_coroutine_threadsafe(down(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    def put(self, resource: str, obj: dict[str, Any]) -> None:
        ns = obj["metadata"].get("namespace")
        self.emulator.objects[resource, ns, obj["metadata"]["name"]] = copy.deepcopy(obj)

    def seed(self, *, nodes: int = 4, services: int = 2, replicas: int = 2,
             pdb_for: str | None = None) -> None:  # fmt: skip
        for i in range(nodes):
            self.put(NODES, node(f"node-{i}", zone=f"z{i // 2}"))
        k = 0
        for s in range(services):
            app = f"svc-{s}"
            self.put(DEPLOYS, deployment(app, replicas))
            for r in range(replicas):
                self.put(PODS, pod(f"{app}-{r}", f"node-{k % nodes}", app))
                k += 1
        if pdb_for is not None:
            self.put(PDBS, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                            "metadata": {"name": f"{pdb_for}-pdb", "namespace": NS},
                            "spec": {"minAvailable": replicas,
                                     "selector": {"matchLabels": {"app": pdb_for}}},
                            "status": {"disruptionsAllowed": 0}})  # fmt: skip


@contextmanager
def emulated(**seed: Any) -> Iterator[EmulatedCluster]:
    cluster = EmulatedCluster()
    cluster.start()
    try:
        cluster.seed(**seed)
        yield cluster
    finally:
        cluster.stop()
