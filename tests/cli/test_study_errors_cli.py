"""A new user's mistakes with ``experiment`` and ``train``: one line, exit 2, no work done.

Each case runs the real entry point in a subprocess, as a user's shell would, and checks the
message names what was wrong (the file, the option, the field) and that nothing was written.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

from autoinfra.traces import default_trace_dir

ENTRY = "from autoinfra.cli.main import app; app()"
# as if the ray extra were not installed: an import of ray fails, find_spec finds nothing
NO_RAY = "import sys; sys.modules['ray'] = None; " + ENTRY


def _experiment(*args: str, entry: str = ENTRY) -> subprocess.CompletedProcess[str]:
    return _cli("experiment", *args, entry=entry)


def _cli(
    *args: str, entry: str = ENTRY, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", entry, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def _one_clean_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_out_naming_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "results.txt"
    target.write_text("keep me\n")
    line = _one_clean_line(_experiment("--quick", "--out", str(target), "--no-progress"))
    assert "results.txt" in line and "is a file" in line and "out" in line
    assert target.read_text() == "keep me\n"  # untouched
    inside = _one_clean_line(_experiment("--quick", "--out", str(target / "sub"), "--no-progress"))
    assert "which is a file" in inside


def test_machines_above_the_cell_size(tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = ("--quick", "--machines", "20000", "--no-progress", "--out", str(out))
    line = _one_clean_line(_experiment(*args))
    # the cell of the shipped window: 12,495 machines (see experiments.inputs.cell_size)
    assert "20000" in line and "12495" in line and "machines" in line
    assert not out.exists()


def test_an_unknown_system_under_system_params(tmp_path: Path) -> None:
    spec = tmp_path / "study.yaml"
    spec.write_text("scale: quick\nsystem_params:\n  kubernetes-default:\n    x: 1\n")
    line = _one_clean_line(_experiment("--spec", str(spec), "--out", str(tmp_path / "o")))
    assert "study.yaml" in line and "system_params.kubernetes-default" in line
    assert "kubernetes-defaults" in line  # the names it expected
    assert not (tmp_path / "o").exists()


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("scale: quick\nsystems: [agents, noop\nseeds: 2\n")
    line = _one_clean_line(_experiment("--spec", str(spec), "--out", str(tmp_path / "o")))
    assert "broken.yaml" in line and "line" in line and "not valid YAML" in line
    assert "<unicode string>" not in line
    assert not (tmp_path / "o").exists()


def _broken_trace(root: Path) -> Path:
    """A trace folder whose task events cannot be read: a check after loading would say so."""
    trace = root / "trace"
    (trace / "task_events").mkdir(parents=True)
    (trace / "task_events" / "part-00000-of-00001.csv.gz").write_bytes(gzip.compress(b"x,y\n"))
    shutil.copytree(default_trace_dir() / "machine_events", trace / "machine_events")
    return trace


def test_a_trace_span_that_is_malformed_or_outside_the_trace(tmp_path: Path) -> None:
    out = tmp_path / "o"
    line = _one_clean_line(_experiment("--quick", "--trace-span", "9000", "--out", str(out)))
    assert "trace_span" in line and "START:END" in line and "'9000'" in line
    args = ("--quick", "--trace-span", "10000:99999", "--no-progress", "--out", str(out))
    past = _one_clean_line(_experiment(*args))
    assert "trace_span" in past and "99999" in past and "last task event" in past
    assert not out.exists()


def test_ray_without_the_extra_fails_before_the_trace_loads(tmp_path: Path) -> None:
    trace = _broken_trace(tmp_path)
    args = ("--quick", "--executor", "ray", "--trace", str(trace), "--out", str(tmp_path / "o"))
    line = _one_clean_line(_experiment(*args, entry=NO_RAY))
    # the executor is refused first: the broken trace is never read
    assert "ray" in line and "pip install" in line and "part-00000" not in line
    assert not (tmp_path / "o").exists()


def test_trace_naming_a_file_or_an_empty_folder(tmp_path: Path) -> None:
    part = tmp_path / "part-00000-of-00500.csv.gz"
    shutil.copy(next((default_trace_dir() / "task_events").iterdir()), part)
    line = _one_clean_line(
        _experiment("--quick", "--trace", str(part), "--out", str(tmp_path / "o"))
    )
    assert part.name in line and "is a file" in line and "trace folder" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _one_clean_line(
        _experiment("--quick", "--trace", str(empty), "--out", str(tmp_path / "o"))
    )
    assert "task_events" in line and "machine_events" in line
    assert not (tmp_path / "o").exists()


def test_train_shows_progress_when_not_on_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "q.json"
    args = ("train", "--episodes", "2", "--machines", "20", "--episode-s", "300")
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, *args, "--out", str(out)],
        capture_output=True,  # pipes: not a terminal
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("train: ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"], proc.stderr
    assert all("mean reward" in line and line.endswith(" s)") for line in lines)
    assert "\x1b[" not in proc.stderr  # plain text, no terminal control codes
    quiet = subprocess.run(
        [sys.executable, "-c", ENTRY, *args, "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert quiet.returncode == 0 and "train: " not in quiet.stderr


def test_an_unknown_silent_tasks_choice(tmp_path: Path) -> None:
    out = tmp_path / "o"
    line = _one_clean_line(
        _experiment("--quick", "--silent-tasks", "guess", "--no-progress", "--out", str(out))
    )
    assert "silent_tasks" in line and "stand-in" in line and "guess" in line
    assert not out.exists()
    for command in ("train", "simulate"):
        args = (command, "--silent-tasks", "guess", "--out", str(tmp_path / command))
        line = _one_clean_line(_cli(*args))
        assert "silent_tasks" in line and "stand-in" in line, (command, line)
