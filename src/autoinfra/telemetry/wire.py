"""Decoding Prometheus remote-write requests (``prometheus.WriteRequest``) into flat arrays.

A remote-write body is a snappy block holding one protobuf ``WriteRequest``: repeated
``TimeSeries`` (field 1), each with repeated ``Label`` (field 1: name 1, value 2) and repeated
``Sample`` (field 2: value 1 as a double, timestamp 2 as a varint of Unix milliseconds); field 3
carries metric metadata, which we skip. At 12,500 machines one scrape is about 160,000 series,
and materialising each as a Python object costs seconds (measured: ``ParseFromString`` is fast,
walking the parsed messages in Python is not). So the wire format is walked by one compiled loop
(numba, already the simulator's compiler) that writes one row per series into numpy arrays:

- ``name_hash``: FNV-1a of the ``__name__`` label, with ``name_start``/``name_len`` pointing at
  one copy of the name in the body so the caller can recover the few distinct names;
- ``index``: the value of the series' one index label (``machine``, ``link`` or ``service``) as
  an integer, -1 when it has none, -2 when a label is not one we export (a foreign series);
- ``value`` and ``timestamp_ms`` of the series' last sample.

The walker follows the protobuf rules (tags, varint lengths, unknown fields skipped by wire type,
proto3 defaults: a sample of value 0.0 carries no value field), so a body it cannot read is a
``WireError``, never a misread. ``tests/telemetry/test_wire.py`` checks it against the protobuf
library's own encoding of arbitrary requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import AutoinfraError

__all__ = ["DecodedSamples", "WireError", "decode_write_request", "fnv1a"]

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
INDEX_LABELS = (b"machine", b"link", b"service")


class WireError(AutoinfraError):
    """A remote-write body that is not a well-formed ``WriteRequest``."""


@dataclass(frozen=True)
class DecodedSamples:
    """One row per time series of a request (see the module docstring)."""

    name_hash: npt.NDArray[np.uint64]
    name_start: npt.NDArray[np.int64]
    name_len: npt.NDArray[np.int64]
    index: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    timestamp_ms: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.index.shape[0])


def fnv1a(data: bytes) -> int:
    """The 64-bit FNV-1a hash the walker computes, for names and labels known in Python."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


_NAME_HASH = np.uint64(fnv1a(b"__name__"))
_INDEX_HASHES = np.array([fnv1a(x) for x in INDEX_LABELS], dtype=np.uint64)


@numba.njit(cache=True, nogil=True)
def _varint(buf: npt.NDArray[np.uint8], pos: int, end: int) -> tuple[int, int]:
    """(value, next position); next position -1 when the varint runs past ``end``."""
    result = 0
    shift = 0
    while pos < end:
        b = int(buf[pos])
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            return 0, -1
    return 0, -1


@numba.njit(cache=True, nogil=True)
def _skip(buf: npt.NDArray[np.uint8], pos: int, end: int, wire_type: int) -> int:
    """Position after a field of ``wire_type`` starting at ``pos``; -1 when malformed."""
    if wire_type == 0:
        _, pos = _varint(buf, pos, end)
        return pos
    if wire_type == 1:
        return pos + 8 if pos + 8 <= end else -1
    if wire_type == 2:
        length, pos = _varint(buf, pos, end)
        if pos < 0 or pos + length > end:
            return -1
        return pos + length
    if wire_type == 5:
        return pos + 4 if pos + 4 <= end else -1
    return -1


@numba.njit(cache=True, nogil=True)
def _hash(buf: npt.NDArray[np.uint8], start: int, end: int) -> np.uint64:
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


@numba.njit(cache=True, nogil=True)
def _digits(buf: npt.NDArray[np.uint8], start: int, end: int) -> int:
    """The decimal integer in ``buf[start:end]``, -2 when it is not one (or too long)."""
    if end <= start or end - start > 18:
        return -2
    value = 0
    for i in range(start, end):
        d = int(buf[i]) - 48
        if d < 0 or d > 9:
            return -2
        value = value * 10 + d
    return value


