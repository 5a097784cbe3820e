"""Kubernetes with its documented defaults, as pure rules and one Policy: the rule-based baseline.

What a cluster running stock Kubernetes would do in the simulated world, faithfully and not as a
strawman. Four controllers, each with the defaults its documentation states (figures gathered in
``/work/shared/reference/published-figures.md``, cited beside each constant):

- Horizontal Pod Autoscaler (kubernetes.io, docs/tasks/run-application/horizontal-pod-autoscale):
  ``desired = ceil(current x metric / target)`` with a 0.1 tolerance, every 15 s, a 300 s
  scale-down stabilisation window (the highest recommendation of the window wins, the replicas
  the controller first saw among them, so nothing scales down in its first 300 s), scale-up by at
  most max(100 %, 4 pods) and scale-down by at most 100 % per 15 s; not-ready pods count as 0 %
  when scaling up. HPA has no default target: the target is a parameter (see ``HPASettings``).
- Cluster Autoscaler (kubernetes/autoscaler, cluster-autoscaler/FAQ.md): a 10 s scan; pending pods
  power on OFF machines (the boot delay is the simulator's); a node whose requested share
  max(cpu, mem) stays below 0.5 for 10 min is drained and powered off if its pods fit on the
  other nodes, placed one pod at a time (the removal simulation); no scale-down for 10 min
  after a scale-up; empty nodes go 10 at a time, others one at a time; it halts when more than
  45 % of nodes are unready.
- Node lifecycle controller (kube-controller-manager reference): heartbeats checked every 5 s; a
  node is NotReady after the 40 s grace period; its pods are evicted after the default 300 s
  toleration of the not-ready/unreachable taints (``EvictTasks``).
- Liveness probes (kubernetes.io, configure-liveness-readiness-startup-probes): period 10 s,
  failure threshold 3, so a hung container is restarted in place about 30 s after it hangs. In
  this world no fault hangs a container in a way a restart in place fixes: a dead node's kubelet
  is dead too (the node lifecycle controller handles it), a CPU hog or a congested uplink stays
  after a restart on the same node, and Kubernetes has no controller that moves pods away from a
  hogged node or reroutes a rack. So Kubernetes does nothing about hogs, congestion or intrusions,
  and this baseline does nothing either. The rule is kept (``liveness_restart_delay_s``) so the
  report can state it.

The rules are free functions over plain numbers and arrays so the tests can check them against the
documentation's worked examples; the controllers keep only the state the real controllers keep
(recommendation history, unneeded-since timers, NotReady-since timers).
"""

from autoinfra.policies.kubernetes.cluster_autoscaler import (
    CASettings,
    ClusterAutoscaler,
    cluster_unready_halt,
    machines_to_power_on,
    pods_fit_elsewhere,
    requested_share,
)
from autoinfra.policies.kubernetes.hpa import (
    HorizontalPodAutoscaler,
    HPASettings,
    hpa_desired_replicas,
    hpa_rate_limited,
    hpa_recommendation,
    hpa_recommendations,
    hpa_stabilized,
    rate_limited,
    stabilized,
)
from autoinfra.policies.kubernetes.node_lifecycle import (
    NodeLifecycleController,
    NodeLifecycleSettings,
    eviction_due,
    liveness_restart_delay_s,
    node_not_ready,
)
from autoinfra.policies.kubernetes.policy import KubernetesPolicy, KubernetesSettings

__all__ = [
    "CASettings",
    "ClusterAutoscaler",
    "HPASettings",
    "HorizontalPodAutoscaler",
    "KubernetesPolicy",
    "KubernetesSettings",
    "NodeLifecycleController",
    "NodeLifecycleSettings",
    "cluster_unready_halt",
    "eviction_due",
    "hpa_desired_replicas",
    "hpa_rate_limited",
    "hpa_recommendation",
    "hpa_recommendations",
    "hpa_stabilized",
    "liveness_restart_delay_s",
    "machines_to_power_on",
    "node_not_ready",
    "pods_fit_elsewhere",
    "rate_limited",
    "requested_share",
    "stabilized",
]
