"""Validation of one trace part file, vectorised, and the report of what lenient reading skipped.

The reader parses a part with pyarrow's typed CSV reader first; only when that fails (a row with
the wrong number of fields, a word where a number belongs) does it fall back to
:func:`parse_strings`, which reads every line as text and locates each bad line with array
operations, never a Python loop per row. Both paths then run :func:`semantic_flags` on the typed
table (empty mandatory fields, values out of range, unknown event codes, time going backwards).

Every check returns :class:`Flag` objects (which rows, which field, what kind of problem) so the
strict and lenient modes share one code path: strict mode raises the flag with the earliest line,
lenient mode drops the flagged rows and counts them per kind in a :class:`SkipReport`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from autoinfra.core.errors import TraceError
from autoinfra.traces.schema import Column, Kind, TableSchema

IntArray = npt.NDArray[np.int64]

# integers: up to 18 digits always fit int64; the schema's "after the window" marker is 19 digits
_INT_RE = r"^-?[0-9]{1,18}$|^9223372036854775807$"
_FLOAT_RE = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"
# how many bad lines a report keeps as examples (the counts are always complete)
_EXAMPLES_KEPT = 20


class Problem(enum.StrEnum):
    """Kinds of bad rows. The value is what ``TraceError.kind`` and the skip report carry."""

    FIELD_COUNT = "field_count"  # a row with more or fewer comma-separated fields than the table
    NOT_NUMERIC = "not_numeric"  # text (or nan/inf) where the schema says integer or number
    MISSING_VALUE = "missing_value"  # a field the schema marks mandatory is empty
    OUT_OF_RANGE = "out_of_range"  # e.g. priority outside 0..11, a negative request
    UNKNOWN_EVENT = "unknown_event"  # an event code the schema does not define
    TIME_BACKWARDS = "time_backwards"  # earlier than a row before it in a time-sorted part
    NOT_UTF8 = "not_utf8"  # bytes that do not decode as UTF-8 (the trace is ASCII)


@dataclass(frozen=True, slots=True)
class Flag:
    """Rows of one part that fail one check. ``rows`` index the parsed table; ``lines`` are the
    1-based line numbers in the file; ``describe(i)`` says what is wrong with ``rows[i]``."""

    kind: Problem
    field: str | None
    rows: IntArray
    lines: IntArray
    describe: Callable[[int], str]


@dataclass(slots=True)
class SkipReport:
    """What lenient reading skipped: rows per kind, per file, and the first few examples."""

    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __bool__(self) -> bool:
        return self.total > 0

    def add(self, path: str, flag: Flag, n_rows: int) -> None:
        if n_rows <= 0:
            return
        self.counts[flag.kind.value] = self.counts.get(flag.kind.value, 0) + n_rows
        per_file = self.files.setdefault(path, {})
        per_file[flag.kind.value] = per_file.get(flag.kind.value, 0) + n_rows
        if len(self.examples) < _EXAMPLES_KEPT:
            self.examples.append(
                {
                    "path": path,
                    "line": int(flag.lines[0]),
                    "field": flag.field,
                    "kind": flag.kind.value,
                    "message": flag.describe(0),
                }
            )

    def merge(self, other: SkipReport) -> None:
        for kind, n in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        for path, kinds in other.files.items():
            per_file = self.files.setdefault(path, {})
            for kind, n in kinds.items():
                per_file[kind] = per_file.get(kind, 0) + n
        room = _EXAMPLES_KEPT - len(self.examples)
        self.examples.extend(other.examples[: max(room, 0)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "skipped_rows": self.total,
            "by_kind": dict(self.counts),
            "by_file": {p: dict(k) for p, k in self.files.items()},
            "examples": list(self.examples),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SkipReport:
        return cls(
            counts={str(k): int(v) for k, v in data.get("by_kind", {}).items()},
            files={
                str(p): {str(k): int(v) for k, v in ks.items()}
                for p, ks in data.get("by_file", {}).items()
            },
            examples=list(data.get("examples", [])),
        )

    def summary(self) -> str:
        """One line for people: ``skipped 3 rows: field_count 2, unknown_event 1``."""
        if not self:
            return "skipped 0 rows"
        parts = ", ".join(f"{k} {n}" for k, n in sorted(self.counts.items()))
        return f"skipped {self.total} rows: {parts}"


def arrow_type(col: Column) -> pa.DataType:
    """The Arrow type a column is parsed to (booleans are 0/1 integers in the files)."""
    if col.kind in (Kind.INT, Kind.BOOL):
        return pa.int64()
    if col.kind is Kind.FLOAT:
        return pa.float64()
    return pa.string()


def raise_first(path: str, flags: list[Flag]) -> None:
    """Strict mode: raise the problem on the earliest line, if any."""
    live = [f for f in flags if f.rows.size]
    if not live:
        return
    first = min(live, key=lambda f: int(f.lines[0]))
    raise TraceError(
        first.describe(0), path=path, line=int(first.lines[0]), field=first.field, kind=first.kind
    )


def _flag(
    kind: Problem,
    col: str | None,
    mask: npt.NDArray[np.bool_],
    lines: IntArray,
    describe: Callable[[int], str],
) -> Flag:
    rows = np.flatnonzero(mask).astype(np.int64)
    return Flag(kind, col, rows, lines[rows], describe)


def parse_strings(
    lines_text: pa.Array, schema: TableSchema, n_fields: int
) -> tuple[pa.Table, IntArray, list[Flag], list[Flag]]:
    """Parse lines of text into a typed table, flagging wrong field counts and non-numbers.

    Returns the typed table of the rows with the right field count, their 1-based line numbers,
    the flags on that table's rows (non-numbers, which are null in the table), and the flags of
    lines left out of the table (wrong field counts; their ``rows`` are line numbers - 1).
    """
    all_lines = np.arange(1, len(lines_text) + 1, dtype=np.int64)
    split = pc.split_pattern(lines_text, ",")
    counts = pc.list_value_length(split).to_numpy(zero_copy_only=False)
    bad_count = counts != n_fields
    flags: list[Flag] = []
    left_out: list[Flag] = []
    if bad_count.any():
        rows = np.flatnonzero(bad_count)

        def count_message(i: int) -> str:
            return (
                f"expected {n_fields} comma-separated fields ({schema.names[0]} .. "
                f"{schema.names[n_fields - 1]}), found {int(counts[rows[i]])}"
            )

        left_out.append(_flag(Problem.FIELD_COUNT, None, bad_count, all_lines, count_message))
    good = ~bad_count
    lines = all_lines[good]
    m = int(good.sum())
    flat = pc.list_flatten(split.filter(pa.array(good)))
    columns: dict[str, pa.Array] = {}
    for j, col in enumerate(schema.columns_for(n_fields)):
        text = flat.take(pa.array(np.arange(j, m * n_fields, n_fields, dtype=np.int64)))
        empty = pc.equal(text, "")
        if col.kind is Kind.HASH:
            columns[col.name] = pc.if_else(empty, pa.scalar(None, pa.string()), text)
            continue
        pattern = _FLOAT_RE if col.kind is Kind.FLOAT else _INT_RE
        valid = pc.match_substring_regex(text, pattern)
        bad = ~(valid.to_numpy(zero_copy_only=False) | empty.to_numpy(zero_copy_only=False))
        if bad.any():
            expected = "a number" if col.kind is Kind.FLOAT else "an integer"
            bad_rows = np.flatnonzero(bad)
            values = text.take(pa.array(bad_rows)).to_pylist()

            def numeric_message(
                i: int, expected: str = expected, values: list[Any] = values, name: str = col.name
            ) -> str:
                return f"expected {expected} in field {name!r}, found {values[i]!r}"

            flags.append(_flag(Problem.NOT_NUMERIC, col.name, bad, lines, numeric_message))
        kept = pc.if_else(valid, text, pa.scalar(None, pa.string()))
        columns[col.name] = pc.cast(kept, arrow_type(col))
    return pa.table(columns), lines, flags, left_out


def empty_line_flags(table: pa.Table, lines: IntArray, n_fields: int) -> list[Flag]:
    """Empty lines: pyarrow's typed reader turns them into rows of nulls rather than failing."""
    if table.num_rows == 0 or table.column(0).null_count == 0:
        return []
    empty = np.ones(table.num_rows, dtype=np.bool_)
    for name in table.column_names:
        empty &= table.column(name).is_null().to_numpy(zero_copy_only=False)
    if not empty.any():
        return []
    text = f"empty line; expected {n_fields} comma-separated fields"
    return [_flag(Problem.FIELD_COUNT, None, empty, lines, _always(text))]