@numba.njit(cache=True, nogil=True)
def _walk(
    buf: npt.NDArray[np.uint8],
    index_hashes: npt.NDArray[np.uint64],
    name_hash: npt.NDArray[np.uint64],
    name_start: npt.NDArray[np.int64],
    name_len: npt.NDArray[np.int64],
    index: npt.NDArray[np.int64],
    bits: npt.NDArray[np.uint64],
    stamp: npt.NDArray[np.int64],
) -> int:
    """Fill one row per TimeSeries; returns the row count, or -(byte offset + 1) when malformed."""
    n = buf.shape[0]
    pos = 0
    rows = 0
    while pos < n:
        tag, pos = _varint(buf, pos, n)
        if pos < 0:
            return -(n + 1)
        field, wire_type = tag >> 3, tag & 7
        if field != 1 or wire_type != 2:  # metadata and anything newer: skip
            at = pos
            pos = _skip(buf, pos, n, wire_type)
            if pos < 0:
                return -(at + 1)
            continue
        length, pos = _varint(buf, pos, n)
        if pos < 0 or pos + length > n or rows >= index.shape[0]:
            return -(pos + 1)
        end = pos + length
        name_hash[rows] = 0
        name_start[rows] = 0
        name_len[rows] = 0
        index[rows] = -1
        bits[rows] = 0
        stamp[rows] = 0
        while pos < end:  # one TimeSeries
            tag, pos = _varint(buf, pos, end)
            if pos < 0:
                return -(end + 1)
            field, wire_type = tag >> 3, tag & 7
            if wire_type != 2 or (field != 1 and field != 2):
                at = pos
                pos = _skip(buf, pos, end, wire_type)
                if pos < 0:
                    return -(at + 1)
                continue
            sub_len, pos = _varint(buf, pos, end)
            if pos < 0 or pos + sub_len > end:
                return -(pos + 1)
            sub_end = pos + sub_len
            if field == 1:  # Label {name = 1, value = 2}
                k0 = k1 = v0 = v1 = 0
                while pos < sub_end:
                    t, pos = _varint(buf, pos, sub_end)
                    if pos < 0:
                        return -(sub_end + 1)
                    if t == 10 or t == 18:
                        ln, pos = _varint(buf, pos, sub_end)
                        if pos < 0 or pos + ln > sub_end:
                            return -(sub_end + 1)
                        if t == 10:
                            k0, k1 = pos, pos + ln
                        else:
                            v0, v1 = pos, pos + ln
                        pos += ln
                    else:
                        at = pos
                        pos = _skip(buf, pos, sub_end, t & 7)
                        if pos < 0:
                            return -(at + 1)
                key = _hash(buf, k0, k1)
                if key == _NAME_HASH and k1 - k0 == 8:
                    name_hash[rows] = _hash(buf, v0, v1)
                    name_start[rows] = v0
                    name_len[rows] = v1 - v0
                else:
                    known = False
                    for h in index_hashes:
                        if key == h:
                            known = True
                    if known and index[rows] == -1:
                        index[rows] = _digits(buf, v0, v1)
                    else:
                        index[rows] = -2  # a label we do not export: not one of our series
            else:  # Sample {value = 1 (double), timestamp = 2 (varint)}; the last one wins
                value_bits = 0
                ts = 0
                while pos < sub_end:
                    t, pos = _varint(buf, pos, sub_end)
                    if pos < 0:
                        return -(sub_end + 1)
                    if t == 9:
                        if pos + 8 > sub_end:
                            return -(pos + 1)
                        value_bits = 0
                        for i in range(8):
                            value_bits |= int(buf[pos + i]) << (8 * i)
                        pos += 8
                    elif t == 16:
                        ts, pos = _varint(buf, pos, sub_end)
                        if pos < 0:
                            return -(sub_end + 1)
                    else:
                        at = pos
                        pos = _skip(buf, pos, sub_end, t & 7)
                        if pos < 0:
                            return -(at + 1)
                bits[rows] = np.uint64(value_bits)
                stamp[rows] = ts
        rows += 1
    return rows


@numba.njit(cache=True, nogil=True)
def _count(buf: npt.NDArray[np.uint8]) -> int:
    """How many TimeSeries the request's top level holds; -(offset + 1) when malformed."""
    n = buf.shape[0]
    pos = 0
    rows = 0
    while pos < n:
        tag, pos = _varint(buf, pos, n)
        if pos < 0:
            return -(n + 1)
        at = pos
        pos = _skip(buf, pos, n, tag & 7)
        if pos < 0:
            return -(at + 1)
        if tag == 10:
            rows += 1
    return rows


def decode_write_request(raw: bytes) -> DecodedSamples:
    """Rows of an uncompressed ``WriteRequest`` body (see the module docstring)."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    cap = int(_count(buf))  # a first pass over the top level sizes the arrays exactly
    if cap < 0:
        raise WireError(
            f"remote-write body is not a prometheus.WriteRequest: malformed near byte {-cap - 1} "
            f"of {buf.shape[0]}"
        )
    name_hash = np.empty(cap, np.uint64)
    name_start = np.empty(cap, np.int64)
    name_len = np.empty(cap, np.int64)
    index = np.empty(cap, np.int64)
    bits = np.empty(cap, np.uint64)
    stamp = np.empty(cap, np.int64)
    rows = int(
        _walk(buf, _INDEX_HASHES, name_hash, name_start, name_len, index, bits, stamp)
    )
    if rows < 0:
        raise WireError(
            f"remote-write body is not a prometheus.WriteRequest: malformed near byte {-rows - 1} "
            f"of {buf.shape[0]}"
        )
    return DecodedSamples(
        name_hash=name_hash[:rows].copy(),
        name_start=name_start[:rows].copy(),
        name_len=name_len[:rows].copy(),
        index=index[:rows].copy(),
        value=bits[:rows].view(np.float64).copy(),
        timestamp_ms=stamp[:rows].copy(),
    )
