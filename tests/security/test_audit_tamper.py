"""Every kind of tampering with an audit log on disk is refused by a fresh open.

The named tamperings come from the probe script (``bench/audit_tamper.py``), so the suite and the
reported detection rate check the same cases; Hypothesis adds random byte edits of the log and its
head. The control matters as much: an untouched log must open.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoinfra.core.errors import ConfigError
from autoinfra.security import AuditKey, AuditLog, verify_file

ROOT = Path(__file__).parents[2]


def _probe() -> ModuleType:
    import sys

    sys.path.insert(0, str(ROOT / "bench"))  # the probe imports bench/machine.py like a script
    spec = importlib.util.spec_from_file_location(
        "audit_tamper", ROOT / "bench" / "audit_tamper.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


probe = _probe()


def test_untouched_log_opens(tmp_path: Path) -> None:
    assert not probe.detected(lambda log, head: None, tmp_path)


@pytest.mark.parametrize("name", sorted(probe.TAMPERS))
def test_named_tampering_is_refused_on_fresh_open(name: str, tmp_path: Path) -> None:
    key = AuditKey.generate()
    log = tmp_path / "audit.jsonl"
    probe.write_log(log, key)
    probe.TAMPERS[name](log, Path(str(log) + ".head"))
    assert verify_file(log, key) is not None
    with pytest.raises(ConfigError):
        AuditLog(log, key=key, fsync=False)


def test_a_torn_line_is_recovered_not_refused(tmp_path: Path) -> None:
    assert probe.torn_line_recovered(tmp_path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    in_head=st.booleans(),
    edits=st.lists(
        st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(1, 255)),
        min_size=1,
        max_size=4,
    ),
)
def test_random_byte_edits_are_refused(in_head: bool, edits: list[tuple[float, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        key = AuditKey.generate()
        log = Path(tmp) / "audit.jsonl"
        probe.write_log(log, key, n=4)
        target = Path(str(log) + ".head") if in_head else log
        data = bytearray(target.read_bytes())
        original = bytes(data)
        for where, delta in edits:
            i = int(where * len(data))
            data[i] = (data[i] + delta) % 256
        if bytes(data) == original:  # two edits of one byte can cancel out
            return
        target.write_bytes(bytes(data))
        with pytest.raises(ConfigError):
            AuditLog(log, key=key, fsync=False)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(1, 400))
def test_any_truncation_is_refused(cut: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        key = AuditKey.generate()
        log = Path(tmp) / "audit.jsonl"
        probe.write_log(log, key, n=3)
        data = log.read_bytes()
        log.write_bytes(data[: max(0, len(data) - cut)])
        with pytest.raises(ConfigError):
            AuditLog(log, key=key, fsync=False)
