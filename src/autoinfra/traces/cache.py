"""On-disk cache of parsed trace parts (Parquet) and built workloads (NumPy ``.npz``).

Parsing and validating a gzip CSV part costs far more than reading its Parquet copy, and building
a workload from 800k task events costs more than loading its arrays; both happen once per input.
A key is a hash of what the result depends on: the absolute path and a BLAKE2b digest of the
whole content of every input file, the schema version, and the caller's parameters (lenient flag,
window, seed...). Size and modification time are not enough: a file rewritten in place with the
same size within the file system's timestamp resolution (or restored with its old mtime, as
``cp -p``, ``rsync -t`` and ``tar`` do) would be served stale. Hashing costs about a second per
gigabyte, far less than parsing; nothing is ever invalidated by hand.

Parts are cached one by one, so converting a full 500-part download happens once per part and a
download interrupted half way keeps the parts already converted.

Location: ``$AUTOINFRA_CACHE_DIR`` or ``~/.cache/autoinfra``. Every file is written to a temporary
name in the same directory and renamed into place, so a reader never sees half a file; an
unreadable entry counts as a miss and is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from autoinfra.core.atomic import atomic_path
from autoinfra.core.errors import TraceError
from autoinfra.traces.schema import SCHEMA_VERSION

CACHE_ENV = "AUTOINFRA_CACHE_DIR"
_META_KEY = b"autoinfra"
_META_ARRAY = "__meta_json__"


def cache_root() -> Path:
    """``$AUTOINFRA_CACHE_DIR`` if set, else ``~/.cache/autoinfra``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "autoinfra"


def content_digest(data: bytes) -> str:
    """BLAKE2b (128-bit) of bytes already in memory, the same as :func:`file_digest` of a file."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_digest(path: Path) -> str:
    """BLAKE2b (128-bit) of a file's whole content, read in 1 MiB chunks."""
    h = hashlib.blake2b(digest_size=16)
    try:
        with Path(path).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise TraceError(
            f"cannot read the file: {exc.strerror or exc}", path=str(path), kind="unreadable"
        ) from exc
    return h.hexdigest()


def fingerprint(
    paths: Iterable[Path], digests: Mapping[Path, str] | None = None
) -> list[list[Any]]:
    """``[absolute path, content digest]`` for each file, in the order given.

    ``digests`` gives digests the caller computed from the bytes it is about to use, so the key
    describes exactly what was parsed even if the file changes in between.
    """
    known = digests or {}
    return [[str(Path(p).resolve()), known.get(p) or file_digest(p)] for p in paths]


def cache_key(
    kind: str,
    paths: Iterable[Path],
    params: Mapping[str, Any],
    digests: Mapping[Path, str] | None = None,
) -> str:
    """A stable hex key for ``kind`` of result built from ``paths`` (their content) with
    ``params``."""
    files = fingerprint(paths, digests)
    blob = json.dumps(
        {"kind": kind, "schema": SCHEMA_VERSION, "files": files, "params": params},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def _table_path(key: str) -> Path:
    return cache_root() / "tables" / f"{key}.parquet"


def _arrays_path(key: str) -> Path:
    return cache_root() / "workloads" / f"{key}.npz"


def load_table(key: str) -> tuple[pa.Table, dict[str, Any]] | None:
    """A cached table and its metadata, or None on a miss (or an unreadable entry)."""
    path = _table_path(key)
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(_META_KEY, b"{}")
        meta = json.loads(raw)
    except (OSError, ValueError, pa.ArrowException):
        return None
    return table.replace_schema_metadata(None), meta


def store_table(key: str, table: pa.Table, meta: Mapping[str, Any]) -> None:
    """Write a table with JSON metadata, atomically."""
    stamped = table.replace_schema_metadata({_META_KEY: json.dumps(dict(meta)).encode()})
    with atomic_path(_table_path(key)) as tmp:
        pq.write_table(stamped, tmp, compression="zstd")


def load_arrays(key: str) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]] | None:
    """Cached named arrays and their JSON metadata, or None on a miss."""
    path = _arrays_path(key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files if name != _META_ARRAY}
            meta = json.loads(str(npz[_META_ARRAY]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return arrays, meta


def store_arrays(key: str, arrays: Mapping[str, npt.NDArray[Any]], meta: Mapping[str, Any]) -> None:
    """Write named arrays and JSON metadata to one uncompressed ``.npz``, atomically."""
    payload = dict(arrays)
    payload[_META_ARRAY] = np.array(json.dumps(dict(meta)))
    with atomic_path(_arrays_path(key)) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **payload)  # type: ignore[arg-type]