def _always(text: str) -> Callable[[int], str]:
    def describe(_: int) -> str:
        return text

    return describe


def _with_value(prefix: str, values: npt.NDArray[Any], suffix: str = "") -> Callable[[int], str]:
    def describe(i: int) -> str:
        return f"{prefix}{values[i]:g}{suffix}"

    return describe


def _number_flags(name: str, col: Column, arr: pa.ChunkedArray, lines: IntArray) -> list[Flag]:
    """Non-finite floats and values outside the column's bounds (integers compared as int64:
    as float64, ids near 2^53 and the 2^63 - 1 marker would round)."""
    flags: list[Flag] = []
    present = ~arr.is_null().to_numpy(zero_copy_only=False)
    values: npt.NDArray[Any]
    if col.kind is Kind.FLOAT:
        values = arr.to_numpy(zero_copy_only=False).astype(np.float64)
        # pyarrow's typed parser accepts "nan" and "inf"; the trace never holds them
        nonfinite = present & ~np.isfinite(values)
        if nonfinite.any():
            text = f"expected a finite number in field {name!r}"
            flags.append(_flag(Problem.NOT_NUMERIC, name, nonfinite, lines, _always(text)))
        present &= ~nonfinite
    else:
        values = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    with np.errstate(invalid="ignore"):
        low = values < col.low if col.low is not None else np.zeros(len(values), np.bool_)
        high = values > col.high if col.high is not None else np.zeros(len(values), np.bool_)
    out = present & (low | high)
    if col.sentinel is not None:
        out &= values != col.sentinel
    if out.any():
        bounds = f"[{col.low if col.low is not None else '-inf'}, "
        bounds += f"{col.high if col.high is not None else 'inf'}]"
        if col.sentinel is not None:
            bounds += f" (or {col.sentinel})"
        found = values[out]
        describe = _with_value(f"expected {name!r} in {bounds}, found ", found)
        flags.append(_flag(Problem.OUT_OF_RANGE, name, out, lines, describe))
    return flags


