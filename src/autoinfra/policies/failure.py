"""Failure prediction: which machines will the trace remove soon, and draining them first.

Paper section 7.3 suggests "predictive maintenance features" to act before a fault. The Google 2011
trace records when machines left the cell (REMOVE events: failures and maintenance, about 300 a
day in the 12.5k-machine cell, so about 0.1 % of machines in any hour). ``FailurePredictor`` learns
from a machine's own history whether it will be removed within ``horizon_s``:

features at time t (only events at or before t, never later ones): removals, additions and
capacity updates so far and removals per day seen; seconds since its last removal and since its
last event (both capped at 2 days, so the features do not encode how far into the trace t is);
its current CPU and memory capacity; its platform.

It is trained with scikit-learn (``HistGradientBoostingClassifier``, balanced class weights) on
snapshots every ``step_s`` of an *earlier* window, with a seeded random share of the negatives
kept (every positive is kept), and evaluated on every machine at every snapshot of a *later*
window. ``evaluate`` reports precision and recall at the threshold and the base rate, whatever they
are; ``tests/policies/test_failure.py`` prints them for a small split and
``bench/decision_latency.py --failure`` for days 0-20 vs 20-29 (recorded in bench/RESULTS.md).

``FailureDrainPolicy`` drains machines whose predicted risk is above ``threshold`` (a few per
decision, at most once per machine per ``redrain_s``; risks are recomputed every ``refresh_s``).
It maps observation slots to trace machine ids through ``Observation.machine_ids`` and simulated
time to trace time through ``trace_offset_s`` (the workload's ``meta["trace_offset_s"]``).
Without a trained predictor it proposes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import DrainMachine
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Finding, Justification, Proposal
from autoinfra.traces.tables import MachineEventType, MachineTable

__all__ = [
    "FEATURES",
    "FailureDrainPolicy",
    "FailurePredictor",
    "FailureScore",
    "machine_history",
    "snapshot",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
FEATURES = (
    "removals",
    "additions",
    "updates",
    "removals_per_day",
    "since_removal_s",
    "since_event_s",
    "cpu",
    "mem",
    "platform",
)
# "since" features are capped: every machine of the trace is first seen at its start, so an
# uncapped age is the trace clock in disguise and would not carry over from an earlier window
_CAP_S = 2 * 86400.0


def machine_history(trace_dir: str | Path | None = None) -> MachineTable:
    """Every machine event of a Google 2011 trace, times in trace seconds."""
    from autoinfra.traces.machines import machine_table
    from autoinfra.traces.paths import default_trace_dir
    from autoinfra.traces.reader import read_table

    events, _ = read_table("machine_events", trace_dir or default_trace_dir())
    table, _ = machine_table(events, 0)
    return table


def snapshot(
    table: MachineTable, t_s: float, horizon_s: float
) -> tuple[I64, F64, npt.NDArray[np.bool_]]:
    """Machines present at ``t_s``: (ids, features, removed within ``horizon_s`` after ``t_s``)."""
    ids, inverse = np.unique(table.machine_id, return_inverse=True)
    n = ids.shape[0]
    past = table.time_s <= t_s
    idx, ev, tm = inverse[past], table.event[past], table.time_s[past]
    counts = [np.bincount(idx[ev == e], minlength=n) for e in MachineEventType]
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, idx, np.flatnonzero(past))  # rows are time-sorted: the latest row
    first_t = np.full(n, np.inf)
    np.minimum.at(first_t, idx, tm)
    last_rm = np.full(n, -np.inf)
    is_rm = ev == MachineEventType.REMOVE
    np.maximum.at(last_rm, idx[is_rm], tm[is_rm])
    last_rm[np.isinf(last_rm)] = np.nan
    present = (last >= 0) & (table.event[np.maximum(last, 0)] != MachineEventType.REMOVE)
    rows = last[present]
    x = np.column_stack(
        [
            counts[MachineEventType.REMOVE][present],
            counts[MachineEventType.ADD][present],
            counts[MachineEventType.UPDATE][present],
            counts[MachineEventType.REMOVE][present]
            / np.maximum(1.0, (t_s - first_t[present]) / 86400.0),
            np.nan_to_num(t_s - last_rm[present], nan=_CAP_S).clip(0, _CAP_S),
            (t_s - table.time_s[rows]).clip(0, _CAP_S),
            table.cpu[rows],
            table.mem[rows],
            table.platform[rows],
        ]
    ).astype(np.float64)
    future = (table.time_s > t_s) & (table.time_s <= t_s + horizon_s)
    future &= table.event == MachineEventType.REMOVE
    soon = np.zeros(n, dtype=bool)
    soon[inverse[future]] = True
    return ids[present], x, soon[present]


@dataclass(frozen=True, slots=True)
class FailureScore:
    precision: float
    recall: float
    base_rate: float
    threshold: float
    samples: int
    positives: int
    flagged: int

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class FailurePredictor:
    def __init__(
        self,
        *,
        horizon_s: float = 3600.0,
        threshold: float | None = None,
        flag_share: float = 0.005,
        seed: int = 0,
    ) -> None:
        if not 0.0 < flag_share < 1.0:
            raise ConfigError(f"flag_share must be in (0, 1), got {flag_share}", field="flag_share")
        self.horizon_s = horizon_s
        # None: chosen on the training window so that about ``flag_share`` of the machines are
        # flagged (class weights make the model's probabilities uncalibrated, so a fixed 0.5 means
        # little); about 5x the hourly base rate by default
        self.threshold = threshold
        self.flag_share = flag_share
        self.seed = seed
        self.model: Any = None
        self.trained_on: tuple[float, float] | None = None

    def _snapshots(
        self, table: MachineTable, start_s: float, end_s: float, step_s: float
    ) -> list[tuple[I64, F64, npt.NDArray[np.bool_]]]:
        if not end_s - self.horizon_s > start_s:
            raise ConfigError(
                f"window [{start_s}, {end_s}] s is shorter than the horizon {self.horizon_s} s",
                field="window",
            )
        cuts = np.arange(start_s, end_s - self.horizon_s, step_s)
        return [snapshot(table, float(t), self.horizon_s) for t in cuts]

    def fit(
        self,
        table: MachineTable,
        start_s: float,
        end_s: float,
        *,
        step_s: float = 12 * 3600.0,
        negative_share: float = 0.1,
    ) -> FailurePredictor:
        from sklearn.ensemble import HistGradientBoostingClassifier

        rng = np.random.default_rng(self.seed)
        xs, ys = [], []
        for _, x, y in self._snapshots(table, start_s, end_s, step_s):
            keep = y | (rng.random(y.shape[0]) < negative_share)
            xs.append(x[keep])
            ys.append(y[keep])
        x_all, y_all = np.concatenate(xs), np.concatenate(ys)
        fixed_threshold = self.threshold
        if y_all.sum() == 0:
            raise ConfigError(
                f"no removals in [{start_s}, {end_s}] s to learn from", field="window"
            )
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        model = HistGradientBoostingClassifier(
            max_iter=100,
            learning_rate=0.1,
            class_weight="balanced",
            early_stopping=False,
            random_state=self.seed,
        )
        # one thread: the model is small, and OpenMP spinning on a shared 2-core machine costs
        # more than it saves
        with threadpool_limits(limits=1):
            model.fit(x_all, y_all)
        self.model = model
        self.trained_on = (start_s, end_s)
        if fixed_threshold is None:
            # the kept negatives are a uniform sample of all machines (positives are ~0.1 %)
            self.threshold = float(np.quantile(self.risk(x_all[~y_all]), 1.0 - self.flag_share))
        return self

    def _threshold(self) -> float:
        if self.threshold is None:
            raise ConfigError("the failure predictor is not trained; call fit() first")
        return self.threshold

    def risk(self, x: F64) -> F64:
        if self.model is None:
            raise ConfigError("the failure predictor is not trained; call fit() first")
        if x.shape[0] == 0:
            return np.zeros(0)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return np.asarray(self.model.predict_proba(x)[:, 1], dtype=np.float64)

    def evaluate(
        self, table: MachineTable, start_s: float, end_s: float, *, step_s: float = 3600.0
    ) -> FailureScore:
        if self.trained_on is not None and start_s < self.trained_on[1]:
            raise ConfigError(
                f"evaluation window starts at {start_s} s, inside the training window "
                f"{self.trained_on}",
                field="window",
            )
        threshold = self._threshold()
        tp = fp = fn = samples = positives = 0
        for _, x, y in self._snapshots(table, start_s, end_s, step_s):
            hit = self.risk(x) >= threshold
            tp += int((hit & y).sum())
            fp += int((hit & ~y).sum())
            fn += int((~hit & y).sum())
            samples += int(y.shape[0])
            positives += int(y.sum())
        return FailureScore(
            precision=tp / (tp + fp) if tp + fp else 0.0,
            recall=tp / (tp + fn) if tp + fn else 0.0,
            base_rate=positives / samples if samples else 0.0,
            threshold=threshold,
            samples=samples,
            positives=positives,
            flagged=tp + fp,
        )


class FailureDrainPolicy:
    policy_id = "failure.drain-v1"

    def __init__(
        self,
        predictor: FailurePredictor | None = None,
        history: MachineTable | None = None,
        *,
        trace_offset_s: float = 0.0,
        max_drains: int = 2,
        redrain_s: float = 3600.0,
        refresh_s: float = 300.0,
    ) -> None:
        self.predictor = predictor
        self.history = history
        self.trace_offset_s = trace_offset_s
        self.max_drains = max_drains
        self.redrain_s = redrain_s
        # a machine's event history changes a few times a day, and one prediction over a 12,500-
        # machine cell takes about 0.2 s (bench/RESULTS.md): risks are recomputed this often
        self.refresh_s = refresh_s
        self._risk: tuple[float, I64, F64, F64] | None = None  # (at_s, ids, features, risk)
        self._drained: dict[int, float] = {}

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        if self.predictor is None or self.history is None or self.predictor.model is None:
            return []
        obs = observation
        if self._risk is None or obs.time_s - self._risk[0] >= self.refresh_s:
            t = obs.time_s + self.trace_offset_s
            ids, x, _ = snapshot(self.history, t, self.predictor.horizon_s)
            self._risk = (obs.time_s, ids, x, self.predictor.risk(x))
        _, ids, x, risk = self._risk
        slot_of = {int(mid): slot for slot, mid in enumerate(obs.machine_ids.tolist())}
        usable = (obs.machine_state == MachineState.ON) & obs.schedulable & (obs.tasks_running > 0)
        out: list[Proposal] = []
        for k in np.argsort(-risk, kind="stable"):
            if risk[k] < self.predictor._threshold() or len(out) >= self.max_drains:
                break
            slot = slot_of.get(int(ids[k]))
            if slot is None or not usable[slot]:
                continue
            if obs.time_s - self._drained.get(slot, -np.inf) < self.redrain_s:
                continue
            self._drained[slot] = obs.time_s
            out.append(
                Proposal(
                    DrainMachine(machine=slot),
                    "",
                    0,
                    Justification(
                        f"predicted removal within {self.predictor.horizon_s:.0f} s "
                        f"(risk {risk[k]:.2f})",
                        {name: float(v) for name, v in zip(FEATURES, x[k], strict=True)},
                        "tasks leave before the machine does",
                    ),
                    float(risk[k]),
                )
            )
        return out
