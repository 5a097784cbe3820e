"""How one service's situation becomes a learner's input: discrete states and feature vectors.

Two encodings, each stated and versioned, because a model trained under one is meaningless under
another and artifacts name theirs (loading refuses a mismatch):

- ``ENCODINGS`` (``scale-state-v1``): the Q-table's discrete state per service, from utilisation,
  forecast trend, headroom and placement;
- ``FEATURES_ID`` (``scale-features-v1``): the PPO actor's compact float vector per service, the
  same one the learning environment (``autoinfra.learning.ClusterEnv``) observes.

Both are scale-free (shares, not absolute CPU), which is what lets a model learnt on a slice of
the cell decide for the whole cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.observation import MachineState, Observation
from autoinfra.policies.scaling.space import ServiceView

__all__ = [
    "ENCODINGS",
    "ENCODING_ID",
    "FEATURES_ID",
    "FEATURE_HIGH",
    "FEATURE_NAMES",
    "StateEncoding",
    "encode",
    "service_features",
]

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class StateEncoding:
    """How one service's situation becomes a discrete state. Changing any field needs a new id.

    state = ((util_bin * n_trend + trend_bin) * n_room + room_bin) * 2 + unplaced
    """

    id: str
    # replica utilisation = CPU used by the running replicas / (running x CPU request per replica)
    util_edges: tuple[float, ...]
    # forecast trend = (forecast CPU - used CPU) / (replicas x request): falling / steady / rising
    trend_band: float
    util_names: tuple[str, ...]

    @property
    def n_states(self) -> int:
        return (len(self.util_edges) + 1) * 3 * 3 * 2

    def describe(self, state: int) -> dict[str, str]:
        """Human names of a state's parts, for justifications and the models README."""
        return {
            "utilisation": self.util_names[state // 18],
            "trend": ("falling", "steady", "rising")[(state // 6) % 3],
            "headroom": ("at min", "between", "at max")[(state // 2) % 3],
            "placement": ("all placed", "replicas pending")[state % 2],
        }


ENCODINGS: dict[str, StateEncoding] = {
    # Edges bracket where scaling decisions change: below 0.3 the replicas mostly idle; 0.9 is
    # where the reward starts counting an SLO miss (learning.rewards: queueing delay grows as
    # 1 / (1 - utilisation)); at 0.97 and above a replica is at its limit (the simulator caps a
    # replica at its request), so demand is likely going unserved.
    "scale-state-v1": StateEncoding(
        id="scale-state-v1",
        util_edges=(0.3, 0.5, 0.7, 0.9, 0.97),
        trend_band=0.1,
        util_names=("<0.3", "0.3-0.5", "0.5-0.7", "0.7-0.9", "0.9-0.97", ">=0.97 at limit"),
    ),
}
ENCODING_ID = "scale-state-v1"


def encode(view: ServiceView, encoding: StateEncoding) -> I64:
    """Discrete state of every service in ``view`` (see ``StateEncoding``)."""
    util_bin = np.searchsorted(encoding.util_edges, view.utilisation, side="right")
    band = encoding.trend_band
    trend_bin = (view.trend >= -band).astype(np.int64) + (view.trend > band)
    # at min wins over at max when the two are equal
    room_bin = np.where(
        view.replicas > view.min_replicas, 1 + (view.replicas >= view.max_replicas), 0
    )
    unplaced = view.running < view.replicas
    return ((util_bin * 3 + trend_bin) * 3 + room_bin) * 2 + unplaced


FEATURES_ID = "scale-features-v1"
FEATURE_NAMES: tuple[str, ...] = (
    "cluster_cpu_util",  # CPU used / capacity of powered machines
    "cluster_mem_util",
    "pending_cpu_share",  # CPU requested by pending tasks / powered CPU capacity
    "replica_util",  # service CPU used / (running x request)
    "forecast_util",  # forecast CPU / (replicas x request)
    "forecast_rel_std",  # forecast std / (replicas x request)
    "headroom",  # (replicas - min) / (max - min): 0 at min, 1 at max
    "running_share",  # running / replicas
)
# Upper bounds of the observation box; features are clipped into [0, high] so the space holds.
FEATURE_HIGH = np.array([2.0, 2.0, 2.0, 4.0, 4.0, 4.0, 1.0, 1.0], dtype=np.float32)
# powered = BOOTING, ON or DRAINING (consecutive values); plain ints, as enum attribute lookups
# cost more than the comparison itself on every environment step
_BOOTING, _DRAINING = int(MachineState.BOOTING), int(MachineState.DRAINING)


def service_features(observation: Observation, view: ServiceView) -> F32:
    """(n_services_in_view, 8) float32 features, clipped into the observation box."""
    # one mask and four sums: Observation.cpu_utilization() and mem_utilization() would each
    # rebuild the mask, and this runs on every environment step
    s = observation.machine_state
    powered = (s >= _BOOTING) & (s <= _DRAINING)
    cpu_cap = float(observation.cpu_capacity[powered].sum())
    mem_cap = float(observation.mem_capacity[powered].sum())
    n = view.index.shape[0]
    span = np.maximum(view.max_replicas - view.min_replicas, 1)
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
    out[:, 0] = float(observation.cpu_used[powered].sum()) / cpu_cap if cpu_cap > 0 else 0.0
    out[:, 1] = float(observation.mem_used[powered].sum()) / mem_cap if mem_cap > 0 else 0.0
    out[:, 2] = observation.pending_cpu / cpu_cap if cpu_cap > 0 else 0.0
    out[:, 3] = view.utilisation
    out[:, 4] = view.forecast_utilisation
    out[:, 5] = view.forecast_rel_std
    out[:, 6] = (view.replicas - view.min_replicas) / span
    out[:, 7] = view.running / np.maximum(view.replicas, 1)
    np.minimum(np.maximum(out, 0.0, out=out), FEATURE_HIGH, out=out)
    return out
