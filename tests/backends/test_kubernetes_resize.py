"""Right-sizing on the kubernetes backend (kmock emulator): resizes in Kubernetes quantities, the
memory request and peak it observes, and where the peak comes from.

Every backend is an ``EmulatedBackend``, whose ``stop`` fails when a request body did not
validate against the Kubernetes OpenAPI schemas.
"""

from __future__ import annotations

from typing import Any

import kmock
import numpy as np
import pytest

from autoinfra.core.errors import ActionError
from autoinfra.policies.rightsizing import RightSizingPolicy, RightSizingSettings
from tests.backends.k8s_emulator import DEPLOYS, NODES, PODS, deployment, node, pod
from tests.backends.k8s_factory import EmulatedBackend
from tests.backends.prom_stub import PrometheusStub, cadvisor_answer

GI, MI = 2**30, 2**20


def _deployments(b: EmulatedBackend) -> dict[str, dict[str, Any]]:
    want = str(kmock.resource(DEPLOYS))
    return {name: obj.raw for (res, _ns, name), obj in b.emulated.emulator.objects.items()
            if str(res) == want and not obj.deleted}  # fmt: skip


def _requests(b: EmulatedBackend, name: str) -> list[dict[str, str]]:
    containers = _deployments(b)[name]["spec"]["template"]["spec"]["containers"]
    return [c["resources"]["requests"] for c in containers]


def _deployment_patches(b: EmulatedBackend) -> list[Any]:
    bodies = b.emulated.emulator.bodies
    return [x for x in bodies if x[0] == "PATCH" and x[1].split("/")[-2:-1] == ["deployments"]]


def test_a_resize_round_trips_through_kubernetes_quantities() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 2, "replicas": 1}) as b:
        b.writer.resize_service_requests(1, 0.1234, 0.0456, "r1")  # type: ignore[attr-defined]
        # 0.1234 x 4 cores = 493.6m -> 494m; 0.0456 x 8 GiB = 373.6 Mi -> 374Mi
        assert _requests(b, "svc-1") == [{"cpu": "494m", "memory": "374Mi"}]
        assert _requests(b, "svc-0") == [{"cpu": "250m", "memory": "64Mi"}]  # untouched
        obs = b.reader.observe()
        assert float(obs.service_cpu_request[1]) == pytest.approx(0.1234, abs=0.0005 / 4)
        mem = obs.extra["service_mem_request"]
        assert isinstance(mem, np.ndarray)
        assert float(mem[1]) == pytest.approx(0.0456, abs=0.5 * MI / (8 * GI))
        # the smallest request is still a request: never 0m or 0Mi
        b.writer.resize_service_requests(0, 1e-5, 1e-7, "r2")  # type: ignore[attr-defined]
        assert _requests(b, "svc-0") == [{"cpu": "1m", "memory": "1Mi"}]


def test_a_resize_uses_the_largest_node_and_splits_a_pod_over_its_containers() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 1, "replicas": 1}) as b:
        b.emulated.put(NODES, node("node-9", zone="z9", cpu="8"))  # now 1.0 CPU is 8 cores
        two = deployment("svc-1", 1)
        main = two["spec"]["template"]["spec"]["containers"][0]
        main["resources"]["requests"] = {"cpu": "100m", "memory": "32Mi"}
        side = {"name": "side", "image": "busybox",
                "resources": {"requests": {"cpu": "300m", "memory": "32Mi"}}}  # fmt: skip
        two["spec"]["template"]["spec"]["containers"].append(side)
        b.emulated.put(DEPLOYS, two)
        assert b.reader.observe().service_cpu_request[1] == pytest.approx(0.4 / 8)
        b.writer.resize_service_requests(1, 0.1, 0.01, "r")  # type: ignore[attr-defined]
        # 800m in the 1:3 proportion of now; 0.01 x 8 GiB = 81.92 Mi -> 82Mi, half each
        assert _requests(b, "svc-1") == [{"cpu": "200m", "memory": "41Mi"},
                                         {"cpu": "600m", "memory": "41Mi"}]  # fmt: skip
        obs = b.reader.observe()
        assert float(obs.service_cpu_request[1]) == pytest.approx(0.1)
        assert float(obs.extra["service_mem_request"][1]) == pytest.approx(82 * MI / (8 * GI))  # type: ignore[index]


def test_a_resize_is_idempotent_by_request_id() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 1, "replicas": 1}) as b:
        w: Any = b.writer
        w.resize_service_requests(0, 0.1, 0.02, "r1")
        w.resize_service_requests(0, 0.3, 0.05, "r1")  # the same request again: a no-op
        assert len(_deployment_patches(b)) == 1
        assert _requests(b, "svc-0") == [{"cpu": "400m", "memory": "164Mi"}]
        w.resize_service_requests(0, 0.3, 0.05, "r2")  # a new request is applied
        assert _requests(b, "svc-0") == [{"cpu": "1200m", "memory": "410Mi"}]


def test_a_dry_run_resize_is_sent_as_dry_run_and_changes_nothing() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 1, "replicas": 1}, dry_run=True) as b:
        b.writer.resize_service_requests(0, 0.2, 0.05, "d")  # type: ignore[attr-defined]
        patches = [r for r in b.emulated.emulator
                   if str(r.method.value) == "PATCH" and "/deployments/" in r.url.path]  # fmt: skip
        assert len(patches) == 1 and patches[0].params.get("dryRun") == "All"
        assert _requests(b, "svc-0") == [{"cpu": "250m", "memory": "64Mi"}]
        assert b.reader.observe().service_cpu_request[0] == pytest.approx(0.25 / 4)


