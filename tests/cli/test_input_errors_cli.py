"""Bad input at the command line: one line, exit 2, never a bare "Aborted!" or a hang."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from autoinfra.cli.errors import guard_commands
from autoinfra.core.errors import ConfigError
from autoinfra.traces import default_trace_dir

CORPUS = Path(__file__).resolve().parent.parent / "data" / "fuzz"


def _autoinfra(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("autoinfra")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "autoinfra.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_an_eof_error_that_escapes_keeps_its_traceback() -> None:
    app = typer.Typer()

    @app.command()
    def read() -> None:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    @app.command()
    def other() -> None:
        """A second command, so Typer keeps them as subcommands."""

    guard_commands(app)
    guard_commands(app)  # idempotent: a command is wrapped once
    result = CliRunner().invoke(app, ["read"])
    assert "Aborted" not in result.output
    assert isinstance(result.exception, RuntimeError)
    assert isinstance(result.exception.__cause__, EOFError)


def test_our_errors_are_one_line_and_exit_2_in_any_app() -> None:
    app = typer.Typer()

    @app.command()
    def read() -> None:
        raise ConfigError("expected [a number], got 'x'", source="spec.yaml", field="seeds[1]")

    @app.command()
    def other() -> None:
        """A second command, so Typer keeps them as subcommands."""

    guard_commands(app)
    result = CliRunner().invoke(app, ["read"])
    assert result.exit_code == 2 and result.stdout == ""
    # the brackets are printed as written (not read as console markup), on one line
    assert result.stderr == ("error: spec.yaml, field 'seeds[1]': expected [a number], got 'x'\n")


def test_a_truncated_gzip_part_is_one_line_and_exit_2(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    (trace / "task_events").mkdir(parents=True)
    shutil.copy(
        CORPUS / "task_events_truncated.csv.gz",
        trace / "task_events" / "part-00000-of-00001.csv.gz",
    )
    shutil.copytree(default_trace_dir() / "machine_events", trace / "machine_events")
    result = _autoinfra("trace", "info", "--trace", str(trace), cwd=tmp_path)
    assert result.returncode == 2
    assert "Aborted" not in result.stderr and "Traceback" not in result.stderr
    assert "part-00000-of-00001.csv.gz" in result.stderr and "truncated" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3  # one line, wrapped by the terminal


@pytest.mark.parametrize(
    "name", ["spec_billion_laughs_machines.yaml", "spec_seeds_ten_million.yaml"]
)
def test_a_hostile_spec_fails_fast(name: str, tmp_path: Path) -> None:
    spec = tmp_path / name
    shutil.copy(CORPUS / name, spec)
    result = _autoinfra(
        "experiment", "--spec", str(spec), "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert name in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
