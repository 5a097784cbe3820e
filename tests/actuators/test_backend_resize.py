"""``BackendActuator`` and ``ResizeRequests``: applied on the kubernetes backend (kmock emulator)
and confirmed from the reader, refused by writers that cannot resize, failed when the cluster
never shows the new request; and the right-sizing policy's proposals acted on end to end."""

from __future__ import annotations

import time
from typing import Any

import kmock
import pytest

from autoinfra.actuators import BackendActuator
from autoinfra.core.actions import ResizeRequests
from autoinfra.core.proposal import Outcome
from autoinfra.policies.rightsizing import RightSizingPolicy, RightSizingSettings
from autoinfra.testing import FakeCluster
from tests.backends.k8s_emulator import DEPLOYS
from tests.backends.k8s_factory import EmulatedBackend
from tests.backends.prom_stub import PrometheusStub, cadvisor_answer

GI = 2**30


def _template_requests(b: EmulatedBackend, name: str) -> dict[str, str]:
    key = (kmock.resource(DEPLOYS), "default", name)
    containers = b.emulated.emulator.objects[key].raw["spec"]["template"]["spec"]["containers"]
    return dict(containers[0]["resources"]["requests"])


def _poll_until(act: BackendActuator, ids: set[str], timeout_s: float = 10.0) -> dict[str, Outcome]:
    got: dict[str, Outcome] = {}
    deadline = time.monotonic() + timeout_s
    while set(got) != ids and time.monotonic() < deadline:
        got.update({o.request_id: o for o in act.poll()})
        time.sleep(0.05)
    return got


def test_a_resize_is_applied_on_kubernetes_and_confirmed_from_the_reader() -> None:
    b = EmulatedBackend(seed={"nodes": 2, "services": 2, "replicas": 1})
    b.start()
    try:
        act = BackendActuator(b.writer, b.reader, b.clock)
        act.submit("rs/1", ResizeRequests(service=0, cpu_request=0.1, mem_request=0.05))
        # 1e-4 of 4 cores is 0.4m: sent as 1m, 150 % above the ask, done within one quantum
        act.submit("rs/2", ResizeRequests(service=1, cpu_request=1e-4, mem_request=0.01))
        out = _poll_until(act, {"rs/1", "rs/2"})
        assert out["rs/1"].succeeded and out["rs/1"].detail == "service:0 requests cpu 0.1000"
        assert out["rs/2"].succeeded, out["rs/2"].detail
        assert _template_requests(b, "svc-0") == {"cpu": "400m", "memory": "410Mi"}
        assert _template_requests(b, "svc-1") == {"cpu": "1m", "memory": "82Mi"}
        act.submit("rs/1", ResizeRequests(service=0, cpu_request=0.3, mem_request=0.05))
        assert act.poll() == [] and act.in_flight == 0  # the same id is not applied again
        assert _template_requests(b, "svc-0")["cpu"] == "400m"
        act.submit("rs/3", ResizeRequests(service=9, cpu_request=0.1, mem_request=0.1))
        (bad,) = _poll_until(act, {"rs/3"}).values()
        assert not bad.succeeded
        assert bad.detail == "refused by the cluster: no service 9: 2 deployments"
    finally:
        b.stop()


def test_a_writer_that_cannot_resize_refuses_by_name() -> None:
    fake = FakeCluster()
    act = BackendActuator(fake, fake, fake.clock)
    act.submit("rs", ResizeRequests(service=0, cpu_request=0.2, mem_request=0.1))
    (out,) = act.poll()
    assert not out.succeeded
    assert out.detail == "refused by the cluster: FakeCluster cannot resize a service's requests"
    assert fake.calls == [] and act.applied == []


class _IgnoringResizer(FakeCluster):
    """Accepts a resize and never shows it: the check must not call that done."""

    def __init__(self) -> None:
        super().__init__()
        self.resizes: list[tuple[int, float, float, str]] = []

    def resize_service_requests(
        self, service: int, cpu_request: float, mem_request: float, by: str
    ) -> None:
        self.resizes.append((service, cpu_request, mem_request, by))


def test_a_resize_the_cluster_never_shows_fails_after_the_timeout() -> None:
    fake = _IgnoringResizer()
    act = BackendActuator(fake, fake, fake.clock, outcome_timeout_s=10.0)
    act.submit("rs", ResizeRequests(service=0, cpu_request=0.3, mem_request=0.1))
    assert act.poll() == [] and act.in_flight == 1  # applied, the reader still says 0.1
    assert fake.resizes == [(0, 0.3, 0.1, "rs")]
    fake.advance()
    fake.advance()  # 10 s later
    (out,) = act.poll()
    assert not out.succeeded
    want = "no effect after 10 s: service:0 requests cpu 0.1000, waiting for 0.3000"
    assert out.detail == want


def test_right_sizing_proposals_act_on_kubernetes_end_to_end() -> None:
    # one replica each (at its minimum, so CPU is sized too); measured: svc-0 0.5 cores 1 GiB,
    # svc-1 0.1 cores 256 MiB
    mem = {"svc-0-0": 1.0 * GI, "svc-1-0": 0.25 * GI}
    cpu = {"svc-0-0": 0.5, "svc-1-0": 0.1}
    prom = PrometheusStub(cadvisor_answer(mem, cpu))
    b = EmulatedBackend(seed={"nodes": 2, "services": 2, "replicas": 1}, prometheus_url=prom.url)
    b.start()
    try:
        policy = RightSizingPolicy(RightSizingSettings(min_samples=2, settle_s=0.0))
        act = BackendActuator(b.writer, b.reader, b.clock)
        proposals: list[Any] = []
        for _ in range(2):
            proposals = policy.decide(b.reader.observe(), [])
        assert sorted(p.action.service for p in proposals) == [0, 1]
        for i, p in enumerate(proposals):
            act.submit(f"rightsizing/{i}", p.action)
        out = _poll_until(act, {f"rightsizing/{i}" for i in range(len(proposals))})
        assert all(o.succeeded for o in out.values()), out
        # memory: the peak + 15 %; CPU: 0.5 cores x (1 / 0.7), the planner's target utilisation
        # 1 GiB x 1.15 = 1177.6 Mi; 0.5 / 0.7 cores = 714.3m (of 4-core, 8 GiB nodes)
        assert _template_requests(b, "svc-0") == {"cpu": "714m", "memory": "1178Mi"}
        # 256 MiB x 1.15 = 294.4 Mi; 0.1 / 0.7 = 142.9m
        assert _template_requests(b, "svc-1") == {"cpu": "143m", "memory": "294Mi"}
        obs = b.reader.observe()
        assert obs.service_cpu_request.tolist() == pytest.approx([0.714 / 4, 0.143 / 4])
    finally:
        b.stop()
        prom.close()