def test_bad_resizes_are_one_line_action_errors_and_send_nothing() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 2, "replicas": 1}) as b:
        w: Any = b.writer
        with pytest.raises(ActionError, match=r"^no service 7: 2 deployments$"):
            w.resize_service_requests(7, 0.1, 0.1, "u")
        for cpu, mem, field in ((0.0, 0.1, "cpu_request"), (0.1, float("nan"), "mem_request"),
                                (1.5, 0.1, "cpu_request")):  # fmt: skip
            with pytest.raises(ActionError, match=rf"service 0: {field} .* is not in \(0, 1\]"):
                w.resize_service_requests(0, cpu, mem, f"bad-{cpu}-{mem}")
        limited = deployment("svc-2", 1)
        limited["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = {
            "cpu": "500m", "memory": "128Mi"}  # fmt: skip
        b.emulated.put(DEPLOYS, limited)
        with pytest.raises(ActionError, match=r"svc-2 container main: a cpu request of 800m is "
                           r"above its limit 500m") as err:  # fmt: skip
            w.resize_service_requests(2, 0.2, 0.01, "over")
        assert "\n" not in str(err.value)
        assert _deployment_patches(b) == []


def test_the_memory_peak_is_the_largest_replica_of_each_deployment_from_prometheus() -> None:
    # seeded pods: svc-0-0, svc-0-1 (deployment svc-0), svc-1-0, svc-1-1 (svc-1); a pod with the
    # label of svc-0 that no ReplicaSet owns, and a Pending replica, are not svc-0's replicas
    mem = {"svc-0-0": 1 * GI, "svc-0-1": 2 * GI, "svc-1-0": 0.5 * GI, "svc-1-1": 0.25 * GI,
           "stray": 6 * GI, "svc-0-new": 5 * GI}  # fmt: skip
    cpu = {"svc-0-0": 0.5, "svc-0-1": 1.5, "svc-1-0": 0.2, "svc-1-1": 0.2, "stray": 3.0}
    prom = PrometheusStub(cadvisor_answer(mem, cpu))
    with EmulatedBackend(
        seed={"nodes": 2, "services": 2, "replicas": 2}, prometheus_url=prom.url
    ) as b:
        b.emulated.put(PODS, pod("stray", "node-1", "svc-0", owned=False))
        pending = pod("svc-0-new", "node-1", "svc-0")
        pending["status"]["phase"] = "Pending"
        b.emulated.put(PODS, pending)
        obs = b.reader.observe()
        peak = obs.extra["service_mem_peak"]
        assert isinstance(peak, np.ndarray) and peak.shape == (2,)
        assert peak.tolist() == pytest.approx([2 / 8, 0.5 / 8])  # of 8 GiB nodes
        assert obs.service_cpu_used.tolist() == pytest.approx([2.0 / 4, 0.4 / 4])  # measured
        assert obs.extra["service_mem_request"].tolist() == pytest.approx([64 / 8192] * 2)  # type: ignore[union-attr]
        assert obs.extra["meta"]["mem_peak_source"] == f"Prometheus at {prom.url}"  # type: ignore[index]
        assert any("by (namespace, pod)" in q and "working_set" in q for q in prom.queries)
        prom.close()


def test_without_prometheus_there_is_no_peak_and_right_sizing_does_nothing() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 2, "replicas": 1}) as b:
        policy = RightSizingPolicy(RightSizingSettings(min_samples=1, settle_s=0.0))
        for _ in range(3):
            obs = b.reader.observe()
            assert "service_mem_peak" not in obs.extra
            assert obs.extra["service_mem_request"].tolist() == pytest.approx([64 / 8192] * 2)  # type: ignore[union-attr]
            assert policy.decide(obs, []) == []
        meta = obs.extra["meta"]
        assert meta["mem_peak_source"].startswith("not reported")  # type: ignore[index]
        assert "no Prometheus given" in meta["mem_peak_source"]  # type: ignore[index]


def test_a_failing_pod_query_leaves_the_peak_out_and_keeps_the_node_usage() -> None:
    def answer(q: str) -> list[dict[str, Any]] | None:
        if "by (node)" in q:
            return [{"metric": {"node": "node-0"}, "value": [0, "2"]}]
        return None  # the per-pod query times out

    prom = PrometheusStub(answer)
    with EmulatedBackend(
        seed={"nodes": 2, "services": 1, "replicas": 1}, prometheus_url=prom.url
    ) as b:
        obs = b.reader.observe()
        assert "service_mem_peak" not in obs.extra
        assert obs.cpu_used.tolist() == pytest.approx([0.5, 0.0])  # node usage still measured
        meta = obs.extra["meta"]
        assert meta["usage_source"] == f"Prometheus at {prom.url}"  # type: ignore[index]
        assert "query timed out" in meta["mem_peak_source"]  # type: ignore[index]
        # services' CPU falls back to requests of the ready replicas, as without Prometheus
        assert obs.service_cpu_used.tolist() == pytest.approx([0.25 / 4])
        prom.close()
