"""Tabular Q-learning scaling policy: inference only (training lives in ``autoinfra.learning``).

The paper's scaling agent "uses reinforcement learning to optimize scaling policies in response to
workload fluctuations" (section 5.2) with "a Q-value table to estimate the utility of actions in
specific states" (section 4.2.1). This module is that table at decision time: it encodes each
service's situation into one of a few discrete states, looks up the learned value of each replica
change and proposes the best one, with the state, the Q-values and the expected effect as its
justification so a human or the arbiter sees why.

The state encoding is stated and versioned (``ENCODINGS``): a table trained under one encoding is
meaningless under another, so artifacts name theirs and loading refuses a mismatch. One table is
shared by every service (the state is scale-free: utilisation shares, not absolute CPU), which is
what lets a table learnt on a slice of the cell decide for the whole cell.

Everything is vectorised over services: at 12.5k machines the cost is a few array operations plus
one ``Proposal`` per service that actually changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import ScaleService
from autoinfra.core.atomic import write_json
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Proposal

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

POLICY_ID = "scaling.qtable-v1"
ACTIONS: tuple[int, ...] = (-2, -1, 0, 1, 2)  # replica deltas; index 2 is "do nothing"
NOOP = ACTIONS.index(0)
# Tie-break order for the greedy choice: doing nothing first, then the smallest change, so an
# untrained or indifferent state never moves replicas.
ACTION_PREFERENCE = np.array([NOOP, 1, 3, 0, 4], dtype=np.int64)
DEFAULT_MODEL = "qtable-scaling-v1.json"
ARTIFACT_FORMAT = "autoinfra.qtable"
ARTIFACT_VERSION = 1  # bump when the file layout changes; older readers then refuse it clearly


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


@dataclass(frozen=True, slots=True, eq=False)
class ServiceView:
    """Per-service inputs of the scaling decision, for the services that are live (replicas > 0).

    Shared by the Q-table, the PPO policy and the learning environment so that training and
    inference read the world the same way.
    """

    index: I64  # service indices into the observation's service arrays
    replicas: I64
    running: I64
    min_replicas: I64
    max_replicas: I64
    utilisation: F64  # used / (running x request); 0 when nothing runs
    forecast_utilisation: F64  # forecast / (replicas x request); = current when no forecast
    trend: F64  # (forecast - used) / (replicas x request); 0 when no forecast
    forecast_rel_std: F64  # forecast std / (replicas x request); 0 when no forecast


def forecasts_by_service(findings: Sequence[Finding]) -> dict[int, dict[str, Any]]:
    """``demand_forecast`` findings keyed by service index (the latest one wins)."""
    out: dict[int, dict[str, Any]] = {}
    for f in findings:
        if f.kind == "demand_forecast" and f.target.startswith("service:"):
            try:
                out[int(f.target[8:])] = f.detail
            except ValueError:
                continue  # a malformed target is the emitter's bug; it must not stop scaling
    return out


def service_view(
    observation: Observation, findings: Sequence[Finding], max_replicas: I64
) -> ServiceView:
    """Build the per-service inputs; ``max_replicas`` is aligned with the observation's services."""
    # Kept to few NumPy calls: the learning environment runs this on every step, where each call
    # costs a few microseconds whatever the array size.
    live = np.flatnonzero(observation.service_replicas > 0)
    replicas = observation.service_replicas.take(live).astype(np.int64)
    running = observation.service_running.take(live).astype(np.int64)
    request = observation.service_cpu_request.take(live).astype(np.float64)
    used = observation.service_cpu_used.take(live).astype(np.float64)
    reserved_running = running * request
    util = used / np.where(reserved_running > 0, reserved_running, np.inf)
    forecast = used.copy()
    std = np.zeros_like(used)
    fc = forecasts_by_service(findings) if findings else {}
    if fc:
        pos = {int(s): k for k, s in enumerate(live.tolist())}
        for svc, detail in fc.items():
            k = pos.get(svc)
            if k is None:
                continue
            forecast[k] = float(detail.get("cpu_forecast", used[k]))
            std[k] = float(detail.get("cpu_std", 0.0))
    reserved = np.maximum(replicas * request, 1e-12)
    return ServiceView(
        index=live.astype(np.int64),
        replicas=replicas,
        running=running,
        min_replicas=observation.service_min_replicas.take(live).astype(np.int64),
        max_replicas=np.asarray(max_replicas, dtype=np.int64).take(live),
        utilisation=util,
        forecast_utilisation=forecast / reserved,
        trend=(forecast - used) / reserved,
        forecast_rel_std=std / reserved,
    )


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


