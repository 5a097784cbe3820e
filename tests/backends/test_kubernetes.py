"""The kubernetes backend on kmock (an emulator, not a real API server), and on a real cluster.

Every test goes through ``EmulatedBackend``, whose ``stop`` fails when a request body did not
validate against the Kubernetes OpenAPI schemas.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kmock
import numpy as np
import pytest

from autoinfra.backends.kubernetes import build
from autoinfra.core.errors import ActionError, ConfigError, PermissionDenied
from autoinfra.core.observation import MachineState
from autoinfra.testing import CHECKS, InjectedFault
from tests.backends.k8s_emulator import DEPLOYS, NS, PODS, pod
from tests.backends.k8s_factory import SKIPS, EmulatedBackend, real_factory
from tests.backends.prom_stub import PrometheusStub


def _objects(b: EmulatedBackend, resource: str) -> dict[str, dict[str, Any]]:
    want = str(kmock.resource(resource))
    return {name: obj.raw for (res, _ns, name), obj in b.emulated.emulator.objects.items()
            if str(res) == want and not obj.deleted}  # fmt: skip


def test_observation_maps_nodes_deployments_and_pods() -> None:
    with EmulatedBackend(seed={"nodes": 4, "services": 2, "replicas": 3}) as b:
        obs = b.reader.observe()
        assert obs.n_machines == 4 and obs.service_ids.shape == (2,)
        assert obs.service_replicas.tolist() == [3, 3] and obs.service_running.tolist() == [3, 3]
        assert int(obs.tasks_running.sum()) == 6
        assert obs.cpu_requested.sum() == pytest.approx(6 * 0.25 / 4)  # 250m of 4-core nodes
        assert obs.rack.tolist() == [0, 0, 1, 1]  # by topology zone
        assert obs.extra["meta"]["usage_source"].startswith("pod requests")  # type: ignore[index]


def test_work_at_risk_is_the_run_time_of_job_pods_since_they_started() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 1, "replicas": 2}) as b:
        started = datetime.now(UTC) - timedelta(hours=2)
        job = pod("batch-0", "node-1", "batch")
        job["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job",
                                               "name": "batch", "uid": "u-job",
                                               "controller": True}]  # fmt: skip
        job["status"]["startTime"] = started.isoformat()
        b.emulated.put(PODS, job)
        risk = b.reader.observe().extra["work_at_risk_s"]
        assert isinstance(risk, np.ndarray) and risk.shape == (2,)
        # the service's replicas (ReplicaSet) count nothing: an evicted replica loses no work
        assert risk[0] == 0.0 and risk[1] == pytest.approx(7200.0, abs=60.0)


def test_drain_respects_a_pod_disruption_budget_retries_and_reports() -> None:
    b = EmulatedBackend(seed={"nodes": 2, "services": 2, "replicas": 2, "pdb_for": "svc-0"},
                        backoff_s=0.01, eviction_retries=2)  # fmt: skip
    b.start()
    try:
        with pytest.raises(ActionError, match=r"svc-0-0 blocked by a PodDisruptionBudget.*429"):
            b.writer.drain(0, "drain-1")
        evictions = [x for x in b.emulated.emulator.bodies if x[1].endswith("/eviction")]
        blocked = [x for x in evictions if "svc-0-0" in x[1]]
        assert len(blocked) == 3  # the first try and two retries
        assert "svc-1-0" not in _objects(b, PODS)  # the pod no budget protects was evicted
        assert "svc-0-0" in _objects(b, PODS)
        assert b.writer.blocked == [{"pod": "svc-0-0", "namespace": NS, "tries": 3}]  # type: ignore[attr-defined]
        node = b.read().nodes[0]
        assert node.spec.unschedulable is True
    finally:
        b.stop()


def test_dry_run_sends_dry_run_all_and_changes_nothing() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 1, "replicas": 2}, dry_run=True) as b:
        b.writer.set_service_replicas(0, 5, "d1")
        b.writer.cordon(1, False, "d2")
        b.writer.drain(0, "d3")
        reqs = [r for r in b.emulated.emulator if str(r.method.value) in ("PATCH", "POST")]
        assert reqs and all(r.params.get("dryRun") == "All" for r in reqs)
        assert _objects(b, DEPLOYS)["svc-0"]["spec"]["replicas"] == 2
        assert len(_objects(b, PODS)) == 2
        assert b.writer.machine_state(1) == MachineState.ON
        assert not any(row["mitigated_by"] for row in b.fault_rows())


def test_isolate_taints_labels_and_drains() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 1, "replicas": 2}) as b:
        b.writer.isolate(0, "iso")
        node = b.read().nodes[0]
        assert any(t.key == "autoinfra.io/isolated" and t.effect == "NoExecute"
                   for t in node.spec.taints)  # fmt: skip
        assert b.writer.machine_task_count(0) == 0
        assert b.writer.machine_state(0) == MachineState.DRAINING
        b.writer.cordon(0, True, "lift")
        node = b.read().nodes[0]
        assert not node.spec.unschedulable and not node.spec.taints
        assert b.writer.machine_state(0) == MachineState.ON


def test_patch_requests_and_idempotency_by_request_id() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 1, "replicas": 1}) as b:
        b.writer.patch_requests(0, "500m", "128Mi", "p1")  # type: ignore[attr-defined]
        b.writer.set_service_replicas(0, 4, "s1")
        b.writer.set_service_replicas(0, 9, "s1")  # same id: a no-op
        dep = _objects(b, DEPLOYS)["svc-0"]
        assert dep["spec"]["replicas"] == 4
        c = dep["spec"]["template"]["spec"]["containers"][0]
        assert c["resources"]["requests"] == {"cpu": "500m", "memory": "128Mi"}


def test_403_is_a_one_line_permission_error_naming_the_request() -> None:
    b = EmulatedBackend(seed={"nodes": 2, "services": 1, "replicas": 1})
    b.emulated.emulator.deny[("PATCH", "/api/v1/nodes")] = 403
    b.start()
    try:
        with pytest.raises(PermissionDenied, match="no permission to patch nodes/node-1") as err:
            b.writer.cordon(1, False, "c")
        assert "\n" not in str(err.value)
    finally:
        b.stop()


def test_missing_kubeconfig_and_unknown_options_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="no kubeconfig"):
        build(seed=0, scenario=None, options={})
    with pytest.raises(ConfigError, match=r"kubeconfig .*nope.yaml does not exist"):
        build(seed=0, scenario=None, options={"kubeconfig": str(tmp_path / "nope.yaml")})
    with pytest.raises(ConfigError, match="unknown kubernetes backend option"):
        build(seed=0, scenario=None, options={"namespce": "x"})


def test_an_api_server_that_does_not_answer_is_named() -> None:
    b = build(seed=0, scenario=None, options={"host": "http://127.0.0.1:9"})
    with pytest.raises(ActionError, match=r"reach the API server at http://127.0.0.1:9"):
        b.start()
    b.stop()


# on a real cluster: the same checks as on kmock, except those that need a fault injector (a real
# cluster's nodes are not ours to break); they scale, cordon and uncordon in KUBECONFIG's namespace
_NEED_INJECTOR = {"check_node_failure", "check_kill_rogue"}


_REAL_CHECKS = [c for c in CHECKS if c.__name__ not in _NEED_INJECTOR | set(SKIPS)]


@pytest.mark.k8s_real
@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set")
@pytest.mark.parametrize("check", _REAL_CHECKS, ids=lambda c: c.__name__)
def test_conformance_on_a_real_cluster(check: object) -> None:
    check(real_factory)  # type: ignore[operator]


def test_the_body_validation_of_the_emulator_catches_bad_bodies() -> None:
    from tests.backends.k8s_emulator import _patch_errors

    assert (
        _patch_errors({"apiVersion": "v1", "kind": "Node", "spec": {"unschedulable": True}}) == []
    )
    assert _patch_errors({"apiVersion": "v1", "kind": "Node", "spec": {"unschedulabl": True}})
    assert _patch_errors({"apiVersion": "v1", "kind": "Node", "spec": {"unschedulable": "yes"}})
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": "three"}}
    assert _patch_errors(scale)


def _per_node(vectors: dict[str, dict[str, float]]) -> Any:
    """Answers with canned per-node vectors: ``cpu`` for CPU queries, ``mem`` for the rest."""
    return lambda q: [{"metric": {"node": n}, "value": [0, str(v)]}
                      for n, v in vectors["cpu" if "cpu" in q else "mem"].items()]  # fmt: skip


def test_usage_comes_from_prometheus_when_given_and_falls_back_when_it_fails() -> None:
    prom = PrometheusStub(
        _per_node({"cpu": {"node-0": 2.0, "node-1": 1.0}, "mem": {"node-0": 2**32}})
    )
    bad = PrometheusStub(lambda _q: None, error="parse error")
    with EmulatedBackend(
        seed={"nodes": 2, "services": 1, "replicas": 1}, prometheus_url=prom.url
    ) as b:
        obs = b.reader.observe()
        assert obs.cpu_used.tolist() == pytest.approx([0.5, 0.25])  # cores / 4-core nodes
        assert obs.mem_used.tolist() == pytest.approx([0.5, 0.0])  # 4 GiB of 8 GiB
        assert any("container_cpu_usage_seconds_total" in q for q in prom.queries)
        assert obs.extra["meta"]["usage_source"] == f"Prometheus at {prom.url}"
        b.metrics.url = bad.url  # type: ignore[union-attr]
        obs = b.reader.observe()
        assert obs.cpu_used.tolist() == pytest.approx(obs.cpu_requested.tolist())
        assert "parse error" in obs.extra["meta"]["usage_source"]
        prom.close()
        bad.close()


def test_drain_leaves_daemonset_and_mirror_pods_and_a_hog_recovers_when_deleted() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 1, "replicas": 1}) as b:
        ds = pod("agent-ds", "node-0", "agent")
        ds["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                              "name": "agent", "uid": "u-ds"}]  # fmt: skip
        mirror = pod("etcd-node-0", "node-0", "etcd")
        mirror["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node",
                                                  "name": "node-0", "uid": "u-n"}]  # fmt: skip
        b.emulated.put(PODS, ds)
        b.emulated.put(PODS, mirror)
        b.writer.drain(0, "d")
        assert {"agent-ds", "etcd-node-0"} <= set(_objects(b, PODS))
        assert b.writer.machine_task_count(0) == 0
        b.inject(InjectedFault("cpu_hog", "machine:1"))
        b.advance()
        assert math.isnan(b.fault_rows()[0]["recovered_s"])  # the hog pod is still there
        assert b.record_detection("machine:1", "k", "cpu_hog")
        b.writer.kill_rogue(1, "k")
        b.advance()
        row = b.fault_rows()[0]
        assert row["mitigated_by"] == "k" and row["recovered_s"] >= row["injected_s"]


def test_pods_of_a_lost_node_are_evicted_then_force_deleted() -> None:
    with EmulatedBackend(seed={"nodes": 2, "services": 1, "replicas": 2}) as b:
        with pytest.raises(ActionError, match="is Ready: nothing is stranded"):
            b.writer.evict_stranded(0, "too-early")
        b.inject(InjectedFault("node_failure", "machine:0"))
        assert b.writer.machine_state(0) == MachineState.FAILED
        assert b.writer.machine_task_count(0) == 1
        assert b.record_detection("machine:0", "e", "node_failure")
        result = b.writer.evict_stranded(0, "e")
        assert "1 force-deleted" in str(result)
        deletes = [r for r in b.emulated.emulator if str(r.method.value) == "DELETE"]
        assert [r.params.get("gracePeriodSeconds") for r in deletes] == ["0"]
        assert b.writer.machine_task_count(0) == 0
        b.advance()
        row = b.fault_rows()[0]
        assert row["mitigated_by"] == "e"
