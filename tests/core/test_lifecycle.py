"""The action lifecycle: only edges in the table, a complete history, Hypothesis over walks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoinfra.core import TRANSITIONS, ActionRecord, ActionStatus, IllegalTransition, ScaleService


def _record() -> ActionRecord:
    return ActionRecord("r-1", ScaleService(service=3, delta_replicas=1), proposed_by="scaling")


def test_happy_path_keeps_history() -> None:
    rec = _record()
    rec.move(ActionStatus.APPROVED, at_s=1.0, by="gate", why="low risk")
    rec.move(ActionStatus.SUBMITTED, at_s=2.0, by="executor", why="approved")
    rec.move(ActionStatus.SUCCEEDED, at_s=5.0, by="executor", why="replicas running")
    assert [t.status for t in rec.history] == [
        ActionStatus.PROPOSED,
        ActionStatus.APPROVED,
        ActionStatus.SUBMITTED,
        ActionStatus.SUCCEEDED,
    ]
    assert rec.status is ActionStatus.SUCCEEDED


def test_cannot_submit_without_approval() -> None:
    rec = _record()
    with pytest.raises(IllegalTransition, match="proposed -> submitted"):
        rec.move(ActionStatus.SUBMITTED, at_s=1.0, by="executor", why="skipping the gate")


def test_terminal_states_have_no_way_out() -> None:
    for status in (ActionStatus.REJECTED, ActionStatus.FAILED, ActionStatus.ROLLED_BACK):
        assert TRANSITIONS[status] == frozenset()


@given(st.lists(st.sampled_from(list(ActionStatus)), max_size=12))
def test_any_walk_is_legal_or_refused(steps: list[ActionStatus]) -> None:
    rec = _record()
    for i, to in enumerate(steps):
        before = rec.status
        try:
            rec.move(to, at_s=float(i), by="x", why="walk")
        except IllegalTransition:
            assert to not in TRANSITIONS[before]
            assert rec.status is before
        else:
            assert to in TRANSITIONS[before]
    # the history itself is always a legal path from PROPOSED
    for a, b in zip(rec.history, rec.history[1:], strict=False):
        assert b.status in TRANSITIONS[a.status]