_DELTAS = np.asarray(ACTIONS, dtype=np.int64)


def feasible_actions(view: ServiceView) -> Bool:
    """(n_services, n_actions) mask: actions that move replicas at all within [min, max].

    An action only partly possible (+2 with room for one) stays feasible and is clamped.
    """
    up = (view.max_replicas > view.replicas)[:, None]
    down = (view.replicas > view.min_replicas)[:, None]
    return (_DELTAS == 0) | ((_DELTAS > 0) & up) | ((_DELTAS < 0) & down)


def clamp_deltas(view: ServiceView, action_index: I64) -> I64:
    """Replica deltas of the chosen actions, clamped so replicas stay within [min, max]."""
    target = view.replicas + _DELTAS[action_index]
    hi = np.maximum(view.max_replicas, view.min_replicas)
    return np.minimum(np.maximum(target, view.min_replicas), hi) - view.replicas


class ReplicaBounds:
    """Each service's maximum replicas, from the best source available.

    The observation has no maximum, so: ``observation.extra["service_max_replicas"]`` when the
    backend provides it, else an array given by the caller (the workload's ServiceTable), else
    ``factor`` x the replicas first seen for the service (the trace reader's own rule, 4x initial).
    """

    def __init__(self, max_replicas: Sequence[int] | None = None, factor: float = 4.0) -> None:
        self._given = None if max_replicas is None else np.asarray(max_replicas, dtype=np.int64)
        self._factor = factor
        self._first_seen: I64 = np.zeros(0, dtype=np.int64)

    def __call__(self, observation: Observation) -> I64:
        n = observation.service_replicas.shape[0]
        extra = observation.extra.get("service_max_replicas")
        if extra is not None:
            return np.asarray(extra, dtype=np.int64)
        if self._given is not None and self._given.shape[0] == n:
            return self._given
        if self._first_seen.shape[0] != n:
            grown = np.zeros(n, dtype=np.int64)
            k = min(n, self._first_seen.shape[0])
            grown[:k] = self._first_seen[:k]
            self._first_seen = grown
        now = observation.service_replicas.astype(np.int64)
        fresh = (self._first_seen == 0) & (now > 0)
        self._first_seen[fresh] = now[fresh]
        return np.maximum(
            np.ceil(self._factor * self._first_seen).astype(np.int64),
            observation.service_min_replicas.astype(np.int64),
        )


