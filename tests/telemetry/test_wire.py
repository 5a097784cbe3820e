"""The remote-write wire walker against the protobuf library's own encoding of WriteRequests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.telemetry.wire import WireError, decode_write_request, fnv1a


def _write_request_class() -> type:
    """prometheus.WriteRequest (remote.proto/types.proto, the fields we read plus metadata)."""
    fd = descriptor_pb2.FileDescriptorProto(
        name="test_remote.proto", package="prometheus", syntax="proto3"
    )
    F = descriptor_pb2.FieldDescriptorProto
    rep, opt = F.LABEL_REPEATED, F.LABEL_OPTIONAL

    def message(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        m = fd.message_type.add(name=name)
        for fname, number, typ, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=typ, label=label)
            if type_name:
                f.type_name = type_name

    message("Label", [("name", 1, F.TYPE_STRING, opt, ""), ("value", 2, F.TYPE_STRING, opt, "")])
    message(
        "Sample", [("value", 1, F.TYPE_DOUBLE, opt, ""), ("timestamp", 2, F.TYPE_INT64, opt, "")]
    )
    message(
        "MetricMetadata", [("type", 1, F.TYPE_INT32, opt, ""), ("help", 4, F.TYPE_STRING, opt, "")]
    )
    message(
        "TimeSeries",
        [
            ("labels", 1, F.TYPE_MESSAGE, rep, ".prometheus.Label"),
            ("samples", 2, F.TYPE_MESSAGE, rep, ".prometheus.Sample"),
        ],
    )
    message(
        "WriteRequest",
        [
            ("timeseries", 1, F.TYPE_MESSAGE, rep, ".prometheus.TimeSeries"),
            ("metadata", 3, F.TYPE_MESSAGE, rep, ".prometheus.MetricMetadata"),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _write_request_class()
NAMES = st.sampled_from(
    ["up", "autoinfra_machine_cpu_used_units", "autoinfra_power_watts", "x" * 200]
)
LABELS = st.sampled_from(["machine", "link", "service", None, "instance"])
VALUES = st.one_of(st.just(0.0), st.floats(allow_nan=False), st.just(math.nan))


@st.composite
def series(draw: st.DrawFn) -> tuple[str, str | None, int, list[tuple[float, int]]]:
    samples = draw(st.lists(st.tuples(VALUES, st.integers(1, 2**45)), min_size=1, max_size=3))
    return draw(NAMES), draw(LABELS), draw(st.integers(0, 10**6)), samples


@settings(max_examples=150, deadline=None)
@given(st.lists(series(), max_size=30), st.booleans())
def test_rows_match_what_protobuf_encoded(
    rows: list[tuple[str, str | None, int, list[tuple[float, int]]]], metadata: bool
) -> None:
    req = WriteRequest()
    if metadata:
        req.metadata.add(type=1, help="skipped by the walker")
    for name, label, idx, samples in rows:
        ts = req.timeseries.add()
        ts.labels.add(name="__name__", value=name)
        if label is not None:
            ts.labels.add(name=label, value=str(idx))
        for value, stamp in samples:
            ts.samples.add(value=value, timestamp=stamp)
    raw = req.SerializeToString()
    got = decode_write_request(raw)
    assert len(got) == len(rows)
    for i, (name, label, idx, samples) in enumerate(rows):
        start, length = int(got.name_start[i]), int(got.name_len[i])
        assert raw[start : start + length].decode() == name
        assert int(got.name_hash[i]) == fnv1a(name.encode())
        expected_index = -1 if label is None else (-2 if label == "instance" else idx)
        assert int(got.index[i]) == expected_index
        last_value, last_stamp = samples[-1]
        assert int(got.timestamp_ms[i]) == last_stamp
        if math.isnan(last_value):
            assert math.isnan(float(got.value[i]))
        else:
            assert float(got.value[i]) == last_value


def test_truncated_or_garbage_body_is_a_wire_error_naming_the_offset() -> None:
    req = WriteRequest()
    for m in range(50):
        ts = req.timeseries.add()
        ts.labels.add(name="__name__", value="autoinfra_machine_cpu_used_units")
        ts.labels.add(name="machine", value=str(m))
        ts.samples.add(value=1.5, timestamp=1_700_000_000_000)
    raw = req.SerializeToString()
    with pytest.raises(WireError, match=r"malformed near byte \d+ of 1000"):
        decode_write_request(raw[:1000])
    with pytest.raises(WireError, match=r"not a prometheus\.WriteRequest"):
        decode_write_request(b"\x0f\xff\xff\xff")
    assert len(decode_write_request(b"")) == 0


def test_large_request_decodes_every_series() -> None:
    req = WriteRequest()
    values = np.random.default_rng(0).random(20_000)
    for m, v in enumerate(values):
        ts = req.timeseries.add()
        ts.labels.add(name="__name__", value="autoinfra_machine_cpu_used_units")
        ts.labels.add(name="machine", value=str(m))
        ts.samples.add(value=float(v), timestamp=1_700_000_000_000)
    got = decode_write_request(req.SerializeToString())
    np.testing.assert_array_equal(got.index, np.arange(20_000))
    np.testing.assert_array_equal(got.value, values)
