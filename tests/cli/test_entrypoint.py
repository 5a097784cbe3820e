"""The installed ``autoinfra`` command, run as a user runs it: exit codes and one-line errors."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

from autoinfra.traces import default_trace_dir


def _autoinfra(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("autoinfra")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "autoinfra.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_a_bad_row_at_line_7_is_rejected_with_file_and_line(tmp_path: Path) -> None:
    part = "part-00000-of-00500.csv.gz"
    src = default_trace_dir() / "task_events" / part
    with gzip.open(src, "rt") as f:
        lines = [next(f) for _ in range(20)]
    lines[6] = "0,,3418314,not-a-number,3938719206,0,abc,3,9,,,,\n"  # line 7, a 13-field row
    bad = tmp_path / "trace" / "task_events"
    bad.mkdir(parents=True)
    with gzip.open(bad / part, "wt") as f:
        f.writelines(lines)
    shutil.copytree(default_trace_dir() / "machine_events", tmp_path / "trace" / "machine_events")

    result = _autoinfra("trace", "info", "--trace", str(tmp_path / "trace"), cwd=tmp_path)

    assert result.returncode == 2
    message = result.stderr.strip()
    assert part in message and "line 7" in message
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = _autoinfra("no-such-command", cwd=tmp_path)
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_version(tmp_path: Path) -> None:
    result = _autoinfra("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("autoinfra ")
