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

from collections.abc import Mapping, Sequence
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
from autoinfra.policies.scaling.artifacts import (
    ARTIFACT_FORMAT,
    ARTIFACT_VERSION,
    DEFAULT_MODEL,
    QTABLE_POLICY_ID,
    read_artifact,
)
from autoinfra.policies.scaling.encoding import ENCODING_ID, ENCODINGS, encode
from autoinfra.policies.scaling.space import (
    ACTION_PREFERENCE,
    ACTIONS,
    NOOP,
    ReplicaBounds,
    clamp_deltas,
    feasible_actions,
    service_view,
)

__all__ = ["POLICY_ID", "QTablePolicy"]

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

POLICY_ID = QTABLE_POLICY_ID


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
    def from_artifact(cls, path: str | Path | None = None, **kwargs: Any) -> QTablePolicy:
        """The table in ``path``, or the shipped one when no path is given (the registry entry)."""
        return cls.default(**kwargs) if path is None else cls.load(path, **kwargs)

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
