"""Hypothesis properties: any mutation of a valid input loads or fails with our own error.

Starting from valid inputs (the first lines of a shipped trace part, the built-in scenarios, a
spec), Hypothesis mutates bytes (flip, overwrite, truncate, insert, corrupt the gzip stream) and
fields (huge numbers, negatives, NaN, text, nested values, misspelt keys). The property: the
reader returns, or raises an ``AutoinfraError`` subclass; never another exception, and never runs
past a per-call timeout (SIGALRM). Bounded to stay within CI's time: 200 examples a property.
"""

from __future__ import annotations

import gzip
import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoinfra.core.errors import AutoinfraError
from autoinfra.experiments.spec import build_spec, load_spec_file
from autoinfra.faults import builtin_scenarios, load_scenario
from autoinfra.traces import default_trace_dir, load_workload, read_table
from autoinfra.traces.info import trace_info

CALL_TIMEOUT_S = 5
KNOWN = ["agents", "kubernetes-defaults", "human", "noop"]
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Hang(BaseException):
    """A reader ran past ``CALL_TIMEOUT_S`` (BaseException: no ``except Exception`` hides it)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def loads_or_fails_cleanly(call: Callable[[], object]) -> None:
    """The property itself: returns, or raises our own error; anything else fails the test."""
    with time_limit(CALL_TIMEOUT_S), suppress(AutoinfraError):
        call()


# -- the valid inputs ----------------------------------------------------------------------
def _head(table: str, name: str, n: int) -> bytes:
    with gzip.open(default_trace_dir() / table / name, "rb") as fh:
        return b"".join(fh.readline() for _ in range(n))


PARTS = {
    "task_events": _head("task_events", "part-00001-of-00500.csv.gz", 60),
    "job_events": _head("job_events", "part-00001-of-00500.csv.gz", 30),
    "machine_events": _head("machine_events", "part-00000-of-00001.csv.gz", 40),
    "task_usage": _head("task_usage", "part-00000-of-00500.first10000rows.csv.gz", 30),
}
SCENARIOS = [
    yaml.safe_load(resources.files("autoinfra.faults.scenarios").joinpath(f"{n}.yaml").read_text())
    for n in builtin_scenarios()
]
SPEC = {
    "scale": "quick",
    "systems": ["agents", "noop"],
    "faults": ["none", "storm"],
    "seeds": [0, 1],
    "machines": 20,
    "window_s": 900,
    "train_fraction": 0.5,
    "tick_s": 5,
    "jobs": 1,
    "train_episodes": 4,
    "system_params": {"agents": {"min_headroom_share": 0.2}},
}

# -- mutations as strategies ---------------------------------------------------------------
FIELD_VALUES = st.one_of(
    st.sampled_from(
        ["9e18", "9223372036854775807", "9223372036854775808", str(2**53 + 1), "-1", "nan",
         "inf", "1e400", "", "abc", "\u00e9", "99999999999999999999999", "1,2"]
    ),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)  # fmt: skip
BYTE_OPS = st.tuples(
    st.sampled_from(["flip", "set", "truncate", "insert", "delete"]),
    st.floats(min_value=0.0, max_value=1.0),  # where, as a share of the length
    st.binary(min_size=1, max_size=8),
)


def apply_byte_op(data: bytes, op: tuple[str, float, bytes]) -> bytes:
    kind, where, payload = op
    b = bytearray(data)
    at = min(int(where * len(b)), max(len(b) - 1, 0))
    if kind == "flip" and b:
        b[at] ^= 1 << (payload[0] % 8)
    elif kind == "set" and b:
        b[at] = payload[0]
    elif kind == "truncate":
        del b[at:]
    elif kind == "insert":
        b[at:at] = payload
    elif kind == "delete":
        del b[at : at + 1 + payload[0] % 32]
    return bytes(b)


@st.composite
def trace_parts(draw: st.DrawFn) -> tuple[str, str, bytes, bool]:
    table = draw(st.sampled_from(sorted(PARTS)))
    lines = PARTS[table].split(b"\n")
    for _ in range(draw(st.integers(0, 3))):  # field mutations
        k = draw(st.integers(0, len(lines) - 2))
        fields = lines[k].split(b",")
        j = draw(st.integers(0, len(fields) - 1))
        fields[j] = draw(FIELD_VALUES).encode("utf-8", "surrogatepass")
        lines[k] = b",".join(fields)
    text = b"\n".join(lines)
    for op in draw(st.lists(BYTE_OPS, max_size=2)):
        text = apply_byte_op(text, op)
    gz = draw(st.booleans())
    if not gz:
        return table, "part-00000-of-00001.csv", text, draw(st.booleans())
    packed = gzip.compress(text, mtime=0)
    for op in draw(st.lists(BYTE_OPS, max_size=2)):  # corrupt the stream itself
        packed = apply_byte_op(packed, op)
    return table, "part-00000-of-00001.csv.gz", packed, draw(st.booleans())


VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(["machine:99999999", "link:-1", "random", ".nan", "10000000", "cpu_hog"]),
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)  # fmt: skip


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_documents(draw: st.DrawFn, seeds: list[Any]) -> tuple[bytes, str]:
    doc = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        how = draw(st.sampled_from(["value", "rename", "extra"]))
        if how == "value" or not isinstance(parent, dict):
            parent[path[-1]] = draw(VALUES)
        elif how == "rename":
            parent[draw(st.text(min_size=1, max_size=10))] = parent.pop(path[-1])
        else:
            parent[draw(st.text(min_size=1, max_size=10))] = draw(VALUES)
    as_json = draw(st.booleans())
    if as_json:
        text = json.dumps(doc).encode()
    else:
        text = yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass")
    for op in draw(st.lists(BYTE_OPS, max_size=2)):
        text = apply_byte_op(text, op)
    return text, ".json" if as_json else ".yaml"


# -- the properties ------------------------------------------------------------------------
@FUZZ
@given(case=trace_parts())
def test_a_mutated_trace_part_loads_or_fails_cleanly(
    case: tuple[str, str, bytes, bool], tmp_path: Path
) -> None:
    table, name, data, lenient = case
    path = tmp_path / name
    path.write_bytes(data)
    loads_or_fails_cleanly(lambda: read_table(table, path, lenient=lenient, cache=False))


@settings(FUZZ, max_examples=40)  # a folder costs about 0.15 s to build: fewer, still fresh
@given(case=trace_parts(), info=st.booleans())
def test_a_trace_folder_with_a_mutated_part_builds_or_fails_cleanly(
    case: tuple[str, str, bytes, bool], info: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same mutations, read as a whole trace (the workload, or ``autoinfra trace info``)."""
    table, name, data, lenient = case
    root = tmp_path_factory.mktemp("trace")
    for other, text in PARTS.items():
        (root / other).mkdir()
        part = root / other / (name if other == table else "part-00000-of-00001.csv")
        part.write_bytes(data if other == table else text)
    if info:
        loads_or_fails_cleanly(lambda: trace_info(root, lenient=lenient))
    else:
        loads_or_fails_cleanly(lambda: load_workload(root, lenient=lenient, cache=False))


@FUZZ
@given(case=mutated_documents(SCENARIOS))
def test_a_mutated_scenario_loads_or_fails_cleanly(case: tuple[bytes, str], tmp_path: Path) -> None:
    data, suffix = case
    path = tmp_path / f"scenario{suffix}"
    path.write_bytes(data)
    loads_or_fails_cleanly(lambda: load_scenario(path))


@FUZZ
@given(case=mutated_documents([SPEC]))
def test_a_mutated_spec_loads_or_fails_cleanly(case: tuple[bytes, str], tmp_path: Path) -> None:
    data, suffix = case
    path = tmp_path / f"spec{suffix}"
    path.write_bytes(data)
    loads_or_fails_cleanly(
        lambda: build_spec(load_spec_file(path), known_systems=KNOWN, source=str(path)).runs()
    )


def test_the_timeout_catches_a_hang() -> None:
    """The guard the properties rely on: a call past the limit is stopped, not waited for."""

    def spin() -> None:
        while True:
            pass

    with pytest.raises(Hang), time_limit(0.2):
        spin()
