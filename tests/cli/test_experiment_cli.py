"""``autoinfra experiment`` through the real entry point: every promised file, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ENTRY = "from autoinfra.cli.main import app; app()"
FILES = (
    "report.html",
    "report.md",
    "summary.json",
    "runs.parquet",
    "ticks.parquet",
    "tasks.parquet",
    "faults.parquet",
    "events.parquet",
    "actions.parquet",
    "utilization_over_time.png",
    "recovery_time.png",
    "energy.png",
    "scheduling_and_slo.png",
    "paired_differences.png",
)
SUMMARY_KEYS = (
    "utilization_cpu",
    "utilization_mem",
    "recovery_s",
    "energy_kwh",
    "energy_kwh_per_task",
    "slo_violation_rate",
    "scheduling_delay_p95_s",
    "actions",
    "false_alarms",
)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, "experiment", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_quick_writes_every_promised_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _cli(
        "--quick",
        "--machines",
        "10",
        "--window-s",
        "900",
        "--burn-in-s",
        "300",  # a short burn-in keeps the test fast on a loaded machine
        "--faults",
        "none,storm",
        "--systems",
        "agents,kubernetes-defaults,human,noop",
        "--jobs",
        "2",
        "--no-progress",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    for name in FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    for system in ("agents", "kubernetes-defaults", "human", "noop"):
        entry = summary["systems"][system]
        for key in SUMMARY_KEYS:
            assert key in entry, (system, key)
        for stat in ("mean", "std", "min", "max", "n"):
            assert stat in entry["utilization_cpu"]
        for kind in ("node_failure", "cpu_hog", "network_congestion"):
            assert {"recovery_s", "detect_s", "mitigate_s"} <= set(entry["recovery_s"][kind])
    assert summary["spec"]["seeds"] == [0] and summary["spec"]["burn_in_s"] == 300.0
    assert {"autoinfra", "numpy", "python"} <= set(summary["versions"])
    assert summary["inputs"]["files"] and summary["workload_model"]["description"]
    windows = summary["windows"]
    assert windows["train"][1] <= windows["evaluation"][0] <= windows["evaluated"][0]
    # the agents' learned table was trained on the training window only
    assert summary["training"]["systems"] == ["agents"]
    assert summary["training"]["train_window_s"][1] <= windows["evaluated"][0]
    assert "<img" in (out / "report.html").read_text()
    # the answer: agents against each baseline, one seed here, so no interval and no verdict
    paired = summary["paired"]["baselines"]
    assert set(paired) == {"kubernetes-defaults", "human", "noop"}
    cpu = paired["kubernetes-defaults"]["utilization_cpu"]
    assert cpu["n"] == 1 and cpu["ci95"] is None and cpu["holds"] is None
    report = (out / "report.md").read_text()
    assert report.index("## Answer") < report.index("## Setup")


def test_bad_input_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    proc = _cli("--systems", "agents,skynet", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "skynet" in proc.stderr and "systems[1]" in proc.stderr
    assert "Traceback" not in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults:\n  - kind: node_failure\n    at_s: -5\n")
    proc = _cli("--faults", str(bad), "--quick", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "bad.yaml" in proc.stderr and "Traceback" not in proc.stderr
    spec = tmp_path / "spec.yaml"
    spec.write_text("scale: quick\ncolour: blue\n")
    proc = _cli("--spec", str(spec), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "colour" in proc.stderr
    # a burn-in longer than the trace leaves: the option named, and the largest that would do
    proc = _cli("--quick", "--burn-in-s", "20000", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "burn_in_s" in proc.stderr and "at most" in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_parts_from_the_middle_of_a_download_run_and_are_flagged(tmp_path: Path) -> None:
    # parts 2-3 alone start mid-trace: the tasks running through them without an event are
    # missing, so the study runs but says so on the command line and at the top of the report
    from autoinfra.traces import default_trace_dir

    src = default_trace_dir()
    trace = tmp_path / "trace"
    for table, parts in (
        ("task_events", ("00002", "00003")),
        ("job_events", ("00002", "00003")),
    ):
        (trace / table).mkdir(parents=True)
        for p in parts:
            name = f"part-{p}-of-00500.csv.gz"
            (trace / table / name).write_bytes((src / table / name).read_bytes())
    (trace / "machine_events").mkdir()
    for f in (src / "machine_events").iterdir():
        (trace / "machine_events" / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out"
    proc = _cli(
        "--quick", "--trace", str(trace), "--machines", "10", "--window-s", "600",
        "--faults", "none", "--systems", "agents,noop", "--no-progress", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "mid-life" in proc.stderr
    report = (out / "report.md").read_text()
    assert report.index("Warning: the inputs") < report.index("## Setup")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"]["warnings"] and "part-00000" in summary["inputs"]["warnings"][0]
    train, evaluation = summary["windows"]["train"], summary["windows"]["evaluation"]
    assert train[1] <= evaluation[0]  # the windows never overlap