def encoding_flags(raw_lines: pa.Array, lines: IntArray) -> list[Flag]:
    """Rows whose line held bytes that are not UTF-8 (decoded as U+FFFD by the slow path).

    The trace is ASCII; a hash field with a broken byte would otherwise pass as a different
    user or job name.
    """
    if len(raw_lines) == 0 or lines.size == 0:
        return []
    broken = pc.match_substring(raw_lines, "\ufffd").to_numpy(zero_copy_only=False)
    mask = broken[lines - 1]
    if not mask.any():
        return []
    text = "bytes that are not UTF-8 text (the trace is ASCII)"
    return [_flag(Problem.NOT_UTF8, None, mask, lines, _always(text))]


def semantic_flags(table: pa.Table, schema: TableSchema, lines: IntArray) -> list[Flag]:
    """Checks on a typed table: mandatory fields, ranges, finite numbers, event codes."""
    flags: list[Flag] = []
    for name in table.column_names:
        col = schema.column(name)
        arr = table.column(name)
        if col.mandatory:
            missing = arr.is_null().to_numpy(zero_copy_only=False)
            if missing.any():
                text = f"field {name!r} is mandatory but empty"
                flags.append(_flag(Problem.MISSING_VALUE, name, missing, lines, _always(text)))
        if col.kind is not Kind.HASH:
            flags += _number_flags(name, col, arr, lines)
    if schema.event_column is not None and schema.event_column in table.column_names:
        ev = table.column(schema.event_column).to_numpy(zero_copy_only=False).astype(np.float64)
        codes = sorted(schema.event_codes)
        unknown = ~np.isnan(ev) & ~np.isin(ev, np.array(codes, dtype=np.float64))
        if unknown.any():
            expected = f"; expected one of {', '.join(str(c) for c in codes)}"
            describe = _with_value("unknown event code ", ev[unknown], expected)
            flags.append(
                _flag(Problem.UNKNOWN_EVENT, schema.event_column, unknown, lines, describe)
            )
    return flags


def time_order_flag(table: pa.Table, schema: TableSchema, lines: IntArray) -> list[Flag]:
    """Rows out of time order in a part the schema says is time-sorted.

    Two vectorised candidates, each of which leaves a sorted part once its rows are dropped:
    rows earlier than the latest time before them (a row that jumps back), and rows later than
    the earliest time after them (a row that jumps ahead). The smaller set is flagged, so one
    corrupted row is the row named, whichever way its time is wrong.
    """
    if not schema.time_sorted or table.num_rows < 2:
        return []
    t = table.column(schema.time_column).to_numpy(zero_copy_only=False).astype(np.float64)
    t = np.where(np.isnan(t), -np.inf, t)  # missing times are flagged by the mandatory check
    before_max = np.maximum.accumulate(t)
    after_min = np.minimum.accumulate(t[::-1])[::-1]
    back = np.zeros(len(t), dtype=np.bool_)
    back[1:] = t[1:] < before_max[:-1]
    if not back.any():
        return []
    ahead = np.zeros(len(t), dtype=np.bool_)
    ahead[:-1] = t[:-1] > after_min[1:]
    use_back = int(back.sum()) <= int(ahead.sum())
    mask = back if use_back else ahead
    rows = np.flatnonzero(mask)
    note = "(this table is sorted by time within a part)"

    def message(i: int) -> str:
        r = int(rows[i])
        if use_back:
            other = int(np.flatnonzero(t[:r] == before_max[r - 1])[-1])
            return (
                f"time goes backwards within the part: {t[r]:.0f} us after {t[other]:.0f} us "
                f"on line {int(lines[other])} {note}"
            )
        other = r + 1 + int(np.flatnonzero(t[r + 1 :] == after_min[r + 1])[0])
        return (
            f"time goes backwards within the part: {t[r]:.0f} us before {t[other]:.0f} us "
            f"on line {int(lines[other])} {note}"
        )

    return [_flag(Problem.TIME_BACKWARDS, schema.time_column, mask, lines, message)]


def drop_flagged(
    path: str, table: pa.Table, lines: IntArray, flags: list[Flag], report: SkipReport
) -> tuple[pa.Table, IntArray]:
    """Lenient mode: remove every flagged row, counting each row once (under its first flag)."""
    taken = np.zeros(table.num_rows, dtype=np.bool_)
    for f in flags:
        fresh = f.rows[~taken[f.rows]]
        taken[fresh] = True
        report.add(path, f, int(fresh.size))
    if not taken.any():
        return table, lines
    keep = ~taken
    return table.filter(pa.array(keep)), lines[keep]
