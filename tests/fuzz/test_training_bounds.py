"""Training cannot be asked for unbounded work: episodes, windows and periods are bounded."""

from __future__ import annotations

import dataclasses
import math

import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.learning import pipeline
from autoinfra.learning.pipeline import MAX_EPISODE_WINDOWS, MAX_EPISODES, TrainSettings
from autoinfra.traces import generate_cell


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"episodes": MAX_EPISODES + 1}, "episodes"),
        ({"episodes": 0}, "episodes"),
        ({"machines": 10**9}, "machines"),
        ({"train_fraction": math.nan}, "train_fraction"),
        ({"episode_s": math.nan}, "episode_s"),
        ({"episode_s": 1.0}, "episode_s"),  # shorter than one decision period
        ({"decision_period_s": math.inf}, "decision_period_s"),
    ],
)
def test_train_spec_bounds(changes: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainSettings(**changes)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_huge_trace_span_is_refused_before_any_window_is_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A span stretched by a corrupt time would be cut into millions of episode workloads."""
    small = generate_cell(machines=20, hours=1.0, seed=0)
    stretched = dataclasses.replace(small, end_s=small.start_s + 10**12)
    monkeypatch.setattr(pipeline, "load_workload", lambda *a, **k: stretched)
    cut: list[object] = []
    real_window = pipeline.window
    monkeypatch.setattr(pipeline, "window", lambda *a, **k: cut.append(a) or real_window(*a, **k))
    with pytest.raises(ConfigError, match=f"more than {MAX_EPISODE_WINDOWS} episodes"):
        pipeline.training_windows(TrainSettings(machines=10))
    assert len(cut) == 1  # the training window itself, never an episode