class QTablePolicy:
    """Scale services by the greedy action of a learned Q-table (a ``core.Policy``).

    ``q`` and ``visits`` are (n_states, n_actions) arrays; learners in ``autoinfra.learning``
    update them in place. Actions never tried in a state are not chosen (an unvisited entry holds
    no estimate); a state never visited does nothing.
    """

    def __init__(
        self,
        q: npt.ArrayLike,
        visits: npt.ArrayLike | None = None,
        *,
        encoding: str = ENCODING_ID,
        reward: str = "slo-energy-v1",
        provenance: Mapping[str, Any] | None = None,
        agent: str = "scaling",
        priority: int = 50,
        bounds: ReplicaBounds | None = None,
        max_proposals: int | None = 256,
    ) -> None:
        if encoding not in ENCODINGS:
            raise ConfigError(
                f"unknown state encoding {encoding!r}; known: {sorted(ENCODINGS)}", field="encoding"
            )
        self.encoding = ENCODINGS[encoding]
        shape = (self.encoding.n_states, len(ACTIONS))
        self.q = np.array(q, dtype=np.float64)
        self.visits = (
            np.zeros(shape, dtype=np.int64) if visits is None else np.array(visits, dtype=np.int64)
        )
        for name, arr in (("q", self.q), ("visits", self.visits)):
            if arr.shape != shape:
                raise ConfigError(f"{name} has shape {arr.shape}, expected {shape}", field=name)
        if not np.all(np.isfinite(self.q)):
            raise ConfigError("q holds non-finite values", field="q")
        self.reward = reward
        self.provenance: dict[str, Any] = dict(provenance or {})
        self.agent = agent
        self.priority = priority
        self.bounds = bounds if bounds is not None else ReplicaBounds()
        # At most this many services change per decision, largest learned gain first; the rest
        # wait a period. Bounds both the blast radius of one decision and its latency on a full
        # cell (a fresh cell can have a thousand over-provisioned services at once).
        self.max_proposals = max_proposals

    # --- construction and files ---
    @classmethod
    def zeros(cls, *, encoding: str = ENCODING_ID, **kwargs: Any) -> QTablePolicy:
        n = ENCODINGS[encoding].n_states if encoding in ENCODINGS else 0
        return cls(np.zeros((n, len(ACTIONS))), encoding=encoding, **kwargs)

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> QTablePolicy:
        data = read_artifact(path)
        return cls(
            data["q"],
            data["visits"],
            encoding=data["encoding"],
            reward=data["reward"],
            provenance=data.get("provenance", {}),
            **kwargs,
        )

    @classmethod
    def default(cls, **kwargs: Any) -> QTablePolicy:
        """The shipped table (``autoinfra/data/models``), made by the command in its README."""
        ref = resources.files("autoinfra").joinpath("data", "models", DEFAULT_MODEL)
        with resources.as_file(ref) as path:
            if not path.exists():
                raise ConfigError(
                    "the shipped Q-table is missing; make one with `autoinfra train`",
                    source=str(path),
                )
            return cls.load(path, **kwargs)

    def save(self, path: str | Path) -> Path:
        """Write the table atomically as JSON with its version, encoding, reward and provenance.

        The bytes depend only on the table and the provenance (no timestamps), so re-running the
        command that made an artifact reproduces it bit for bit.
        """
        doc = {
            "format": ARTIFACT_FORMAT,
            "version": ARTIFACT_VERSION,
            "policy": POLICY_ID,
            "encoding": self.encoding.id,
            "reward": self.reward,
            "actions": list(ACTIONS),
            "q": [[float(v) for v in row] for row in self.q],
            "visits": [[int(v) for v in row] for row in self.visits],
            "provenance": self.provenance,
        }
        return write_json(path, doc, indent=1, sort_keys=True)

    # --- inference ---
    def greedy(self, states: I64, feasible: Bool) -> I64:
        """Best tried-and-feasible action per state; ties and untried states prefer no change."""
        usable = feasible & (self.visits[states] > 0)
        scores = np.where(usable, self.q[states], -np.inf)
        scores[~usable.any(axis=1), NOOP] = 0.0
        best = np.argmax(scores[:, ACTION_PREFERENCE], axis=1)
        return ACTION_PREFERENCE[best]

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        view = service_view(observation, findings, self.bounds(observation))
        if view.index.shape[0] == 0:
            return []
        states = encode(view, self.encoding)
        chosen = self.greedy(states, feasible_actions(view))
        deltas = clamp_deltas(view, chosen)
        moving = np.flatnonzero(deltas)
        if moving.shape[0] == 0:
            return []
        cap = self.max_proposals
        if cap is not None and moving.shape[0] > cap:
            gain = self.q[states[moving], chosen[moving]] - self.q[states[moving], NOOP]
            moving = np.sort(moving[np.argsort(-gain, kind="stable")[:cap]])
        cited = {f.target: f for f in findings if f.kind == "demand_forecast"}
        # A full cell can move a thousand services at once: the parts of a justification that
        # depend only on (state, action) are built once per pair, the rest from plain lists.
        shared: dict[tuple[int, int], tuple[str, dict[str, Any], int, float]] = {}
        time_s = observation.time_s
        out = []
        for svc, rep, run, util, fu, lo, hi, st, act, d in zip(
            view.index[moving].tolist(),
            view.replicas[moving].tolist(),
            view.running[moving].tolist(),
            view.utilisation[moving].tolist(),
            view.forecast_utilisation[moving].tolist(),
            view.min_replicas[moving].tolist(),
            view.max_replicas[moving].tolist(),
            states[moving].tolist(),
            chosen[moving].tolist(),
            deltas[moving].tolist(),
            strict=True,
        ):
            key = (st, act)
            if key not in shared:
                shared[key] = self._explain(st, act)
            prefix, common, visits, gain = shared[key]
            target = f"service:{svc}"
            after = util * max(run, 1) / max(rep + d, 1)
            out.append(
                Proposal(
                    action=ScaleService(service=svc, delta_replicas=d),
                    agent=self.agent,
                    priority=self.priority,
                    justification=Justification(
                        reason=f"{target}: {prefix}",
                        inputs={
                            **common,
                            "utilisation": round(util, 4),
                            "forecast_utilisation": round(fu, 4),
                            "replicas": rep,
                            "min_replicas": lo,
                            "max_replicas": hi,
                        },
                        expected_effect=(
                            f"replicas {rep} -> {rep + d}; replica utilisation {util:.2f} -> "
                            f"{after:.2f} at today's demand; learned value {gain:+.3f} over "
                            "doing nothing"
                        ),
                    ),
                    # confidence grows with how often this estimate was updated (full at 100)
                    confidence=min(1.0, visits / 100.0),
                    request_id=f"{self.agent}:{time_s:.0f}:{target}",
                    findings=(cited[target],) if target in cited else (),
                )
            )
        return out

    def _explain(self, state: int, action: int) -> tuple[str, dict[str, Any], int, float]:
        """The reason prefix, the shared inputs, the visits and the gain of (state, action)."""
        parts = self.encoding.describe(state)
        prefix = (
            f"Q-table {self.encoding.id} state {state} ({', '.join(parts.values())}); "
            f"{ACTIONS[action]:+d} has the highest learned value"
        )
        common = {
            "policy": POLICY_ID,
            "encoding": self.encoding.id,
            "reward": self.reward,
            "state": state,
            "state_parts": parts,
            "action_index": action,
            "q_values": {
                str(a): round(float(v), 6) for a, v in zip(ACTIONS, self.q[state], strict=True)
            },
            "visits": int(self.visits[state, action]),
        }
        gain = float(self.q[state, action] - self.q[state, NOOP])
        return prefix, common, int(self.visits[state, action]), gain


