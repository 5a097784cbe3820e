"""The Kubernetes rules against the documentation's worked examples, and the controllers on
hand-made observations (periods, timers, cooldowns)."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.actions import DrainMachine, EvictTasks, ScaleService, SetMachinePower
from autoinfra.core.observation import MachineState
from autoinfra.policies.kubernetes import (
    CASettings,
    ClusterAutoscaler,
    HorizontalPodAutoscaler,
    HPASettings,
    KubernetesPolicy,
    NodeLifecycleController,
    NodeLifecycleSettings,
    cluster_unready_halt,
    eviction_due,
    hpa_desired_replicas,
    hpa_rate_limited,
    hpa_recommendation,
    hpa_stabilized,
    liveness_restart_delay_s,
    machines_to_power_on,
    pods_fit_elsewhere,
    requested_share,
)
from tests.experiments.observations import make_observation

# -- HPA: the documentation's examples ------------------------------------------------------------


def test_hpa_doubles_when_metric_is_twice_the_target() -> None:
    # docs: "if the current metric value is 200m, and the desired value is 100m, the number of
    # replicas will be doubled, since 200.0 / 100.0 == 2.0"
    assert hpa_desired_replicas(1, 200.0, 100.0) == 2
    assert hpa_desired_replicas(3, 200.0, 100.0) == 6


def test_hpa_halves_when_metric_is_half_the_target() -> None:
    # docs: "If the current value is instead 50m, you'll halve the number of replicas"
    assert hpa_desired_replicas(4, 50.0, 100.0) == 2


@pytest.mark.parametrize(
    ("metric", "expected"),
    [(105.0, 4), (95.0, 4), (109.0, 4), (91.0, 4), (111.0, 5), (89.0, 4), (80.0, 4), (74.0, 3)],
)
def test_hpa_tolerance_band(metric: float, expected: int) -> None:
    # docs: "if the ratio is sufficiently close to 1.0 (within a globally-configurable tolerance,
    # 0.1 by default)" the controller skips scaling; outside it, ceil(4 x ratio)
    assert hpa_desired_replicas(4, metric, 100.0, tolerance=0.1) == expected


def test_hpa_rejects_a_zero_target() -> None:
    with pytest.raises(ValueError, match="target_metric"):
        hpa_desired_replicas(1, 1.0, 0.0)


def test_not_ready_pods_count_as_zero_when_scaling_up() -> None:
    # 2 ready pods at 100 % with a 50 % target want 4; with 2 more pods not ready the ratio is
    # recomputed as if they used 0 %: 100 % x 2 / 4 = 50 %, exactly the target: no change
    assert hpa_recommendation(2, 1.0, 0, 0.5) == 4
    assert hpa_recommendation(2, 1.0, 2, 0.5) == 4  # stays at the current 4
    # 2 ready at 150 %: conservative 150 % x 2 / 3 = 100 % -> ceil(2.0 x 3) = 6
    assert hpa_recommendation(2, 1.5, 1, 0.5) == 6


def test_no_ready_pod_means_no_metric_and_no_change() -> None:
    assert hpa_recommendation(0, 0.0, 3, 0.5) == 3


def test_stabilisation_window_picks_the_highest_recommendation() -> None:
    s = HPASettings()
    history = [(0.0, 10), (100.0, 5), (200.0, 6)]
    # within 300 s of t=0 the highest recommendation is 10: no scale-down
    assert hpa_stabilized(10, history, 200.0, s) == 10
    # at t=350 the 10 has left the window; the highest of (5, 6, 4) is 6
    assert hpa_stabilized(10, [*history[1:], (350.0, 4)], 350.0, s) == 6


def test_scale_up_is_not_stabilised() -> None:
    s = HPASettings()
    assert hpa_stabilized(3, [(0.0, 2), (15.0, 8)], 15.0, s) == 8


def test_rate_limits_of_the_default_behaviour() -> None:
    s = HPASettings()
    # up: max(100 %, 4 pods) per 15 s
    assert hpa_rate_limited(2, 20, 2, s) == 6  # 2 + 4 > 2 x 2
    assert hpa_rate_limited(10, 100, 10, s) == 20  # 10 x 2 > 10 + 4
    # down: 100 % per 15 s, i.e. anything down to the minimum
    assert hpa_rate_limited(10, 1, 10, s) == 1


def test_hpa_controller_scales_a_hot_service_and_respects_its_period() -> None:
    hpa = HorizontalPodAutoscaler(HPASettings(), agent_id="k8s", max_replicas=np.array([10]))
    # 2 replicas requesting 0.1 each, using 0.4 together: 200 % of requests vs a 50 % target
    obs = make_observation(service_cpu_used=[0.4])
    proposals = hpa.decide(obs, [])
    # 4x the target wants 8 replicas; the rate limit allows max(2 x 2, 2 + 4) = 6 this period
    assert [p.action for p in proposals] == [ScaleService(service=0, delta_replicas=4)]
    assert hpa.decide(make_observation(time_s=10.0, service_cpu_used=[0.4]), []) == []


def test_hpa_controller_clamps_to_max_and_min() -> None:
    hpa = HorizontalPodAutoscaler(HPASettings(), agent_id="k8s", max_replicas=np.array([3]))
    up = hpa.decide(make_observation(service_cpu_used=[0.4]), [])
    assert up[0].action == ScaleService(service=0, delta_replicas=1)
    idle = HorizontalPodAutoscaler(HPASettings(), agent_id="k8s", max_replicas=np.array([3]))
    assert idle.decide(make_observation(service_cpu_used=[0.0]), []) == []  # initial 2 held
    down = idle.decide(make_observation(time_s=315.0, service_cpu_used=[0.0]), [])
    assert down[0].action == ScaleService(service=0, delta_replicas=-1)  # to min_replicas 1


def test_the_initial_recommendation_holds_scale_down_for_the_first_300_s() -> None:
    # kube-controller-manager records the replicas it first sees as a recommendation; the
    # 300 s scale-down window then takes the highest, so nothing goes below them before 300 s
    hpa = HorizontalPodAutoscaler(HPASettings(), agent_id="k8s", max_replicas=np.array([10]))
    for t in range(0, 301, 15):
        assert hpa.decide(make_observation(time_s=float(t), service_cpu_used=[0.0]), []) == []
    (down,) = hpa.decide(make_observation(time_s=315.0, service_cpu_used=[0.0]), [])
    assert down.action == ScaleService(service=0, delta_replicas=-1)
    # scale-up is not held by it: a hot service grows at the first sync
    hot = HorizontalPodAutoscaler(HPASettings(), agent_id="k8s", max_replicas=np.array([10]))
    assert hot.decide(make_observation(service_cpu_used=[0.4]), [])[0].action.delta_replicas > 0
    assert hpa_stabilized(5, [(300.0, 1)], 300.0, HPASettings(), initial=(0.0, 5)) == 5
    assert hpa_stabilized(5, [(301.0, 1)], 301.0, HPASettings(), initial=(0.0, 5)) == 1


# -- Cluster Autoscaler ---------------------------------------------------------------------------


def test_requested_share_is_the_larger_of_cpu_and_memory() -> None:
    share = requested_share(
        np.array([0.1, 0.4], dtype=np.float32),
        np.array([0.5, 0.5], dtype=np.float32),
        np.array([0.3, 0.1], dtype=np.float32),
        np.array([0.5, 0.5], dtype=np.float32),
    )
    np.testing.assert_allclose(share, [0.6, 0.8], rtol=1e-6)


def test_machines_to_power_on_cover_the_need() -> None:
    cap = np.array([0.5, 0.25, 0.5, 1.0], dtype=np.float32)
    assert machines_to_power_on(0.6, 0.1, np.array([1, 2, 3]), cap, cap) == [1, 2]
    assert machines_to_power_on(0.0, 0.0, np.array([1, 2, 3]), cap, cap) == []


def test_autoscaler_halts_above_45_percent_unready() -> None:
    s = CASettings()
    assert not cluster_unready_halt(10, 3, s)  # within the ok count
    assert not cluster_unready_halt(10, 4, s)  # 40 %
    assert cluster_unready_halt(10, 5, s)  # 50 % and more than 3


def test_autoscaler_powers_machines_on_for_pending_work() -> None:
    ca = ClusterAutoscaler(CASettings(), agent_id="k8s")
    obs = make_observation(
        machine_state=[MachineState.ON, MachineState.ON, MachineState.OFF, MachineState.OFF],
        pending_tasks=5,
        pending_cpu=0.3,
        pending_mem=0.1,
    )
    proposals = ca.decide(obs, [])
    assert [p.action for p in proposals] == [SetMachinePower(machine=2, on=True)]


def test_autoscaler_drains_an_underused_node_after_ten_minutes_then_powers_it_off() -> None:
    ca = ClusterAutoscaler(CASettings(), agent_id="k8s")
    low = {"cpu_requested": [0.05, 0.3, 0.3, 0.3], "mem_requested": [0.05, 0.3, 0.3, 0.3]}
    assert ca.decide(make_observation(time_s=0.0, **low), []) == []
    assert ca.decide(make_observation(time_s=590.0, **low), []) == []
    drained = ca.decide(make_observation(time_s=600.0, **low), [])
    assert [p.action for p in drained] == [DrainMachine(machine=0)]
    empty = make_observation(
        time_s=610.0,
        machine_state=[MachineState.DRAINING, MachineState.ON, MachineState.ON, MachineState.ON],
        tasks_running=[0, 3, 3, 3],
        cpu_requested=[0.0, 0.3, 0.3, 0.3],
        mem_requested=[0.0, 0.3, 0.3, 0.3],
    )
    assert [p.action for p in ca.decide(empty, [])] == [SetMachinePower(machine=0, on=False)]


def test_pods_must_fit_on_one_node_each_not_in_the_sum_of_free_space() -> None:
    # two nodes with 0.3 free each: the sum (0.6) would take a 0.4 pod, no single node does
    assert not pods_fit_elsewhere([0.4], [0.1], [0.3, 0.3], [0.5, 0.5])
    assert pods_fit_elsewhere([0.3], [0.1], [0.3, 0.3], [0.5, 0.5])
    # each placed pod takes its space: three 0.2 pods into 0.3 + 0.3 leave one over
    assert not pods_fit_elsewhere([0.2] * 3, [0.0] * 3, [0.3, 0.3], [0.5, 0.5])
    assert pods_fit_elsewhere([0.2] * 2, [0.0] * 2, [0.3, 0.3], [0.5, 0.5])
    # memory is checked on the same node as the CPU
    assert not pods_fit_elsewhere([0.1], [0.4], [0.3, 0.0], [0.1, 0.5])
    assert pods_fit_elsewhere([], [], [], [])  # an empty node fits anywhere


def test_autoscaler_keeps_a_node_whose_pods_fit_only_in_the_sum_of_the_others() -> None:
    # node 0 requests 0.2 CPU in one pod; the others have 0.1 free each (0.3 together)
    ca = ClusterAutoscaler(CASettings(), agent_id="k8s")
    tight = {
        "tasks_running": [1, 3, 3, 3],
        "cpu_requested": [0.2, 0.4, 0.4, 0.4],
        "mem_requested": [0.05, 0.1, 0.1, 0.1],
    }
    for t in (0.0, 300.0, 600.0, 900.0):
        out = ca.decide(make_observation(time_s=t, **tight), [])
        assert not any(isinstance(p.action, DrainMachine) for p in out)
    # with two pods of 0.1 the same node fits (one on each of two others): drained at 600 s
    ca = ClusterAutoscaler(CASettings(), agent_id="k8s")
    loose = {**tight, "tasks_running": [2, 3, 3, 3]}
    assert ca.decide(make_observation(time_s=0.0, **loose), []) == []
    out = ca.decide(make_observation(time_s=600.0, **loose), [])
    assert [p.action for p in out] == [DrainMachine(machine=0)]


def test_autoscaler_waits_ten_minutes_after_a_scale_up() -> None:
    ca = ClusterAutoscaler(CASettings(), agent_id="k8s")
    state = [MachineState.ON, MachineState.ON, MachineState.ON, MachineState.OFF]
    idle = {
        "tasks_running": [0, 3, 3, 0],
        "cpu_requested": [0.0, 0.3, 0.3, 0.0],
        "mem_requested": [0.0, 0.3, 0.3, 0.0],
    }
    up = ca.decide(
        make_observation(time_s=0.0, machine_state=state, pending_tasks=1, pending_cpu=0.1), []
    )
    assert up  # scaled up at t=0
    for t in (10.0, 300.0, 590.0):
        assert ca.decide(make_observation(time_s=t, machine_state=state, **idle), []) == []
    # unneeded since t=10; at t=610 the delay after add is over, but the node has been unneeded
    # only 600 s at t=610
    out = ca.decide(make_observation(time_s=610.0, machine_state=state, **idle), [])
    assert [p.action for p in out] == [SetMachinePower(machine=0, on=False)]


# -- node lifecycle and liveness ------------------------------------------------------------------


def test_node_not_ready_after_grace_then_evicted_after_toleration() -> None:
    nodes = NodeLifecycleController(NodeLifecycleSettings(), agent_id="k8s")
    ok = make_observation(time_s=35.0, heartbeat_age_s=[0, 35, 0, 0])
    assert nodes.analyze(ok) == []
    late = make_observation(time_s=45.0, heartbeat_age_s=[0, 45, 0, 0])
    findings = nodes.analyze(late)
    assert [(f.kind, f.target) for f in findings] == [("node_failure", "machine:1")]
    assert nodes.decide(late, findings) == []
    before = make_observation(time_s=344.0, heartbeat_age_s=[0, 344, 0, 0])
    nodes.analyze(before)
    assert nodes.decide(before, []) == []
    due = make_observation(time_s=345.0, heartbeat_age_s=[0, 345, 0, 0])
    assert nodes.analyze(due) == []  # reported once, not on every tick
    assert [p.action for p in nodes.decide(due, [])] == [EvictTasks(machine=1)]
    assert nodes.decide(make_observation(time_s=350.0, heartbeat_age_s=[0, 350, 0, 0]), []) == []


def test_eviction_and_liveness_defaults() -> None:
    assert not eviction_due(40.0, 339.0, 300.0)
    assert eviction_due(40.0, 340.0, 300.0)
    assert liveness_restart_delay_s() == 30.0


def test_kubernetes_policy_does_nothing_about_a_cpu_hog() -> None:
    policy = KubernetesPolicy()
    hog = make_observation(
        cpu_used=[0.5, 0.1, 0.1, 0.1], cpu_throttled_share=[0.5, 0, 0, 0], time_s=0.0
    )
    assert policy.analyze(hog) == []
    assert policy.decide(hog, []) == []
    assert "no remedy for CPU hogs" in policy.describe()
