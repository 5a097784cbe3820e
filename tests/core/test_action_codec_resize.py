"""The strict codec of the approval log carries a request resize, and refuses bad JSON types."""

from __future__ import annotations

import json

import pytest

from autoinfra.core.action_codec import decode_action, encode_action
from autoinfra.core.actions import ResizeRequests
from autoinfra.core.errors import ConfigError


def test_a_resize_survives_the_round_trip_through_json() -> None:
    a = ResizeRequests(service=3, cpu_request=0.0125, mem_request=0.5)
    raw = json.loads(json.dumps(encode_action(a)))
    assert raw == {"kind": "resize_requests", "service": 3, "cpu_request": 0.0125,
                   "mem_request": 0.5}  # fmt: skip
    assert decode_action(raw, source="approvals.jsonl:4") == a


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("cpu_request", "0.1", "must be a JSON float"),
        ("mem_request", True, "must be a JSON float"),
        ("cpu_request", 0.0, "expected a finite request"),
        ("mem_request", 3, "expected a finite request"),
    ],
)
def test_bad_values_name_the_file_and_field(field: str, value: object, why: str) -> None:
    raw = {"kind": "resize_requests", "service": 1, "cpu_request": 0.1, "mem_request": 0.1}
    raw[field] = value
    with pytest.raises(ConfigError, match=why) as err:
        decode_action(raw, source="approvals.jsonl:9")
    assert "approvals.jsonl:9" in str(err.value)