def read_artifact(path: str | Path) -> dict[str, Any]:
    """Read and check a Q-table file; every problem is a ConfigError naming the file and field."""
    src = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the Q-table: {exc.strerror}", source=src) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); expected a Q-table "
            "written by `autoinfra train`",
            source=src,
        ) from exc

    def check(field: str, ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message, source=src, field=field)

    if not isinstance(doc, dict):
        doc = {"format": type(doc).__name__}
    check("format", doc.get("format") == ARTIFACT_FORMAT,
          f"format is {doc.get('format')!r}, expected {ARTIFACT_FORMAT!r}")  # fmt: skip
    version = doc.get("version")
    version = version if isinstance(version, int) else repr(version)
    check("version", isinstance(version, int) and version >= 1,
          f"version is {version}, expected a positive integer")  # fmt: skip
    check("version", int(version) <= ARTIFACT_VERSION,
          f"version {version} is newer than this autoinfra reads ({ARTIFACT_VERSION}); "
          "upgrade autoinfra or retrain")  # fmt: skip
    check(
        "encoding",
        doc.get("encoding") in ENCODINGS,
        f"unknown state encoding {doc.get('encoding')!r}; known: {sorted(ENCODINGS)}",
    )
    check("actions", doc.get("actions") == list(ACTIONS),
          f"actions are {doc.get('actions')!r}, expected {list(ACTIONS)}")  # fmt: skip
    check("reward", isinstance(doc.get("reward"), str), "reward id missing, expected a string")
    shape = (ENCODINGS[doc["encoding"]].n_states, len(ACTIONS))
    for name, kind in (("q", np.float64), ("visits", np.int64)):
        try:
            arr = np.asarray(doc.get(name), dtype=kind)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"not a numeric table: {exc}", source=src, field=name) from exc
        if arr.shape != shape:
            raise ConfigError(f"shape {arr.shape}, expected {shape}", source=src, field=name)
        doc[name] = arr
    check("provenance", isinstance(doc.get("provenance", {}), dict), "expected a mapping")
    return doc
