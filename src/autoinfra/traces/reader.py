"""Read Google 2011 trace tables: one part file or a folder of parts, validated, cached.

``read_table("task_events", path)`` accepts a part file (``.csv`` or ``.csv.gz``), a folder of
parts (sorted by part number), or a trace root holding a ``task_events/`` folder. Each part is
parsed with pyarrow's typed CSV reader; only a part that fails to parse is read again as lines of
text to find its bad lines (see :mod:`autoinfra.traces.checks`). Errors name the file, the 1-based
line in that file and the field. With ``lenient=True`` bad rows are skipped instead and counted in
the returned :class:`~autoinfra.traces.checks.SkipReport` (callers print it: never silent).

Whatever the bytes, the outcome is a table or a ``TraceError``: each part is read once, in
chunks, at most ``MAX_PART_BYTES`` before and after gunzipping (a small gzip file can unpack to
gigabytes); a bad gzip header, CRC or a truncated stream (``OSError``, ``zlib.error``,
``EOFError`` underneath) is an "unreadable" error naming the file; bytes that are not UTF-8 name
their line; values beyond the schema's plausibility bounds (times past the trace's span, ids
above 2^53, see :mod:`autoinfra.traces.schema`) name line and field. The bytes read are the
bytes hashed for the cache key, so a part rewritten meanwhile is never cached under the old key.

Values come back as the trace stores them: times in microseconds (int64), ids as int64, optional
integer fields as float64 with NaN where the file is empty, hashes as strings, one column per
schema field (snake_case names, see :mod:`autoinfra.traces.schema`).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from autoinfra.core.errors import TraceError
from autoinfra.traces import cache as trace_cache
from autoinfra.traces.checks import (
    Flag,
    SkipReport,
    arrow_type,
    drop_flagged,
    empty_line_flags,
    encoding_flags,
    parse_strings,
    raise_first,
    semantic_flags,
    time_order_flag,
)
from autoinfra.traces.schema import Kind, TableSchema, table_schema

_PART_RE = re.compile(r"part-(\d+)-of-(\d+)")
_SUFFIXES = (".csv", ".csv.gz")
# the largest part read, compressed or not: the full trace's parts are below 1 GiB of text
MAX_PART_BYTES = 4 << 30
_CHUNK_BYTES = 16 << 20


def _is_part(p: Path) -> bool:
    return p.is_file() and p.name.endswith(_SUFFIXES) and not p.name.startswith(".")


def _part_number(p: Path) -> tuple[int, str]:
    m = _PART_RE.search(p.name)
    return (int(m.group(1)) if m else -1, p.name)


def part_files(path: str | Path, table: str) -> list[Path]:
    """The part files of ``table`` under ``path``, sorted by part number.

    ``path`` may be one part, the table's folder, or a trace root with a ``<table>/`` folder.
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.exists():
        raise TraceError(
            f"no such file or folder (looking for table {table})", path=str(p), kind="missing_table"
        )
    folder = p / table if (p / table).is_dir() else p
    parts = sorted((f for f in folder.iterdir() if _is_part(f)), key=_part_number)
    if not parts:
        raise TraceError(
            f"no part files (*.csv or *.csv.gz) for table {table} in this folder",
            path=str(folder),
            kind="missing_table",
        )
    return parts


def has_table(trace_dir: str | Path, table: str) -> bool:
    """True when ``trace_dir/<table>/`` holds at least one part file."""
    folder = Path(trace_dir) / table
    return folder.is_dir() and any(_is_part(f) for f in folder.iterdir())


def _read_bytes(path: Path) -> bytes:
    """The file as it is on disk (compressed or not), at most ``MAX_PART_BYTES``."""
    try:
        with path.open("rb") as fh:
            if os.fstat(fh.fileno()).st_size > MAX_PART_BYTES:
                raise TraceError(_too_big(), path=str(path), kind="too_large")
            return _read_capped(fh.read, path)
    except OSError as exc:
        raise TraceError(
            f"cannot read the file: {exc.strerror or exc}", path=str(path), kind="unreadable"
        ) from exc


def _read_capped(read: Callable[[int], bytes], path: Path) -> bytes:
    """Read a stream to its end in chunks, refusing more than ``MAX_PART_BYTES``.

    ``read(MAX_PART_BYTES + 1)`` would allocate the whole cap up front, whatever the size.
    """
    chunks: list[bytes] = []
    total = 0
    while chunk := read(_CHUNK_BYTES):
        total += len(chunk)
        if total > MAX_PART_BYTES:
            raise TraceError(_too_big(), path=str(path), kind="too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_big() -> str:
    return (
        f"larger than {MAX_PART_BYTES >> 20} MiB; the trace's parts are below 1 GiB, "
        "so this is not one of them"
    )


def _decompress(raw: bytes, path: Path) -> bytes:
    """The text bytes of a part: gunzipped for ``.gz`` (every member, CRC checked), capped."""
    if not path.name.endswith(".gz"):
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw), mode="rb") as fh:
            return _read_capped(fh.read, path)  # a small file can unpack to gigabytes: capped
    except (OSError, EOFError, zlib.error) as exc:
        # BadGzipFile (an OSError) for a bad header or CRC, EOFError when truncated,
        # zlib.error for corrupt compressed data
        what = "truncated" if isinstance(exc, EOFError) else "corrupt"
        raise TraceError(
            f"cannot read the file: not valid gzip ({what}: {exc})",
            path=str(path),
            kind="unreadable",
        ) from None


def _first_line_fields(data: bytes) -> int:
    """Number of comma-separated fields on the first line (0 for an empty file)."""
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    return line.count(b",") + 1 if line else 0


def _empty(schema: TableSchema, n_fields: int) -> pa.Table:
    cols = schema.columns_for(n_fields)
    return pa.table({c.name: pa.array([], arrow_type(c)) for c in cols})


def _fast_parse(data: bytes, schema: TableSchema, n_fields: int) -> pa.Table:
    cols = schema.columns_for(n_fields)
    return pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=[c.name for c in cols]),
        # the trace never quotes; an empty line must fail (not vanish) so line numbers hold
        parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c.name: arrow_type(c) for c in cols},
            null_values=[""],
            strings_can_be_null=True,
        ),
    )


def _parse_part(
    path: Path, data: bytes, schema: TableSchema, lenient: bool
) -> tuple[pa.Table, SkipReport]:
    """Validate the text bytes of one part (see the module docstring)."""
    n_fields = _first_line_fields(data)
    if n_fields == 0 and not data.strip():
        return _empty(schema, schema.field_counts[0]), SkipReport()
    if n_fields not in schema.field_counts:
        n_fields = schema.field_counts[0]  # the first line itself is bad: the scan will say so
    report = SkipReport()
    left_out: list[Flag] = []
    flags: list[Flag] = []
    try:
        table = _fast_parse(data, schema, n_fields)
        lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
        flags = empty_line_flags(table, lines, n_fields)
    except pa.ArrowException:
        # slow path, only for a part that does not parse: every line as text, located exactly
        # (ArrowInvalid for bad values, non-UTF-8 bytes, a line longer than a block)
        text = data.decode("utf-8", errors="replace").split("\n")
        if text and text[-1] == "":
            text.pop()  # the newline that ends the last line
        raw = pc.utf8_rtrim(pa.array(text, pa.string()), characters="\r")
        table, lines, flags, left_out = parse_strings(raw, schema, n_fields)
        flags = encoding_flags(raw, lines) + flags
    flags += semantic_flags(table, schema, lines)
    where = str(path)
    if not lenient:
        raise_first(where, left_out + flags + time_order_flag(table, schema, lines))
        return table, report
    for f in left_out:
        report.add(where, f, int(f.rows.size))
    table, lines = drop_flagged(where, table, lines, flags, report)
    table, lines = drop_flagged(where, table, lines, time_order_flag(table, schema, lines), report)
    return table, report


def read_part(
    path: Path, schema: TableSchema, *, lenient: bool = False, cache: bool = True
) -> tuple[pa.Table, SkipReport]:
    """One validated part as an Arrow table, through the Parquet cache when ``cache``.

    The file is read once: its bytes key the cache (by content) and are what is parsed, so a
    file rewritten while it is read can never be stored under the other content's key.
    """
    raw = _read_bytes(path)
    params = {"table": schema.name, "lenient": lenient}
    key = trace_cache.cache_key("part", [path], params, {path: trace_cache.content_digest(raw)})
    if cache:
        hit = trace_cache.load_table(key)
        if hit is not None:
            table, meta = hit
            return table, SkipReport.from_dict(meta.get("skipped", {}))
    table, report = _parse_part(path, _decompress(raw, path), schema, lenient)
    if cache:
        trace_cache.store_table(key, table, {"skipped": report.to_dict(), "path": str(path)})
    return table, report


def to_frame(tables: list[pa.Table], schema: TableSchema) -> pd.DataFrame:
    """Parts (Arrow tables from :func:`read_part`) as one DataFrame with every schema column."""
    combined = pa.concat_tables(tables, promote_options="default") if tables else pa.table({})
    columns: dict[str, pa.ChunkedArray | pa.Array] = {}
    for col in schema.columns:
        if col.name in combined.column_names:
            arr = combined.column(col.name)
        else:  # a shorter accepted variant of the table (task_usage with 19 fields)
            arr = pa.nulls(combined.num_rows, arrow_type(col))
        if col.kind in (Kind.INT, Kind.BOOL) and not col.mandatory:
            arr = pc.cast(arr, pa.float64())  # NaN for empty, whatever this file happens to hold
        columns[col.name] = arr
    return pa.table(columns).to_pandas()


def read_table(
    table: str,
    path: str | Path,
    lenient: bool = False,
    *,
    cache: bool = True,
    until_us: int | None = None,
) -> tuple[pd.DataFrame, SkipReport]:
    """Read and validate every part of ``table`` under ``path``.

    Raises ``TraceError`` naming the file, line and field of the first bad row; with ``lenient``
    skips bad rows and returns how many of each kind it skipped. ``until_us`` stops at the
    first part that starts later than that time (and leaves it out): parts of a time-sorted table
    cover consecutive stretches of time, so a window early in a 500-part download reads only the
    parts it needs.
    """
    schema = table_schema(table)
    report = SkipReport()
    tables: list[pa.Table] = []
    for part in part_files(path, table):
        t, r = read_part(part, schema, lenient=lenient, cache=cache)
        starts_later = (
            until_us is not None
            and schema.time_sorted
            and t.num_rows > 0
            and int(pc.min(t.column(schema.time_column)).as_py()) > until_us
        )
        if starts_later and tables:
            break
        tables.append(t)
        report.merge(r)
    return to_frame(tables, schema), report
